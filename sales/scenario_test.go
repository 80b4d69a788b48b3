package sales_test

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"strings"
	"testing"

	"github.com/holiman/uint256"
	ds "github.com/ipfs/go-datastore"
	dssync "github.com/ipfs/go-datastore/sync"
	"github.com/stretchr/testify/require"

	"github.com/hostsales/hostsales/market"
	"github.com/hostsales/hostsales/market/simmarket"
	"github.com/hostsales/hostsales/repostore"
	"github.com/hostsales/hostsales/reservations"
	"github.com/hostsales/hostsales/sales"
	"github.com/hostsales/hostsales/sim"
	"github.com/hostsales/hostsales/statemachine"
)

// tracedMarket records the actions a sale takes on the market.
type tracedMarket struct {
	market.Market
	log func(string)
}

func (m tracedMarket) ReserveSlot(ctx context.Context, id market.RequestID, i uint64) error {
	err := m.Market.ReserveSlot(ctx, id, i)
	m.log(fmt.Sprintf("call ReserveSlot %d -> %v", i, errText(err)))
	return err
}

func (m tracedMarket) FillSlot(ctx context.Context, id market.RequestID, i uint64, p market.Proof, c uint256.Int) error {
	err := m.Market.FillSlot(ctx, id, i, p, c)
	m.log(fmt.Sprintf("call FillSlot %d collateral=%s -> %v", i, c.Dec(), errText(err)))
	return err
}

func (m tracedMarket) FreeSlot(ctx context.Context, id market.SlotID) error {
	err := m.Market.FreeSlot(ctx, id)
	m.log(fmt.Sprintf("call FreeSlot %s -> %v", id.Hex()[:8], errText(err)))
	return err
}

func (m tracedMarket) SubmitProof(ctx context.Context, id market.SlotID, p market.Proof) error {
	err := m.Market.SubmitProof(ctx, id, p)
	m.log(fmt.Sprintf("call SubmitProof %s -> %v", id.Hex()[:8], errText(err)))
	return err
}

func errText(err error) string {
	if err == nil {
		return "ok"
	}
	return err.Error()
}

// scenario is one golden sale story: set-up actions at market times, run
// to the end under the seeded executor, trace compared with
// testdata/traces/<name>.txt (go test ./sales -run TestScenarios -update).
type scenario struct {
	name    string
	slots   uint64
	store   func(slot uint64) error // OnStore's result
	prove   func() error            // OnProve's result
	actions func(c *scenarioCtx)
	// restartIn, if set, restarts the node (Sales stopped, repo closed and
	// reopened, Sales started) the first time a sale is in that state.
	restartIn statemachine.State
}

type scenarioCtx struct {
	m       *simmarket.Market
	clock   *market.ManualClock
	id      market.RequestID
	restart func()
}

