package statemachine_test

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/looplab/fsm"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	sm "github.com/hostsales/hostsales/statemachine"
)

// recorder collects a trace of hook calls and handler activity.
type recorder struct {
	mu    sync.Mutex
	lines []string
}

func (r *recorder) add(format string, args ...any) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.lines = append(r.lines, fmt.Sprintf(format, args...))
}

func (r *recorder) trace() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.lines...)
}

// reasonKind names why an event was ignored.
func reasonKind(err error) string {
	switch {
	case errors.Is(err, sm.ErrStaleEvent):
		return "stale"
	case errors.Is(err, sm.ErrInvalidEvent):
		return "invalid"
	default:
		return "other: " + err.Error()
	}
}

// traceHooks records every transition and every ignored event.
func traceHooks(r *recorder) sm.Hooks[string] {
	return sm.Hooks[string]{
		OnTransition: func(c sm.Change, payload string) {
			if c.From == "" {
				r.add("enter %s (gen %d)", c.To, c.Generation)
				return
			}
			r.add("%s -> %s on %s (gen %d) %q", c.From, c.To, c.Event, c.Generation, payload)
		},
		OnIgnored: func(s sm.State, ev sm.Event, reason error) {
			r.add("ignored %s in %s: %s", ev, s, reasonKind(reason))
		},
	}
}

// blocking is a handler that logs its start, waits for its context to be
// cancelled, logs that, and returns None.
func blocking(r *recorder, s sm.State) sm.Handler[string] {
	return sm.HandlerFunc[string](func(ctx context.Context, entry sm.Step[string]) sm.Step[string] {
		r.add("run %s start", s)
		<-ctx.Done()
		r.add("run %s cancelled", s)
		return sm.None[string]()
	})
}

// returning is a handler that logs its run and returns step.
func returning(r *recorder, s sm.State, step sm.Step[string]) sm.Handler[string] {
	return sm.HandlerFunc[string](func(ctx context.Context, entry sm.Step[string]) sm.Step[string] {
		r.add("run %s", s)
		return step
	})
}

// newMachine builds a machine over the example table: every non-terminal
// state blocks until cancelled and every terminal state returns None,
// unless overridden.
func newMachine(t *testing.T, r *recorder, override map[sm.State]sm.Handler[string], opts *sm.Options[string]) *sm.Machine[string] {
	t.Helper()
	tbl := exampleTable(t)
	hs := make(map[sm.State]sm.Handler[string])
	for _, s := range tbl.States() {
		if tbl.IsTerminal(s) {
			hs[s] = returning(r, s, sm.None[string]())
		} else {
			hs[s] = blocking(r, s)
		}
	}
	for s, h := range override {
		hs[s] = h
	}
	if opts == nil {
		opts = &sm.Options[string]{Hooks: traceHooks(r)}
	}
	m, err := sm.New(tbl, hs, opts)
	require.NoError(t, err)
	return m
}

func stop(t *testing.T, m *sm.Machine[string]) {
	t.Helper()
	require.NoError(t, m.Stop(context.Background()))
}

// Events scheduled one after another are applied one at a time, in order;
// each transition waits for the previous state's run to return.
func TestMachineSerializesEvents(t *testing.T) {
	r := &recorder{}
	gate := make(chan struct{}) // holds the terminal run until all is scheduled
	m := newMachine(t, r, map[sm.State]sm.Handler[string]{
		Finished: sm.HandlerFunc[string](func(context.Context, sm.Step[string]) sm.Step[string] {
			<-gate
			r.add("run Finished")
			return sm.None[string]()
		}),
	}, nil)
	ctx := context.Background()
	require.NoError(t, m.Start(ctx, Preparing))
	for _, ev := range []sm.Event{EvDownload, EvDownload, EvSlotFilled, EvFinish, EvCancelled} {
		require.NoError(t, m.Schedule(ev))
	}
	close(gate)
	<-m.Done()
	assert.Equal(t, Finished, m.State())
	// Hooks and runs are on different tasks, so where an "ignored" line
	// falls among the run lines is a race; the rest is fixed.
	got := r.trace()
	assert.Equal(t, []string{
		"enter Preparing (gen 1)",
		"run Preparing start",
		"run Preparing cancelled",
		`Preparing -> Downloading on download (gen 2) ""`,
		"run Downloading start",
		"run Downloading cancelled",
		`Downloading -> Filled on slotFilled (gen 3) ""`,
		"run Filled start",
		"run Filled cancelled",
		`Filled -> Finished on finish (gen 4) ""`,
		"run Finished",
	}, without(got, "ignored "))
	assert.Contains(t, got, "ignored download in Downloading: invalid")
	assert.Contains(t, got, "ignored cancelled in Finished: invalid")
	stop(t, m)
}

