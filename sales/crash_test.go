package sales_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"sync"
	"testing"

	ds "github.com/ipfs/go-datastore"
	dsq "github.com/ipfs/go-datastore/query"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hostsales/hostsales/market"
	"github.com/hostsales/hostsales/market/simmarket"
	"github.com/hostsales/hostsales/repostore"
	"github.com/hostsales/hostsales/reservations"
	"github.com/hostsales/hostsales/sales"
	"github.com/hostsales/hostsales/sim"
)

// atomicMap is a transactional in-memory datastore whose commits apply
// under one lock, so that a snapshot taken under the same lock is exactly
// the state a crash at that moment would leave on disk.
type atomicMap struct {
	mu sync.Mutex
	m  map[ds.Key][]byte
}

func newAtomicMap(from map[ds.Key][]byte) *atomicMap {
	a := &atomicMap{m: map[ds.Key][]byte{}}
	for k, v := range from {
		a.m[k] = v
	}
	return a
}

func (a *atomicMap) snapshot() map[ds.Key][]byte {
	a.mu.Lock()
	defer a.mu.Unlock()
	c := make(map[ds.Key][]byte, len(a.m))
	for k, v := range a.m {
		c[k] = v
	}
	return c
}

func (a *atomicMap) Get(_ context.Context, k ds.Key) ([]byte, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	v, ok := a.m[k]
	if !ok {
		return nil, ds.ErrNotFound
	}
	return v, nil
}

func (a *atomicMap) Has(ctx context.Context, k ds.Key) (bool, error) {
	_, err := a.Get(ctx, k)
	return err == nil, nil
}

func (a *atomicMap) GetSize(ctx context.Context, k ds.Key) (int, error) {
	v, err := a.Get(ctx, k)
	if err != nil {
		return -1, err
	}
	return len(v), nil
}

func (a *atomicMap) Query(_ context.Context, q dsq.Query) (dsq.Results, error) {
	a.mu.Lock()
	var es []dsq.Entry
	for k, v := range a.m {
		es = append(es, dsq.Entry{Key: k.String(), Value: v, Size: len(v)})
	}
	a.mu.Unlock()
	return dsq.NaiveQueryApply(q, dsq.ResultsWithEntries(q, es)), nil
}

func (a *atomicMap) Put(ctx context.Context, k ds.Key, v []byte) error {
	return a.apply(map[ds.Key]*[]byte{k: &v})
}

func (a *atomicMap) Delete(ctx context.Context, k ds.Key) error {
	return a.apply(map[ds.Key]*[]byte{k: nil})
}

func (a *atomicMap) apply(w map[ds.Key]*[]byte) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	for k, v := range w {
		if v == nil {
			delete(a.m, k)
		} else {
			a.m[k] = *v
		}
	}
	return nil
}

func (a *atomicMap) Sync(context.Context, ds.Key) error { return nil }
func (a *atomicMap) Close() error                       { return nil }

func (a *atomicMap) NewTransaction(context.Context, bool) (ds.Txn, error) {
	return &atomicTxn{a: a, w: map[ds.Key]*[]byte{}}, nil
}

type atomicTxn struct {
	a *atomicMap
	w map[ds.Key]*[]byte
}

func (t *atomicTxn) Get(ctx context.Context, k ds.Key) ([]byte, error) {
	if v, ok := t.w[k]; ok {
		if v == nil {
			return nil, ds.ErrNotFound
		}
		return *v, nil
	}
	return t.a.Get(ctx, k)
}
func (t *atomicTxn) Has(ctx context.Context, k ds.Key) (bool, error) {
	_, err := t.Get(ctx, k)
	return err == nil, nil
}
func (t *atomicTxn) GetSize(ctx context.Context, k ds.Key) (int, error) { return t.a.GetSize(ctx, k) }
func (t *atomicTxn) Query(ctx context.Context, q dsq.Query) (dsq.Results, error) {
	return t.a.Query(ctx, q)
}
func (t *atomicTxn) Put(_ context.Context, k ds.Key, v []byte) error { t.w[k] = &v; return nil }
func (t *atomicTxn) Delete(_ context.Context, k ds.Key) error        { t.w[k] = nil; return nil }
func (t *atomicTxn) Commit(context.Context) error                    { return t.a.apply(t.w) }
func (t *atomicTxn) Discard(context.Context)                         {}

var _ ds.TxnDatastore = (*atomicMap)(nil)

// Crash at random moments: under the deterministic executor a busy market
// runs until step k, the committed state is snapshotted as a crash would
// leave it, the node is stopped and its store thrown away (whatever it
// did after the snapshot, the market keeps, as after a real crash), and a
// new node starts from the snapshot. When every request has ended, nothing
// leaked (I1-I5): every availability has all its bytes back, no
// reservation is left, no sale data is stored, and the collateral is back
// except what the market kept.
func TestCrashAtRandomMoments(t *testing.T) {
	rng := rand.New(rand.NewPCG(9, 9))
	for round := range 60 {
		seed := uint64(round)
		total := crashRun(t, seed, -1) // the run without a crash: how many steps
		crashAt := 1 + rng.IntN(total-1)
		t.Run(fmt.Sprintf("seed=%d/step=%d", seed, crashAt), func(t *testing.T) { crashRun(t, seed, crashAt) })
	}
}

