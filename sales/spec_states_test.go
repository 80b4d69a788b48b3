package sales_test

// SPEC.md §8.5 (tests/codex/sales/states/*.nim), every case as a named
// test against simmarket on the virtual clock. The reference tests each
// state in isolation with a mock market; here each sale is driven into the
// state through the market: a competitor taking the slot, a request that
// fails or expires, an injected market error, a market call held by the
// spy until the market moved on, or a node callback that hangs or fails.
// Each test checks the sequence of states and ends with the accounting
// (settle: I1-I5).

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"

	"github.com/holiman/uint256"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hostsales/hostsales/market"
	"github.com/hostsales/hostsales/market/simmarket"
	"github.com/hostsales/hostsales/reservations"
	"github.com/hostsales/hostsales/sales"
	"github.com/hostsales/hostsales/statemachine"
)

// specSeq is shorthand for state sequences.
type specSeq = []statemachine.State

const (
	sPre = sales.StatePreparing
	sRes = sales.StateSlotReserving
	sDow = sales.StateDownloading
	sIni = sales.StateInitialProving
	sFil = sales.StateFilling
	sFd  = sales.StateFilled
	sPro = sales.StateProving
	sPay = sales.StatePayout
	sFin = sales.StateFinished
	sCan = sales.StateCancelled
	sFai = sales.StateFailed
	sIgn = sales.StateIgnored
	sErr = sales.StateErrored
	sUnk = sales.StateUnknown
)

// last returns the states of the slot's latest sale: from its last entry
// into SalePreparing or SaleUnknown.
func (sh *specH) last(id market.RequestID, slot uint64) specSeq {
	seq := sh.seq(id, slot)
	for i := len(seq) - 1; i >= 0; i-- {
		if seq[i] == sPre || seq[i] == sUnk {
			return seq[i:]
		}
	}
	return seq
}

// otherHostsAll submits a 3-slot request (maxSlotLoss 1) that another host
// fills entirely while this host has no availability, then gives this
// host an availability for one slot.
func (sh *specH) otherHostsAll() market.RequestID {
	sh.t.Helper()
	id := sh.submitNew(3, 1000, func(r *market.StorageRequest) { r.Ask.MaxSlotLoss = 1 })
	sh.within(10, "every slot ignored", func() bool { return len(sh.touched(id)) == 3 && len(sh.s.Agents()) == 0 })
	sh.takeAll(other, id)
	require.Equal(sh.t, market.RequestStateStarted, sh.reqState(id))
	sh.avail(1000)
	return id
}

// abandon makes the other host abandon the slot (a forced release, with
// SlotFreed): this host's Sales queues it for repair.
func (sh *specH) abandon(id market.RequestID, slot uint64) {
	sh.t.Helper()
	require.NoError(sh.t, sh.m.As(other).FreeSlot(sh.ctx, market.SlotIDFor(id, slot)))
}

// specFailInRepair takes slot 2 of a started request for repair, holds the
// sale in state st (hold is called with the request id before the slot is
// freed and returns the release), makes the request fail, and checks the
// sale goes through SaleFailed to SaleErrored: freeing a slot we never
// filled fails (SPEC §4.3 SaleFailed: any error → Errored). All the
// collateral comes back (Decision 6: our fill never succeeded).
func specFailInRepair(t *testing.T, st statemachine.State, hold func(sh *specH, id market.RequestID) func(), want specSeq) {
	sh := newSpec(t, specCfg{})
	defer sh.stop()
	id := sh.otherHostsAll()
	release := hold(sh, id)
	defer release()
	sh.abandon(id, 2)
	sh.run(sh.in(id, 2, st))
	require.NoError(t, sh.m.FailRequest(sh.ctx, id))
	sh.run(sh.gone(id, 2))
	assert.Equal(t, want, sh.last(id, 2))
	assert.ErrorIs(t, sh.erroredWith(id, 2), market.ErrInvalidSlotHost)
	release()
	sh.settle(0, id)
}

// specCancelIn holds a one-slot sale in state st until its request expires:
// the sale is cancelled and, not hosting the slot, gets all its collateral
// back (Decision 6).
func specCancelIn(t *testing.T, st statemachine.State, hold func(sh *specH, id market.RequestID) func(), want specSeq) {
	sh := newSpec(t, specCfg{})
	defer sh.stop()
	a := sh.avail(1000)
	req := sh.newRequest(1, 1000)
	id := req.ID()
	release := hold(sh, id)
	defer release()
	sh.submit(req)
	sh.run(sh.in(id, 0, st))
	expiry := sh.info(id).ExpiresAt
	sh.run(sh.gone(id, 0))
	assert.Equal(t, want, sh.seq(id, 0))
	assert.Equal(t, expiry+1, sh.enteredAt(id, 0, sCan))
	assert.Equal(t, a, sh.availNow(a.ID))
	release()
	sh.settle(0, id)
}

func specHold(method string) func(sh *specH, id market.RequestID) func() {
	return func(sh *specH, _ market.RequestID) func() { return sh.mk.hold(method) }
}

func specHangStore(sh *specH, id market.RequestID) func() { return sh.hangStore(id) }
func specHangProve(sh *specH, id market.RequestID) func() { return sh.hangProve(id) }

// specProvingAlone: a 2-slot request of which this host takes one slot (its
// availability fits one), so the request never starts; returns our slot
// once its sale proves.
func specProvingAlone(sh *specH, edit ...func(*market.StorageRequest)) (market.RequestID, uint64) {
	sh.t.Helper()
	sh.avail(1000)
	id := sh.submitNew(2, 1000, edit...)
	sh.run(func() bool {
		ag := sh.s.Agents()
		return len(ag) == 1 && ag[0].State() == sPro
	})
	return id, sh.mySlot(id)
}

// ---- testcancelled ----