// without drops the lines that start with prefix.
func without(lines []string, prefix string) []string {
	var out []string
	for _, l := range lines {
		if len(l) < len(prefix) || l[:len(prefix)] != prefix {
			out = append(out, l)
		}
	}
	return out
}

// cyclicTable has no terminal state, so a machine over it runs until
// stopped.
func cyclicTable(t testing.TB) *sm.Table {
	t.Helper()
	tbl, err := sm.NewTable(sm.Spec{
		States: []sm.State{"A", "B", "C"},
		Events: []sm.Event{"next", "back", "reset"},
		Transitions: []sm.Transition{
			{Event: "next", From: []sm.State{"A"}, To: "B"},
			{Event: "next", From: []sm.State{"B"}, To: "C"},
			{Event: "next", From: []sm.State{"C"}, To: "A"},
			{Event: "back", From: []sm.State{"B"}, To: "A"},
			{Event: "back", From: []sm.State{"C"}, To: "B"},
			{Event: "reset", From: []sm.State{"B", "C"}, To: "A"},
		},
	})
	require.NoError(t, err)
	return tbl
}

// Many goroutines schedule events while runs return events of their own:
// hooks never overlap, at most one run executes at any time, every applied
// transition starts where the previous one ended, and every event is
// either applied or reported as ignored.
func TestMachineConcurrentSchedulers(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		tbl := cyclicTable(t)
		events := tbl.Events()
		var (
			inHook, runs, produced atomic.Int64
			applied, ignored       atomic.Int64
			mu                     sync.Mutex
			last                   sm.Change
			broken                 []string
		)
		fail := func(format string, args ...any) {
			mu.Lock()
			broken = append(broken, fmt.Sprintf(format, args...))
			mu.Unlock()
		}
		hooks := sm.Hooks[string]{
			OnTransition: func(c sm.Change, _ string) {
				if inHook.Add(1) != 1 {
					fail("overlapping hooks")
				}
				if c.From != "" {
					if c.From != last.To || c.Generation != last.Generation+1 {
						fail("transition %+v does not follow %+v", c, last)
					}
					applied.Add(1)
				}
				last = c
				inHook.Add(-1)
			},
			OnIgnored: func(sm.State, sm.Event, error) {
				if inHook.Add(1) != 1 {
					fail("overlapping hooks")
				}
				ignored.Add(1)
				inHook.Add(-1)
			},
		}
		hs := make(map[sm.State]sm.Handler[string])
		for i, s := range tbl.States() {
			rng := rand.New(rand.NewPCG(uint64(i), 1))
			var rngMu sync.Mutex
			hs[s] = sm.HandlerFunc[string](func(ctx context.Context, _ sm.Step[string]) sm.Step[string] {
				if runs.Add(1) != 1 {
					fail("two runs at once")
				}
				defer runs.Add(-1)
				rngMu.Lock()
				n := rng.IntN(4)
				rngMu.Unlock()
				if n == 0 {
					produced.Add(1)
					rngMu.Lock()
					ev := events[rng.IntN(len(events))]
					rngMu.Unlock()
					return sm.Next(ev, "run")
				}
				<-ctx.Done()
				return sm.None[string]()
			})
		}
		m, err := sm.New(tbl, hs, &sm.Options[string]{Hooks: hooks})
		require.NoError(t, err)
		require.NoError(t, m.Start(context.Background(), "A"))

		const schedulers, perScheduler = 8, 200
		var wg sync.WaitGroup
		for g := range schedulers {
			wg.Go(func() {
				rng := rand.New(rand.NewPCG(uint64(g), 2))
				for range perScheduler {
					assert.NoError(t, m.Schedule(events[rng.IntN(len(events))]))
				}
			})
		}
		wg.Wait()
		synctest.Wait() // every queued event has been handled
		stop(t, m)

		assert.Empty(t, broken)
		assert.Equal(t, int64(schedulers*perScheduler)+produced.Load(), applied.Load()+ignored.Load())
		assert.Positive(t, applied.Load())
	})
}

