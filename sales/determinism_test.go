package sales_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/holiman/uint256"
	ds "github.com/ipfs/go-datastore"
	dssync "github.com/ipfs/go-datastore/sync"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hostsales/hostsales/market"
	"github.com/hostsales/hostsales/market/simmarket"
	"github.com/hostsales/hostsales/repostore"
	"github.com/hostsales/hostsales/reservations"
	"github.com/hostsales/hostsales/sales"
	"github.com/hostsales/hostsales/sim"
	"github.com/hostsales/hostsales/statemachine"
)

type seeded struct{ r *rand.Rand }

func (s seeded) Read(p []byte) (int, error) {
	for i := range p {
		p[i] = byte(s.r.Uint32())
	}
	return len(p), nil
}

// runBusy runs a busy market (requests arriving over time, a competing
// host, a failed request, more slots than the node can take) under the
// seeded step-by-step executor and returns the trace: every transition of
// every sale and every market event, with market time.
func runBusy(t *testing.T, seed uint64) []string {
	ctx := context.Background()
	m, err := simmarket.New(&simmarket.Options{Seed: 11, Start: start, NoValidator: true,
		Competitors: []simmarket.Competitor{{Address: other, TakeProbability: 0.4, ReserveDelay: 5, FillDelay: 20}}})
	require.NoError(t, err)
	m.Mint(client, *u(1 << 50))
	m.Mint(me, *u(1 << 50))
	m.Mint(other, *u(1 << 50))
	clock := m.Clock()
	exec := sim.NewExecutor(seed)
	var trace []string
	m.Observe(func(r simmarket.Record) {
		if _, ok := r.Event.(simmarket.Transfer); !ok {
			trace = append(trace, fmt.Sprintf("%d market %s", r.Time, r.Event))
		}
	})
	repo, err := repostore.Open("", &repostore.Options{Datastore: dssync.MutexWrap(ds.NewMapDatastore()),
		QuotaMaxBytes: 1 << 30, Now: clock.Now})
	require.NoError(t, err)
	defer repo.Close()
	res, err := reservations.New(ctx, repo, &reservations.Options{Rand: seeded{rand.New(rand.NewPCG(seed, 1))}})
	require.NoError(t, err)
	ok := func(context.Context, string, int64) error { return nil }
	s, err := sales.New(sales.Deps{Market: m.As(me), Clock: sim.NewClock(clock, exec), Reservations: res}, &sales.Options{
		Callbacks: sales.Callbacks{
			OnStore: func(ctx context.Context, req market.StorageRequest, _ int64, slot uint64, store sales.StoreFunc, _ bool) error {
				b := make([]byte, req.Ask.SlotSize)
				copy(b, req.Content.CID)
				b[len(b)-1] = byte(slot)
				return store(ctx, [][]byte{b})
			},
			OnProve: func(context.Context, market.Slot, market.Challenge) (market.Proof, error) {
				return market.Proof("proof"), nil
			},
			OnExpiryUpdate: ok,
		},
		MaxWorkers: 2, QueueSize: 8, Executor: exec, Rand: rand.New(rand.NewPCG(seed, 2)),
		OnTransition: func(req market.RequestID, slot uint64, from, to statemachine.State, ev statemachine.Event) {
			trace = append(trace, fmt.Sprintf("%d sale %s/%d %s -%s-> %s", clock.Now(), req.Hex()[:8], slot, from, ev, to))
		},
	})
	require.NoError(t, err)
	for range 2 {
		_, err := res.CreateAvailability(ctx, reservations.Availability{TotalSize: 6000, Duration: 100000,
			MinPricePerBytePerSecond: *u(1), TotalCollateral: *u(1 << 30), Enabled: true})
		require.NoError(t, err)
	}
	require.NoError(t, s.Start(ctx))
	var ids []market.RequestID
	for i := range 12 {
		at := int64(start + 37*i)
		clock.AfterFunc(at, func() {
			req := market.StorageRequest{Client: client, Ask: market.StorageAsk{ProofProbability: *u(2),
				PricePerBytePerSecond: *uint256.NewInt(uint64(1 + i%3)), CollateralPerByte: *u(1),
				Slots: uint64(1 + i%4), SlotSize: 1000, Duration: 2000, MaxSlotLoss: 1},
				Content: market.StorageContent{CID: fmt.Sprintf("zReq%d", i)}, Expiry: 300, Nonce: [32]byte{byte(i)}}
			id, err := m.RequestStorage(ctx, client, req)
			require.NoError(t, err)
			ids = append(ids, id)
			if i == 5 {
				clock.AfterFunc(at+400, func() { _ = m.FailRequest(ctx, id) })
			}
		})
	}
	ended := func() bool {
		if len(ids) < 12 || len(s.Agents()) > 0 {
			return false
		}
		for _, id := range ids {
			st, err := m.As(me).RequestState(ctx, id)
			require.NoError(t, err)
			if !st.IsTerminal() {
				return false
			}
		}
		return true
	}
	for steps := 0; !ended(); steps++ {
		exec.RunReady()
		require.Less(t, steps, 1_000_000)
		if ended() {
			break
		}
		require.True(t, clock.Step(), "stuck")
	}
	require.NoError(t, s.Stop(ctx))
	exec.RunReady()
	assert.Equal(t, 0, exec.Live(), "every task ended")
	for _, a := range res.Availabilities() {
		assert.Equal(t, a.TotalSize, a.FreeSize, "I5: bytes back")
	}
	all, err := res.Reservations(ctx)
	require.NoError(t, err)
	assert.Empty(t, all)
	return trace
}

// The same seed and scenario give the same run, transition for
// transition and event for event (DESIGN.md, Determinism).
func TestDeterministicReplay(t *testing.T) {
	a := runBusy(t, 42)
	b := runBusy(t, 42)
	require.NotEmpty(t, a)
	assert.Equal(t, a, b)
	sold := 0
	for _, line := range a {
		if len(line) > 0 && contains(line, "-> SaleFinished") {
			sold++
		}
	}
	assert.Positive(t, sold, "the scenario sells something")
	t.Logf("%d trace lines, %d sales finished", len(a), sold)
	c := runBusy(t, 43)
	assert.NotEqual(t, a, c, "another seed takes another path")
}

func contains(s, sub string) bool {
	for i := 0; i+len(sub) <= len(s); i++ {
		if s[i:i+len(sub)] == sub {
			return true
		}
	}
	return false
}