// crashRun runs the scenario, crashing at step crashAt (never when
// negative), checks the end state and returns the number of steps run.
func crashRun(t *testing.T, seed uint64, crashAt int) int {
	ctx := context.Background()
	m, err := simmarket.New(&simmarket.Options{Seed: seed, Start: start, NoValidator: true,
		Competitors: []simmarket.Competitor{{Address: other, TakeProbability: 0.3, ReserveDelay: 5, FillDelay: 30}}})
	require.NoError(t, err)
	m.Mint(client, *u(1 << 50))
	m.Mint(me, *u(1 << 50))
	m.Mint(other, *u(1 << 50))
	clock := m.Clock()
	exec := sim.NewExecutor(seed)
	store := newAtomicMap(nil)
	var repo *repostore.Store
	var res *reservations.Reservations
	var s *sales.Sales
	open := func() {
		repo, err = repostore.Open("", &repostore.Options{Datastore: store, QuotaMaxBytes: 1 << 30, Now: clock.Now})
		require.NoError(t, err)
		res, err = reservations.New(ctx, repo, &reservations.Options{Rand: seeded{rand.New(rand.NewPCG(seed, 7))}})
		require.NoError(t, err)
		s, err = sales.New(sales.Deps{Market: m.As(me), Clock: sim.NewClock(clock, exec), Reservations: res}, &sales.Options{
			Callbacks: sales.Callbacks{
				OnStore: func(ctx context.Context, req market.StorageRequest, _ int64, slot uint64, st sales.StoreFunc, _ bool) error {
					for part := range 2 {
						b := make([]byte, req.Ask.SlotSize/2)
						copy(b, req.Content.CID)
						b[len(b)-2], b[len(b)-1] = byte(slot), byte(part)
						if err := st(ctx, [][]byte{b}); err != nil {
							return err
						}
					}
					return nil
				},
				OnProve: func(context.Context, market.Slot, market.Challenge) (market.Proof, error) {
					return market.Proof("proof"), nil
				},
				OnExpiryUpdate: func(context.Context, string, int64) error { return nil },
			},
			MaxWorkers: 3, Executor: exec, Rand: rand.New(rand.NewPCG(seed, 8)), ReconcilePeriod: 600,
		})
		require.NoError(t, err)
		require.NoError(t, s.Start(ctx))
	}
	open()
	_, err = res.CreateAvailability(ctx, reservations.Availability{TotalSize: 8000, Duration: 100000,
		MinPricePerBytePerSecond: *u(1), TotalCollateral: *u(1 << 20), Enabled: true})
	require.NoError(t, err)
	var ids []market.RequestID
	for i := range 8 {
		clock.AfterFunc(int64(start+29*i), func() {
			req := market.StorageRequest{Client: client, Ask: market.StorageAsk{ProofProbability: *u(2),
				PricePerBytePerSecond: *u(1), CollateralPerByte: *u(1), Slots: uint64(1 + i%3), SlotSize: 1000,
				Duration: 1500, MaxSlotLoss: 1}, Content: market.StorageContent{CID: fmt.Sprintf("zCrash%d", i)},
				Expiry: 400, Nonce: [32]byte{byte(i)}}
			id, err := m.RequestStorage(ctx, client, req)
			require.NoError(t, err)
			ids = append(ids, id)
			if i == 6 {
				clock.AfterFunc(int64(start+29*i+700), func() { _ = m.FailRequest(ctx, id) })
			}
		})
	}
	crashed := false
	ended := func() bool {
		if len(ids) < 8 || len(s.Agents()) > 0 {
			return false
		}
		for _, id := range ids {
			if st, err := m.As(me).RequestState(ctx, id); err != nil || !st.IsTerminal() {
				return false
			}
		}
		return true
	}
	for i := 0; !ended(); i++ {
		require.Less(t, i, 200_000)
		if !crashed && crashAt >= 0 && exec.Steps() >= uint64(crashAt) {
			crashed = true
			snap := store.snapshot()
			require.NoError(t, s.Stop(ctx))
			exec.RunReady()
			require.NoError(t, repo.Close())
			store = newAtomicMap(snap)
			open()
			continue
		}
		if exec.Step() {
			continue
		}
		require.True(t, clock.Step(), "stuck")
	}
	// Let the periodic reconcile run once more after the last request
	// ended, as a long-running node would.
	for i := 0; i < 1000 && exec.Live() > 0; i++ {
		exec.RunReady()
		if n, _ := s.Reconcile(ctx); n == 0 {
			break
		}
	}
	require.True(t, crashed || crashAt < 0, "the crash point was reached")
	all, err := res.Reservations(ctx)
	require.NoError(t, err)
	assert.Empty(t, all, "no reservation outlives its sale")
	for _, a := range res.Availabilities() {
		assert.Equal(t, a.TotalSize, a.FreeSize, "I5: bytes back")
		assert.False(t, a.TotalRemainingCollateral.Gt(&a.TotalCollateral), "I1")
	}
	assert.Equal(t, uint64(0), repo.Quota().Used, "no sale data left")
	steps := int(exec.Steps())
	require.NoError(t, s.Stop(ctx))
	exec.RunReady()
	require.NoError(t, repo.Close())
	return steps
}
