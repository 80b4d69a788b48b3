package simmarket

import (
	"math"
	"math/bits"
	"slices"

	"github.com/holiman/uint256"

	"github.com/hostsales/hostsales/market"
)

// The contract's operations (MARKET.md §3). Each runs under m.mu inside a
// transaction at time now, makes its checks in the contract's order, and
// changes nothing until every check (including arithmetic and token
// balances) has passed.

// requestStorageLocked is requestStorage (MARKET.md §3.1). The client
// approves exactly maxPrice, as the host's client library does, so the
// token's allowance check never fails here.
func (m *Market) requestStorageLocked(now int64, caller market.Address, req market.StorageRequest) (market.RequestID, error) {
	id := req.ID()
	ask := req.Ask
	switch {
	case req.Client != caller:
		return id, market.ErrInvalidClientAddress
	case m.mu.requests[id] != nil:
		return id, market.ErrRequestAlreadyExists
	case req.Expiry == 0 || req.Expiry >= ask.Duration:
		return id, market.ErrInvalidExpiry
	case ask.Slots == 0:
		return id, market.ErrInsufficientSlots
	case ask.MaxSlotLoss > ask.Slots:
		return id, market.ErrInvalidMaxSlotLoss
	case ask.Duration == 0: // never reached: InvalidExpiry comes first
		return id, market.ErrInsufficientDuration
	case ask.ProofProbability.IsZero():
		return id, market.ErrInsufficientProofProbability
	case ask.CollateralPerByte.IsZero():
		return id, market.ErrInsufficientCollateral
	case ask.PricePerBytePerSecond.IsZero():
		return id, market.ErrInsufficientReward
	case req.Content.CID == "":
		return id, market.ErrInvalidCid
	case ask.Duration > m.cfg.RequestDurationLimit:
		return id, market.ErrDurationExceedsLimit
	}
	// endsAt and expiresAt are 64-bit sums; times here are int64.
	if ask.Duration > uint64(math.MaxInt64-now) {
		return id, market.ErrArithmetic
	}
	maxPrice, err := ask.MaxPrice()
	if err != nil {
		return id, market.ErrArithmetic
	}
	pps, err := mulU64(&ask.PricePerBytePerSecond, ask.SlotSize)
	if err != nil {
		return id, err
	}
	if !m.hasLocked(caller, &maxPrice) {
		return id, market.ErrInsufficientBalance
	}

	r := &request{
		id: id, req: req, state: market.RequestStateNew, funds: maxPrice, maxPrice: maxPrice, pps: pps,
		submittedAt: now, endsAt: now + int64(ask.Duration), expiresAt: now + int64(req.Expiry),
	}
	m.mu.requests[id] = r
	m.mu.reqOrder = append(m.mu.reqOrder, id)
	m.myRequestsLocked(caller).add(id)
	m.transferLocked(caller, MarketAddress, maxPrice, "requestStorage")
	m.emitLocked(market.StorageRequested{RequestID: id, Ask: ask, ExpiresAt: r.expiresAt})

	m.scheduleWithdrawLocked(id, r.expiresAt+1)
	if len(m.opts.Competitors) > 0 {
		for i := uint64(0); i < min(ask.Slots, maxCompetitorSlots); i++ {
			m.offerToCompetitorsLocked(id, i)
		}
	}
	return id, nil
}

// canReserveLocked is canReserveSlot (MARKET.md §3.2).
func (m *Market) canReserveLocked(now int64, caller market.Address, sid market.SlotID) bool {
	s := m.mu.slots[sid]
	st := m.slotStateLocked(now, s)
	if st != market.SlotStateFree && st != market.SlotStateRepair {
		return false
	}
	if s == nil {
		return m.cfg.Reservations.MaxReservations > 0
	}
	return len(s.reservations) < int(m.cfg.Reservations.MaxReservations) && !slices.Contains(s.reservations, caller)
}

// reserveSlotLocked is reserveSlot (MARKET.md §3.2).
func (m *Market) reserveSlotLocked(now int64, caller market.Address, id market.RequestID, index uint64) error {
	sid := market.SlotIDFor(id, index)
	if !m.canReserveLocked(now, caller, sid) {
		return market.ErrReservationNotAllowed
	}
	s := m.slotLocked(sid)
	s.reservations = append(s.reservations, caller)
	if len(s.reservations) == int(m.cfg.Reservations.MaxReservations) {
		m.emitLocked(market.SlotReservationsFull{RequestID: id, SlotIndex: index})
	}
	return nil
}