// On a transition the running state's context is cancelled, and the next
// state's run starts only after the cancelled run has returned.
func TestMachineCancelsAndAwaitsRunBeforeNextState(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r := &recorder{}
		start := time.Now()
		var downloadingStarted time.Duration
		m := newMachine(t, r, map[sm.State]sm.Handler[string]{
			Preparing: sm.HandlerFunc[string](func(ctx context.Context, _ sm.Step[string]) sm.Step[string] {
				r.add("run Preparing start")
				<-ctx.Done()
				r.add("run Preparing ctx: %v", ctx.Err())
				time.Sleep(time.Second) // slow cleanup after cancellation
				r.add("run Preparing return")
				return sm.None[string]()
			}),
			Downloading: sm.HandlerFunc[string](func(ctx context.Context, _ sm.Step[string]) sm.Step[string] {
				downloadingStarted = time.Since(start)
				r.add("run Downloading start, ctx: %v", ctx.Err())
				<-ctx.Done()
				return sm.None[string]()
			}),
		}, nil)
		require.NoError(t, m.Start(context.Background(), Preparing))
		synctest.Wait()
		require.NoError(t, m.Schedule(EvDownload))
		synctest.Wait()
		// The transition is decided but waits for the run to return.
		assert.Equal(t, Preparing, m.State())
		assert.Equal(t, []string{
			"enter Preparing (gen 1)",
			"run Preparing start",
			"run Preparing ctx: context canceled",
		}, r.trace())

		time.Sleep(time.Second)
		synctest.Wait()
		assert.Equal(t, Downloading, m.State())
		assert.Equal(t, []string{
			"enter Preparing (gen 1)",
			"run Preparing start",
			"run Preparing ctx: context canceled",
			"run Preparing return",
			`Preparing -> Downloading on download (gen 2) ""`,
			"run Downloading start, ctx: <nil>",
		}, r.trace())
		assert.Equal(t, time.Second, downloadingStarted)
		stop(t, m)
	})
}

// SPEC.md §4.1: an event returned by a run applies only to the state
// instance that produced it. Here an outside event moves the machine while
// the Preparing run is still finishing; the run's slotFilled would be
// allowed from Downloading too, but it is stale and ignored.
func TestMachineStaleRunEventIgnored(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r := &recorder{}
		release := make(chan struct{})
		m := newMachine(t, r, map[sm.State]sm.Handler[string]{
			Preparing: sm.HandlerFunc[string](func(ctx context.Context, _ sm.Step[string]) sm.Step[string] {
				r.add("run Preparing start")
				<-release // ignores ctx on purpose, like an uncancellable step
				r.add("run Preparing returns slotFilled")
				return sm.Next(EvSlotFilled, "from Preparing")
			}),
			Downloading: sm.HandlerFunc[string](func(ctx context.Context, _ sm.Step[string]) sm.Step[string] {
				<-ctx.Done()
				return sm.None[string]()
			}),
		}, nil)
		require.NoError(t, m.Start(context.Background(), Preparing))
		synctest.Wait()
		require.NoError(t, m.Schedule(EvDownload)) // arrives first: wins
		synctest.Wait()
		close(release)
		synctest.Wait()
		assert.Equal(t, Downloading, m.State())
		assert.Equal(t, []string{
			"enter Preparing (gen 1)",
			"run Preparing start",
			"run Preparing returns slotFilled",
			`Preparing -> Downloading on download (gen 2) ""`,
			"ignored slotFilled in Downloading: stale",
		}, r.trace())

		// The same event from outside is not stale.
		require.NoError(t, m.Schedule(EvSlotFilled))
		synctest.Wait()
		assert.Equal(t, Filled, m.State())
		stop(t, m)
	})
}