func TestSpecStateCancelled(t *testing.T) {
	// Reference: SPEC.md §8.5 testcancelled "calls onCleanUp with
	// reprocessSlot = true, and returnedCollateral = currentCollateral"
	// (asserting reprocess false). A missed proof was slashed, so the
	// current collateral (800) is below what was reserved (1000): exactly
	// the current collateral comes back, the market kept the slash.
	specRun(t, "calls onCleanUp with reprocessSlot false and returnedCollateral currentCollateral", func(t *testing.T) {
		sh := newSpec(t, specCfg{})
		defer sh.stop()
		id, mine := specProvingAlone(sh, func(r *market.StorageRequest) { r.Expiry = 1500 })
		sh.missProofs(id, mine, 1)
		require.Equal(t, "800", sh.collateralOf(id, mine))
		sh.run(sh.gone(id, mine))
		assert.Equal(t, specSeq{sPro, sCan}, specFrom(sh.last(id, mine), sPro))
		assert.Equal(t, market.SlotStatePaid, sh.slotInfo(id, mine).State, "freed: payout collected")
		assert.Equal(t, []uint64{mine}, sh.clearedOf(id))
		sh.settle(200, id)
		assert.Equal(t, sCan, sh.seq(id, mine)[len(sh.seq(id, mine))-1], "not re-queued")
	})

	// Reference: SPEC.md §8.5 testcancelled "completes the cancelled state
	// when free slot error is raised and the collateral is returned when a
	// host is hosting a slot".
	specRun(t, "completes when free slot error is raised and returns the collateral when hosting", func(t *testing.T) {
		sh := newSpec(t, specCfg{faults: []simmarket.Fault{
			{Method: "FreeSlot", Caller: me, Nth: 1, Err: market.ErrSlotStateMismatch}}})
		defer sh.stop()
		id, mine := specProvingAlone(sh)
		sh.run(sh.gone(id, mine))
		assert.Equal(t, specSeq{sPro, sCan}, specFrom(sh.last(id, mine), sPro), "completed, not errored")
		assert.True(t, sh.logged("slot already free"))
		assert.Equal(t, market.SlotStateCancelled, sh.slotInfo(id, mine).State, "the failed free did not collect")
		sh.settle(0, id) // returnedCollateral = currentCollateral = all of it
	})

	// hostsales: a slot filled at its request's expiry is never paid out
	// (the contract refuses: StartNotBeforeExpiry), so the sale ends with
	// the market keeping the collateral instead of holding its
	// reservation (and its bytes) forever, as it did before (found by the
	// simulation, steady seed 3).
	specRun(t, "completes and counts the collateral kept when the market refuses a payout started at expiry", func(t *testing.T) {
		sh := newSpec(t, specCfg{faults: []simmarket.Fault{
			{Method: "FreeSlot", Caller: me, Nth: 1, Err: market.ErrStartNotBeforeExpiry}}})
		defer sh.stop()
		id, mine := specProvingAlone(sh)
		sh.run(sh.gone(id, mine))
		assert.Equal(t, specSeq{sPro, sCan}, specFrom(sh.last(id, mine), sPro), "completed, not errored")
		assert.True(t, sh.logged("the market keeps the collateral of a slot filled at its request's expiry"))
		sh.settle(1000, id)
	})

	// Reference: SPEC.md §8.5 testcancelled "completes the cancelled state
	// when free slot error is raised and the collateral is not returned
	// when a host is not hosting a slot". Another host filled our slot
	// (Sales missed SlotFilled) while we downloaded. hostsales
	// (Decision 6): our fill never succeeded, so all the collateral comes
	// back (the reference returns none).
	specRun(t, "completes and does not free when another host hosts the slot", func(t *testing.T) {
		sh := newSpec(t, specCfg{faults: []simmarket.Fault{{Method: "SubscribeSlotFilled", Caller: me, Nth: 1}}})
		defer sh.stop()
		sh.avail(1000)
		req := sh.newRequest(2, 1000)
		id := req.ID()
		release := sh.hangStore(id)
		defer release()
		sh.submit(req)
		sh.run(func() bool { return len(sh.s.Agents()) == 1 && sh.s.Agents()[0].State() == sDow })
		mine := sh.mySlot(id)
		require.NoError(t, sh.m.TakeSlot(sh.ctx, other, id, mine))
		sh.run(sh.gone(id, mine))
		assert.Equal(t, specSeq{sPre, sRes, sDow, sCan}, sh.last(id, mine))
		assert.Equal(t, other, sh.slotInfo(id, mine).Host, "not freed by us")
		assert.Equal(t, market.SlotStateCancelled, sh.slotInfo(id, mine).State)
		sh.settle(0, id)
	})

	// Reference: SPEC.md §8.5 testcancelled "calls onCleanUp and returns
	// the collateral when an error is raised": getHost fails → SaleErrored
	// with that error. hostsales (Decision 6) returns the collateral. A
	// hostsales sale retries a failing market call that guards collateral
	// (a few times, a period apart), so the fault here persists.
	specRun(t, "errors with the market's error when getHost fails", func(t *testing.T) {
		sh := newSpec(t, specCfg{})
		defer sh.stop()
		sh.avail(1000)
		req := sh.newRequest(1, 1000)
		id := req.ID()
		release := sh.hangStore(id)
		defer release()
		sh.submit(req)
		sh.run(sh.in(id, 0, sDow))
		require.NoError(t, sh.m.InjectFault(simmarket.Fault{Method: "GetHost", Caller: me, Probability: 1}))
		sh.run(sh.gone(id, 0))
		assert.Equal(t, specSeq{sPre, sRes, sDow, sCan, sErr}, sh.seq(id, 0))
		assert.ErrorIs(t, sh.erroredWith(id, 0), simmarket.ErrInjected)
		sh.settle(0, id)
	})

	// A single failing call is retried: the sale still frees the slot it
	// hosts and gets its collateral back.
	specRun(t, "a transient getHost failure is retried", func(t *testing.T) {
		sh := newSpec(t, specCfg{})
		defer sh.stop()
		sh.avail(1000)
		req := sh.newRequest(1, 1000)
		id := req.ID()
		release := sh.hangStore(id)
		defer release()
		sh.submit(req)
		sh.run(sh.in(id, 0, sDow))
		require.NoError(t, sh.m.InjectFault(simmarket.Fault{Method: "GetHost", Caller: me, Nth: 1}))
		sh.run(sh.gone(id, 0))
		assert.Equal(t, specSeq{sPre, sRes, sDow, sCan}, sh.seq(id, 0))
		sh.settle(0, id)
	})
}

// ---- testdownloading ----

func TestSpecStateDownloading(t *testing.T) {
	// Reference: SPEC.md §8.5 testdownloading "switches to cancelled state when request expires".
	specRun(t, "switches to cancelled state when request expires", func(t *testing.T) {
		specCancelIn(t, sDow, specHangStore, specSeq{sPre, sRes, sDow, sCan})
	})

	// Reference: SPEC.md §8.5 testdownloading "switches to failed state when request fails".
	specRun(t, "switches to failed state when request fails", func(t *testing.T) {
		specFailInRepair(t, sDow, specHangStore, specSeq{sPre, sRes, sDow, sFai, sErr})
	})

	// Reference: SPEC.md §8.5 testdownloading "switches to filled state when slot is filled".
	specRun(t, "switches to filled state when slot is filled", func(t *testing.T) {
		sh := newSpec(t, specCfg{})
		defer sh.stop()
		a := sh.avail(1000)
		req := sh.newRequest(1, 1000)
		id := req.ID()
		release := sh.hangStore(id)
		defer release()
		sh.submit(req)
		sh.run(sh.in(id, 0, sDow))
		require.NoError(t, sh.m.TakeSlot(sh.ctx, other, id, 0))
		sh.run(sh.gone(id, 0))
		assert.Equal(t, specSeq{sPre, sRes, sDow, sFd, sErr}, sh.seq(id, 0))
		assert.ErrorIs(t, sh.erroredWith(id, 0), sales.ErrHostMismatch)
		assert.Equal(t, a, sh.availNow(a.ID))
		sh.settle(0, id)
	})
}

// ---- testerrored ----

func TestSpecStateErrored(t *testing.T) {
	// Reference: SPEC.md §8.5 testerrored "calls onCleanUp with
	// reprocessSlot = true": SaleErrored passes its reprocessSlot to the
	// cleanup. No path enters SaleErrored with reprocessSlot = true (in
	// the reference or in hostsales), so the value that is passed (false)
	// is checked: the slot is not put back in the queue. OnClear is called
	// and (Decision 6) the collateral comes back.
	specRun(t, "passes reprocessSlot to the cleanup", func(t *testing.T) {
		sh := newSpec(t, specCfg{})
		defer sh.stop()
		a := sh.avail(1000)
		req := sh.newRequest(1, 1000)
		id := req.ID()
		sh.failStore(id, 0)
		sh.submit(req)
		sh.run(sh.gone(id, 0))
		assert.Equal(t, specSeq{sPre, sRes, sDow, sErr}, sh.seq(id, 0))
		assert.Empty(t, sh.queued(id), "not re-queued")
		assert.Equal(t, []uint64{0}, sh.clearedOf(id))
		assert.Equal(t, a, sh.availNow(a.ID))
		sh.settle(0, id)
	})
}

// ---- testfilled ----

