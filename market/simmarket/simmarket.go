package simmarket

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"slices"
	"sync"

	"github.com/holiman/uint256"

	"github.com/hostsales/hostsales/market"
)

// Market is a complete in-memory marketplace reproducing the contract of
// MARKET.md. It implements no interface itself: As returns the view of one
// account (a *Caller, which implements market.Market).
//
// Market is safe for concurrent use. It starts no goroutines: everything it
// does happens inside a call, or inside a timer it registered on its
// ManualClock, which runs on the goroutine that moves the clock. It needs no
// Close.
type Market struct {
	cfg       market.Config
	per       market.Periodicity
	clock     *market.ManualClock
	seed      uint64
	blockTime uint64
	verify    Verifier
	validator market.Address
	opts      Options
	bus       bus

	// mu guards the contract state below. It is held for the whole of one
	// transaction and never while a subscriber callback runs; it is taken
	// before the clock's lock (AfterFunc) and the bus's lock (publish).
	mu struct {
		sync.Mutex
		requests   map[market.RequestID]*request
		reqOrder   []market.RequestID
		slots      map[market.SlotID]*slot
		mySlots    map[market.Address]*orderedSet[market.SlotID]
		myRequests map[market.Address]*orderedSet[market.RequestID]
		balances   map[market.Address]uint256.Int
		minted     uint256.Int
		slotOrder  []market.SlotID           // every slot ever filled, in first-fill order
		filled     orderedSet[market.SlotID] // slots that may need proofs: stored Filled, request not ended
		tickAt     int64                     // time of the pending actor tick; 0 if none
		compHosted map[market.SlotID]int     // slot -> index of the competitor holding it
		faults     []*faultState
		compRNG    *rand.Rand
		faultRNG   *rand.Rand
		genRNG     *rand.Rand
		seq        uint64
		out        []Record // records of the transaction in progress
		now        int64    // time of the transaction in progress
	}
}

type request struct {
	id          market.RequestID
	req         market.StorageRequest
	state       market.RequestState // stored
	funds       uint256.Int         // fundsToReturnToClient
	maxPrice    uint256.Int
	pps         uint256.Int // pricePerSlotPerSecond
	slotsFilled uint64
	submittedAt int64
	startedAt   int64
	endsAt      int64
	expiresAt   int64
}

type slot struct {
	id                market.SlotID
	requestID         market.RequestID // zero until the first successful fill
	index             uint64
	state             market.SlotState // stored: Free, Filled, Repair or Paid
	filledAt          int64
	currentCollateral uint256.Int
	host              market.Address
	reservations      []market.Address // distinct, in reservation order
	proofStart        uint64           // period of the latest fill
	missed            uint64
	received          map[uint64]bool // per period, never cleared
	marked            map[uint64]bool // per period, never cleared
	fills             []fillRecord    // every successful fill, oldest first
}

// fillRecord is one successful fill of a slot: the chain's SlotFilled log
// and the sender of its transaction.
type fillRecord struct {
	host market.Address
	at   int64
}

// New returns a market with the given options (nil means the zero Options).
// It returns the contract's creation errors (market.Config.Validate) and
// errors wrapping ErrInvalidOptions.
func New(opts *Options) (*Market, error) {
	var o Options
	if opts != nil {
		o = *opts
	}
	cfg := market.DefaultConfig()
	if o.Config != nil {
		cfg = *o.Config
	}
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("simmarket: %w", err)
	}
	if err := o.validate(); err != nil {
		return nil, err
	}
	if o.Clock == nil {
		o.Clock = market.NewManualClock(o.Start)
	}
	if o.Clock.Now() < 0 {
		return nil, fmt.Errorf("%w: negative time %d", ErrInvalidOptions, o.Clock.Now())
	}
	if o.BlockTime == 0 {
		o.BlockTime = 12
	}
	if o.Verifier == nil {
		o.Verifier = AcceptNonZeroProofs
	}
	if o.Validator.IsZero() {
		o.Validator = DefaultValidator
	}
	o.Competitors = append([]Competitor(nil), o.Competitors...)
	m := &Market{
		cfg:       cfg,
		per:       cfg.Periodicity(),
		clock:     o.Clock,
		seed:      o.Seed,
		blockTime: o.BlockTime,
		verify:    o.Verifier,
		validator: o.Validator,
		opts:      o,
	}
	m.mu.requests = make(map[market.RequestID]*request)
	m.mu.slots = make(map[market.SlotID]*slot)
	m.mu.mySlots = make(map[market.Address]*orderedSet[market.SlotID])
	m.mu.myRequests = make(map[market.Address]*orderedSet[market.RequestID])
	m.mu.balances = make(map[market.Address]uint256.Int)
	m.mu.compHosted = make(map[market.SlotID]int)
	m.mu.compRNG = rand.New(rand.NewPCG(o.Seed, 0xc0))
	m.mu.faultRNG = rand.New(rand.NewPCG(o.Seed, 0xfa))
	m.mu.genRNG = rand.New(rand.NewPCG(o.Seed, 0x9e))
	for _, f := range o.Faults {
		m.mu.faults = append(m.mu.faults, &faultState{Fault: f})
	}
	return m, nil
}

