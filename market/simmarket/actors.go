package simmarket

import (
	"errors"
	"slices"

	"github.com/hostsales/hostsales/market"
)

// Simulated actors: clients that withdraw, competitor hosts, and a
// validator. They act through timers on the market's clock, so they run on
// whatever goroutine moves the clock, each action one transaction made with
// the same rules as any caller's.

// scheduleLocked runs f under the market's lock when the clock reaches at.
func (m *Market) scheduleLocked(at int64, f func(now int64)) {
	m.clock.AfterFunc(at, func() {
		m.mu.Lock()
		f(m.clock.Now())
		m.mu.Unlock()
		if m.opts.Delivery == DeliverSync {
			m.bus.drain()
		}
	})
}

// scheduleWithdrawLocked makes the client of request id withdraw at time at
// if the request is then Cancelled, Finished or Failed.
func (m *Market) scheduleWithdrawLocked(id market.RequestID, at int64) {
	if m.opts.NoAutoWithdraw {
		return
	}
	m.scheduleLocked(at, func(now int64) {
		r := m.mu.requests[id]
		if !r.effState(now).IsTerminal() || r.funds.IsZero() {
			return
		}
		_ = m.txnLocked(func() error { return m.withdrawFundsLocked(now, r.req.Client, id, r.req.Client) })
	})
}

// maxCompetitorSlots bounds how many slots of one request competitors
// consider, so an absurd request (a billion zero-size slots) cannot flood
// the clock with timers.
const maxCompetitorSlots = 1024

// offerToCompetitorsLocked lets each competitor, in order, draw whether to
// go after slot index of request id, which just became available.
func (m *Market) offerToCompetitorsLocked(id market.RequestID, index uint64) {
	for ci, c := range m.opts.Competitors {
		if c.TakeProbability == 0 || m.mu.compRNG.Float64() >= c.TakeProbability {
			continue
		}
		reserveAt := m.mu.now + int64(c.ReserveDelay)
		m.scheduleLocked(reserveAt, func(now int64) {
			_ = m.txnLocked(func() error { return m.reserveSlotLocked(now, c.Address, id, index) })
		})
		m.scheduleLocked(reserveAt+int64(c.FillDelay), func(now int64) {
			m.competitorFillLocked(now, ci, id, index)
		})
	}
}

// competitorFillLocked fills a slot as competitor ci with a valid proof,
// minting any collateral it lacks first.
func (m *Market) competitorFillLocked(now int64, ci int, id market.RequestID, index uint64) {
	c := m.opts.Competitors[ci]
	err := m.fillWithMintLocked(now, c.Address, id, index)
	if errors.Is(err, market.ErrProofAlreadySubmitted) {
		// A repair in the period of the previous host's proof (MARKET.md §3.3
		// QUIRK): try again in the next period.
		m.scheduleLocked(m.per.PeriodEnd(m.per.PeriodOf(now))+1, func(now int64) {
			m.competitorFillLocked(now, ci, id, index)
		})
		return
	}
	if err != nil {
		return
	}
	sid := market.SlotIDFor(id, index)
	m.mu.compHosted[sid] = ci
	r := m.mu.requests[id]
	collect := func(now int64) { m.competitorCollectLocked(now, ci, sid) }
	m.scheduleLocked(r.expiresAt+1, collect)
	m.scheduleLocked(r.endsAt+1, collect)
}

// fillWithMintLocked fills slot index of request id as host with a valid
// proof and exactly the collateral due. If the fill can get past the state
// checks, it first mints the host's shortfall, in a transaction of its own.
func (m *Market) fillWithMintLocked(now int64, host market.Address, id market.RequestID, index uint64) error {
	r := m.mu.requests[id]
	if r == nil {
		return market.ErrUnknownRequest
	}
	sid := market.SlotIDFor(id, index)
	s := m.mu.slots[sid]
	state := slotStateWith(now, r, market.SlotStateFree)
	if s != nil {
		state = slotStateWith(now, r, s.state)
	}
	amount := m.cfg.SlotCollateral(r.req.Ask.CollateralPerSlot(), state)
	canFill := s != nil && slices.Contains(s.reservations, host) &&
		(state == market.SlotStateFree || state == market.SlotStateRepair)
	if bal := m.balanceLocked(host); canFill && bal.Lt(&amount) {
		var short = amount
		short.Sub(&short, &bal)
		_ = m.txnLocked(func() error { m.mintLocked(host, short); return nil })
	}
	proof := MakeProof(m.proofInputsLocked(now, sid, r, index))
	return m.txnLocked(func() error { return m.fillSlotLocked(now, host, id, index, proof, amount) })
}

