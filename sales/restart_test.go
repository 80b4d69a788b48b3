package sales_test

import (
	"context"
	"sync"
	"testing"
	"testing/synctest"

	"github.com/holiman/uint256"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hostsales/hostsales/market"
	"github.com/hostsales/hostsales/sales"
	"github.com/hostsales/hostsales/statemachine"
)

// gate blocks the first call of one market method, after it is armed,
// until its context ends: a sale can be caught in the state that makes
// that call.
type gate struct {
	mu      sync.Mutex
	method  string
	armed   bool
	waiting bool
}

func (g *gate) block(ctx context.Context, method string) error {
	g.mu.Lock()
	if !g.armed || g.method != method {
		g.mu.Unlock()
		return nil
	}
	g.armed, g.waiting = false, true
	g.mu.Unlock()
	<-ctx.Done()
	return ctx.Err()
}

func (g *gate) isWaiting() bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.waiting
}

// gatedMarket wraps a market view; the gated methods are those the sale
// states call first.
type gatedMarket struct {
	market.Market
	g *gate
}

func (m gatedMarket) GetRequest(ctx context.Context, id market.RequestID) (market.StorageRequest, error) {
	if err := m.g.block(ctx, "GetRequest"); err != nil {
		return market.StorageRequest{}, err
	}
	return m.Market.GetRequest(ctx, id)
}

func (m gatedMarket) CanReserveSlot(ctx context.Context, id market.RequestID, i uint64) (bool, error) {
	if err := m.g.block(ctx, "CanReserveSlot"); err != nil {
		return false, err
	}
	return m.Market.CanReserveSlot(ctx, id, i)
}

func (m gatedMarket) RequestState(ctx context.Context, id market.RequestID) (market.RequestState, error) {
	if err := m.g.block(ctx, "RequestState"); err != nil {
		return 0, err
	}
	return m.Market.RequestState(ctx, id)
}

func (m gatedMarket) Periodicity(ctx context.Context) (market.Periodicity, error) {
	if err := m.g.block(ctx, "Periodicity"); err != nil {
		return market.Periodicity{}, err
	}
	return m.Market.Periodicity(ctx)
}

func (m gatedMarket) SlotCollateral(ctx context.Context, id market.RequestID, i uint64) (uint256.Int, error) {
	if err := m.g.block(ctx, "SlotCollateral"); err != nil {
		return uint256.Int{}, err
	}
	return m.Market.SlotCollateral(ctx, id, i)
}

func (m gatedMarket) GetHost(ctx context.Context, id market.RequestID, i uint64) (market.Address, error) {
	if err := m.g.block(ctx, "GetHost"); err != nil {
		return market.Address{}, err
	}
	return m.Market.GetHost(ctx, id, i)
}

func (m gatedMarket) CurrentCollateral(ctx context.Context, id market.SlotID) (uint256.Int, error) {
	if err := m.g.block(ctx, "CurrentCollateral"); err != nil {
		return uint256.Int{}, err
	}
	return m.Market.CurrentCollateral(ctx, id)
}

// Restart in the middle of each state: stop Sales and close the repo while
// a sale is in the state, reopen, start again. The sale resumes (a filled
// slot is restored with its reservation, DESIGN.md Decision 5) or is ended
// with nothing leaked (a slot not yet ours), and once the request has
// ended every availability is whole again (I5).
func TestRestartInEachState(t *testing.T) {
	cases := []struct {
		state  statemachine.State
		method string // the call the state is caught in; "" waits on the clock
		ends   market.RequestState
	}{
		{sales.StatePreparing, "GetRequest", market.RequestStateCancelled},
		{sales.StateSlotReserving, "CanReserveSlot", market.RequestStateCancelled},
		{sales.StateDownloading, "RequestState", market.RequestStateCancelled},
		{sales.StateInitialProving, "Periodicity", market.RequestStateCancelled},
		{sales.StateFilling, "SlotCollateral", market.RequestStateCancelled},
		{sales.StateFilled, "GetHost", market.RequestStateFinished},
		{sales.StateProving, "", market.RequestStateFinished},
		{sales.StatePayout, "CurrentCollateral", market.RequestStateFinished},
	}
	for _, tc := range cases {
		t.Run(string(tc.state), func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				g := &gate{method: tc.method, armed: tc.method != ""}
				h := newHarness(t, nil, func(h *harness) {
					h.wrap = func(m market.Market) market.Market { return gatedMarket{m, g} }
				})
				defer h.stop()
				h.availability(10_000)
				id := h.request(1, 1000)
				h.run(func() bool {
					for _, a := range h.s.Agents() {
						if a.State() == tc.state && (tc.method == "" || g.isWaiting()) {
							return true
						}
					}
					return false
				})
				h.checkInvariants()
				h.restart()
				h.checkInvariants()
				h.run(func() bool {
					st := h.requestState(id)
					return st != market.RequestStateNew && st != market.RequestStateStarted && len(h.s.Agents()) == 0
				})
				assert.Equal(t, tc.ends, h.requestState(id))
				h.checkInvariants()
				h.checkAllBack()
			})
		})
	}
}

// A reservation whose slot is not ours and that has no live sale is ended
// by Reconcile (DESIGN.md Decision 7), with its bytes and collateral.
func TestReconcileEndsLeftovers(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := newHarness(t, nil, nil)
		defer h.stop()
		a := h.availability(10_000)
		_, err := h.res.CreateReservation(h.ctx, a.ID, 500, market.RequestID{9}, 0, u(1), start+100)
		require.NoError(t, err)
		n, err := h.s.Reconcile(h.ctx)
		require.NoError(t, err)
		assert.Equal(t, 1, n)
		h.checkAllBack()
	})
}