func TestSpecStateFilled(t *testing.T) {
	// Reference: SPEC.md §8.5 testfilled "switches to proving state when slot is filled by me".
	specRun(t, "switches to proving state when slot is filled by me", func(t *testing.T) {
		sh := newSpec(t, specCfg{})
		defer sh.stop()
		sh.avail(1000)
		id := sh.submitNew(1, 1000)
		sh.run(sh.in(id, 0, sPro))
		assert.Equal(t, specSeq{sFd, sPro}, specFrom(sh.seq(id, 0), sFd))
		sh.settle(0, id)
	})

	// Reference: SPEC.md §8.5 testfilled "calls onExpiryUpdate with request end".
	specRun(t, "calls onExpiryUpdate with request end", func(t *testing.T) {
		sh := newSpec(t, specCfg{})
		defer sh.stop()
		sh.avail(1000)
		id := sh.submitNew(1, 1000)
		sh.run(sh.in(id, 0, sPro))
		sh.smu.Lock()
		got := append([]specExpiry(nil), sh.expiries...)
		sh.smu.Unlock()
		require.Len(t, got, 1)
		end, err := sh.obs.GetRequestEnd(sh.ctx, id)
		require.NoError(t, err)
		assert.Equal(t, sh.request(id).Content.CID, got[0].cid)
		assert.Equal(t, end, got[0].expiry)
		assert.Equal(t, sh.info(id).EndsAt, got[0].expiry)
		sh.settle(0, id)
	})

	// Reference: SPEC.md §8.5 testfilled "switches to error state when slot
	// is filled by another host". Another host fills the slot while our
	// sale prepares (slotFilled → SaleFilled).
	specRun(t, "switches to error state when slot is filled by another host", func(t *testing.T) {
		sh := newSpec(t, specCfg{})
		defer sh.stop()
		a := sh.avail(1000)
		release := sh.mk.hold("GetRequestEnd")
		defer release()
		id := sh.submitNew(1, 1000)
		sh.run(sh.in(id, 0, sPre))
		require.NoError(t, sh.m.TakeSlot(sh.ctx, other, id, 0))
		sh.run(sh.gone(id, 0))
		assert.Equal(t, specSeq{sPre, sFd, sErr}, sh.seq(id, 0))
		assert.ErrorIs(t, sh.erroredWith(id, 0), sales.ErrHostMismatch)
		assert.Equal(t, a, sh.availNow(a.ID), "nothing was reserved")
		release()
		sh.settle(0, id)
	})
}

// ---- testfilling ----

func TestSpecStateFilling(t *testing.T) {
	// Reference: SPEC.md §8.5 testfilling "switches to cancelled state when request expires".
	specRun(t, "switches to cancelled state when request expires", func(t *testing.T) {
		specCancelIn(t, sFil, specHold("FillSlot"), specSeq{sPre, sRes, sDow, sIni, sFil, sCan})
	})

	// Reference: SPEC.md §8.5 testfilling "switches to failed state when request fails".
	specRun(t, "switches to failed state when request fails", func(t *testing.T) {
		specFailInRepair(t, sFil, specHold("FillSlot"), specSeq{sPre, sRes, sDow, sIni, sFil, sFai, sErr})
	})

	// Reference: SPEC.md §8.5 testfilling "run switches to ignored when
	// slot is not free": another host filled the slot while our fill was
	// on its way; the market refuses it (SlotStateMismatch). Not re-queued;
	// all the collateral comes back.
	specRun(t, "run switches to ignored when slot is not free", func(t *testing.T) {
		sh := newSpec(t, specCfg{})
		defer sh.stop()
		a := sh.avail(1000)
		release := sh.mk.hold("FillSlot")
		defer release()
		id := sh.submitNew(1, 1000)
		sh.run(sh.in(id, 0, sFil))
		require.NoError(t, sh.m.TakeSlot(sh.ctx, other, id, 0))
		release()
		sh.run(sh.gone(id, 0))
		assert.Equal(t, specSeq{sPre, sRes, sDow, sIni, sFil, sIgn}, sh.seq(id, 0))
		assert.Empty(t, sh.queued(id), "reprocessSlot = false")
		assert.Equal(t, a, sh.availNow(a.ID), "returnsCollateral")
		sh.settle(0, id)
	})

	// Reference: SPEC.md §8.5 testfilling "run switches to errored with other error".
	specRun(t, "run switches to errored with other error", func(t *testing.T) {
		sh := newSpec(t, specCfg{faults: []simmarket.Fault{{Method: "FillSlot", Caller: me, Nth: 1}}})
		defer sh.stop()
		sh.avail(1000)
		id := sh.submitNew(1, 1000)
		sh.run(sh.gone(id, 0))
		assert.Equal(t, specSeq{sPre, sRes, sDow, sIni, sFil, sErr}, sh.seq(id, 0))
		err := sh.erroredWith(id, 0)
		assert.ErrorIs(t, err, simmarket.ErrInjected)
		assert.ErrorIs(t, err, market.ErrMarket)
		sh.settle(0, id)
	})
}

// ---- testfinished ----

func TestSpecStateFinished(t *testing.T) {
	// Reference: SPEC.md §8.5 testfinished "switches to cancelled state
	// when request expires". hostsales: SaleFinished is terminal. The sale
	// is held in SaleFinished (OnClear hangs) when its expiry watcher
	// (Sales missed RequestFulfilled; the expiry it read is shifted past
	// the end) is told the request is Cancelled: the finished sale stays
	// finished and returns what the payout paid.
	specRun(t, "stays finished when the request is reported cancelled", func(t *testing.T) {
		sh := newSpec(t, specCfg{faults: []simmarket.Fault{{Method: "SubscribeFulfillment", Caller: me, Nth: 1}},
			spy: func(m *specMarket) { m.expiryShift = 3600 }})
		defer sh.stop()
		sh.avail(1000)
		req := sh.newRequest(1, 1000)
		id := req.ID()
		release := sh.hangClear(id)
		defer release()
		sh.submit(req)
		wake := sh.info(id).ExpiresAt + 3600 + 1
		sh.run(sh.in(id, 0, sFin))
		require.Less(t, sh.clock.Now(), wake)
		sh.mk.lieRequest(id, market.RequestStateCancelled)
		sh.run(func() bool { return len(sh.watcherReads(id, wake)) == 1 })
		assert.True(t, sh.in(id, 0, sFin)(), "still finished")
		release()
		sh.run(sh.gone(id, 0))
		assert.Equal(t, specHappy, sh.seq(id, 0))
		sh.settle(0, id)
	})

	// Reference: SPEC.md §8.5 testfinished "switches to failed state when
	// request fails". hostsales: SaleFinished is terminal; a late
	// RequestFailed (delivered by the spy while the sale is held in
	// SaleFinished) changes nothing, and the collateral paid back is
	// returned (SaleFailed would have returned none).
	specRun(t, "stays finished when the request is reported failed", func(t *testing.T) {
		sh := newSpec(t, specCfg{})
		defer sh.stop()
		sh.avail(1000)
		req := sh.newRequest(1, 1000)
		id := req.ID()
		release := sh.hangClear(id)
		defer release()
		sh.submit(req)
		sh.run(sh.in(id, 0, sFin))
		sh.mk.emitFailed(id)
		sh.run(func() bool { return true })
		assert.True(t, sh.in(id, 0, sFin)(), "still finished")
		release()
		sh.run(sh.gone(id, 0))
		assert.Equal(t, specHappy, sh.seq(id, 0))
		sh.settle(0, id)
	})

	// Reference: SPEC.md §8.5 testfinished "calls onCleanUp with
	// reprocessSlot = true, and returnedCollateral = currentCollateral"
	// (asserting reprocess false, the collateral given, and onClear). One
	// missed proof was slashed: 800 of 1000 comes back.
	specRun(t, "calls onCleanUp with reprocessSlot false and returnedCollateral, and onClear", func(t *testing.T) {
		sh := newSpec(t, specCfg{})
		defer sh.stop()
		sh.avail(1000)
		id := sh.submitNew(1, 1000)
		sh.run(sh.in(id, 0, sPro))
		sh.missProofs(id, 0, 1)
		sh.settle(200, id)
		assert.Equal(t, specHappy, sh.seq(id, 0), "not re-queued")
		assert.Equal(t, []uint64{0}, sh.clearedOf(id))
		assert.Equal(t, "800", sh.collateralOf(id, 0))
	})
}

// ---- testignored ----

