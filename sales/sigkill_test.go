package sales_test

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hostsales/hostsales/market"
	"github.com/hostsales/hostsales/market/simmarket"
	"github.com/hostsales/hostsales/repostore"
	"github.com/hostsales/hostsales/repostore/badgerds"
	"github.com/hostsales/hostsales/reservations"
	"github.com/hostsales/hostsales/sales"
	"github.com/hostsales/hostsales/sim"
)

// world is a busy market and one node, run by the deterministic executor:
// the same seed gives the same run, step for step, whatever the repo
// (in memory or durable on disk).
type world struct {
	t     testing.TB
	m     *simmarket.Market
	clock *market.ManualClock
	exec  *sim.Executor
	repo  *repostore.Store
	res   *reservations.Reservations
	s     *sales.Sales
	ids   []market.RequestID
	seed  uint64
	steps int // steps completed (executor steps and clock moves)
}

const worldRequests = 8

func newWorld(t testing.TB, seed uint64, repoOpts *repostore.Options, path string) *world {
	ctx := context.Background()
	m, err := simmarket.New(&simmarket.Options{Seed: seed, Start: start, NoValidator: true,
		Competitors: []simmarket.Competitor{{Address: other, TakeProbability: 0.3, ReserveDelay: 5, FillDelay: 30}}})
	require.NoError(t, err)
	m.Mint(client, *u(1 << 50))
	m.Mint(me, *u(1 << 50))
	m.Mint(other, *u(1 << 50))
	w := &world{t: t, m: m, clock: m.Clock(), exec: sim.NewExecutor(seed), seed: seed}
	w.open(repoOpts, path)
	_, err = w.res.CreateAvailability(ctx, reservations.Availability{TotalSize: 8000, Duration: 100000,
		MinPricePerBytePerSecond: *u(1), TotalCollateral: *u(1 << 20), Enabled: true})
	require.NoError(t, err)
	for i := range worldRequests {
		w.clock.AfterFunc(int64(start+29*i), func() {
			req := market.StorageRequest{Client: client, Ask: market.StorageAsk{ProofProbability: *u(2),
				PricePerBytePerSecond: *u(1), CollateralPerByte: *u(1), Slots: uint64(1 + i%3), SlotSize: 1000,
				Duration: 1500, MaxSlotLoss: 1}, Content: market.StorageContent{CID: fmt.Sprintf("zKill%d", i)},
				Expiry: 400, Nonce: [32]byte{byte(i)}}
			id, err := m.RequestStorage(ctx, client, req)
			require.NoError(t, err)
			w.ids = append(w.ids, id)
			if i == 6 {
				w.clock.AfterFunc(int64(start+29*i+700), func() { _ = m.FailRequest(ctx, id) })
			}
		})
	}
	return w
}

// open starts a node on the repo at path (or the given datastore).
func (w *world) open(repoOpts *repostore.Options, path string) {
	ctx := context.Background()
	o := *repoOpts
	o.QuotaMaxBytes, o.Now = 1<<30, w.clock.Now
	repo, err := repostore.Open(path, &o)
	require.NoError(w.t, err)
	w.repo = repo
	w.res, err = reservations.New(ctx, repo, &reservations.Options{Rand: seeded{rand.New(rand.NewPCG(w.seed, 7))}})
	require.NoError(w.t, err)
	w.s, err = sales.New(sales.Deps{Market: w.m.As(me), Clock: sim.NewClock(w.clock, w.exec), Reservations: w.res},
		&sales.Options{
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
			MaxWorkers: 3, Executor: w.exec, Rand: rand.New(rand.NewPCG(w.seed, 8)), ReconcilePeriod: 600,
		})
	require.NoError(w.t, err)
	require.NoError(w.t, w.s.Start(ctx))
}

func (w *world) ended() bool {
	if len(w.ids) < worldRequests || len(w.s.Agents()) > 0 {
		return false
	}
	for _, id := range w.ids {
		if st, err := w.m.As(me).RequestState(context.Background(), id); err != nil || !st.IsTerminal() {
			return false
		}
	}
	return true
}

// step runs one executor step, or moves the clock when nothing is ready.
func (w *world) step() {
	if !w.exec.Step() {
		require.True(w.t, w.clock.Step(), "stuck")
	}
	w.steps++
}

// digest is a fingerprint of the market's state, to check that a replay
// followed the child's run.
func (w *world) digest() string {
	b := w.m.BalanceOf(me)
	c := w.m.BalanceOf(client)
	return fmt.Sprintf("%d/%s/%s", w.clock.Now(), b.Dec(), c.Dec())
}

// detach stops the node without letting it act on the market again and
// closes its repo.
func (w *world) detach() {
	require.NoError(w.t, w.s.Stop(context.Background()))
	w.exec.RunReady()
	require.NoError(w.t, w.repo.Close())
}