// As returns the view of the market as account addr: every action of the
// returned Caller is made by addr. Several views of one market, for our
// host and for competitors and clients, share all state.
func (m *Market) As(addr market.Address) *Caller { return &Caller{m: m, addr: addr} }

// Clock returns the market's clock.
func (m *Market) Clock() *market.ManualClock { return m.clock }

// Config returns the market's configuration.
func (m *Market) Config() market.Config { return m.cfg }

// Deliver delivers every queued event to the subscribers, in order, and
// returns how many records it delivered. With DeliverSync nothing is ever
// left queued for long, but calling it is harmless. It returns 0 when
// another call is delivering at the time (that call delivers the rest).
func (m *Market) Deliver() int { return m.bus.drain() }

// Pending returns the number of committed records not yet delivered.
func (m *Market) Pending() int { return m.bus.pendingCount() }

// Observe registers fn for every record (events and transfers) committed
// from now on, delivered like the events of the Subscribe methods.
func (m *Market) Observe(fn func(Record)) market.Subscription { return m.bus.subscribe(fn) }

// Mint credits amount new tokens to addr (an ERC20 mint, recorded as a
// Transfer from MintAddress). Accounts start with nothing: clients need
// tokens to pay for requests and hosts to post collateral.
func (m *Market) Mint(addr market.Address, amount uint256.Int) {
	m.txn(func() error {
		m.mintLocked(addr, amount)
		return nil
	})
}

// BalanceOf returns addr's token balance. BalanceOf(MarketAddress) is what
// the marketplace holds: unpaid request funds, collateral, and what was
// slashed or forfeited.
func (m *Market) BalanceOf(addr market.Address) uint256.Int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.mu.balances[addr]
}

// TotalMinted returns the sum of every Mint, which always equals the sum of
// all balances.
func (m *Market) TotalMinted() uint256.Int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.mu.minted
}

// Requests returns the ids of every request submitted, in submission order.
func (m *Market) Requests() []market.RequestID {
	m.mu.Lock()
	defer m.mu.Unlock()
	return append([]market.RequestID(nil), m.mu.reqOrder...)
}

// RequestInfo is the stored bookkeeping of a request (MARKET.md §1.5),
// for tests and traces.
type RequestInfo struct {
	Request               market.StorageRequest
	StoredState           market.RequestState
	State                 market.RequestState // effective, now
	FundsToReturnToClient uint256.Int
	MaxPrice              uint256.Int
	SlotsFilled           uint64
	SubmittedAt           int64
	StartedAt             int64
	EndsAt                int64
	ExpiresAt             int64
}

// RequestInfo returns the bookkeeping of request id, or an error wrapping
// market.ErrUnknownRequest.
func (m *Market) RequestInfo(id market.RequestID) (RequestInfo, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	r := m.mu.requests[id]
	if r == nil {
		return RequestInfo{}, fmt.Errorf("simmarket: %w", market.ErrUnknownRequest)
	}
	return RequestInfo{
		Request: r.req, StoredState: r.state, State: r.effState(m.clock.Now()),
		FundsToReturnToClient: r.funds, MaxPrice: r.maxPrice, SlotsFilled: r.slotsFilled,
		SubmittedAt: r.submittedAt, StartedAt: r.startedAt, EndsAt: r.endsAt, ExpiresAt: r.expiresAt,
	}, nil
}

// SlotInfo is the stored bookkeeping of a slot (MARKET.md §1.5).
type SlotInfo struct {
	RequestID         market.RequestID // zero if never filled
	SlotIndex         uint64
	StoredState       market.SlotState
	State             market.SlotState // effective, now
	Host              market.Address
	FilledAt          int64
	CurrentCollateral uint256.Int
	MissingProofs     uint64
	Reservations      []market.Address
}

// SlotInfo returns the bookkeeping of slot id; an untouched slot has every
// field zero (and is Free).
func (m *Market) SlotInfo(id market.SlotID) SlotInfo {
	m.mu.Lock()
	defer m.mu.Unlock()
	s := m.mu.slots[id]
	if s == nil {
		return SlotInfo{}
	}
	return SlotInfo{
		RequestID: s.requestID, SlotIndex: s.index, StoredState: s.state,
		State: m.slotStateLocked(m.clock.Now(), s), Host: s.host, FilledAt: s.filledAt,
		CurrentCollateral: s.currentCollateral, MissingProofs: s.missed,
		Reservations: append([]market.Address(nil), s.reservations...),
	}
}

