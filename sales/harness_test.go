package sales_test

import (
	"context"
	"math/rand/v2"
	"sync"
	"testing"
	"testing/synctest"

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
	"github.com/hostsales/hostsales/statemachine"
)

var (
	me     = market.Address{0x40}
	client = market.Address{0xc1}
	other  = market.Address{0x77}
)

const start = 1_000_000

// harness is one host with Sales over a simulated market, on a virtual
// clock, inside a synctest bubble: run advances market time only when every
// goroutine waits.
type harness struct {
	t     *testing.T
	ctx   context.Context
	m     *simmarket.Market
	clock *market.ManualClock
	ds    ds.Batching
	repo  *repostore.Store
	res   *reservations.Reservations
	s     *sales.Sales
	opts  sales.Options
	// wrap, if set, wraps the host's market view (tests gate calls with it).
	wrap func(market.Market) market.Market

	mu          sync.Mutex
	transitions []string
	stored      int
	proved      int
	sold        []uint64
	cleared     []uint64
}

func u(v uint64) *uint256.Int { return uint256.NewInt(v) }

func newHarness(t *testing.T, mopts *simmarket.Options, tweak func(h *harness)) *harness {
	t.Helper()
	if mopts == nil {
		mopts = &simmarket.Options{}
	}
	if mopts.Start == 0 {
		mopts.Start = start
	}
	mopts.Seed = 7
	mopts.NoValidator = true
	m, err := simmarket.New(mopts)
	require.NoError(t, err)
	m.Mint(client, *u(1 << 40))
	m.Mint(me, *u(1 << 40))
	h := &harness{t: t, ctx: context.Background(), m: m, clock: m.Clock(),
		ds: dssync.MutexWrap(ds.NewMapDatastore())}
	h.openRepo()
	h.opts = sales.Options{
		Callbacks: sales.Callbacks{
			OnStore: func(ctx context.Context, req market.StorageRequest, expiry int64, slot uint64, store sales.StoreFunc, _ bool) error {
				blocks := make([][]byte, 0, 4)
				per := req.Ask.SlotSize / 4
				for i := range uint64(4) {
					n := per
					if i == 3 {
						n = req.Ask.SlotSize - 3*per
					}
					b := make([]byte, n)
					b[0] = byte(slot)
					copy(b[1:], req.Ask.PricePerBytePerSecond.Bytes()) // distinct per request in tests
					b[len(b)-1] = byte(i)
					blocks = append(blocks, b)
				}
				h.mu.Lock()
				h.stored++
				h.mu.Unlock()
				return store(ctx, blocks)
			},
			OnProve: func(ctx context.Context, slot market.Slot, ch market.Challenge) (market.Proof, error) {
				h.mu.Lock()
				h.proved++
				h.mu.Unlock()
				return market.Proof("proof"), nil
			},
			OnExpiryUpdate: func(ctx context.Context, cid string, expiry int64) error { return nil },
			OnSale: func(req market.StorageRequest, slot uint64) {
				h.mu.Lock()
				h.sold = append(h.sold, slot)
				h.mu.Unlock()
			},
			OnClear: func(req market.StorageRequest, slot uint64) {
				h.mu.Lock()
				h.cleared = append(h.cleared, slot)
				h.mu.Unlock()
			},
		},
		Rand: rand.New(rand.NewPCG(1, 2)),
		OnTransition: func(req market.RequestID, slot uint64, from, to statemachine.State, ev statemachine.Event) {
			h.mu.Lock()
			h.transitions = append(h.transitions, string(to))
			h.mu.Unlock()
		},
	}
	if tweak != nil {
		tweak(h)
	}
	h.startSales()
	return h
}

func (h *harness) openRepo() {
	repo, err := repostore.Open("", &repostore.Options{Datastore: h.ds, QuotaMaxBytes: 1 << 30,
		Now: h.clock.Now})
	require.NoError(h.t, err)
	h.repo = repo
	h.res, err = reservations.New(h.ctx, repo, nil)
	require.NoError(h.t, err)
}