func TestSpecStateIgnored(t *testing.T) {
	// Reference: SPEC.md §8.5 testignored "calls onCleanUp with values
	// assigned to SaleIgnored": reprocessSlot true (the slot goes back to
	// the queue, seen), no collateral (nothing was reserved).
	specRun(t, "calls onCleanUp with values assigned to SaleIgnored", func(t *testing.T) {
		sh := newSpec(t, specCfg{})
		defer sh.stop()
		a := sh.avail(1000, func(a *reservations.Availability) { a.MinPricePerBytePerSecond = *u(5) })
		id := sh.submitNew(1, 1000)
		sh.within(10, "ignored and re-queued", func() bool { return len(sh.queued(id)) == 1 && sh.queued(id)[0].Seen })
		assert.Equal(t, specSeq{sPre, sIgn}, sh.seq(id, 0))
		assert.Equal(t, a, sh.availNow(a.ID))
		sh.settle(0, id)
	})

	// Reference: SPEC.md §8.5 testignored "returns collateral when
	// returnsCollateral is true": the slot's reservations filled up while
	// we prepared, so it cannot be reserved (SaleSlotReserving → Ignored
	// with returnsCollateral): all of it comes back, not re-queued.
	specRun(t, "returns collateral when returnsCollateral is true", func(t *testing.T) {
		sh := newSpec(t, specCfg{})
		defer sh.stop()
		a := sh.avail(1000)
		release := sh.mk.hold("GetRequestEnd")
		defer release()
		id := sh.submitNew(1, 1000)
		sh.run(sh.in(id, 0, sPre))
		sh.fillReservations(id, 0)
		release()
		sh.run(sh.gone(id, 0))
		assert.Equal(t, specSeq{sPre, sRes, sIgn}, sh.seq(id, 0))
		assert.Equal(t, a, sh.availNow(a.ID))
		assert.Empty(t, sh.queued(id))
		sh.settle(0, id)
	})
}

// ---- testinitialproving ----

// specPointer is simmarket's proof pointer of slot sid at time t
// (MARKET.md §5.2 with simmarket's virtual chain: block 1000 + t/12).
func specPointer(m *simmarket.Market, sid market.SlotID, t int64) uint8 {
	cfg := m.Config()
	per := cfg.Periodicity()
	b := uint64(1000 + t/12)
	period := per.PeriodOf(t)
	return uint8((b%256 + (period%256)*uint64(cfg.Proofs.DowntimeProduct)%256 + uint64(sid[31])) % 256)
}

func TestSpecStateInitialProving(t *testing.T) {
	// Reference: SPEC.md §8.5 testinitialproving "switches to cancelled state when request expires".
	specRun(t, "switches to cancelled state when request expires", func(t *testing.T) {
		specCancelIn(t, sIni, specHangProve, specSeq{sPre, sRes, sDow, sIni, sCan})
	})

	// Reference: SPEC.md §8.5 testinitialproving "switches to failed state when request fails".
	specRun(t, "switches to failed state when request fails", func(t *testing.T) {
		specFailInRepair(t, sIni, specHangProve, specSeq{sPre, sRes, sDow, sIni, sFai, sErr})
	})

	// Reference: SPEC.md §8.5 testinitialproving "waits for the beginning
	// of the period to get the challenge".
	specRun(t, "waits for the beginning of the period to get the challenge", func(t *testing.T) {
		sh := newSpec(t, specCfg{})
		defer sh.stop()
		sh.avail(1000)
		id := sh.submitNew(1, 1000)
		sh.run(sh.in(id, 0, sIni))
		entered := sh.clock.Now()
		per := sh.m.Config().Periodicity()
		next := per.PeriodStart(per.PeriodOf(entered)+1) + 1
		require.Less(t, entered, next-1)
		assert.Empty(t, sh.provesOf(id, 0))
		assert.Empty(t, sh.mk.slotCalls("GetPointer", market.SlotIDFor(id, 0)), "challenge not looked at yet")
		sh.run(func() bool { return len(sh.provesOf(id, 0)) == 1 })
		ptrs := sh.mk.slotCalls("GetPointer", market.SlotIDFor(id, 0))
		require.NotEmpty(t, ptrs)
		assert.Equal(t, next, ptrs[0].at, "one second into the next period")
		assert.GreaterOrEqual(t, sh.provesOf(id, 0)[0].at, next)
		sh.settle(0, id)
	})

	// Reference: SPEC.md §8.5 testinitialproving "waits another period when
	// the proof pointer is about to wrap around": with downtime 64, a
	// pointer above 192 waits one more period; one at or below proceeds.
	// The requests' nonces are chosen so that the first pointer is above
	// 192 for one slot and not for the other.
	specRun(t, "waits another period when the proof pointer is about to wrap around", func(t *testing.T) {
		sh := newSpec(t, specCfg{})
		defer sh.stop()
		sh.avail(2000)
		per := sh.m.Config().Periodicity()
		first := per.PeriodStart(per.PeriodOf(sh.clock.Now())+1) + 1
		limit := 256 - int(sh.m.Config().Proofs.Downtime)
		pick := func(wrap bool) market.StorageRequest {
			for range 1000 {
				req := sh.newRequest(1, 1000)
				p1 := int(specPointer(sh.m, req.SlotID(0), first))
				p2 := int(specPointer(sh.m, req.SlotID(0), first+int64(per.Seconds)))
				if wrap && p1 > limit && p2 <= limit || !wrap && p1 <= limit {
					return req
				}
			}
			t.Fatal("no nonce gives the pointer wanted")
			return market.StorageRequest{}
		}
		wrapping, straight := pick(true), pick(false)
		wid, sid := sh.submit(wrapping), sh.submit(straight)
		sh.run(func() bool { return len(sh.provesOf(wid, 0)) > 0 && len(sh.provesOf(sid, 0)) > 0 })

		ptrs := sh.mk.slotCalls("GetPointer", wrapping.SlotID(0))
		require.Len(t, ptrs, 2)
		assert.Equal(t, first, ptrs[0].at)
		assert.Greater(t, int(ptrs[0].res.(uint8)), limit, "about to wrap around")
		assert.Equal(t, first+int64(per.Seconds), ptrs[1].at, "one more period")
		assert.LessOrEqual(t, int(ptrs[1].res.(uint8)), limit)
		assert.Equal(t, first+int64(per.Seconds), sh.provesOf(wid, 0)[0].at)

		ptrs = sh.mk.slotCalls("GetPointer", straight.SlotID(0))
		require.Len(t, ptrs, 1)
		assert.LessOrEqual(t, int(ptrs[0].res.(uint8)), limit)
		assert.Equal(t, first, sh.provesOf(sid, 0)[0].at, "proceeds at once")
		sh.settle(0, wid, sid)
	})

	// Reference: SPEC.md §8.5 testinitialproving "onProve callback provides proof challenge".
	specRun(t, "onProve callback provides proof challenge", func(t *testing.T) {
		sh := newSpec(t, specCfg{})
		defer sh.stop()
		sh.avail(1000)
		id := sh.submitNew(1, 1000)
		sh.run(func() bool { return len(sh.provesOf(id, 0)) == 1 })
		p := sh.provesOf(id, 0)[0]
		assert.Equal(t, p.onChain, p.challenge)
		assert.Equal(t, sh.request(id), p.request)
		sh.settle(0, id)
	})

	// Reference: SPEC.md §8.5 testinitialproving "switches to filling state
	// when initial proving is complete": SaleFilling carries the proof, the
	// one the fill posts.
	specRun(t, "switches to filling state when initial proving is complete", func(t *testing.T) {
		sh := newSpec(t, specCfg{})
		defer sh.stop()
		sh.avail(1000)
		id := sh.submitNew(1, 1000)
		sh.run(sh.in(id, 0, sPro))
		assert.Equal(t, specSeq{sIni, sFil}, specFrom(sh.seq(id, 0), sIni)[:2])
		fills := sh.mk.slotCalls("FillSlot", market.SlotIDFor(id, 0))
		require.Len(t, fills, 1)
		assert.Equal(t, string(sh.provesOf(id, 0)[0].proof), fills[0].res)
		sh.settle(0, id)
	})

	// Reference: SPEC.md §8.5 testinitialproving "switches to errored state
	// when onProve callback fails".
	specRun(t, "switches to errored state when onProve callback fails", func(t *testing.T) {
		sh := newSpec(t, specCfg{})
		defer sh.stop()
		a := sh.avail(1000)
		req := sh.newRequest(1, 1000)
		id := req.ID()
		sh.failProve(id, errSpecProve)
		sh.submit(req)
		sh.run(sh.gone(id, 0))
		assert.Equal(t, specSeq{sPre, sRes, sDow, sIni, sErr}, sh.seq(id, 0))
		assert.ErrorIs(t, sh.erroredWith(id, 0), errSpecProve)
		assert.Equal(t, a, sh.availNow(a.ID))
		sh.settle(0, id)
	})
}