// CheckInvariants verifies the market's bookkeeping: all balances sum to
// TotalMinted; each request's slotsFilled equals its slots that are held or
// paid; each request's funds never exceed its maxPrice; every slot in an
// account's MySlots is held by that account. It returns nil or a
// description of the first violation.
func (m *Market) CheckInvariants() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	var sum uint256.Int
	for _, b := range m.mu.balances {
		sum.Add(&sum, &b)
	}
	if sum != m.mu.minted {
		return fmt.Errorf("simmarket: balances sum to %s, minted %s", sum.Dec(), m.mu.minted.Dec())
	}
	held := make(map[market.RequestID]uint64)
	for _, sid := range m.mu.slotOrder {
		s := m.mu.slots[sid]
		if s.state == market.SlotStateFilled || s.state == market.SlotStatePaid {
			held[s.requestID]++
		}
	}
	for _, id := range m.mu.reqOrder {
		r := m.mu.requests[id]
		if held[id] != r.slotsFilled {
			return fmt.Errorf("simmarket: request %s: slotsFilled %d, held %d", id, r.slotsFilled, held[id])
		}
		if r.funds.Gt(&r.maxPrice) {
			return fmt.Errorf("simmarket: request %s: funds %s above maxPrice %s", id, r.funds.Dec(), r.maxPrice.Dec())
		}
	}
	addrs := make([]market.Address, 0, len(m.mu.mySlots))
	for a := range m.mu.mySlots {
		addrs = append(addrs, a)
	}
	slices.SortFunc(addrs, func(a, b market.Address) int { return bytes.Compare(a[:], b[:]) })
	for _, addr := range addrs {
		for _, sid := range m.mu.mySlots[addr].items {
			if s := m.mu.slots[sid]; s == nil || s.host != addr {
				return fmt.Errorf("simmarket: slot %s in mySlots of %s but not held by it", sid, addr)
			}
		}
	}
	return nil
}

// txn runs f as one transaction at the current time: under the lock, with
// its records discarded if it fails, committed and delivered (in
// DeliverSync mode) if it succeeds. Every rule function checks all its
// conditions before it changes anything, so discarding the records is all a
// revert needs.
func (m *Market) txn(f func() error) error {
	m.mu.Lock()
	err := m.txnLocked(f)
	m.mu.Unlock()
	if m.opts.Delivery == DeliverSync {
		m.bus.drain()
	}
	return err
}

func (m *Market) txnLocked(f func() error) error {
	m.mu.now = m.clock.Now()
	m.mu.out = m.mu.out[:0]
	if err := f(); err != nil {
		m.mu.out = m.mu.out[:0]
		return err
	}
	recs := make([]Record, len(m.mu.out))
	for i, r := range m.mu.out {
		m.mu.seq++
		r.Seq = m.mu.seq
		recs[i] = r
	}
	m.mu.out = m.mu.out[:0]
	m.bus.publish(recs)
	return nil
}

// emitLocked records an event of the transaction in progress.
func (m *Market) emitLocked(e market.Event) {
	m.mu.out = append(m.mu.out, Record{Time: m.mu.now, Event: e})
}

// call is the entry of every Caller method: fault injection, then f as a
// transaction.
func (m *Market) call(ctx context.Context, method string, caller market.Address, mutates bool, f func(now int64) error) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("simmarket: %s: %w", method, err)
	}
	var err error
	ran := false
	m.mu.Lock()
	if ferr := m.faultLocked(method, caller); ferr != nil {
		err = ferr
	} else if mutates && caller.IsZero() {
		err = fmt.Errorf("simmarket: %s: %w", method, ErrZeroCaller)
	} else {
		ran = true
		err = m.txnLocked(func() error { return f(m.mu.now) })
	}
	m.mu.Unlock()
	if ran && mutates && m.opts.Delivery == DeliverSync {
		m.bus.drain()
	}
	if err != nil && ran {
		return fmt.Errorf("simmarket: %s: %w", method, err)
	}
	return err
}

// Token ledger. Callers check balances before moving anything.

func (m *Market) balanceLocked(a market.Address) uint256.Int { return m.mu.balances[a] }

func (m *Market) hasLocked(a market.Address, amount *uint256.Int) bool {
	b := m.mu.balances[a]
	return !b.Lt(amount)
}

func (m *Market) transferLocked(from, to market.Address, amount uint256.Int, reason string) {
	fb := m.mu.balances[from]
	fb.Sub(&fb, &amount)
	m.mu.balances[from] = fb
	tb := m.mu.balances[to]
	tb.Add(&tb, &amount)
	m.mu.balances[to] = tb
	m.emitLocked(Transfer{From: from, To: to, Amount: amount, Reason: reason})
}

