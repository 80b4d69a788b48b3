package main

import (
	"context"
	"sync/atomic"
	"testing"

	"github.com/holiman/uint256"
	"github.com/stretchr/testify/require"

	"github.com/hostsales/hostsales/api/apitest"
	"github.com/hostsales/hostsales/market"
	"github.com/hostsales/hostsales/market/simmarket"
	"github.com/hostsales/hostsales/reservations"
	"github.com/hostsales/hostsales/sales"
	"github.com/hostsales/hostsales/sim"
)

// testNode is an in-memory node serving the REST API on an httptest
// server (an apitest.Node): a simulated market, a repo in memory, one
// availability, one slot this host filled (its sale is proving, so it is
// live), and two slots in the queue that no availability matches.
type testNode struct {
	url     string
	avail   reservations.Availability
	request market.StorageRequest
	slot    market.SlotID
	res     *reservations.Reservations
}

const (
	testQuota    = 1 << 30
	testSlotSize = 64 << 10
)

// startNode starts a node; token, when set, is required on every request.
// Everything is stopped at cleanup.
func startNode(t *testing.T, token string) *testNode {
	t.Helper()
	ctx := context.Background()
	exec := sim.NewConcurrentExecutor()
	var filled atomic.Bool
	node := apitest.New(t,
		apitest.WithQuota(testQuota),
		apitest.WithMarket(simmarket.Options{Seed: 1, Start: 1_700_000_000, NoValidator: true}),
		apitest.WithToken(token),
		apitest.WithExecutor(exec),
		apitest.WithSalesOptions(func(o *sales.Options) {
			o.OnSale = func(market.StorageRequest, uint64) { filled.Store(true) }
		}))
	n := &testNode{url: node.Server.URL, res: node.Reservations}
	var err error
	n.avail, err = n.res.CreateAvailability(ctx, reservations.Availability{TotalSize: 100 << 20, Duration: 24 * 3600,
		MinPricePerBytePerSecond: *uint256.NewInt(1), TotalCollateral: *uint256.NewInt(1 << 30), Enabled: true})
	require.NoError(t, err)

	n.request = apitest.Request(1, testSlotSize)
	_, err = node.Market.RequestStorage(ctx, apitest.ClientAddr, n.request)
	require.NoError(t, err)
	for steps := 0; !filled.Load(); steps++ {
		require.Less(t, steps, 10000, "the slot was never filled")
		exec.Quiesce() // every sale waits on market time
		if !filled.Load() {
			node.Clock.Step()
		}
	}
	// A request no availability matches (too long): its slots wait in
	// the queue, seen, and the queue pauses.
	long := n.request
	long.Ask.Duration, long.Ask.Slots = 48*3600, 2
	_, err = node.Market.RequestStorage(ctx, apitest.ClientAddr, long)
	require.NoError(t, err)
	exec.Quiesce()
	n.slot = n.request.SlotID(0)
	return n
}