func (h *harness) startSales() {
	var err error
	var mk market.Market = h.m.As(me)
	if h.wrap != nil {
		mk = h.wrap(mk)
	}
	h.s, err = sales.New(sales.Deps{Market: mk, Clock: h.clock, Reservations: h.res}, &h.opts)
	require.NoError(h.t, err)
	require.NoError(h.t, h.s.Start(h.ctx))
}

// restart stops Sales and the repo and opens both again from the stored
// state (a clean restart; crash tests kill a process instead).
func (h *harness) restart() {
	require.NoError(h.t, h.s.Stop(h.ctx))
	require.NoError(h.t, h.repo.Close())
	h.openRepo()
	h.startSales()
}

func (h *harness) stop() {
	require.NoError(h.t, h.s.Stop(h.ctx))
	require.NoError(h.t, h.repo.Close())
}

// run advances market time, one deadline at a time, until done holds; it
// fails when nothing is left to wait for.
func (h *harness) run(done func() bool) {
	h.t.Helper()
	for i := 0; ; i++ {
		synctest.Wait()
		if done() {
			return
		}
		require.Less(h.t, i, 1_000_000, "too many steps")
		require.True(h.t, h.clock.Step(), "stuck: nothing waits on the clock and the condition does not hold")
	}
}

func (h *harness) availability(size uint64) reservations.Availability {
	a, err := h.res.CreateAvailability(h.ctx, reservations.Availability{TotalSize: size, Duration: 100000,
		MinPricePerBytePerSecond: *u(1), TotalCollateral: *u(1 << 30), Enabled: true})
	require.NoError(h.t, err)
	return a
}

func (h *harness) request(slots, slotSize uint64) market.RequestID {
	req := market.StorageRequest{Client: client, Ask: market.StorageAsk{
		ProofProbability: *u(1), PricePerBytePerSecond: *u(1), CollateralPerByte: *u(1),
		Slots: slots, SlotSize: slotSize, Duration: 3600}, Content: market.StorageContent{CID: "zTest"},
		Expiry: 600, Nonce: [32]byte{byte(h.clock.Now())}}
	id, err := h.m.RequestStorage(h.ctx, client, req)
	require.NoError(h.t, err)
	return id
}

// checkAllBack asserts I5: with every sale ended, every availability has
// all its bytes and collateral back, no reservation is left and no sale
// block is stored.
func (h *harness) checkAllBack() {
	h.t.Helper()
	synctest.Wait()
	all, err := h.res.Reservations(h.ctx)
	require.NoError(h.t, err)
	assert.Empty(h.t, all, "no reservation outlives its sale")
	for _, a := range h.res.Availabilities() {
		assert.Equal(h.t, a.TotalSize, a.FreeSize, "I5 bytes of %s", a.ID)
		assert.Equal(h.t, a.TotalCollateral, a.TotalRemainingCollateral, "I5 collateral of %s", a.ID)
	}
	assert.Equal(h.t, uint64(0), h.repo.Quota().Used, "no sale data left")
}

// checkInvariants asserts I1-I3 on committed state, once every goroutine
// of the bubble waits (the availabilities are read from the in-memory
// index, which follows a commit a moment after the store does).
func (h *harness) checkInvariants() {
	h.t.Helper()
	synctest.Wait()
	all, err := h.res.Reservations(h.ctx)
	require.NoError(h.t, err)
	slot := map[reservations.AvailabilityID]uint64{}
	var sumSize, sumFree uint64
	for _, r := range all {
		slot[r.AvailabilityID] += r.SlotSize
		sumSize += r.Size
	}
	for _, a := range h.res.Availabilities() {
		assert.LessOrEqual(h.t, a.FreeSize, a.TotalSize)
		assert.False(h.t, a.TotalRemainingCollateral.Gt(&a.TotalCollateral))
		assert.Equal(h.t, a.TotalSize-a.FreeSize, slot[a.ID], "I2")
		sumFree += a.FreeSize
	}
	q := h.repo.Quota()
	assert.Equal(h.t, sumFree+sumSize, q.Reserved, "I3")
}

func (h *harness) requestState(id market.RequestID) market.RequestState {
	st, err := h.m.As(me).RequestState(h.ctx, id)
	require.NoError(h.t, err)
	return st
}