// A run's event that is not stale applies, and its payload reaches the next
// state's run and the hook.
func TestMachineRunEventAndPayload(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r := &recorder{}
		m := newMachine(t, r, map[sm.State]sm.Handler[string]{
			Preparing: returning(r, Preparing, sm.Next(EvDownload, "reservation-1")),
			Downloading: sm.HandlerFunc[string](func(ctx context.Context, entry sm.Step[string]) sm.Step[string] {
				r.add("run Downloading entry %s %q", entry.Event, entry.Payload)
				return sm.Next(EvSlotFilled, entry.Payload+"+bytes")
			}),
			Errored: sm.HandlerFunc[string](func(ctx context.Context, entry sm.Step[string]) sm.Step[string] {
				r.add("run Errored entry %s %q", entry.Event, entry.Payload)
				return sm.None[string]()
			}),
		}, nil)
		require.NoError(t, m.Start(context.Background(), Preparing))
		synctest.Wait()
		require.NoError(t, m.ScheduleStep(sm.Next(EvErrored, "boom")))
		<-m.Done()
		assert.Equal(t, []string{
			"enter Preparing (gen 1)",
			"run Preparing",
			`Preparing -> Downloading on download (gen 2) "reservation-1"`,
			`run Downloading entry download "reservation-1"`,
			`Downloading -> Filled on slotFilled (gen 3) "reservation-1+bytes"`,
			"run Filled start",
			"run Filled cancelled",
			`Filled -> Errored on errored (gen 4) "boom"`,
			`run Errored entry errored "boom"`,
		}, r.trace())
		assert.Equal(t, Errored, m.State())
		stop(t, m)
	})
}

// An event with no transition from the current state is ignored: the
// state's run goes on. An event the table lacks is refused by Schedule.
func TestMachineIgnoresEventsWithoutTransition(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r := &recorder{}
		var reasons []error
		hooks := traceHooks(r)
		hooks.OnIgnored = func(s sm.State, ev sm.Event, reason error) {
			reasons = append(reasons, reason)
			r.add("ignored %s in %s: %s", ev, s, reasonKind(reason))
		}
		m := newMachine(t, r, nil, &sm.Options[string]{Hooks: hooks})
		require.NoError(t, m.Start(context.Background(), Downloading))
		synctest.Wait()
		require.NoError(t, m.Schedule(EvDownload))
		require.NoError(t, m.Schedule(EvFinish))
		synctest.Wait()
		assert.Equal(t, Downloading, m.State())
		assert.Equal(t, []string{
			"enter Downloading (gen 1)",
			"run Downloading start",
			"ignored download in Downloading: invalid",
			"ignored finish in Downloading: invalid",
		}, r.trace())
		require.Len(t, reasons, 2)
		var inv fsm.InvalidEventError
		require.ErrorAs(t, reasons[0], &inv)
		assert.Equal(t, fsm.InvalidEventError{Event: "download", State: "Downloading"}, inv)

		err := m.Schedule("finsh")
		require.ErrorIs(t, err, sm.ErrInvalidEvent)
		var unk fsm.UnknownEventError
		require.ErrorAs(t, err, &unk)
		var ee *sm.EventError
		require.ErrorAs(t, err, &ee)
		assert.Equal(t, Downloading, ee.State)
		err = m.Schedule("")
		assert.ErrorIs(t, err, sm.ErrInvalidEvent)
		synctest.Wait()
		assert.Len(t, r.trace(), 4)
		stop(t, m)
	})
}