func runScenario(t *testing.T, sc scenario) string {
	ctx := context.Background()
	m, err := simmarket.New(&simmarket.Options{Seed: 3, Start: start, NoValidator: true})
	require.NoError(t, err)
	m.Mint(client, *u(1 << 40))
	m.Mint(me, *u(1 << 40))
	m.Mint(other, *u(1 << 40))
	clock := m.Clock()
	exec := sim.NewExecutor(1)
	var lines []string
	logf := func(s string) { lines = append(lines, fmt.Sprintf("%5d %s", clock.Now()-start, s)) }
	store := dssync.MutexWrap(ds.NewMapDatastore())
	var repo *repostore.Store
	var res *reservations.Reservations
	var s *sales.Sales
	last := ""
	account := func() {
		q := repo.Quota()
		var parts []string
		for _, a := range res.Availabilities() {
			parts = append(parts, fmt.Sprintf("free=%d remainingCollateral=%s", a.FreeSize, a.TotalRemainingCollateral.Dec()))
		}
		line := fmt.Sprintf("accounting %s used=%d reserved=%d", strings.Join(parts, " "), q.Used, q.Reserved)
		if line != last {
			last = line
			logf(line)
		}
	}
	open := func() {
		repo, err = repostore.Open("", &repostore.Options{Datastore: store, QuotaMaxBytes: 1 << 20, Now: clock.Now})
		require.NoError(t, err)
		res, err = reservations.New(ctx, repo, &reservations.Options{Rand: seeded{rand.New(rand.NewPCG(1, 1))}})
		require.NoError(t, err)
		s, err = sales.New(sales.Deps{Market: tracedMarket{m.As(me), logf}, Clock: sim.NewClock(clock, exec), Reservations: res},
			&sales.Options{
				Callbacks: sales.Callbacks{
					OnStore: func(ctx context.Context, req market.StorageRequest, _ int64, slot uint64, st sales.StoreFunc, _ bool) error {
						b := make([]byte, req.Ask.SlotSize/2)
						b[0] = byte(slot)
						if err := st(ctx, [][]byte{b}); err != nil {
							return err
						}
						if sc.store != nil {
							if err := sc.store(slot); err != nil {
								return err
							}
						}
						b2 := make([]byte, req.Ask.SlotSize-uint64(len(b)))
						b2[0], b2[1] = byte(slot), 1
						return st(ctx, [][]byte{b2})
					},
					OnProve: func(context.Context, market.Slot, market.Challenge) (market.Proof, error) {
						if sc.prove != nil {
							if err := sc.prove(); err != nil {
								return nil, err
							}
						}
						return market.Proof("proof"), nil
					},
					OnExpiryUpdate: func(context.Context, string, int64) error { return nil },
				},
				Executor: exec, Rand: rand.New(rand.NewPCG(1, 2)), ReconcilePeriod: -1,
				OnTransition: func(_ market.RequestID, slot uint64, from, to statemachine.State, ev statemachine.Event) {
					logf(fmt.Sprintf("slot %d %s -%s-> %s", slot, from, ev, to))
					account()
				},
			})
		require.NoError(t, err)
		require.NoError(t, s.Start(ctx))
		account()
	}
	open()
	_, err = res.CreateAvailability(ctx, reservations.Availability{TotalSize: 10_000, Duration: 100_000,
		MinPricePerBytePerSecond: *u(1), TotalCollateral: *u(100_000), Enabled: true})
	require.NoError(t, err)
	account()
	req := market.StorageRequest{Client: client, Ask: market.StorageAsk{ProofProbability: *u(1),
		PricePerBytePerSecond: *u(1), CollateralPerByte: *u(2), Slots: sc.slots, SlotSize: 1000, Duration: 1000,
		MaxSlotLoss: 0}, Content: market.StorageContent{CID: "zScenario"}, Expiry: 300}
	id, err := m.RequestStorage(ctx, client, req)
	require.NoError(t, err)
	c := &scenarioCtx{m: m, clock: clock, id: id, restart: func() {
		logf("restart")
		require.NoError(t, s.Stop(ctx))
		exec.RunReady()
		require.NoError(t, repo.Close())
		open()
	}}
	if sc.actions != nil {
		sc.actions(c)
	}
	restarted := sc.restartIn == ""
	for i := 0; ; i++ {
		require.Less(t, i, 1_000_000)
		if exec.Step() {
			if !restarted {
				for _, a := range s.Agents() {
					if a.State() == sc.restartIn {
						restarted = true
						c.restart()
						break
					}
				}
			}
			continue
		}
		st, err := m.As(me).RequestState(ctx, id)
		require.NoError(t, err)
		if st.IsTerminal() && len(s.Agents()) == 0 {
			logf("request " + st.String())
			break
		}
		require.True(t, clock.Step(), "stuck")
	}
	require.True(t, restarted, "the sale reached %s", sc.restartIn)
	account()
	require.NoError(t, s.Stop(ctx))
	exec.RunReady()
	require.NoError(t, repo.Close())
	return strings.Join(lines, "\n") + "\n"
}

// Golden traces of the sale stories: the states, the market actions and
// every accounting change, with market time.
func TestScenarios(t *testing.T) {
	errDisk := errors.New("download failed")
	errProve := errors.New("prover crashed")
	scenarios := []scenario{
		{name: "happy", slots: 2},
		{name: "cancelled", slots: 2, actions: func(c *scenarioCtx) {
			// Other hosts fill slot 1's reservation list, so we cannot take
			// it, nobody fills it, and the request expires with slot 0 ours.
			for i := range 3 {
				require.NoError(t, c.m.As(market.Address{0x90, byte(i)}).ReserveSlot(context.Background(), c.id, 1))
			}
		}},
		{name: "cancelled-before-fill", slots: 2, actions: func(c *scenarioCtx) {
			c.clock.AfterFunc(start+1, func() { _ = c.m.CancelRequest(context.Background(), c.id) })
		}},
		{name: "failed", slots: 2, actions: func(c *scenarioCtx) {
			c.clock.AfterFunc(start+500, func() { _ = c.m.FailRequest(context.Background(), c.id) })
		}},
		{name: "filled-by-other", slots: 1, actions: func(c *scenarioCtx) {
			c.clock.AfterFunc(start+1, func() { _ = c.m.TakeSlot(context.Background(), other, c.id, 0) })
		}},
		{name: "download-error", slots: 1, store: func(uint64) error { return errDisk }},
		{name: "proof-error", slots: 1, prove: func() error { return errProve }},
	}
	// Restart in the middle of each state: the sale resumes (a slot we
	// filled is restored with its reservation) or ends with nothing leaked.
	for _, st := range []statemachine.State{sales.StatePreparing, sales.StateSlotReserving, sales.StateDownloading,
		sales.StateInitialProving, sales.StateFilling, sales.StateFilled, sales.StateProving, sales.StatePayout} {
		scenarios = append(scenarios, scenario{name: "restart-in-" + string(st), slots: 1, restartIn: st})
	}
	for _, sc := range scenarios {
		t.Run(sc.name, func(t *testing.T) {
			got := runScenario(t, sc)
			require.Equal(t, got, runScenario(t, sc), "the story replays exactly")
			golden(t, filepath.Join("testdata", "traces", sc.name+".txt"), got)
		})
	}
}