// fillSlotLocked is fillSlot (MARKET.md §3.3). allowance is what the caller
// approved for the collateral transfer.
func (m *Market) fillSlotLocked(now int64, caller market.Address, id market.RequestID, index uint64, proof market.Proof, allowance uint256.Int) error {
	r := m.mu.requests[id]
	if r == nil {
		return market.ErrUnknownRequest
	}
	if index >= r.req.Ask.Slots {
		return market.ErrInvalidSlot
	}
	sid := market.SlotIDFor(id, index)
	s := m.mu.slots[sid]
	if s == nil || !slices.Contains(s.reservations, caller) {
		return market.ErrReservationRequired
	}
	state := slotStateWith(now, r, s.state)
	if state != market.SlotStateFree && state != market.SlotStateRepair {
		return market.ErrSlotNotFree
	}
	period := m.per.PeriodOf(now)
	if s.received[period] {
		return market.ErrProofAlreadySubmitted
	}
	if !m.verify(m.proofInputsLocked(now, sid, r, index), proof) {
		return market.ErrInvalidProof
	}
	payout, err := slotPayout(r, now, r.endsAt)
	if err != nil {
		return err
	}
	funds, err := subChecked(&r.funds, &payout)
	if err != nil {
		return err
	}
	collateral, err := mulU64(&r.req.Ask.CollateralPerByte, r.req.Ask.SlotSize)
	if err != nil {
		return err
	}
	amount := collateral
	if state == market.SlotStateRepair {
		if _, err := mulU64(&collateral, uint64(m.cfg.Collateral.RepairRewardPercentage)); err != nil {
			return err
		}
		amount = m.cfg.SlotCollateral(collateral, market.SlotStateRepair)
	}
	if allowance.Lt(&amount) {
		return market.ErrInsufficientAllowance
	}
	if !m.hasLocked(caller, &amount) {
		return market.ErrInsufficientBalance
	}

	if s.requestID.IsZero() {
		m.mu.slotOrder = append(m.mu.slotOrder, sid)
	}
	s.requestID = id
	s.index = index
	s.host = caller
	s.filledAt = now
	s.fills = append(s.fills, fillRecord{host: caller, at: now})
	s.proofStart = period
	s.received[period] = true
	m.emitLocked(market.ProofSubmitted{SlotID: sid})
	r.slotsFilled++
	r.funds = funds
	m.transferLocked(caller, MarketAddress, amount, "collateral")
	s.currentCollateral = collateral
	m.mySlotsLocked(caller).add(sid)
	s.state = market.SlotStateFilled
	m.mu.filled.add(sid)
	m.emitLocked(market.SlotFilled{RequestID: id, SlotIndex: index})
	if r.slotsFilled == r.req.Ask.Slots && r.state == market.RequestStateNew {
		r.state = market.RequestStateStarted
		r.startedAt = now
		m.emitLocked(market.RequestFulfilled{RequestID: id})
		m.scheduleWithdrawLocked(id, r.endsAt+1)
	}
	m.ensureTickLocked(now)
	return nil
}

// submitProofLocked is submitProof (MARKET.md §3.4).
func (m *Market) submitProofLocked(now int64, caller market.Address, sid market.SlotID, proof market.Proof) error {
	s := m.mu.slots[sid]
	if s == nil || s.requestID.IsZero() {
		return market.ErrUnknownRequest
	}
	if s.host != caller {
		return market.ErrProofNotSubmittedByHost
	}
	period := m.per.PeriodOf(now)
	if s.received[period] {
		return market.ErrProofAlreadySubmitted
	}
	if !m.verify(m.proofInputsLocked(now, sid, m.mu.requests[s.requestID], s.index), proof) {
		return market.ErrInvalidProof
	}
	s.received[period] = true
	m.emitLocked(market.ProofSubmitted{SlotID: sid})
	return nil
}