func (m *Market) mintLocked(to market.Address, amount uint256.Int) {
	m.mu.minted.Add(&m.mu.minted, &amount)
	tb := m.mu.balances[to]
	tb.Add(&tb, &amount)
	m.mu.balances[to] = tb
	m.emitLocked(Transfer{From: MintAddress, To: to, Amount: amount, Reason: "mint"})
}

// Effective states (MARKET.md §2).

func (r *request) effState(now int64) market.RequestState {
	switch {
	case r.state == market.RequestStateNew && now > r.expiresAt:
		return market.RequestStateCancelled
	case (r.state == market.RequestStateNew || r.state == market.RequestStateStarted) && now > r.endsAt:
		return market.RequestStateFinished
	}
	return r.state
}

// slotStateWith returns the effective state of a slot of request r whose
// stored state is stored, as if its request id were set (fillSlot sets it
// before checking the state).
func slotStateWith(now int64, r *request, stored market.SlotState) market.SlotState {
	if stored == market.SlotStatePaid {
		return market.SlotStatePaid
	}
	switch r.effState(now) {
	case market.RequestStateCancelled:
		return market.SlotStateCancelled
	case market.RequestStateFinished:
		return market.SlotStateFinished
	case market.RequestStateFailed:
		return market.SlotStateFailed
	}
	return stored
}

func (m *Market) slotStateLocked(now int64, s *slot) market.SlotState {
	if s == nil || s.requestID.IsZero() {
		return market.SlotStateFree
	}
	return slotStateWith(now, m.mu.requests[s.requestID], s.state)
}

func (m *Market) slotLocked(id market.SlotID) *slot {
	s := m.mu.slots[id]
	if s == nil {
		s = &slot{id: id, received: map[uint64]bool{}, marked: map[uint64]bool{}}
		m.mu.slots[id] = s
	}
	return s
}

func (m *Market) mySlotsLocked(a market.Address) *orderedSet[market.SlotID] {
	s := m.mu.mySlots[a]
	if s == nil {
		s = newOrderedSet[market.SlotID]()
		m.mu.mySlots[a] = s
	}
	return s
}

func (m *Market) myRequestsLocked(a market.Address) *orderedSet[market.RequestID] {
	s := m.mu.myRequests[a]
	if s == nil {
		s = newOrderedSet[market.RequestID]()
		m.mu.myRequests[a] = s
	}
	return s
}

// Checked arithmetic: an overflow reverts with market.ErrArithmetic.

func mulU64(x *uint256.Int, y uint64) (uint256.Int, error) {
	var z uint256.Int
	if _, overflow := z.MulOverflow(x, uint256.NewInt(y)); overflow {
		return z, market.ErrArithmetic
	}
	return z, nil
}

func addChecked(x, y *uint256.Int) (uint256.Int, error) {
	var z uint256.Int
	if _, overflow := z.AddOverflow(x, y); overflow {
		return z, market.ErrArithmetic
	}
	return z, nil
}

func subChecked(x, y *uint256.Int) (uint256.Int, error) {
	var z uint256.Int
	if _, underflow := z.SubOverflow(x, y); underflow {
		return z, market.ErrArithmetic
	}
	return z, nil
}

// slotPayout is (end − start) × pps, reverting with StartNotBeforeExpiry
// when the interval is empty (the contract's _slotPayout).
func slotPayout(r *request, start, end int64) (uint256.Int, error) {
	if start >= end {
		return uint256.Int{}, market.ErrStartNotBeforeExpiry
	}
	return mulU64(&r.pps, uint64(end-start))
}

func u64be(v uint64) []byte {
	var b [8]byte
	binary.BigEndian.PutUint64(b[:], v)
	return b[:]
}

// orderedSet is the contract's EnumerableSet: insertion order, and removal
// moves the last element into the gap.
type orderedSet[K comparable] struct {
	items []K
	index map[K]int
}

func newOrderedSet[K comparable]() *orderedSet[K] {
	return &orderedSet[K]{index: make(map[K]int)}
}

func (s *orderedSet[K]) add(k K) {
	if s.index == nil {
		s.index = make(map[K]int)
	}
	if _, ok := s.index[k]; ok {
		return
	}
	s.index[k] = len(s.items)
	s.items = append(s.items, k)
}

func (s *orderedSet[K]) remove(k K) {
	i, ok := s.index[k]
	if !ok {
		return
	}
	last := len(s.items) - 1
	if i != last {
		s.items[i] = s.items[last]
		s.index[s.items[i]] = i
	}
	var zero K
	s.items[last] = zero
	s.items = s.items[:last]
	delete(s.index, k)
}

func (s *orderedSet[K]) has(k K) bool { _, ok := s.index[k]; return ok }

func (s *orderedSet[K]) list() []K { return append([]K(nil), s.items...) }

func (s *orderedSet[K]) len() int { return len(s.items) }
