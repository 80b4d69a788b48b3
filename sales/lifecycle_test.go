package sales_test

import (
	"context"
	"errors"
	"testing"
	"testing/synctest"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hostsales/hostsales/market"
	"github.com/hostsales/hostsales/market/simmarket"
	"github.com/hostsales/hostsales/sales"
)

// A request whose every slot we take runs to the end: every slot is
// reserved, downloaded, proven, filled, proven each period, paid out, and
// the availability gets all its bytes and collateral back.
func TestFullLifecycle(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := newHarness(t, nil, nil)
		defer h.stop()
		a := h.availability(10_000)
		id := h.request(2, 1000)
		h.run(func() bool { return h.requestState(id) == market.RequestStateStarted })
		h.checkInvariants()
		got, err := h.res.Availability(a.ID)
		require.NoError(t, err)
		assert.Equal(t, uint64(8000), got.FreeSize, "two slots reserved")
		assert.Equal(t, uint64(2000), h.repo.Quota().Used, "their data stored")

		h.run(func() bool { return len(h.s.Agents()) == 0 })
		assert.Equal(t, market.RequestStateFinished, h.requestState(id))
		got, err = h.res.Availability(a.ID)
		require.NoError(t, err)
		assert.Equal(t, a, got, "bytes and collateral all back")
		all, err := h.res.Reservations(h.ctx)
		require.NoError(t, err)
		assert.Empty(t, all)
		assert.Equal(t, uint64(0), h.repo.Quota().Used, "the sale's blocks dropped")
		h.checkInvariants()
		assert.ElementsMatch(t, []uint64{0, 1}, h.sold)
		assert.Contains(t, h.transitions, "SalePayout")
		assert.Contains(t, h.transitions, "SaleFinished")
		t.Log(h.transitions, h.clock.Now()-start)
	})
}

// A transient market failure while the market holds our collateral (the
// payout's FreeSlot) is retried: the sale still ends with all of it back
// (the review found it ending in SaleErrored with nothing back).
func TestPayoutRetriesATransientFailure(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := newHarness(t, nil, nil)
		defer h.stop()
		h.availability(10_000)
		require.NoError(t, h.m.InjectFault(simmarket.Fault{Method: "FreeSlot", Caller: me, Nth: 1}))
		id := h.request(1, 1000)
		h.run(func() bool { return h.requestState(id) == market.RequestStateFinished && len(h.s.Agents()) == 0 })
		assert.NotContains(t, h.transitions, "SaleErrored")
		h.checkAllBack()
	})
}

// A start-up that fails stops what it started and does not pretend to run.
func TestStartFailureLeavesNothingRunning(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := newHarness(t, nil, nil)
		h.stop()
		require.NoError(t, h.m.InjectFault(simmarket.Fault{Method: "MySlots", Caller: me, Nth: 1}))
		h.openRepo()
		defer func() { require.NoError(t, h.repo.Close()) }()
		s, err := sales.New(sales.Deps{Market: h.m.As(me), Clock: h.clock, Reservations: h.res}, &h.opts)
		require.NoError(t, err)
		require.Error(t, s.Start(h.ctx))
		assert.ErrorIs(t, s.Start(h.ctx), sales.ErrNotRunning, "a retry says so instead of doing nothing")
		assert.False(t, s.Queue().Stats().Running)
		require.NoError(t, s.Stop(h.ctx))
	})
}

// flakyFree applies the first FreeSlot but reports it failed, as a lost
// receipt would.
type flakyFree struct {
	market.Market
	failed bool
}

func (m *flakyFree) FreeSlot(ctx context.Context, id market.SlotID) error {
	err := m.Market.FreeSlot(ctx, id)
	if err == nil && !m.failed {
		m.failed = true
		return errors.New("receipt lost")
	}
	return err
}

// A payout that went through although its call reported an error is
// recognised (the slot is paid): the collateral comes back (found by the
// second review: the retries met AlreadyPaid and gave up with nothing).
func TestPayoutThatWentThroughDespiteAnError(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := newHarness(t, nil, func(h *harness) {
			h.wrap = func(m market.Market) market.Market { return &flakyFree{Market: m} }
		})
		defer h.stop()
		h.availability(10_000)
		id := h.request(1, 1000)
		h.run(func() bool { return h.requestState(id) == market.RequestStateFinished && len(h.s.Agents()) == 0 })
		assert.NotContains(t, h.transitions, "SaleErrored")
		h.checkAllBack()
	})
}

// When the payout keeps failing, the sale gives up but keeps its
// reservation: the market still holds the collateral. The next start
// restores the sale, which is paid out and returns everything.
func TestPayoutGivesUpButKeepsTheReservation(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := newHarness(t, nil, nil)
		defer h.stop()
		h.availability(10_000)
		require.NoError(t, h.m.InjectFault(simmarket.Fault{Method: "FreeSlot", Caller: me, Probability: 1}))
		id := h.request(1, 1000)
		h.run(func() bool { return h.requestState(id) == market.RequestStateFinished && len(h.s.Agents()) == 0 })
		assert.Contains(t, h.transitions, "SaleErrored")
		all, err := h.res.Reservations(h.ctx)
		require.NoError(t, err)
		require.Len(t, all, 1, "kept for later")
		h.m.ClearFaults()
		h.restart()
		h.run(func() bool { return len(h.s.Agents()) == 0 })
		h.checkAllBack()
	})
}
