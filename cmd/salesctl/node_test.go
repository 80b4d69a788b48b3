package main

import (
	"context"
	"net/http/httptest"
	"sync/atomic"
	"testing"

	"github.com/holiman/uint256"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hostsales/hostsales/api"
	"github.com/hostsales/hostsales/market"
	"github.com/hostsales/hostsales/market/simmarket"
	"github.com/hostsales/hostsales/repostore"
	"github.com/hostsales/hostsales/repostore/badgerds"
	"github.com/hostsales/hostsales/reservations"
	"github.com/hostsales/hostsales/sales"
	"github.com/hostsales/hostsales/sim"
)

// testNode is an in-memory node serving the REST API on an httptest
// server: a simulated market, a repo in memory, one availability, one slot
// this host filled (its sale is proving, so it is live), and two slots in
// the queue that no availability matches.
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
	chain, err := simmarket.New(&simmarket.Options{Seed: 1, Start: 1_700_000_000, NoValidator: true})
	require.NoError(t, err)
	host, client := market.Address{0x40}, market.Address{0xc1}
	chain.Mint(host, *uint256.NewInt(1 << 40))
	chain.Mint(client, *uint256.NewInt(1 << 40))
	repo, err := repostore.Open("", &repostore.Options{QuotaMaxBytes: testQuota, NoSync: true,
		Badger: &badgerds.Options{InMemory: true}, Now: chain.Clock().Now})
	require.NoError(t, err)
	res, err := reservations.New(ctx, repo, nil)
	require.NoError(t, err)
	n := &testNode{res: res}
	n.avail, err = res.CreateAvailability(ctx, reservations.Availability{TotalSize: 100 << 20, Duration: 24 * 3600,
		MinPricePerBytePerSecond: *uint256.NewInt(1), TotalCollateral: *uint256.NewInt(1 << 30), Enabled: true})
	require.NoError(t, err)

	exec := sim.NewConcurrentExecutor()
	var filled atomic.Bool
	s, err := sales.New(sales.Deps{Market: chain.As(host), Clock: sim.NewClock(chain.Clock(), exec), Reservations: res},
		&sales.Options{
			Callbacks: sales.Callbacks{
				OnStore: func(ctx context.Context, req market.StorageRequest, _ int64, _ uint64, store sales.StoreFunc, _ bool) error {
					return store(ctx, [][]byte{make([]byte, req.Ask.SlotSize)})
				},
				OnProve: func(context.Context, market.Slot, market.Challenge) (market.Proof, error) {
					return market.Proof("proof"), nil
				},
				OnExpiryUpdate: func(context.Context, string, int64) error { return nil },
				OnSale:         func(market.StorageRequest, uint64) { filled.Store(true) },
			},
			Executor: exec,
		})
	require.NoError(t, err)
	require.NoError(t, s.Start(ctx))
	t.Cleanup(func() {
		assert.NoError(t, s.Stop(ctx))
		exec.Quiesce()
		assert.NoError(t, repo.Close())
	})
	n.request = market.StorageRequest{Client: client, Ask: market.StorageAsk{
		ProofProbability: *uint256.NewInt(1), PricePerBytePerSecond: *uint256.NewInt(1),
		CollateralPerByte: *uint256.NewInt(1), Slots: 1, SlotSize: testSlotSize, Duration: 3600},
		Content: market.StorageContent{CID: "zTest"}, Expiry: 600}
	_, err = chain.RequestStorage(ctx, client, n.request)
	require.NoError(t, err)
	for steps := 0; !filled.Load(); steps++ {
		require.Less(t, steps, 10000, "the slot was never filled")
		exec.Quiesce() // every sale waits on market time
		if !filled.Load() {
			chain.Clock().Step()
		}
	}
	// A request no availability matches (too long): its slots wait in
	// the queue, seen, and the queue pauses.
	long := n.request
	long.Ask.Duration, long.Ask.Slots = 48*3600, 2
	_, err = chain.RequestStorage(ctx, client, long)
	require.NoError(t, err)
	exec.Quiesce()
	n.slot = n.request.SlotID(0)

	h, err := api.NewHandler(api.Config{Sales: s, Reservations: res, Repo: repo, Token: token})
	require.NoError(t, err)
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close) // runs before the node stops
	n.url = srv.URL
	return n
}