// ---- testpayout ----

func TestSpecStatePayout(t *testing.T) {
	// Reference: SPEC.md §8.5 testpayout "switches to 'finished' state and
	// provides returnedCollateral": the current collateral, read before
	// the slot is freed (800 after one slash), is what comes back.
	specRun(t, "switches to finished state and provides returnedCollateral", func(t *testing.T) {
		sh := newSpec(t, specCfg{})
		defer sh.stop()
		sh.avail(1000)
		id := sh.submitNew(1, 1000)
		sh.run(sh.in(id, 0, sPro))
		sh.missProofs(id, 0, 1)
		sh.settle(200, id)
		assert.Equal(t, specSeq{sPay, sFin}, specFrom(sh.seq(id, 0), sPay))
		reads := sh.mk.slotCalls("CurrentCollateral", market.SlotIDFor(id, 0))
		require.Len(t, reads, 1)
		c, _ := reads[0].res.(uint256.Int)
		assert.Equal(t, "800", c.Dec())
		assert.Equal(t, market.SlotStatePaid, sh.slotInfo(id, 0).State)
	})
}

// ---- testpreparing ----

func TestSpecStatePreparing(t *testing.T) {
	// Reference: SPEC.md §8.5 testpreparing "switches to cancelled state when request expires".
	specRun(t, "switches to cancelled state when request expires", func(t *testing.T) {
		specCancelIn(t, sPre, specHold("GetRequestEnd"), specSeq{sPre, sCan})
	})

	// Reference: SPEC.md §8.5 testpreparing "switches to failed state when request fails".
	specRun(t, "switches to failed state when request fails", func(t *testing.T) {
		specFailInRepair(t, sPre, specHold("GetRequestEnd"), specSeq{sPre, sFai, sErr})
	})

	// Reference: SPEC.md §8.5 testpreparing "switches to filled state when slot is filled".
	specRun(t, "switches to filled state when slot is filled", func(t *testing.T) {
		sh := newSpec(t, specCfg{})
		defer sh.stop()
		sh.avail(1000)
		release := sh.mk.hold("GetRequestEnd")
		defer release()
		id := sh.submitNew(1, 1000)
		sh.run(sh.in(id, 0, sPre))
		require.NoError(t, sh.m.TakeSlot(sh.ctx, other, id, 0))
		sh.run(sh.gone(id, 0))
		assert.Equal(t, specSeq{sPre, sFd, sErr}, sh.seq(id, 0))
		release()
		sh.settle(0, id)
	})

	// Reference: SPEC.md §8.5 testpreparing "run switches to errored when
	// the request cannot be retrieved".
	specRun(t, "run switches to errored when the request cannot be retrieved", func(t *testing.T) {
		sh := newSpec(t, specCfg{faults: []simmarket.Fault{
			{Method: "GetRequest", Caller: me, Nth: 1, Err: market.ErrUnknownRequest}}})
		defer sh.stop()
		a := sh.avail(1000)
		id := sh.submitNew(1, 1000)
		sh.run(sh.gone(id, 0))
		assert.Equal(t, specSeq{sPre, sErr}, sh.seq(id, 0))
		err := sh.erroredWith(id, 0)
		assert.ErrorIs(t, err, sales.ErrRequestUnknown)
		if assert.Error(t, err) {
			assert.Contains(t, err.Error(), "request could not be retrieved")
		}
		assert.Empty(t, sh.queued(id))
		assert.Equal(t, a, sh.availNow(a.ID))
		sh.settle(0, id)
	})

	// Reference: SPEC.md §8.5 testpreparing "run switches to ignored when no availability".
	specRun(t, "run switches to ignored when no availability", func(t *testing.T) {
		sh := newSpec(t, specCfg{})
		defer sh.stop()
		id := sh.submitNew(1, 1000)
		sh.within(10, "ignored, re-queued seen", func() bool { return len(sh.queued(id)) == 1 && sh.queued(id)[0].Seen })
		assert.Equal(t, specSeq{sPre, sIgn}, sh.seq(id, 0))
		sh.settle(0, id)
	})

	// Reference: SPEC.md §8.5 testpreparing "run switches to ignored when availability is not enabled".
	specRun(t, "run switches to ignored when availability is not enabled", func(t *testing.T) {
		sh := newSpec(t, specCfg{})
		defer sh.stop()
		a := sh.avail(1000, func(a *reservations.Availability) { a.Enabled = false })
		id := sh.submitNew(1, 1000)
		sh.within(10, "ignored, re-queued seen", func() bool { return len(sh.queued(id)) == 1 && sh.queued(id)[0].Seen })
		assert.Equal(t, specSeq{sPre, sIgn}, sh.seq(id, 0))
		assert.Equal(t, a, sh.availNow(a.ID))
		sh.settle(0, id)
	})

	// Reference: SPEC.md §8.5 testpreparing "run switches to slot reserving
	// state after reservation created".
	specRun(t, "run switches to slot reserving state after reservation created", func(t *testing.T) {
		sh := newSpec(t, specCfg{})
		defer sh.stop()
		a := sh.avail(1000)
		release := sh.mk.hold("ReserveSlot")
		defer release()
		id := sh.submitNew(1, 1000)
		sh.run(sh.in(id, 0, sRes))
		assert.Equal(t, specSeq{sPre, sRes}, sh.seq(id, 0))
		all := sh.reservationsNow()
		require.Len(t, all, 1)
		ag, _ := sh.agent(id, 0)
		r, ok := ag.Reservation()
		require.True(t, ok)
		assert.Equal(t, all[0], r)
		assert.Equal(t, a.ID, r.AvailabilityID)
		assert.Equal(t, uint64(1000), r.Size)
		assert.Equal(t, "1000", r.Collateral.Dec())
		assert.Equal(t, id, r.RequestID)
		assert.Equal(t, sh.info(id).EndsAt, r.ValidUntil)
		now := sh.availNow(a.ID)
		assert.Zero(t, now.FreeSize)
		assert.True(t, now.TotalRemainingCollateral.IsZero())
		release()
		sh.settle(0, id)
	})

	// Reference: SPEC.md §8.5 testpreparing "run switches to ignored when
	// reserve fails with BytesOutOfBounds": two sales find the one-slot
	// availability before either reserves (the admission filter holds the
	// first until the second found it too); the second reservation fails:
	// Ignored, re-queued seen.
	specRun(t, "run switches to ignored when reserve fails with BytesOutOfBounds", func(t *testing.T) {
		both := make(chan struct{})
		var mu sync.Mutex
		admitted := 0
		sh := newSpec(t, specCfg{opts: func(o *sales.Options) {
			o.Admit = func(ctx context.Context, _ sales.Admission) (bool, string) {
				mu.Lock()
				admitted++
				if admitted == 2 {
					close(both)
				}
				mu.Unlock()
				select {
				case <-both:
				case <-ctx.Done():
				}
				return true, ""
			}
		}})
		defer sh.stop()
		sh.avail(1000)
		id := sh.submitNew(2, 1000)
		sh.within(10, "one sale reserved, the other ignored", func() bool {
			return len(sh.queued(id)) == 1 && sh.queued(id)[0].Seen
		})
		lost := uint64(sh.queued(id)[0].SlotIndex)
		won := 1 - lost
		assert.Equal(t, specSeq{sPre, sIgn}, sh.seq(id, lost))
		assert.Contains(t, sh.seq(id, won), sRes)
		logs, err := sh.s.SaleLog(sh.ctx, market.SlotIDFor(id, lost))
		require.NoError(t, err)
		require.NotEmpty(t, logs)
		reason := logs[len(logs)-1].Reason
		assert.True(t, strings.Contains(reason, "taken meanwhile") && strings.Contains(reason, "free size"),
			"ignored because the reservation found too few free bytes: %q", reason)
		sh.checkInvariants()
		assert.Len(t, sh.reservationsNow(), 1, "no double reservation")
		sh.settle(0, id)
	})

	// Reference: SPEC.md §8.5 testpreparing "run switches to errored when
	// reserve fails with other error": the reservation's commit fails.
	specRun(t, "run switches to errored when reserve fails with other error", func(t *testing.T) {
		sh := newSpec(t, specCfg{})
		defer sh.stop()
		a := sh.avail(1000)
		errDisk := errors.New("spec: disk full")
		sh.failCommit(errDisk)
		id := sh.submitNew(1, 1000)
		sh.run(sh.gone(id, 0))
		assert.Equal(t, specSeq{sPre, sErr}, sh.seq(id, 0))
		err := sh.erroredWith(id, 0)
		assert.ErrorIs(t, err, reservations.ErrUpdateFailed)
		assert.ErrorIs(t, err, errDisk)
		assert.Equal(t, a, sh.availNow(a.ID))
		assert.Empty(t, sh.reservationsNow())
		sh.settle(0, id)
	})
}

