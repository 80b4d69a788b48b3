package simmarket

import (
	"cmp"
	"context"
	"fmt"
	"slices"

	"github.com/holiman/uint256"

	"github.com/hostsales/hostsales/market"
)

// Test and simulation controls. None of these is subject to injected faults.

// RequestStorage submits req as client (see Caller.RequestStorage).
func (m *Market) RequestStorage(ctx context.Context, client market.Address, req market.StorageRequest) (market.RequestID, error) {
	return m.As(client).RequestStorage(ctx, req)
}

// TakeSlot makes host (typically a competitor that is not one of
// Options.Competitors) take slot index of request id now: it reserves the
// slot unless host already holds a reservation, mints the collateral host
// lacks, and fills the slot with a valid proof. Each step is its own
// transaction; the first error is returned (a reservation made before a
// failing fill stays, as it would on chain).
func (m *Market) TakeSlot(ctx context.Context, host market.Address, id market.RequestID, index uint64) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if host.IsZero() {
		return ErrZeroCaller
	}
	m.mu.Lock()
	now := m.clock.Now()
	var err error
	s := m.mu.slots[market.SlotIDFor(id, index)]
	if s == nil || !slices.Contains(s.reservations, host) {
		err = m.txnLocked(func() error { return m.reserveSlotLocked(now, host, id, index) })
	}
	if err == nil {
		err = m.fillWithMintLocked(now, host, id, index)
	}
	m.mu.Unlock()
	if m.opts.Delivery == DeliverSync {
		m.bus.drain()
	}
	if err != nil {
		return fmt.Errorf("simmarket: TakeSlot: %w", err)
	}
	return nil
}

// FailRequest makes a started request fail now, the way it fails on chain:
// hosts abandon their slots (forced releases, each its own transaction with
// its SlotFreed) in slot order until more than maxSlotLoss slots are empty,
// which emits RequestFailed. Hosts listed in spare abandon last. It returns
// an error wrapping ErrCannotForce if the request is unknown, not Started,
// or cannot fail (maxSlotLoss == slots).
func (m *Market) FailRequest(ctx context.Context, id market.RequestID, spare ...market.Address) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	m.mu.Lock()
	err := m.failRequestLocked(id, spare)
	m.mu.Unlock()
	if m.opts.Delivery == DeliverSync {
		m.bus.drain()
	}
	return err
}

func (m *Market) failRequestLocked(id market.RequestID, spare []market.Address) error {
	now := m.clock.Now()
	r := m.mu.requests[id]
	if r == nil || r.effState(now) != market.RequestStateStarted || r.req.Ask.MaxSlotLoss >= r.req.Ask.Slots {
		return fmt.Errorf("%w: fail request %s", ErrCannotForce, id)
	}
	var held []*slot
	for _, sid := range m.mu.slotOrder {
		if s := m.mu.slots[sid]; s.requestID == id && s.state == market.SlotStateFilled {
			held = append(held, s)
		}
	}
	slices.SortFunc(held, func(a, b *slot) int { return cmp.Compare(a.index, b.index) })
	var first, last []*slot
	for _, s := range held {
		if slices.Contains(spare, s.host) {
			last = append(last, s)
		} else {
			first = append(first, s)
		}
	}
	for _, s := range append(first, last...) {
		if r.state == market.RequestStateFailed {
			break
		}
		if err := m.txnLocked(func() error { return m.freeSlotLocked(now, s.host, s.id, s.host, s.host) }); err != nil {
			return fmt.Errorf("simmarket: FailRequest: %w", err)
		}
	}
	if r.state != market.RequestStateFailed {
		return fmt.Errorf("%w: request %s did not fail", ErrCannotForce, id)
	}
	return nil
}

