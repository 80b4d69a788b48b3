package sales_test

import (
	"context"
	"testing"
	"testing/synctest"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hostsales/hostsales/market"
	"github.com/hostsales/hostsales/sales"
	"github.com/hostsales/hostsales/statemachine"
)

// Every transition of a sale is persisted with its market time, and the
// log survives the sale and a restart.
func TestSaleEventLog(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := newHarness(t, nil, nil)
		defer h.stop()
		h.availability(10_000)
		id := h.request(1, 1000)
		h.run(func() bool { return h.requestState(id) == market.RequestStateFinished && len(h.s.Agents()) == 0 })
		h.restart()
		log, err := h.s.SaleLog(h.ctx, market.SlotIDFor(id, 0))
		require.NoError(t, err)
		var states []statemachine.State
		for i, e := range log {
			states = append(states, e.To)
			assert.Equal(t, id, e.RequestID)
			if i > 0 {
				assert.GreaterOrEqual(t, e.Time, log[i-1].Time)
				assert.Equal(t, log[i-1].To, e.From)
			}
		}
		assert.Equal(t, []statemachine.State{sales.StatePreparing, sales.StateSlotReserving, sales.StateDownloading,
			sales.StateInitialProving, sales.StateFilling, sales.StateFilled, sales.StateProving, sales.StatePayout,
			sales.StateFinished}, states)
	})
}

// The admission filter sees the slot before it is reserved; a refusal
// ignores it, reserves nothing, and says why in the event log.
func TestAdmissionFilterDeclines(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var seen []sales.Admission
		h := newHarness(t, nil, func(h *harness) {
			h.opts.Admit = func(_ context.Context, a sales.Admission) (bool, string) {
				seen = append(seen, a)
				return false, "operator says no"
			}
		})
		defer h.stop()
		a := h.availability(10_000)
		id := h.request(1, 1000)
		h.run(func() bool { return len(seen) > 0 && len(h.s.Agents()) == 0 })
		assert.Equal(t, a.ID, seen[0].Availability.ID)
		assert.Equal(t, id, seen[0].Request.ID())
		log, err := h.s.SaleLog(h.ctx, market.SlotIDFor(id, 0))
		require.NoError(t, err)
		require.NotEmpty(t, log)
		last := log[len(log)-1]
		assert.Equal(t, sales.StateIgnored, last.To)
		assert.Equal(t, "declined: operator says no", last.Reason)
		got, err := h.res.Availability(a.ID)
		require.NoError(t, err)
		assert.Equal(t, a, got, "nothing reserved")
		h.checkInvariants()
	})
}

// Log lines older than the retention are pruned by the periodic pass;
// younger ones stay.
func TestSaleEventLogRetention(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := newHarness(t, nil, func(h *harness) {
			h.opts.LogRetention = 2000
			h.opts.ReconcilePeriod = 500
		})
		defer h.stop()
		h.availability(10_000)
		first := h.request(1, 1000)
		h.run(func() bool { return h.requestState(first) == market.RequestStateFinished && len(h.s.Agents()) == 0 })
		ended := h.clock.Now()
		log, err := h.s.SaleLog(h.ctx, market.SlotIDFor(first, 0))
		require.NoError(t, err)
		require.NotEmpty(t, log, "kept while young")
		h.run(func() bool { return h.clock.Now() > ended+2000+500 })
		log, err = h.s.SaleLog(h.ctx, market.SlotIDFor(first, 0))
		require.NoError(t, err)
		assert.Empty(t, log, "the first sale's log is older than the retention")
		second := h.request(1, 1000)
		h.run(func() bool { return h.requestState(second) == market.RequestStateStarted })
		h.run(func() bool { return h.clock.Now() > ended+2000+500+600 }) // a prune pass ran meanwhile
		log, err = h.s.SaleLog(h.ctx, market.SlotIDFor(second, 0))
		require.NoError(t, err)
		require.NotEmpty(t, log)
		for _, e := range log {
			assert.GreaterOrEqual(t, e.Time, h.clock.Now()-2000-500, "only young lines are left")
		}
	})
}