// ---- testproving ----

func TestSpecStateProving(t *testing.T) {
	// Reference: SPEC.md §8.5 testproving "switches to cancelled state when request expires".
	specRun(t, "switches to cancelled state when request expires", func(t *testing.T) {
		sh := newSpec(t, specCfg{})
		defer sh.stop()
		id, mine := specProvingAlone(sh)
		sh.run(sh.gone(id, mine))
		assert.Equal(t, specSeq{sPro, sCan}, specFrom(sh.seq(id, mine), sPro))
		sh.settle(0, id)
	})

	// Reference: SPEC.md §8.5 testproving "switches to failed state when
	// request fails". The market keeps both slots' collateral.
	specRun(t, "switches to failed state when request fails", func(t *testing.T) {
		sh := newSpec(t, specCfg{})
		defer sh.stop()
		sh.avail(2000)
		id := sh.submitNew(2, 1000)
		sh.run(func() bool { return sh.in(id, 0, sPro)() && sh.in(id, 1, sPro)() })
		require.NoError(t, sh.m.FailRequest(sh.ctx, id))
		sh.run(func() bool { return sh.gone(id, 0)() && sh.gone(id, 1)() })
		for slot := range uint64(2) {
			assert.Equal(t, specSeq{sPro, sFai, sErr}, specUpTo(specFrom(sh.seq(id, slot), sPro), sErr))
		}
		sh.settle(2000, id)
	})

	// Reference: SPEC.md §8.5 testproving "submits proofs": a proof for
	// the slot is accepted in every period after the fill's until the end.
	specRun(t, "submits proofs", func(t *testing.T) {
		sh := newSpec(t, specCfg{})
		defer sh.stop()
		sh.avail(1000)
		id := sh.submitNew(1, 1000)
		sh.settle(0, id)
		per := sh.m.Config().Periodicity()
		proofs := sh.marketProofs(id, 0)
		require.NotEmpty(t, proofs)
		fill := per.PeriodOf(proofs[0].at)
		var got, want []uint64
		for _, p := range proofs[1:] {
			assert.True(t, p.ok)
			got = append(got, per.PeriodOf(p.at))
		}
		for p := fill + 1; per.PeriodStart(p)+1 <= sh.info(id).EndsAt; p++ {
			want = append(want, p)
		}
		assert.Equal(t, want, got, "one proof per period")
		for _, p := range sh.provesOf(id, 0)[1:] {
			assert.Equal(t, p.onChain, p.challenge)
		}
	})

	// Reference: SPEC.md §8.5 testproving "switches to payout state when request is finished".
	specRun(t, "switches to payout state when request is finished", func(t *testing.T) {
		sh := newSpec(t, specCfg{})
		defer sh.stop()
		sh.avail(1000)
		id := sh.submitNew(1, 1000)
		sh.settle(0, id)
		per := sh.m.Config().Periodicity()
		end := sh.info(id).EndsAt
		assert.Equal(t, specSeq{sPro, sPay, sFin}, specFrom(sh.seq(id, 0), sPro))
		assert.Equal(t, per.PeriodStart(per.PeriodOf(end)+1)+1, sh.enteredAt(id, 0, sPay),
			"in the next period after the end")
	})

	// Reference: SPEC.md §8.5 testproving "switches to error state when
	// slot is no longer filled". On the market the slot leaves Filled when
	// it is freed for missed proofs (Repair): SlotFreedError; the
	// collateral was forfeited.
	specRun(t, "switches to error state when slot is no longer filled (freed)", func(t *testing.T) {
		sh := newSpec(t, specCfg{})
		defer sh.stop()
		sh.avail(1000)
		id := sh.submitNew(1, 1000, func(r *market.StorageRequest) { r.Ask.MaxSlotLoss = 1 })
		sh.run(sh.in(id, 0, sPro))
		sh.missProofs(id, 0, 2)
		require.Equal(t, market.SlotStateRepair, sh.slotInfo(id, 0).State)
		sh.run(sh.gone(id, 0))
		assert.Equal(t, specSeq{sPro, sErr}, specFrom(sh.seq(id, 0), sPro))
		assert.ErrorIs(t, sh.erroredWith(id, 0), sales.ErrSlotFreed)
		sh.settle(1000, id)
	})

	// Reference: SPEC.md §8.5 testproving "switches to error state when
	// slot is no longer filled" (the mock's Free): the spy reports Free.
	// We abandon a slot the market still counts as ours: the market holds
	// its collateral.
	specRun(t, "switches to error state when slot is no longer filled (free)", func(t *testing.T) {
		sh := newSpec(t, specCfg{})
		defer sh.stop()
		sh.avail(1000)
		id := sh.submitNew(1, 1000)
		sh.run(sh.in(id, 0, sPro))
		sh.mk.lieSlot(market.SlotIDFor(id, 0), market.SlotStateFree)
		sh.run(sh.gone(id, 0))
		assert.Equal(t, specSeq{sPro, sErr}, specFrom(sh.seq(id, 0), sPro))
		assert.ErrorIs(t, sh.erroredWith(id, 0), sales.ErrSlotNotFilled)
		sh.settle(1000, id)
	})

	// Reference: SPEC.md §8.5 testproving "onProve callback provides proof challenge".
	specRun(t, "onProve callback provides proof challenge", func(t *testing.T) {
		sh := newSpec(t, specCfg{})
		defer sh.stop()
		sh.avail(1000)
		id := sh.submitNew(1, 1000)
		sh.run(func() bool { return len(sh.provesOf(id, 0)) == 3 })
		for _, p := range sh.provesOf(id, 0)[1:] {
			assert.Equal(t, p.onChain, p.challenge)
			assert.Equal(t, sh.request(id), p.request)
		}
		sh.settle(0, id)
	})
}

// ---- testsimulatedproving ----