// freeSlotLocked is freeSlot (MARKET.md §3.5).
func (m *Market) freeSlotLocked(now int64, caller market.Address, sid market.SlotID, rewardTo, collateralTo market.Address) error {
	s := m.mu.slots[sid]
	if s == nil || s.state == market.SlotStateFree {
		return market.ErrSlotIsFree
	}
	if s.host != caller {
		return market.ErrInvalidSlotHost
	}
	r := m.mu.requests[s.requestID]
	switch m.slotStateLocked(now, s) {
	case market.SlotStatePaid:
		return market.ErrAlreadyPaid
	case market.SlotStateFinished:
		return m.payoutLocked(r, s, r.endsAt, true, rewardTo, collateralTo)
	case market.SlotStateCancelled:
		return m.payoutLocked(r, s, r.expiresAt, false, rewardTo, collateralTo)
	case market.SlotStateFailed:
		m.mySlotsLocked(s.host).remove(sid)
		m.mu.filled.remove(sid)
		return nil
	case market.SlotStateFilled:
		if err := m.checkForcedReleaseLocked(now, r, s); err != nil {
			return err
		}
		m.forcedReleaseLocked(now, r, s)
		return nil
	}
	return market.ErrInvalidSlotHost // Repair: unreachable, its host is the zero address
}

// payoutLocked pays a finished (finished=true, until endsAt) or cancelled
// (until expiresAt) slot.
func (m *Market) payoutLocked(r *request, s *slot, until int64, finished bool, rewardTo, collateralTo market.Address) error {
	reward, err := slotPayout(r, s.filledAt, until)
	if err != nil {
		return err
	}
	total, err := addChecked(&reward, &s.currentCollateral)
	if err != nil {
		return err
	}
	if !m.hasLocked(MarketAddress, &total) {
		return market.ErrInsufficientBalance
	}
	if finished {
		r.state = market.RequestStateFinished
		m.myRequestsLocked(r.req.Client).remove(r.id)
	}
	m.mySlotsLocked(s.host).remove(s.id)
	s.state = market.SlotStatePaid
	m.mu.filled.remove(s.id)
	m.transferLocked(MarketAddress, rewardTo, reward, "reward")
	m.transferLocked(MarketAddress, collateralTo, s.currentCollateral, "collateralReturn")
	return nil
}

// checkForcedReleaseLocked makes the checks of a forced release (MARKET.md
// §3.7): its arithmetic, and endsAt := now − 1 on failure.
func (m *Market) checkForcedReleaseLocked(now int64, r *request, s *slot) error {
	refund, err := slotPayout(r, s.filledAt, r.endsAt)
	if err != nil {
		return err
	}
	if _, err := addChecked(&r.funds, &refund); err != nil {
		return err
	}
	if m.releaseFailsLocked(r) && now <= 0 {
		return market.ErrArithmetic
	}
	return nil
}

func (m *Market) releaseFailsLocked(r *request) bool {
	return r.req.Ask.Slots-(r.slotsFilled-1) > r.req.Ask.MaxSlotLoss && r.state == market.RequestStateStarted
}

// forcedReleaseLocked is the forced release of MARKET.md §3.7, after
// checkForcedReleaseLocked passed.
func (m *Market) forcedReleaseLocked(now int64, r *request, s *slot) {
	refund, _ := slotPayout(r, s.filledAt, r.endsAt)
	r.funds.Add(&r.funds, &refund)
	m.mySlotsLocked(s.host).remove(s.id)
	s.reservations = nil
	s.state = market.SlotStateRepair
	s.filledAt = 0
	s.currentCollateral = uint256.Int{}
	s.host = market.Address{}
	r.slotsFilled--
	m.mu.filled.remove(s.id)
	delete(m.mu.compHosted, s.id)
	m.emitLocked(market.SlotFreed{RequestID: r.id, SlotIndex: s.index})
	s.missed = 0
	if r.req.Ask.Slots-r.slotsFilled > r.req.Ask.MaxSlotLoss && r.state == market.RequestStateStarted {
		r.state = market.RequestStateFailed
		r.endsAt = now - 1
		m.emitLocked(market.RequestFailed{RequestID: r.id})
		m.scheduleWithdrawLocked(r.id, now)
		return
	}
	m.offerToCompetitorsLocked(r.id, s.index)
}