const killDirEnv = "HOSTSALES_SALES_KILL_DIR"
const killSeedEnv = "HOSTSALES_SALES_KILL_SEED"

// killChild runs the world on a durable badger repo in dir, printing
// "S n" after each completed step, until the parent kills it.
func killChild(dir, seedText string) {
	seed, _ := strconv.ParseUint(seedText, 10, 64)
	t := &childT{}
	w := newWorld(t, seed, &repostore.Options{}, dir)
	for !w.ended() {
		w.step()
		os.Stdout.WriteString("S " + strconv.Itoa(w.steps) + " " + w.digest() + "\n")
	}
	os.Stdout.WriteString("END\n")
	os.Exit(0)
}

// childT lets the world run outside a test: a failed check ends the
// process with a message the parent prints.
type childT struct{ testing.TB }

func (c *childT) Helper() {}
func (c *childT) Errorf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, format+"\n", args...)
}
func (c *childT) FailNow() { os.Exit(4) }

// The real crash: a child process runs a busy market on a durable repo
// and is killed with SIGKILL at a random step. The market cannot be
// killed with it, so the parent rebuilds it by replaying the same
// deterministic run through the step that was in flight (every market
// effect of that step happened; which of its commits reached the disk is
// up to the kill, as with a real chain). Then a new node opens the
// child's data directory on that market, restores, and every request runs
// to its end: I1-I5 hold, nothing leaked.
func TestSIGKILLMidRun(t *testing.T) {
	rng := rand.New(rand.NewPCG(4, 4))
	points := 6
	if testing.Short() {
		points = 2
	}
	if v := os.Getenv("HOSTSALES_CRASH_POINTS"); v != "" {
		points, _ = strconv.Atoi(v)
	}
	for p := range points {
		seed := uint64(p)
		dry := newWorld(t, seed, &repostore.Options{Badger: &badgerds.Options{InMemory: true}, NoSync: true}, "")
		for !dry.ended() {
			dry.step()
		}
		dry.detach()
		killAt := 1 + rng.IntN(dry.steps-1)
		t.Run(fmt.Sprintf("seed=%d/step=%d", seed, killAt), func(t *testing.T) { killAndRecover(t, seed, killAt) })
	}
}

func killAndRecover(t *testing.T, seed uint64, killAt int) {
	dir := t.TempDir()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), killDirEnv+"="+dir, killSeedEnv+"="+strconv.FormatUint(seed, 10))
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.StdoutPipe()
	require.NoError(t, err)
	require.NoError(t, cmd.Start())
	done, killed := 0, false
	digests := map[int]string{}
	sc := bufio.NewScanner(out)
	for sc.Scan() {
		var n int
		var d string
		if _, err := fmt.Sscanf(sc.Text(), "S %d %s", &n, &d); err == nil {
			done, digests[n] = n, d
		}
		if done >= killAt && !killed {
			require.NoError(t, cmd.Process.Signal(syscall.SIGKILL))
			killed = true
		}
	}
	err = cmd.Wait()
	var exit *exec.ExitError
	require.True(t, errors.As(err, &exit), "child ended on its own: %v\n%s", err, stderr.String())
	ws, ok := exit.Sys().(syscall.WaitStatus)
	require.True(t, ok && ws.Signaled() && ws.Signal() == syscall.SIGKILL, "child was not killed: %v\n%s", err, stderr.String())
	require.True(t, killed && done >= killAt, "killed at step %d of %d", done, killAt)

	// The market as the child left it: replay through the step in flight.
	w := newWorld(t, seed, &repostore.Options{Badger: &badgerds.Options{InMemory: true}, NoSync: true}, "")
	for w.steps < done+1 && !w.ended() {
		w.step()
		if d, ok := digests[w.steps]; ok {
			require.Equal(t, d, w.digest(), "the replay follows the child's run at step %d", w.steps)
		}
	}
	w.detach()
	w.open(&repostore.Options{}, dir)
	for i := 0; !w.ended(); i++ {
		require.Less(t, i, 500_000)
		w.step()
	}
	_, err = w.s.Reconcile(context.Background())
	require.NoError(t, err)
	all, err := w.res.Reservations(context.Background())
	require.NoError(t, err)
	assert.Empty(t, all, "no reservation outlives its sale")
	for _, a := range w.res.Availabilities() {
		assert.Equal(t, a.TotalSize, a.FreeSize, "I5: bytes back")
		assert.False(t, a.TotalRemainingCollateral.Gt(&a.TotalCollateral), "I1")
	}
	q := w.repo.Quota()
	assert.Equal(t, uint64(0), q.Used, "no sale data left")
	assert.Equal(t, uint64(8000), q.Reserved, "I3: only the availability is reserved")
	w.detach()
}