// hostsales has no SaleProvingSimulated (no proof-failure build); its
// cases run SaleProving with a node whose OnProve makes every third proof
// after the initial one invalid.
func TestSpecStateSimulatedProving(t *testing.T) {
	invalid := func(sh *specH, id market.RequestID) {
		sh.smu.Lock()
		sh.invalidN[id] = 3
		sh.smu.Unlock()
	}

	// Reference: SPEC.md §8.5 testsimulatedproving "switches to cancelled state when request expires".
	specRun(t, "switches to cancelled state when request expires", func(t *testing.T) {
		sh := newSpec(t, specCfg{})
		defer sh.stop()
		sh.avail(1000)
		req := sh.newRequest(2, 1000)
		invalid(sh, req.ID())
		id := sh.submit(req)
		sh.run(func() bool { ag := sh.s.Agents(); return len(ag) == 1 && ag[0].State() == sPro })
		mine := sh.mySlot(id)
		sh.run(sh.gone(id, mine))
		assert.Equal(t, specSeq{sPro, sCan}, specFrom(sh.seq(id, mine), sPro))
		sh.settle(0, id)
	})

	// Reference: SPEC.md §8.5 testsimulatedproving "switches to failed state when request fails".
	specRun(t, "switches to failed state when request fails", func(t *testing.T) {
		sh := newSpec(t, specCfg{})
		defer sh.stop()
		sh.avail(1000)
		req := sh.newRequest(1, 1000)
		invalid(sh, req.ID())
		id := sh.submit(req)
		sh.run(sh.in(id, 0, sPro))
		require.NoError(t, sh.m.FailRequest(sh.ctx, id))
		sh.run(sh.gone(id, 0))
		assert.Equal(t, specSeq{sPro, sFai, sErr}, specUpTo(specFrom(sh.seq(id, 0), sPro), sErr))
		sh.settle(1000, id)
	})

	// Reference: SPEC.md §8.5 testsimulatedproving "submits invalid proof
	// every 3 proofs": over 6 rounds the market sees [p, p, invalid, p, p,
	// invalid]; the invalid ones are refused, the sale keeps proving.
	specRun(t, "submits invalid proof every 3 proofs", func(t *testing.T) {
		sh := newSpec(t, specCfg{})
		defer sh.stop()
		sh.avail(1000)
		req := sh.newRequest(1, 1000)
		invalid(sh, req.ID())
		id := sh.submit(req)
		sh.run(func() bool { return len(sh.marketProofs(id, 0)) == 7 })
		var ok []bool
		for _, p := range sh.marketProofs(id, 0)[1:] {
			ok = append(ok, p.ok)
		}
		assert.Equal(t, []bool{true, true, false, true, true, false}, ok)
		assert.True(t, sh.in(id, 0, sPro)(), "still proving")
		sh.settle(0, id)
	})

	// Reference: SPEC.md §8.5 testsimulatedproving "switches to payout state when request is finished".
	specRun(t, "switches to payout state when request is finished", func(t *testing.T) {
		sh := newSpec(t, specCfg{})
		defer sh.stop()
		sh.avail(1000)
		req := sh.newRequest(1, 1000)
		invalid(sh, req.ID())
		id := sh.submit(req)
		sh.settle(0, id)
		assert.Equal(t, specHappy, sh.seq(id, 0))
	})
}

// ---- testslotreserving ----

func TestSpecStateSlotReserving(t *testing.T) {
	// Reference: SPEC.md §8.5 testslotreserving "switches to cancelled state when request expires".
	specRun(t, "switches to cancelled state when request expires", func(t *testing.T) {
		specCancelIn(t, sRes, specHold("ReserveSlot"), specSeq{sPre, sRes, sCan})
	})

	// Reference: SPEC.md §8.5 testslotreserving "switches to failed state when request fails".
	specRun(t, "switches to failed state when request fails", func(t *testing.T) {
		specFailInRepair(t, sRes, specHold("ReserveSlot"), specSeq{sPre, sRes, sFai, sErr})
	})

	// Reference: SPEC.md §8.5 testslotreserving "run switches to downloading when slot successfully reserved".
	specRun(t, "run switches to downloading when slot successfully reserved", func(t *testing.T) {
		sh := newSpec(t, specCfg{})
		defer sh.stop()
		sh.avail(1000)
		req := sh.newRequest(1, 1000)
		id := req.ID()
		release := sh.hangStore(id)
		sh.submit(req)
		sh.run(sh.in(id, 0, sDow))
		assert.Equal(t, specSeq{sPre, sRes, sDow}, sh.seq(id, 0))
		assert.Equal(t, []market.Address{me}, sh.slotInfo(id, 0).Reservations)
		release()
		sh.settle(0, id)
	})

	// Reference: SPEC.md §8.5 testslotreserving "run switches to ignored
	// when slot reservation not allowed" (canReserveSlot false: the slot's
	// reservations filled up while we prepared).
	specRun(t, "run switches to ignored when slot reservation not allowed", func(t *testing.T) {
		sh := newSpec(t, specCfg{})
		defer sh.stop()
		a := sh.avail(1000)
		release := sh.mk.hold("GetRequestEnd")
		defer release()
		id := sh.submitNew(1, 1000)
		sh.run(sh.in(id, 0, sPre))
		sh.fillReservations(id, 0)
		release()
		sh.run(sh.gone(id, 0))
		assert.Equal(t, specSeq{sPre, sRes, sIgn}, sh.seq(id, 0))
		assert.Empty(t, sh.mk.callsOf("ReserveSlot", id, 0), "not even tried")
		assert.Equal(t, a, sh.availNow(a.ID))
		sh.settle(0, id)
	})

	// Reference: SPEC.md §8.5 testslotreserving "run switches to errored when slot reservation errors".
	specRun(t, "run switches to errored when slot reservation errors", func(t *testing.T) {
		sh := newSpec(t, specCfg{faults: []simmarket.Fault{{Method: "ReserveSlot", Caller: me, Nth: 1}}})
		defer sh.stop()
		a := sh.avail(1000)
		id := sh.submitNew(1, 1000)
		sh.run(sh.gone(id, 0))
		assert.Equal(t, specSeq{sPre, sRes, sErr}, sh.seq(id, 0))
		assert.ErrorIs(t, sh.erroredWith(id, 0), simmarket.ErrInjected)
		assert.Equal(t, a, sh.availNow(a.ID))
		sh.settle(0, id)
	})

	// Reference: SPEC.md §8.5 testslotreserving "run switches to ignored
	// when reservation is not allowed": canReserveSlot said yes, but the
	// slot's reservations filled up before our reserveSlot got there
	// (SlotReservationNotAllowed). Not re-queued; collateral back.
	specRun(t, "run switches to ignored when reservation is not allowed", func(t *testing.T) {
		sh := newSpec(t, specCfg{})
		defer sh.stop()
		a := sh.avail(1000)
		release := sh.mk.hold("ReserveSlot")
		defer release()
		id := sh.submitNew(1, 1000)
		sh.run(sh.in(id, 0, sRes))
		sh.fillReservations(id, 0)
		release()
		sh.run(sh.gone(id, 0))
		assert.Equal(t, specSeq{sPre, sRes, sIgn}, sh.seq(id, 0))
		assert.Empty(t, sh.queued(id), "reprocessSlot = false")
		assert.Equal(t, a, sh.availNow(a.ID))
		sh.settle(0, id)
	})
}

// ---- testunknown ----

// specRestoredProving: a one-slot request (or slots) sold by this host, proving.
func specRestoredProving(sh *specH, slots uint64) market.RequestID {
	sh.t.Helper()
	sh.avail(1000 * slots)
	id := sh.submitNew(slots, 1000)
	sh.run(func() bool {
		for i := range slots {
			if !sh.in(id, i, sPro)() {
				return false
			}
		}
		return true
	})
	return id
}

