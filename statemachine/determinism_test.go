package statemachine_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"pgregory.net/rapid"

	sm "github.com/hostsales/hostsales/statemachine"
)

// coopExecutor is a miniature of the simulation's executor (DESIGN.md
// "Determinism"): every task gets a goroutine, but only one runs at a time,
// and the executor picks the next one with a seeded RNG (or FIFO without
// one). A task gives the turn back by returning, by Park (wait until a
// context is done) or by Yield (go to the back of the ready list). Because
// a machine's own tasks never block and a cancellation is visible through
// ctx.Err() as soon as the cancelling task returns, the same seed and the
// same driver script give the same run, every time.
type coopExecutor struct {
	rng *rand.Rand // nil: FIFO

	mu      sync.Mutex
	ready   []*coopTask
	parked  []*coopTask
	current *coopTask
	turn    chan struct{} // the running task hands the turn back here
}

type coopTask struct {
	f       func()
	started bool
	resume  chan struct{}
	ctx     context.Context // what a parked task waits for
}

func newCoopExecutor(seed uint64, random bool) *coopExecutor {
	e := &coopExecutor{turn: make(chan struct{})}
	if random {
		e.rng = rand.New(rand.NewPCG(seed, seed^0x5eed))
	}
	return e
}

func (e *coopExecutor) Go(f func()) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.ready = append(e.ready, &coopTask{f: f, resume: make(chan struct{})})
}

// Step runs one task until it returns, parks or yields. It reports false
// when no task can run.
func (e *coopExecutor) Step() bool {
	e.mu.Lock()
	kept := e.parked[:0]
	for _, t := range e.parked {
		if t.ctx.Err() != nil {
			e.ready = append(e.ready, t)
		} else {
			kept = append(kept, t)
		}
	}
	e.parked = kept
	if len(e.ready) == 0 {
		e.mu.Unlock()
		return false
	}
	i := 0
	if e.rng != nil {
		i = e.rng.IntN(len(e.ready))
	}
	t := e.ready[i]
	e.ready = slices.Delete(e.ready, i, i+1)
	e.current = t
	e.mu.Unlock()
	if t.started {
		t.resume <- struct{}{}
	} else {
		t.started = true
		go func() {
			<-t.resume
			t.f()
			e.turn <- struct{}{}
		}()
		t.resume <- struct{}{}
	}
	<-e.turn
	return true
}

// RunUntilIdle steps until no task can run.
func (e *coopExecutor) RunUntilIdle() {
	for e.Step() {
	}
}

// Park, called from a task, gives the turn back until ctx is done.
func (e *coopExecutor) Park(ctx context.Context) {
	e.mu.Lock()
	t := e.current
	t.ctx = ctx
	e.parked = append(e.parked, t)
	e.mu.Unlock()
	e.turn <- struct{}{}
	<-t.resume
}

// Yield, called from a task, gives the turn back and stays ready.
func (e *coopExecutor) Yield() {
	e.mu.Lock()
	t := e.current
	e.ready = append(e.ready, t)
	e.mu.Unlock()
	e.turn <- struct{}{}
	<-t.resume
}

func (e *coopExecutor) pending() int {
	e.mu.Lock()
	defer e.mu.Unlock()
	return len(e.ready) + len(e.parked)
}