// A terminal state runs once; events meanwhile are ignored; when its run
// returns the machine is done and refuses new events.
func TestMachineTerminalState(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r := &recorder{}
		gate := make(chan struct{})
		var finishedRuns atomic.Int32
		m := newMachine(t, r, map[sm.State]sm.Handler[string]{
			Preparing: returning(r, Preparing, sm.Next(EvSlotFilled, "")),
			Filled:    returning(r, Filled, sm.Next(EvFinish, "")),
			Finished: sm.HandlerFunc[string](func(ctx context.Context, _ sm.Step[string]) sm.Step[string] {
				finishedRuns.Add(1)
				r.add("run Finished")
				<-gate
				return sm.Next(EvErrored, "") // nothing leaves a terminal state
			}),
		}, nil)
		require.NoError(t, m.Start(context.Background(), Preparing))
		synctest.Wait()
		assert.Equal(t, Finished, m.State())
		require.NoError(t, m.Schedule(EvCancelled))
		synctest.Wait()
		select {
		case <-m.Done():
			t.Fatal("done before the terminal run returned")
		default:
		}
		close(gate)
		<-m.Done()
		assert.Equal(t, []string{
			"enter Preparing (gen 1)",
			"run Preparing",
			`Preparing -> Filled on slotFilled (gen 2) ""`,
			"run Filled",
			`Filled -> Finished on finish (gen 3) ""`,
			"run Finished",
			"ignored cancelled in Finished: invalid",
			"ignored errored in Finished: invalid",
		}, r.trace())
		assert.Equal(t, int32(1), finishedRuns.Load())
		assert.Equal(t, Finished, m.State())
		assert.ErrorIs(t, m.Schedule(EvCancelled), sm.ErrStopped)
		assert.NoError(t, m.Start(context.Background(), Preparing), "Start is idempotent")
		assert.Equal(t, Finished, m.State())
		stop(t, m)
		assert.Equal(t, sm.State(""), m.State())
		assert.Equal(t, int32(1), finishedRuns.Load())
	})
}

// The initial state may be terminal: it runs once and the machine is done.
func TestMachineStartInTerminalState(t *testing.T) {
	r := &recorder{}
	m := newMachine(t, r, nil, nil)
	require.NoError(t, m.Start(context.Background(), Cancelled))
	<-m.Done()
	assert.Equal(t, []string{"enter Cancelled (gen 1)", "run Cancelled"}, r.trace())
	stop(t, m)
}

func TestMachineStartStopIdempotent(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r := &recorder{}
		m := newMachine(t, r, nil, nil)
		assert.Equal(t, sm.State(""), m.State())
		assert.ErrorIs(t, m.Schedule(EvDownload), sm.ErrNotStarted)
		assert.ErrorIs(t, m.Start(context.Background(), "Nowhere"), sm.ErrUnknownState)

		require.NoError(t, m.Start(context.Background(), Preparing))
		require.NoError(t, m.Start(context.Background(), Downloading))
		synctest.Wait()
		assert.Equal(t, Preparing, m.State())
		assert.Equal(t, []string{"enter Preparing (gen 1)", "run Preparing start"}, r.trace())

		stop(t, m)
		stop(t, m)
		assert.Equal(t, sm.State(""), m.State())
		assert.ErrorIs(t, m.Start(context.Background(), Preparing), sm.ErrStopped)
		assert.ErrorIs(t, m.Schedule(EvDownload), sm.ErrStopped)
		<-m.Done()
		assert.Equal(t, []string{"enter Preparing (gen 1)", "run Preparing start", "run Preparing cancelled"}, r.trace())
	})
}

func TestMachineStopBeforeStart(t *testing.T) {
	r := &recorder{}
	m := newMachine(t, r, nil, nil)
	stop(t, m)
	<-m.Done()
	assert.ErrorIs(t, m.Start(context.Background(), Preparing), sm.ErrStopped)
	assert.ErrorIs(t, m.Schedule(EvDownload), sm.ErrStopped)
	assert.Empty(t, r.trace())
}

// Stop while a run blocks: the run's context is cancelled, Stop waits for
// it, nothing is left running, and no transition is reported.
func TestMachineStopDuringBlockedRun(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r := &recorder{}
		m := newMachine(t, r, nil, nil)
		require.NoError(t, m.Start(context.Background(), Preparing))
		require.NoError(t, m.Schedule(EvDownload))
		synctest.Wait()
		stop(t, m)
		select {
		case <-m.Done():
		default:
			t.Fatal("Done not closed after Stop")
		}
		assert.Equal(t, []string{
			"enter Preparing (gen 1)",
			"run Preparing start",
			"run Preparing cancelled",
			`Preparing -> Downloading on download (gen 2) ""`,
			"run Downloading start",
			"run Downloading cancelled",
		}, r.trace())
	})
}