// competitorCollectLocked frees competitor ci's slot once its request has
// ended (payout, or acknowledging a failure).
func (m *Market) competitorCollectLocked(now int64, ci int, sid market.SlotID) {
	c := m.opts.Competitors[ci]
	s := m.mu.slots[sid]
	if s == nil || s.host != c.Address {
		return
	}
	switch m.slotStateLocked(now, s) {
	case market.SlotStateCancelled, market.SlotStateFinished, market.SlotStateFailed:
		if m.txnLocked(func() error { return m.freeSlotLocked(now, c.Address, sid, c.Address, c.Address) }) == nil {
			delete(m.mu.compHosted, sid)
		}
	}
}

// ensureTickLocked schedules the actors' per-period tick, one second into
// the next period, unless one is pending or no actor needs it.
func (m *Market) ensureTickLocked(now int64) {
	if m.mu.tickAt != 0 || (m.opts.NoValidator && len(m.opts.Competitors) == 0) {
		return
	}
	at := m.per.PeriodEnd(m.per.PeriodOf(now)) + 1
	m.mu.tickAt = at
	m.scheduleLocked(at, m.tickLocked)
}

// tickLocked runs one second into each period while any slot is held: the
// validator marks the previous period's missed proofs (again at the end of
// the marking window, for proofs whose pointer left downtime late), and
// competitors prove, skip or abandon.
func (m *Market) tickLocked(now int64) {
	m.mu.tickAt = 0
	period := m.per.PeriodOf(now)
	for _, sid := range m.mu.filled.list() {
		if st := m.slotStateLocked(now, m.mu.slots[sid]); st != market.SlotStateFilled {
			m.mu.filled.remove(sid) // its request ended: it never needs a proof again
		}
	}
	if !m.opts.NoValidator && period > 0 && m.cfg.Proofs.Timeout > 1 {
		m.validateLocked(now, period-1)
		if late := m.per.PeriodStart(period) + int64(m.cfg.Proofs.Timeout) - 1; late > now {
			m.scheduleLocked(late, func(now int64) { m.validateLocked(now, period-1) })
		}
	}
	for _, sid := range m.mu.filled.list() {
		ci, ok := m.mu.compHosted[sid]
		s := m.mu.slots[sid]
		if !ok || s.host != m.opts.Competitors[ci].Address || m.slotStateLocked(now, s) != market.SlotStateFilled {
			continue
		}
		c := m.opts.Competitors[ci]
		if c.AbandonProbability > 0 && m.mu.compRNG.Float64() < c.AbandonProbability {
			_ = m.txnLocked(func() error { return m.freeSlotLocked(now, c.Address, sid, c.Address, c.Address) })
			continue
		}
		isReq, _ := m.isProofRequiredLocked(now, s, period)
		willReq, _ := m.willProofBeRequiredLocked(now, s, period)
		if !isReq && !willReq {
			continue
		}
		if c.MissProofProbability > 0 && m.mu.compRNG.Float64() < c.MissProofProbability {
			continue
		}
		proof := MakeProof(m.proofInputsLocked(now, sid, m.mu.requests[s.requestID], s.index))
		_ = m.txnLocked(func() error { return m.submitProofLocked(now, c.Address, sid, proof) })
	}
	if m.mu.filled.len() > 0 {
		m.ensureTickLocked(now)
	}
}

// validateLocked marks every missed proof of period it can, as the
// validator.
func (m *Market) validateLocked(now int64, period uint64) {
	for _, sid := range m.mu.filled.list() {
		_ = m.txnLocked(func() error { return m.markProofAsMissingLocked(now, m.validator, sid, period, false) })
	}
}