func TestSpecStateUnknown(t *testing.T) {
	// Reference: SPEC.md §8.5 testunknown "switches to error state when
	// the request cannot be retrieved". A restored sale gets its request
	// with its slot (getActiveSlot), so it never asks for it: with every
	// GetRequest failing it still resumes.
	specRun(t, "request cannot be retrieved: a restored sale carries it and resumes", func(t *testing.T) {
		sh := newSpec(t, specCfg{})
		defer sh.stop()
		id := specRestoredProving(sh, 1)
		require.NoError(t, sh.m.InjectFault(simmarket.Fault{Method: "GetRequest", Caller: me, Probability: 1,
			Err: market.ErrUnknownRequest}))
		restarted := sh.clock.Now()
		sh.restart()
		sh.run(sh.in(id, 0, sPro))
		assert.Equal(t, specSeq{sUnk, sFd, sPro}, sh.last(id, 0))
		assert.Empty(t, sh.mk.callsOf("GetRequest", id, restarted))
		sh.m.ClearFaults()
		sh.settle(0, id)
	})

	// Reference: SPEC.md §8.5 testunknown "switches to error state when on
	// chain state cannot be fetched". hostsales: the market listed the
	// slot as ours, so a failed look is tried again (the reference ends
	// the sale and drops the data of a slot it still hosts, and is then
	// slashed for it): the sale resumes and finishes, everything back.
	specRun(t, "on chain state cannot be fetched: tried again, the sale resumes", func(t *testing.T) {
		sh := newSpec(t, specCfg{})
		defer sh.stop()
		id := specRestoredProving(sh, 1)
		require.NoError(t, sh.m.InjectFault(simmarket.Fault{Method: "SlotState", Caller: me, Nth: 1}))
		restarted := sh.clock.Now()
		sh.restart()
		sh.run(sh.in(id, 0, sPro))
		assert.Equal(t, specSeq{sUnk, sFd, sPro}, sh.last(id, 0))
		var looks int
		for _, c := range sh.mk.slotCalls("SlotState", market.SlotIDFor(id, 0)) {
			if c.at >= restarted {
				looks++
			}
		}
		assert.GreaterOrEqual(t, looks, 2, "the failed look was tried again")
		sh.settle(0, id)
		assert.Equal(t, specSeq{sUnk, sFd, sPro, sPay, sFin}, sh.last(id, 0))
	})

	// Reference: SPEC.md §8.5 testunknown "switches to error state when on
	// chain state is 'free'" (the spy reports Free).
	specRun(t, "switches to error state when on chain state is free", func(t *testing.T) {
		sh := newSpec(t, specCfg{})
		defer sh.stop()
		id := specRestoredProving(sh, 1)
		sh.mk.lieSlot(market.SlotIDFor(id, 0), market.SlotStateFree)
		sh.restart()
		sh.run(sh.gone(id, 0))
		assert.Equal(t, specSeq{sUnk, sErr}, sh.last(id, 0))
		err := sh.erroredWith(id, 0)
		assert.ErrorIs(t, err, sales.ErrUnexpectedSlotState)
		if assert.Error(t, err) {
			assert.Contains(t, err.Error(), "Slot state on chain should not be 'free'")
		}
		sh.settle(1000, id)
	})

	// Reference: SPEC.md §8.5 testunknown "switches to filled state when on
	// chain state is 'filled'". hostsales (Decision 5): with its
	// reservation, so everything comes back at the end.
	specRun(t, "switches to filled state when on chain state is filled", func(t *testing.T) {
		sh := newSpec(t, specCfg{})
		defer sh.stop()
		id := specRestoredProving(sh, 1)
		persisted := sh.reservationsNow()
		sh.restart()
		ag, ok := sh.agent(id, 0)
		require.True(t, ok)
		r, ok := ag.Reservation()
		require.True(t, ok)
		assert.Equal(t, persisted, []reservations.Reservation{r})
		sh.run(sh.in(id, 0, sPro))
		assert.Equal(t, specSeq{sUnk, sFd, sPro}, sh.last(id, 0))
		sh.settle(0, id)
	})

	// Reference: SPEC.md §8.5 testunknown "switches to payout state when on
	// chain state is 'finished'": the host was down when the request ended.
	specRun(t, "switches to payout state when on chain state is finished", func(t *testing.T) {
		sh := newSpec(t, specCfg{})
		defer sh.stop()
		id := specRestoredProving(sh, 1)
		require.NoError(t, sh.s.Stop(sh.ctx))
		require.NoError(t, sh.clock.Set(sh.info(id).EndsAt+5))
		sh.restart()
		sh.run(sh.gone(id, 0))
		assert.Equal(t, specSeq{sUnk, sPay, sFin}, sh.last(id, 0))
		assert.Equal(t, market.SlotStatePaid, sh.slotInfo(id, 0).State)
		sh.settle(0, id)
	})

	// Reference: SPEC.md §8.5 testunknown "switches to finished state when
	// on chain state is 'paid'" (the spy reports Paid: a paid slot is no
	// longer in mySlots on the market). hostsales: the reservation's
	// collateral is taken as returned (the reference passes none).
	specRun(t, "switches to finished state when on chain state is paid", func(t *testing.T) {
		sh := newSpec(t, specCfg{})
		defer sh.stop()
		id := specRestoredProving(sh, 1)
		sh.mk.lieSlot(market.SlotIDFor(id, 0), market.SlotStatePaid)
		sh.restart()
		sh.run(sh.gone(id, 0))
		assert.Equal(t, specSeq{sUnk, sFin}, sh.last(id, 0))
		sh.settle(0, id)
	})

	// Reference: SPEC.md §8.5 testunknown "switches to failed state when on
	// chain state is 'failed'": the request failed while the host was
	// down. Slot 0 (released by the failure) is a leftover ended at start;
	// slot 1 is restored and fails. The market keeps both collaterals.
	specRun(t, "switches to failed state when on chain state is failed", func(t *testing.T) {
		sh := newSpec(t, specCfg{})
		defer sh.stop()
		id := specRestoredProving(sh, 2)
		require.NoError(t, sh.s.Stop(sh.ctx))
		require.NoError(t, sh.m.FailRequest(sh.ctx, id))
		sh.restart()
		_, restored0 := sh.agent(id, 0)
		assert.False(t, restored0, "slot 0 is no longer ours")
		sh.run(sh.gone(id, 1))
		assert.Equal(t, specSeq{sUnk, sFai, sErr}, sh.last(id, 1))
		assert.ErrorIs(t, sh.erroredWith(id, 1), sales.ErrSaleFailed)
		sh.settle(2000, id)
	})

	// Extra (SPEC.md §8.5 notes no reference test): SaleUnknown →
	// SaleCancelled. The request expired while the host was down; the
	// restored sale collects its collateral.
	specRun(t, "extra: switches to cancelled state when on chain state is cancelled", func(t *testing.T) {
		sh := newSpec(t, specCfg{})
		defer sh.stop()
		id, mine := specProvingAlone(sh)
		require.NoError(t, sh.s.Stop(sh.ctx))
		require.NoError(t, sh.clock.Set(sh.info(id).ExpiresAt+5))
		sh.restart()
		sh.run(sh.gone(id, mine))
		assert.Equal(t, specSeq{sUnk, sCan}, sh.last(id, mine))
		assert.Equal(t, market.SlotStatePaid, sh.slotInfo(id, mine).State)
		sh.settle(0, id)
	})

	// Extra (SPEC.md §8.5 notes no reference test): SaleUnknown in Repair
	// → SaleErrored(SlotFreedError) (the spy reports Repair).
	specRun(t, "extra: switches to error state when on chain state is repair", func(t *testing.T) {
		sh := newSpec(t, specCfg{})
		defer sh.stop()
		id := specRestoredProving(sh, 1)
		sh.mk.lieSlot(market.SlotIDFor(id, 0), market.SlotStateRepair)
		sh.restart()
		sh.run(sh.gone(id, 0))
		assert.Equal(t, specSeq{sUnk, sErr}, sh.last(id, 0))
		assert.ErrorIs(t, sh.erroredWith(id, 0), sales.ErrSlotFreed)
		sh.settle(1000, id)
	})
}