// A run that takes its time to honour cancellation: Stop gives up when its
// own ctx ends, and a later Stop waits for the rest.
func TestMachineStopWaitsForSlowRun(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r := &recorder{}
		start := time.Now()
		m := newMachine(t, r, map[sm.State]sm.Handler[string]{
			Preparing: sm.HandlerFunc[string](func(ctx context.Context, _ sm.Step[string]) sm.Step[string] {
				<-ctx.Done()
				time.Sleep(5 * time.Second)
				r.add("run Preparing returned after %v", time.Since(start))
				return sm.Next(EvDownload, "")
			}),
		}, nil)
		require.NoError(t, m.Start(context.Background(), Preparing))
		synctest.Wait()

		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		assert.ErrorIs(t, m.Stop(ctx), context.DeadlineExceeded)
		assert.Equal(t, sm.State(""), m.State())
		assert.ErrorIs(t, m.Schedule(EvDownload), sm.ErrStopped)

		stop(t, m)
		assert.Equal(t, 5*time.Second, time.Since(start))
		assert.Equal(t, []string{"enter Preparing (gen 1)", "run Preparing returned after 5s"}, r.trace())
	})
}

// Start's context supplies values to the runs but its cancellation does not
// reach them: only transitions and Stop cancel a run.
func TestMachineStartContextValuesOnly(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		type key struct{}
		r := &recorder{}
		m := newMachine(t, r, map[sm.State]sm.Handler[string]{
			Preparing: sm.HandlerFunc[string](func(ctx context.Context, _ sm.Step[string]) sm.Step[string] {
				r.add("value %v", ctx.Value(key{}))
				<-ctx.Done()
				r.add("cancelled")
				return sm.None[string]()
			}),
		}, nil)
		ctx, cancel := context.WithCancel(context.WithValue(context.Background(), key{}, "sale-7"))
		require.NoError(t, m.Start(ctx, Preparing))
		cancel()
		synctest.Wait()
		assert.Equal(t, []string{"enter Preparing (gen 1)", "value sale-7"}, r.trace())
		stop(t, m)
		assert.Equal(t, []string{"enter Preparing (gen 1)", "value sale-7", "cancelled"}, r.trace())
	})
}

func TestNewChecksHandlers(t *testing.T) {
	tbl := exampleTable(t)
	noop := sm.HandlerFunc[int](func(context.Context, sm.Step[int]) sm.Step[int] { return sm.None[int]() })
	hs := map[sm.State]sm.Handler[int]{}
	for _, s := range tbl.States() {
		hs[s] = noop
	}
	_, err := sm.New(tbl, hs, nil)
	require.NoError(t, err)

	delete(hs, Filled)
	hs[Finished] = nil
	hs["Filed"] = noop
	_, err = sm.New(tbl, hs, nil)
	require.ErrorIs(t, err, sm.ErrInvalidTable)
	assert.Equal(t, []sm.TableError{
		{Kind: sm.KindMissingHandler, State: Filled},
		{Kind: sm.KindMissingHandler, State: Finished},
		{Kind: sm.KindUnknownHandler, State: "Filed"},
	}, tableErrors(t, err))

	_, err = sm.New[int](nil, nil, nil)
	assert.ErrorIs(t, err, sm.ErrInvalidTable)
}

// queueExecutor holds tasks until the test runs them: it shows that a
// machine does all its work through its Executor.
type queueExecutor struct {
	mu    sync.Mutex
	tasks []func()
}

func (e *queueExecutor) Go(f func()) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.tasks = append(e.tasks, f)
}

// runOne runs the oldest task on the calling goroutine.
func (e *queueExecutor) runOne() bool {
	e.mu.Lock()
	if len(e.tasks) == 0 {
		e.mu.Unlock()
		return false
	}
	f := e.tasks[0]
	e.tasks = e.tasks[1:]
	e.mu.Unlock()
	f()
	return true
}