// deterministicScenario runs three machines over the example table on one
// coopExecutor and returns the trace of all of them. Preparing returns
// download at once; Downloading works for two turns and then reports
// slotFilled even if cancelled meanwhile; Filled waits a turn and finishes. The driver injects outside
// events at fixed step counts, so whether an outside event or a run's event
// wins depends only on the executor's choices.
func deterministicScenario(t *testing.T, seed uint64, random bool) []string {
	exec := newCoopExecutor(seed, random)
	tbl := exampleTable(t)
	var trace []string // tasks run one at a time: no lock needed
	add := func(format string, args ...any) { trace = append(trace, fmt.Sprintf(format, args...)) }

	var ms []*sm.Machine[string]
	for i := range 3 {
		name := fmt.Sprintf("m%d", i)
		hs := map[sm.State]sm.Handler[string]{
			Preparing: sm.HandlerFunc[string](func(ctx context.Context, _ sm.Step[string]) sm.Step[string] {
				add("%s run Preparing", name)
				return sm.Next(EvDownload, "")
			}),
			Downloading: sm.HandlerFunc[string](func(ctx context.Context, _ sm.Step[string]) sm.Step[string] {
				// Uncancellable work: it finishes even when the state was
				// left, and its event is then stale.
				exec.Yield()
				exec.Yield()
				add("%s run Downloading done, ctx: %v", name, ctx.Err())
				return sm.Next(EvSlotFilled, "bytes")
			}),
			Filled: sm.HandlerFunc[string](func(ctx context.Context, _ sm.Step[string]) sm.Step[string] {
				exec.Yield()
				return sm.Next(EvFinish, "")
			}),
		}
		for _, s := range []sm.State{Finished, Cancelled, Errored} {
			hs[s] = sm.HandlerFunc[string](func(ctx context.Context, _ sm.Step[string]) sm.Step[string] {
				add("%s run %s", name, s)
				return sm.None[string]()
			})
		}
		m, err := sm.New(tbl, hs, &sm.Options[string]{
			Executor: exec,
			Hooks: sm.Hooks[string]{
				OnTransition: func(c sm.Change, p string) {
					if c.From == "" {
						add("%s enter %s (gen %d)", name, c.To, c.Generation)
						return
					}
					add("%s %s -> %s on %s (gen %d) %q", name, c.From, c.To, c.Event, c.Generation, p)
				},
				OnIgnored: func(s sm.State, ev sm.Event, reason error) {
					add("%s ignored %s in %s: %s", name, ev, s, reasonKind(reason))
				},
			},
		})
		require.NoError(t, err)
		ms = append(ms, m)
	}

	steps := func(n int) {
		for range n {
			if !exec.Step() {
				return
			}
		}
	}
	for _, m := range ms {
		require.NoError(t, m.Start(context.Background(), Preparing))
	}
	steps(5)
	require.NoError(t, ms[1].Schedule(EvCancelled))
	steps(4)
	require.NoError(t, ms[2].Schedule(EvSlotFilled))
	require.NoError(t, ms[0].Schedule(EvErrored))
	exec.RunUntilIdle()

	// Stop without blocking, then let the executor finish the work.
	stopped, cancel := context.WithCancel(context.Background())
	cancel()
	for _, m := range ms {
		_ = m.Stop(stopped)
	}
	exec.RunUntilIdle()
	for _, m := range ms {
		select {
		case <-m.Done():
		default:
			t.Fatal("machine not done")
		}
	}
	require.Zero(t, exec.pending())
	return trace
}

// TestDeterministicExecutorReplays runs the same scenario twice per seed
// under a step-by-step executor and expects identical traces; different
// seeds explore different interleavings.
func TestDeterministicExecutorReplays(t *testing.T) {
	fifo := deterministicScenario(t, 0, false)
	assert.Equal(t, fifo, deterministicScenario(t, 0, false))
	// The FIFO order is kept as a golden trace: the outside cancelled and
	// errored win over the Downloading runs, whose slotFilled is stale.
	golden(t, "deterministic_fifo.txt", joinLines(fifo))

	distinct := map[string]bool{joinLines(fifo): true}
	for seed := range uint64(20) {
		a := deterministicScenario(t, seed, true)
		b := deterministicScenario(t, seed, true)
		require.Equal(t, a, b, "seed %d does not replay", seed)
		distinct[joinLines(a)] = true
	}
	assert.Greater(t, len(distinct), 2, "the seeds should explore different interleavings")
}

func joinLines(lines []string) string { return strings.Join(lines, "\n") + "\n" }

// TestMachineMatchesCoreUnderAnyInterleaving: when only outside events
// drive a machine (runs park until cancelled), whatever order a seeded
// executor picks, the machine applies exactly what a Core applies to the
// same events in the same order.
func TestMachineMatchesCoreUnderAnyInterleaving(t *testing.T) {
	tbl := cyclicTable(t)
	rapid.Check(t, func(rt *rapid.T) {
		exec := newCoopExecutor(rapid.Uint64().Draw(rt, "seed"), true)
		var got []sm.Change
		hs := map[sm.State]sm.Handler[string]{}
		for _, s := range tbl.States() {
			hs[s] = sm.HandlerFunc[string](func(ctx context.Context, _ sm.Step[string]) sm.Step[string] {
				exec.Park(ctx)
				return sm.None[string]()
			})
		}
		m, err := sm.New(tbl, hs, &sm.Options[string]{
			Executor: exec,
			Hooks:    sm.Hooks[string]{OnTransition: func(c sm.Change, _ string) { got = append(got, c) }},
		})
		require.NoError(rt, err)
		require.NoError(rt, m.Start(context.Background(), "A"))
		core, err := sm.NewCore(tbl, "A")
		require.NoError(rt, err)
		want := []sm.Change{{To: "A", Generation: 1}}

		events := rapid.SliceOf(rapid.SampledFrom(tbl.Events())).Draw(rt, "events")
		gaps := rapid.SliceOfN(rapid.IntRange(0, 3), len(events), len(events)).Draw(rt, "gaps")
		for i, ev := range events {
			require.NoError(rt, m.Schedule(ev))
			if c, err := core.Apply(context.Background(), ev); err == nil {
				want = append(want, c)
			}
			for range gaps[i] {
				exec.Step()
			}
		}
		exec.RunUntilIdle()
		require.Equal(rt, want, got)
		require.Equal(rt, core.Current(), m.State())

		cancelled, cancel := context.WithCancel(context.Background())
		cancel()
		_ = m.Stop(cancelled)
		exec.RunUntilIdle()
		<-m.Done()
	})
}