// markProofAsMissingLocked is markProofAsMissing (MARKET.md §3.6); with
// dryRun it is canMarkProofAsMissing.
func (m *Market) markProofAsMissingLocked(now int64, caller market.Address, sid market.SlotID, period uint64, dryRun bool) error {
	s := m.mu.slots[sid]
	if m.slotStateLocked(now, s) != market.SlotStateFilled {
		return market.ErrSlotNotAcceptingProofs
	}
	// end = (period + 1) × periodSeconds, a checked uint64 product.
	if period == math.MaxUint64 {
		return market.ErrArithmetic
	}
	endHi, end := bits.Mul64(period+1, m.per.Seconds)
	if endHi != 0 {
		return market.ErrArithmetic
	}
	if end >= uint64(now) {
		return market.ErrPeriodNotEnded
	}
	if uint64(now)-end >= m.cfg.Proofs.Timeout { // now >= end + timeout; end < now, so no overflow
		return market.ErrValidationTimedOut
	}
	if s.received[period] {
		return market.ErrProofNotMissing
	}
	required, err := m.isProofRequiredLocked(now, s, period)
	if err != nil {
		return err
	}
	if !required {
		return market.ErrProofNotRequired
	}
	if s.marked[period] {
		return market.ErrProofAlreadyMarkedMissing
	}
	r := m.mu.requests[s.requestID]
	collateral, err := mulU64(&r.req.Ask.CollateralPerByte, r.req.Ask.SlotSize)
	if err != nil {
		return err
	}
	slashed := market.Percent(collateral, m.cfg.Collateral.SlashPercentage)
	reward := market.Percent(slashed, m.cfg.Collateral.ValidatorRewardPercentage)
	if !m.hasLocked(MarketAddress, &reward) {
		return market.ErrInsufficientBalance
	}
	if _, err := subChecked(&s.currentCollateral, &slashed); err != nil {
		return err
	}
	releases := s.missed+1 >= uint64(m.cfg.Collateral.MaxNumberOfSlashes)
	if releases {
		if err := m.checkForcedReleaseLocked(now, r, s); err != nil {
			return err
		}
	}
	if dryRun {
		return nil
	}

	s.marked[period] = true
	s.missed++
	m.transferLocked(MarketAddress, caller, reward, "validatorReward")
	s.currentCollateral.Sub(&s.currentCollateral, &slashed)
	if releases {
		m.forcedReleaseLocked(now, r, s)
	}
	return nil
}

// withdrawFundsLocked is withdrawFunds (MARKET.md §3.8).
func (m *Market) withdrawFundsLocked(now int64, caller market.Address, id market.RequestID, recipient market.Address) error {
	r := m.mu.requests[id]
	if r == nil {
		return market.ErrUnknownRequest
	}
	if r.req.Client != caller {
		return market.ErrInvalidClientAddress
	}
	state := r.effState(now)
	if !state.IsTerminal() {
		return market.ErrInvalidState
	}
	if r.funds.IsZero() {
		return market.ErrNothingToWithdraw
	}
	amount := r.funds
	switch state {
	case market.RequestStateCancelled:
		extra, err := mulU64(&r.pps, uint64(r.endsAt-r.expiresAt))
		if err == nil {
			extra, err = mulU64(&extra, r.slotsFilled)
		}
		if err == nil {
			amount, err = addChecked(&amount, &extra)
		}
		if err != nil {
			return err
		}
	case market.RequestStateFailed:
		amount = r.maxPrice
	}
	if !m.hasLocked(MarketAddress, &amount) {
		return market.ErrInsufficientBalance
	}

	switch state {
	case market.RequestStateCancelled:
		r.state = market.RequestStateCancelled
		m.emitLocked(market.RequestCancelled{RequestID: id})
	case market.RequestStateFinished:
		r.state = market.RequestStateFinished
	}
	m.myRequestsLocked(r.req.Client).remove(id)
	r.funds = uint256.Int{}
	m.transferLocked(MarketAddress, recipient, amount, "withdraw")
	return nil
}

// requestEndLocked is requestEnd (MARKET.md §2.3).
func (m *Market) requestEndLocked(now int64, id market.RequestID) (int64, error) {
	r := m.mu.requests[id]
	if r == nil {
		return 0, market.ErrUnknownRequest
	}
	switch r.effState(now) {
	case market.RequestStateNew, market.RequestStateStarted:
		return r.endsAt, nil
	case market.RequestStateCancelled:
		return r.expiresAt, nil
	}
	return min(r.endsAt, now), nil
}