func (e *queueExecutor) len() int {
	e.mu.Lock()
	defer e.mu.Unlock()
	return len(e.tasks)
}

func TestMachineWorksOnlyThroughExecutor(t *testing.T) {
	r := &recorder{}
	exec := &queueExecutor{}
	m := newMachine(t, r, map[sm.State]sm.Handler[string]{
		Preparing: returning(r, Preparing, sm.Next(EvDownload, "")),
		Downloading: sm.HandlerFunc[string](func(ctx context.Context, _ sm.Step[string]) sm.Step[string] {
			r.add("run Downloading, ctx %v", ctx.Err())
			return sm.None[string]()
		}),
	}, &sm.Options[string]{Executor: exec, Hooks: traceHooks(&recorder{})})
	require.NoError(t, m.Start(context.Background(), Preparing))
	require.NoError(t, m.Schedule(EvCancelled)) // queued behind the entry
	assert.Empty(t, r.trace(), "nothing runs until the executor runs it")
	assert.Equal(t, 1, exec.len(), "one step task")

	require.True(t, exec.runOne()) // step: enter Preparing, submit its run, then cancelled: cancel the run and wait
	assert.Equal(t, 1, exec.len(), "the run task")
	require.True(t, exec.runOne()) // run Preparing (cancelled, returns download), then step: Cancelled, stale download
	assert.Equal(t, []string{"run Preparing"}, r.trace())
	assert.Equal(t, Cancelled, m.State())
	require.True(t, exec.runOne()) // run Cancelled; the machine is done
	<-m.Done()

	// Stop with a cancelled ctx never blocks; here the machine is done
	// already, so it returns nil.
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	assert.NoError(t, m.Stop(ctx))
	assert.False(t, exec.runOne())
}

// A driver that runs the tasks itself stops a machine without blocking:
// Stop with a cancelled ctx, then run what is left until Done.
func TestMachineStopUnderManualExecutor(t *testing.T) {
	r := &recorder{}
	exec := &queueExecutor{}
	m := newMachine(t, r, map[sm.State]sm.Handler[string]{
		Preparing: returning(r, Preparing, sm.None[string]()),
	}, &sm.Options[string]{Executor: exec, Hooks: traceHooks(r)})
	require.NoError(t, m.Start(context.Background(), Preparing))
	require.True(t, exec.runOne()) // step: enter, submit the run

	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	assert.ErrorIs(t, m.Stop(ctx), context.Canceled)
	select {
	case <-m.Done():
		t.Fatal("done while a task is pending")
	default:
	}
	for exec.runOne() {
	}
	<-m.Done()
	assert.NoError(t, m.Stop(ctx))
	assert.Equal(t, []string{"enter Preparing (gen 1)", "run Preparing"}, r.trace())
}

// Several machines may share one GoExecutor; its owner waits for all of
// them.
func TestSharedGoExecutor(t *testing.T) {
	exec := &sm.GoExecutor{}
	var ms []*sm.Machine[string]
	for range 4 {
		r := &recorder{}
		m := newMachine(t, r, nil, &sm.Options[string]{Executor: exec, Hooks: traceHooks(r)})
		require.NoError(t, m.Start(context.Background(), Preparing))
		require.NoError(t, m.Schedule(EvSlotFilled))
		ms = append(ms, m)
	}
	for _, m := range ms {
		stop(t, m)
	}
	exec.Wait()
}

// A nil context is taken as context.Background(), never a panic.
func TestMachineNilContext(t *testing.T) {
	var nilCtx context.Context
	r := &recorder{}
	m := newMachine(t, r, nil, nil)
	require.NoError(t, m.Start(nilCtx, Cancelled))
	<-m.Done()
	require.NoError(t, m.Stop(nilCtx))

	c, err := sm.NewCore(exampleTable(t), Preparing)
	require.NoError(t, err)
	_, err = c.Apply(nilCtx, EvDownload)
	require.NoError(t, err)
}
