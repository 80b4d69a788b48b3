package sales_test

// SPEC.md §8.4 (tests/codex/sales/testsalesagent.nim, suite "Sales
// agent"), against simmarket on the virtual clock. The agent's watcher
// handle is internal, so its cases are checked by what the watcher does on
// the market, as the spy sees it: when it reads the request state, and
// whether the sale moves to SaleCancelled.

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hostsales/hostsales/market"
	"github.com/hostsales/hostsales/market/simmarket"
	"github.com/hostsales/hostsales/sales"
	"github.com/hostsales/hostsales/statemachine"
)

// watcherReads returns the request-state reads of the spied Sales for id
// at or after from. Once a sale's download started, only its expiry
// watcher reads the request state (and the SlotFreed handler, which none of
// these cases triggers in the windows they look at).
func (sh *specH) watcherReads(id market.RequestID, from int64) []specCall {
	return sh.mk.callsOf("RequestState", id, from)
}

// specWatcherScenario is a one-slot request sold by this host, with the given
// spy and faults: Sales misses RequestFulfilled when noFulfilled, and
// RequestFailed too when noFailed, so the watcher alone sees the request's
// state after its expiry.
func specWatcherScenario(t *testing.T, shift int64, noFulfilled, noFailed bool) (*specH, market.RequestID) {
	var faults []simmarket.Fault
	if noFulfilled {
		faults = append(faults, simmarket.Fault{Method: "SubscribeFulfillment", Caller: me, Nth: 1})
	}
	if noFailed {
		faults = append(faults, simmarket.Fault{Method: "SubscribeRequestFailed", Caller: me, Nth: 1})
	}
	sh := newSpec(t, specCfg{faults: faults, spy: func(m *specMarket) { m.expiryShift = shift }})
	sh.avail(1000)
	id := sh.submitNew(1, 1000)
	sh.run(sh.in(id, 0, sales.StateProving))
	require.Equal(t, market.RequestStateStarted, sh.reqState(id))
	return sh, id
}