// CancelRequest makes a request that has not started expire now: its
// expiry becomes the current time, so it is Cancelled from the next second
// on (and its client withdraws then, emitting RequestCancelled, unless
// NoAutoWithdraw). This is not a contract operation; it changes what
// RequestExpiresAt returns. It returns an error wrapping ErrCannotForce if
// the request is unknown or not New.
func (m *Market) CancelRequest(ctx context.Context, id market.RequestID) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	now := m.clock.Now()
	r := m.mu.requests[id]
	if r == nil || r.effState(now) != market.RequestStateNew {
		return fmt.Errorf("%w: cancel request %s", ErrCannotForce, id)
	}
	r.expiresAt = now
	m.scheduleWithdrawLocked(id, now+1)
	return nil
}

// RequestGen bounds the requests RandomRequest makes. Zero fields take the
// defaults shown.
type RequestGen struct {
	MinSlots, MaxSlots       uint64 // 1, 4
	MinSlotSize, MaxSlotSize uint64 // 1 KiB, 1 MiB
	MinDuration, MaxDuration uint64 // 1 h, 24 h (capped at the duration limit)
	// MaxExpiry caps the relative expiry, drawn from [1, min(duration−1,
	// MaxExpiry)]; default 1 h.
	MaxExpiry uint64
	// MaxPricePerBytePerSecond, MaxCollateralPerByte and MaxProofProbability
	// bound the amounts, each drawn from [1, max]; defaults 10, 10, 5.
	MaxPricePerBytePerSecond uint64
	MaxCollateralPerByte     uint64
	MaxProofProbability      uint64
}

// RandomRequest returns a valid random request from client, drawn from the
// market's seeded request stream (the same seed and sequence of calls give
// the same requests). It only builds the request; submit it with
// RequestStorage.
func (m *Market) RandomRequest(client market.Address, g RequestGen) market.StorageRequest {
	def := func(v, d uint64) uint64 {
		if v == 0 {
			return d
		}
		return v
	}
	g.MinSlots, g.MaxSlots = def(g.MinSlots, 1), def(g.MaxSlots, 4)
	g.MinSlotSize, g.MaxSlotSize = def(g.MinSlotSize, 1<<10), def(g.MaxSlotSize, 1<<20)
	g.MinDuration, g.MaxDuration = def(g.MinDuration, 3600), def(g.MaxDuration, 24*3600)
	g.MaxDuration = min(g.MaxDuration, m.cfg.RequestDurationLimit)
	g.MinDuration = max(min(g.MinDuration, g.MaxDuration), 2)
	g.MaxExpiry = def(g.MaxExpiry, 3600)

	m.mu.Lock()
	defer m.mu.Unlock()
	rng := m.mu.genRNG
	between := func(lo, hi uint64) uint64 {
		switch {
		case hi <= lo:
			return lo
		case hi-lo == ^uint64(0):
			return rng.Uint64()
		}
		return lo + rng.Uint64N(hi-lo+1)
	}
	slots := between(g.MinSlots, g.MaxSlots)
	duration := between(g.MinDuration, max(g.MaxDuration, g.MinDuration))
	req := market.StorageRequest{
		Client: client,
		Ask: market.StorageAsk{
			ProofProbability:      *uint256.NewInt(between(1, def(g.MaxProofProbability, 5))),
			PricePerBytePerSecond: *uint256.NewInt(between(1, def(g.MaxPricePerBytePerSecond, 10))),
			CollateralPerByte:     *uint256.NewInt(between(1, def(g.MaxCollateralPerByte, 10))),
			Slots:                 slots,
			SlotSize:              between(g.MinSlotSize, g.MaxSlotSize),
			Duration:              duration,
			MaxSlotLoss:           between(0, slots),
		},
		Expiry: between(1, min(duration-1, g.MaxExpiry)),
	}
	req.Content.CID = fmt.Sprintf("zSim%016x", rng.Uint64())
	for i := 0; i < 32; i += 8 {
		putU64(req.Content.MerkleRoot[i:], rng.Uint64())
		putU64(req.Nonce[i:], rng.Uint64())
	}
	return req
}

func putU64(b []byte, v uint64) {
	for i := range 8 {
		b[i] = byte(v >> (56 - 8*i))
	}
}