func TestSpecAgent(t *testing.T) {
	// Reference: SPEC.md §8.4 item 1 "can retrieve request".
	specRun(t, "01 can retrieve request", func(t *testing.T) {
		sh := newSpec(t, specCfg{})
		defer sh.stop()
		sh.avail(1000)
		req := sh.newRequest(1, 1000)
		id := req.ID()
		release := sh.hangStore(id)
		sh.submit(req)
		sh.run(sh.in(id, 0, sales.StateDownloading))
		a, ok := sh.agent(id, 0)
		require.True(t, ok)
		got, ok := a.Request()
		require.True(t, ok)
		assert.Equal(t, req, got)
		release()
		sh.settle(0, id)
		assert.Len(t, sh.mk.callsOf("GetRequest", id, 0), 1, "retrieved from the market once")
	})

	// Reference: SPEC.md §8.4 item 2 "subscribe assigns cancelled future":
	// once subscribed, the watcher waits on the clock for the expiry and
	// cancels the sale at expiry + 1, with no market event.
	specRun(t, "02 subscribe assigns cancelled future", func(t *testing.T) {
		sh := newSpec(t, specCfg{})
		defer sh.stop()
		sh.avail(1000)
		req := sh.newRequest(1, 1000)
		id := req.ID()
		release := sh.hangStore(id)
		defer release()
		sh.submit(req)
		expiry := sh.info(id).ExpiresAt
		sh.run(sh.in(id, 0, sales.StateDownloading))
		sh.run(sh.gone(id, 0))
		assert.Equal(t, expiry+1, sh.enteredAt(id, 0, sales.StateCancelled))
		reads := sh.watcherReads(id, expiry+1)
		require.Len(t, reads, 1)
		assert.Equal(t, expiry+1, reads[0].at)
		assert.Equal(t, market.RequestStateCancelled, reads[0].res)
		sh.settle(0, id)
	})

	// Reference: SPEC.md §8.4 item 3 "unsubscribe deassigns canceleld
	// future": a sale that ended before the expiry leaves no watcher.
	specRun(t, "03 unsubscribe deassigns canceleld future", func(t *testing.T) {
		sh := newSpec(t, specCfg{})
		defer sh.stop()
		sh.avail(1000)
		req := sh.newRequest(1, 1000)
		id := req.ID()
		sh.failStore(id, 0)
		sh.submit(req)
		sh.run(sh.gone(id, 0))
		expiry := sh.info(id).ExpiresAt
		require.Less(t, sh.clock.Now(), expiry)
		sh.settle(0, id)
		require.Greater(t, sh.clock.Now(), expiry)
		assert.Empty(t, sh.watcherReads(id, expiry), "no watcher left after the sale ended")
	})

	// Reference: SPEC.md §8.4 item 4 "subscribe can be called multiple
	// times, without overwriting subscriptions/futures": one watcher per
	// sale, each cancelling its own sale once.
	specRun(t, "04 subscribe can be called multiple times without overwriting", func(t *testing.T) {
		sh := newSpec(t, specCfg{})
		defer sh.stop()
		sh.avail(2000)
		req := sh.newRequest(2, 1000)
		id := req.ID()
		release := sh.hangStore(id)
		defer release()
		sh.submit(req)
		expiry := sh.info(id).ExpiresAt
		sh.run(func() bool {
			return sh.in(id, 0, sales.StateDownloading)() && sh.in(id, 1, sales.StateDownloading)()
		})
		sh.run(func() bool { return sh.gone(id, 0)() && sh.gone(id, 1)() })
		assert.Len(t, sh.watcherReads(id, expiry), 2, "exactly one watcher per sale")
		for slot := range uint64(2) {
			assert.Equal(t, []statemachine.State{sales.StatePreparing, sales.StateSlotReserving, sales.StateDownloading,
				sales.StateCancelled}, sh.seq(id, slot))
		}
		sh.settle(0, id)
	})

	// Reference: SPEC.md §8.4 item 5 "unsubscribe can be called multiple
	// times": the fulfilment, then Stop, unsubscribe the same sale; the
	// watcher stays gone and the restored sale runs to the end.
	specRun(t, "05 unsubscribe can be called multiple times", func(t *testing.T) {
		sh := newSpec(t, specCfg{})
		defer sh.stop()
		sh.avail(1000)
		id := sh.submitNew(1, 1000)
		sh.run(sh.in(id, 0, sales.StateProving))
		fulfilled := sh.clock.Now()
		require.NoError(t, sh.s.Stop(sh.ctx))
		expiry := sh.info(id).ExpiresAt
		require.NoError(t, sh.clock.Set(expiry+5))
		assert.Empty(t, sh.watcherReads(id, fulfilled), "the watcher was gone since the fulfilment")
		sh.restart()
		sh.settle(0, id)
		assert.Equal(t, sales.StateFinished, sh.seq(id, 0)[len(sh.seq(id, 0))-1])
	})

	// Reference: SPEC.md §8.4 item 6 "current state onCancelled called when
	// cancel emitted": on-chain Cancelled past the expiry moves a proving
	// sale (its request never started) to SaleCancelled.
	specRun(t, "06 current state onCancelled called when cancel emitted", func(t *testing.T) {
		sh := newSpec(t, specCfg{})
		defer sh.stop()
		sh.avail(1000)
		id := sh.submitNew(2, 1000)
		expiry := sh.info(id).ExpiresAt
		sh.run(func() bool { return len(sh.s.Agents()) == 1 && sh.in(id, sh.mySlot(id), sales.StateProving)() })
		mine := sh.mySlot(id)
		sh.run(sh.gone(id, mine))
		assert.Equal(t, expiry+1, sh.enteredAt(id, mine, sales.StateCancelled))
		assert.Equal(t, []statemachine.State{sales.StateProving, sales.StateCancelled},
			specFrom(sh.seq(id, mine), sales.StateProving))
		sh.settle(0, id)
	})

	// Reference: SPEC.md §8.4 items 7-10 "onCancelled is not called when
	// request state is New / Started / Finished / Failed".

	// Item 7: the host's expiry (shifted 100 s early by the spy) passed but
	// the market says New: the watcher polls, the sale keeps downloading.
	specRun(t, "07 onCancelled is not called when request state is New", func(t *testing.T) {
		sh := newSpec(t, specCfg{spy: func(m *specMarket) { m.expiryShift = -100 }})
		defer sh.stop()
		sh.avail(1000)
		req := sh.newRequest(1, 1000)
		id := req.ID()
		release := sh.hangStore(id)
		defer release()
		sh.submit(req)
		expiry := sh.info(id).ExpiresAt
		sh.runTo(expiry)
		assert.True(t, sh.in(id, 0, sales.StateDownloading)())
		reads := sh.watcherReads(id, expiry-100+1)
		assert.Len(t, reads, 100, "polled every second from the local expiry")
		for _, r := range reads {
			assert.Equal(t, market.RequestStateNew, r.res)
		}
		sh.run(sh.gone(id, 0))
		assert.Equal(t, expiry+1, sh.enteredAt(id, 0, sales.StateCancelled))
		sh.settle(0, id)
	})

	// Item 8 (Sales missed RequestFulfilled, so the watcher still runs).
	specRun(t, "08 onCancelled is not called when request state is Started", func(t *testing.T) {
		sh, id := specWatcherScenario(t, 0, true, false)
		defer sh.stop()
		expiry := sh.info(id).ExpiresAt
		sh.runTo(expiry + 200)
		reads := sh.watcherReads(id, expiry+1)
		require.Len(t, reads, 1)
		assert.Equal(t, market.RequestStateStarted, reads[0].res)
		assert.True(t, sh.in(id, 0, sales.StateProving)(), "still proving")
		sh.settle(0, id)
		assert.NotContains(t, sh.seq(id, 0), sales.StateCancelled)
	})

	// Item 9: the watcher (expiry shifted to the request's end) wakes after
	// the end, while the sale still proves.
	specRun(t, "09 onCancelled is not called when request state is Finished", func(t *testing.T) {
		sh, id := specWatcherScenario(t, 3000, true, false)
		defer sh.stop()
		end := sh.info(id).EndsAt
		sh.settle(0, id)
		reads := sh.watcherReads(id, end)
		require.Len(t, reads, 1, "the watcher read the state once, after the end")
		assert.Equal(t, end+1, reads[0].at)
		assert.Equal(t, market.RequestStateFinished, reads[0].res)
		assert.Less(t, end+1, sh.enteredAt(id, 0, sales.StatePayout), "the sale was still live")
		assert.NotContains(t, sh.seq(id, 0), sales.StateCancelled)
	})

	// Item 10: the request failed before the expiry and Sales missed
	// RequestFailed; the watcher must not cancel the sale. (hostsales'
	// proving sale sees a Failed slot itself at its next look, see
	// TestProvingSeesFailedRequest, so here the spy reports the slot Filled
	// and ours, as before the failure freed it, until the watcher has read
	// the state.) Once the spy tells the truth, the sale ends through
	// SaleFailed.
	specRun(t, "10 onCancelled is not called when request state is Failed", func(t *testing.T) {
		sh, id := specWatcherScenario(t, 0, true, true)
		defer sh.stop()
		sid := market.SlotIDFor(id, 0)
		sh.mk.lieSlot(sid, market.SlotStateFilled)
		sh.mk.lieHost(sid, me)
		require.NoError(t, sh.m.FailRequest(sh.ctx, id))
		expiry := sh.info(id).ExpiresAt
		sh.runTo(expiry + 200)
		reads := sh.watcherReads(id, expiry+1)
		require.Len(t, reads, 1)
		assert.Equal(t, market.RequestStateFailed, reads[0].res)
		assert.True(t, sh.in(id, 0, sales.StateProving)())
		sh.mk.truthSlot(sid)
		sh.run(sh.gone(id, 0))
		assert.Equal(t, specSeq{sPro, sFai, sErr}, specFrom(sh.seq(id, 0), sPro))
		sh.settle(1000, id) // the market kept the collateral of the failed request
	})

	// Reference: SPEC.md §8.4 items 11-13 "cancelled future is finished
	// when request state is Started / Finished / Failed": the watcher reads
	// the state once and stops polling.
	specRun(t, "11 cancelled future is finished when request state is Started", func(t *testing.T) {
		sh, id := specWatcherScenario(t, 0, true, false)
		defer sh.stop()
		expiry := sh.info(id).ExpiresAt
		sh.settle(0, id)
		reads := sh.watcherReads(id, expiry+1)
		require.Len(t, reads, 1, "one read, then the watcher stopped")
		assert.Equal(t, expiry+1, reads[0].at)
	})

	specRun(t, "12 cancelled future is finished when request state is Finished", func(t *testing.T) {
		sh, id := specWatcherScenario(t, 3000, true, false)
		defer sh.stop()
		end := sh.info(id).EndsAt
		sh.settle(0, id)
		sh.runTo(sh.clock.Now() + 600)
		reads := sh.watcherReads(id, end)
		require.Len(t, reads, 1, "one read, then the watcher stopped")
		assert.Equal(t, market.RequestStateFinished, reads[0].res)
	})

	specRun(t, "13 cancelled future is finished when request state is Failed", func(t *testing.T) {
		sh, id := specWatcherScenario(t, 0, true, true)
		defer sh.stop()
		sid := market.SlotIDFor(id, 0)
		sh.mk.lieSlot(sid, market.SlotStateFilled) // as in item 10
		sh.mk.lieHost(sid, me)
		require.NoError(t, sh.m.FailRequest(sh.ctx, id))
		expiry := sh.info(id).ExpiresAt
		sh.runTo(expiry + 1200)
		reads := sh.watcherReads(id, expiry+1)
		require.Len(t, reads, 1, "one read, then the watcher stopped")
		assert.Equal(t, market.RequestStateFailed, reads[0].res)
		sh.mk.truthSlot(sid)
		sh.settle(1000, id)
	})

	// Reference: SPEC.md §8.4 item 14 "cancelled future is finished
	// (cancelled) when onFulfilled called": after RequestFulfilled the
	// watcher is gone before the expiry, while the sale lives on.
	specRun(t, "14 cancelled future is finished when onFulfilled called", func(t *testing.T) {
		sh := newSpec(t, specCfg{})
		defer sh.stop()
		sh.avail(1000)
		id := sh.submitNew(1, 1000)
		sh.run(sh.in(id, 0, sales.StateProving))
		fulfilled := sh.clock.Now()
		expiry := sh.info(id).ExpiresAt
		sh.runTo(expiry + 200)
		assert.True(t, sh.in(id, 0, sales.StateProving)())
		assert.Empty(t, sh.watcherReads(id, fulfilled), "the watcher never read the state")
		sh.settle(0, id)
	})

	// Reference: SPEC.md §8.4 item 15 "current state onFailed called when
	// onFailed called": RequestFailed moves the proving sales to SaleFailed.
	// Our slot 0 was released by the failure (freeing it again fails);
	// slot 1 is acknowledged. The market keeps both collaterals.
	specRun(t, "15 current state onFailed called when onFailed called", func(t *testing.T) {
		sh := newSpec(t, specCfg{})
		defer sh.stop()
		sh.avail(2000)
		id := sh.submitNew(2, 1000)
		sh.run(func() bool { return sh.in(id, 0, sales.StateProving)() && sh.in(id, 1, sales.StateProving)() })
		require.NoError(t, sh.m.FailRequest(sh.ctx, id))
		sh.run(func() bool { return sh.gone(id, 0)() && sh.gone(id, 1)() })
		for slot := range uint64(2) {
			assert.Equal(t, []statemachine.State{sales.StateProving, sales.StateFailed, sales.StateErrored},
				specUpTo(specFrom(sh.seq(id, slot), sales.StateProving), sales.StateErrored), "slot %d", slot)
		}
		assert.ErrorIs(t, sh.erroredWith(id, 0), market.ErrInvalidSlotHost)
		assert.ErrorIs(t, sh.erroredWith(id, 1), sales.ErrSaleFailed)
		sh.settle(2000, id)
	})

	// Reference: SPEC.md §8.4 item 16 "current state onSlotFilled called
	// when slot filled emitted": a downloading sale moves to SaleFilled.
	specRun(t, "16 current state onSlotFilled called when slot filled emitted", func(t *testing.T) {
		sh := newSpec(t, specCfg{})
		defer sh.stop()
		sh.avail(1000)
		req := sh.newRequest(1, 1000)
		id := req.ID()
		release := sh.hangStore(id)
		defer release()
		sh.submit(req)
		sh.run(sh.in(id, 0, sales.StateDownloading))
		require.NoError(t, sh.m.TakeSlot(sh.ctx, other, id, 0))
		sh.run(sh.gone(id, 0))
		assert.Equal(t, []statemachine.State{sales.StateDownloading, sales.StateFilled, sales.StateErrored},
			specFrom(sh.seq(id, 0), sales.StateDownloading))
		assert.ErrorIs(t, sh.erroredWith(id, 0), sales.ErrHostMismatch)
		sh.settle(0, id)
	})
}
