package statemachine

import (
	"context"
	"slices"
	"sync"
)

// Step is an event together with its payload. A Handler's Run returns the
// Step that leaves its state (or None), and receives the Step that entered
// it, so data travels with the event into the next state (the proof into
// SaleFilling, the error into SaleErrored, ...).
type Step[P any] struct {
	// Event is the event. The empty Event means "no event" (see None).
	Event Event
	// Payload is handed to the Run of the state the event leads to.
	Payload P
}

// Next returns the Step for ev carrying payload.
func Next[P any](ev Event, payload P) Step[P] { return Step[P]{Event: ev, Payload: payload} }

// None returns the empty Step: the state's run leaves the state to the
// events that come from outside (or, in a terminal state, ends the
// machine).
func None[P any]() Step[P] { return Step[P]{} }

// IsNone reports whether s carries no event.
func (s Step[P]) IsNone() bool { return s.Event == "" }

// Handler is the behaviour of one state: what the state does while the
// machine is in it (SPEC.md §4.1 "run").
type Handler[P any] interface {
	// Run is called on a run task (see Executor) each time the machine
	// enters the state, after the transition was applied and
	// Hooks.OnTransition returned, and never while the run of another
	// state of the same machine is still executing. entry is the Step that
	// entered the state; for the initial state of Machine.Start it is the
	// empty Step.
	//
	// ctx is cancelled when the machine leaves the state because of another
	// event, and when the machine is stopped; its values come from the
	// context given to Machine.Start. Run must then return promptly; what
	// it returns after cancellation is ignored in practice, because the
	// state instance it belongs to is gone (by convention it returns None).
	//
	// Run returns the Step that leaves the state, or None to stay until an
	// outside event arrives. The returned event is queued behind the events
	// already scheduled and applies only if the machine is still in this
	// same state instance when its turn comes; otherwise it is ignored as
	// stale. Run never fails: a state turns its own errors into an event
	// (SPEC.md §4.1: "run never raises"). Run may call Machine.Schedule and
	// Machine.State, but never Machine.Stop, which would wait for Run
	// itself.
	Run(ctx context.Context, entry Step[P]) Step[P]
}

// HandlerFunc adapts a function to the Handler interface.
type HandlerFunc[P any] func(ctx context.Context, entry Step[P]) Step[P]

// Run calls f(ctx, entry).
func (f HandlerFunc[P]) Run(ctx context.Context, entry Step[P]) Step[P] { return f(ctx, entry) }

// Hooks are optional callbacks a Machine invokes from its step task, one at
// a time and in the order of the events, with no lock held. They must be
// quick and must not call back into the machine (Stop in particular would
// wait for the hook itself). A nil field is skipped.
type Hooks[P any] struct {
	// OnTransition is called after each transition is applied to the Core
	// and before the new state's Run starts, so a caller can persist the
	// transition (a per-sale event log) before the state acts on it. The
	// entry into the initial state on Start is reported too, with an empty
	// From and Event. payload is the payload of the event. If Stop is
	// called meanwhile, the new state's Run may not start.
	OnTransition func(c Change, payload P)
	// OnIgnored is called for each event that is dropped without effect:
	// an event with no transition from the current state, including every
	// event in a terminal state (reason is an *EventError, ErrInvalidEvent),
	// and an event returned by the run of a state instance that is no
	// longer current (reason wraps ErrStaleEvent). state is the current
	// state. Events dropped because the machine stopped or finished are not
	// reported.
	OnIgnored func(state State, ev Event, reason error)
}

// Options configure a Machine. The zero value (or a nil *Options) is valid.
type Options[P any] struct {
	// Executor runs the machine's tasks. If nil, the machine uses its own
	// GoExecutor, and Stop also waits for its goroutines to exit.
	Executor Executor
	// Hooks observe the machine.
	Hooks Hooks[P]
}

// Machine is the asynchronous state machine of SPEC.md §4.1: a Core, a
// queue of events, and the run of the current state.
//
// Events are applied one at a time, in the order they were scheduled. When
// an event moves the machine (looplab/fsm's guard allows it from the
// current state), the machine cancels the context of the current state's
// Run, waits for that Run to return, applies the transition, calls
// Hooks.OnTransition and starts the new state's Run. An event that the
// current state has no transition for is ignored. An event returned by a
// Run applies only to the state instance that produced it (see
// Change.Generation), so an outside event that arrives first wins. When
// the Run of a terminal state returns, the machine is done.
//
// A Machine is safe for concurrent use. It starts no goroutine itself: all
// of its work runs as tasks of its Executor. P is the type of the payload
// that events carry into the next state.
type Machine[P any] struct {
	t        *Table
	handlers map[State]Handler[P]
	exec     Executor
	own      *GoExecutor // exec, when the machine created it
	hooks    Hooks[P]
	done     chan struct{}

	// Owned by the holder of the step token (mu.stepping). At most one
	// step task runs at a time and the token passes under mu, so these
	// need no lock of their own. core and base are set by Start, under mu,
	// before the first step task.
	core    *Core
	base    context.Context
	pending *item[P] // accepted event waiting for the current Run to return

	// mu guards the fields below. It is never held while user code runs
	// (Run, hooks) nor across Executor.Go.
	mu struct {
		sync.Mutex
		started  bool
		stopped  bool // Stop was called
		finished bool // the terminal state's Run returned
		closed   bool // done is closed
		// startPending: the entry into the initial state is not yet
		// reported nor its Run started.
		startPending bool
		// stepping: a step task is scheduled or running (the step token).
		stepping bool
		queue    []item[P]
		state    State // mirror of core.Current() for State; "" when stopped
		// running: the current state's Run has not returned yet.
		running   bool
		runCancel context.CancelFunc
		// exited: the Run of generation exitGen returned and no step task
		// has looked at it yet (its event, if any, is already queued).
		exited  bool
		exitGen uint64
	}
}

// item is a queued event. gen is the generation of the state instance whose
// Run produced it, or 0 for an event scheduled from outside.
type item[P any] struct {
	step Step[P]
	gen  uint64
}

// New returns a machine over t. handlers must hold exactly one non-nil
// Handler per state of t (a typo in a key would otherwise leave a state
// without behaviour); every problem is reported as a *TableError
// (ErrInvalidTable), joined. The machine does nothing until Start.
func New[P any](t *Table, handlers map[State]Handler[P], opts *Options[P]) (*Machine[P], error) {
	if t == nil {
		return nil, &TableError{Kind: KindNoStates}
	}
	var errs []error
	for _, s := range t.states {
		if handlers[s] == nil {
			errs = append(errs, &TableError{Kind: KindMissingHandler, State: s})
		}
	}
	var unknown []State
	for s := range handlers {
		if !t.HasState(s) {
			unknown = append(unknown, s)
		}
	}
	slices.Sort(unknown)
	for _, s := range unknown {
		errs = append(errs, &TableError{Kind: KindUnknownHandler, State: s})
	}
	if len(errs) > 0 {
		return nil, joinErrors(errs)
	}
	if opts == nil {
		opts = &Options[P]{}
	}
	m := &Machine[P]{
		t:        t,
		handlers: make(map[State]Handler[P], len(handlers)),
		exec:     opts.Executor,
		hooks:    opts.Hooks,
		done:     make(chan struct{}),
	}
	for s, h := range handlers {
		m.handlers[s] = h
	}
	if m.exec == nil {
		m.own = &GoExecutor{}
		m.exec = m.own
	}
	return m, nil
}

// Table returns the machine's table.
func (m *Machine[P]) Table() *Table { return m.t }

// Start enters initial and starts its Run: Hooks.OnTransition reports the
// entry (empty From and Event), then the Run begins, both on a step task;
// events scheduled after Start returns are applied after the entry. Start
// does not block.
//
// Start is idempotent: once a machine was started, later calls return nil
// and do nothing, whatever their initial state. It returns ErrStopped after
// Stop, and an error wrapping ErrUnknownState if initial is not in the
// table. To restore a machine, Start it in the persisted state.
//
// ctx supplies values (a logger, trace ids) to the contexts of every Run;
// its cancellation is ignored. The machine's life is ended by Stop, or by
// its terminal state. A nil ctx is taken as context.Background().
func (m *Machine[P]) Start(ctx context.Context, initial State) error {
	ctx = orBackground(ctx)
	m.mu.Lock()
	if m.mu.stopped {
		m.mu.Unlock()
		return ErrStopped
	}
	if m.mu.started {
		m.mu.Unlock()
		return nil
	}
	core, err := NewCore(m.t, initial)
	if err != nil {
		m.mu.Unlock()
		return err
	}
	m.core = core
	m.base = context.WithoutCancel(ctx)
	m.mu.started = true
	m.mu.state = initial
	m.mu.startPending = true
	kick := m.kickLocked()
	m.mu.Unlock()
	if kick {
		m.exec.Go(m.step)
	}
	return nil
}

// Schedule queues ev with a zero payload; see ScheduleStep.
func (m *Machine[P]) Schedule(ev Event) error { return m.ScheduleStep(Step[P]{Event: ev}) }

// ScheduleStep queues s.Event, with its payload, behind the events already
// queued, and returns without waiting for it to be applied. A nil result
// means only that the event was queued: when its turn comes it may still be
// ignored (no transition from the state the machine is then in; see
// Hooks.OnIgnored).
//
// It returns an *EventError (ErrInvalidEvent, wrapping
// fsm.UnknownEventError) if the table has no such event, ErrNotStarted
// before Start, and ErrStopped after Stop or once the machine is done; in
// each case nothing is queued. It never blocks on the machine's work, and
// may be called from any goroutine, including a Handler's Run.
func (m *Machine[P]) ScheduleStep(s Step[P]) error {
	m.mu.Lock()
	if !m.t.HasEvent(s.Event) {
		err := invalidEvent(m.t, s.Event, m.mu.state)
		m.mu.Unlock()
		return err
	}
	switch {
	case m.mu.stopped || m.mu.finished:
		m.mu.Unlock()
		return ErrStopped
	case !m.mu.started:
		m.mu.Unlock()
		return ErrNotStarted
	}
	m.mu.queue = append(m.mu.queue, item[P]{step: s})
	kick := m.kickLocked()
	m.mu.Unlock()
	if kick {
		m.exec.Go(m.step)
	}
	return nil
}

// State returns the current state: the last state entered, which may be a
// step ahead of what Hooks.OnTransition has reported while a hook runs. It
// returns "" before Start and after Stop (SPEC.md §4.1), and the terminal
// state once the machine is done by itself. Safe from any goroutine.
func (m *Machine[P]) State() State {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.mu.state
}

// Done returns a channel that is closed when the machine has ended and
// none of its tasks is running any more: after the Run of a terminal state
// returned, or after Stop. State tells the two apart: the terminal state,
// or "" after Stop.
func (m *Machine[P]) Done() <-chan struct{} { return m.done }

// Stop ends the machine: it drops the queued events, cancels the context of
// the current state's Run, sets the state to "", and waits until no task of
// the machine is running (Done is closed) and, if the machine runs on its
// own GoExecutor, until its goroutines have exited. Later Schedule and
// Start calls return ErrStopped. Stop is idempotent and safe from any
// goroutine except the machine's own tasks (a Run or a hook), where it
// would wait for itself.
//
// If ctx ends first, Stop returns ctx.Err(); the machine is still stopping
// and a later Stop (or Done) waits for the rest. A driver that runs the
// machine's tasks itself, one at a time, can call Stop with an
// already-cancelled ctx to stop without blocking, then run the remaining
// tasks until Done is closed. A nil ctx is taken as context.Background().
func (m *Machine[P]) Stop(ctx context.Context) error {
	ctx = orBackground(ctx)
	m.mu.Lock()
	if !m.mu.stopped {
		m.mu.stopped = true
		m.mu.queue = nil
		m.mu.exited = false
		m.mu.state = ""
		if m.mu.runCancel != nil {
			m.mu.runCancel()
		}
		m.closeIfIdleLocked()
	}
	m.mu.Unlock()
	select {
	case <-m.done:
	default:
		select {
		case <-m.done:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	if m.own != nil {
		// Every task has passed its last use of the machine; this only
		// waits for their goroutines to return.
		m.own.Wait()
	}
	return nil
}

// orBackground returns ctx, or context.Background() if ctx is nil.
func orBackground(ctx context.Context) context.Context {
	if ctx == nil {
		return context.Background()
	}
	return ctx
}

// kickLocked takes the step token if it is free and reports whether the
// caller must submit a step task (after unlocking mu).
func (m *Machine[P]) kickLocked() bool {
	if m.mu.stepping {
		return false
	}
	m.mu.stepping = true
	return true
}

// releaseLocked gives the step token back.
func (m *Machine[P]) releaseLocked() {
	m.mu.stepping = false
	m.closeIfIdleLocked()
}

// closeIfIdleLocked closes done once the machine has ended and neither a
// step task nor a Run is active.
func (m *Machine[P]) closeIfIdleLocked() {
	if (m.mu.stopped || m.mu.finished) && !m.mu.stepping && !m.mu.running && !m.mu.closed {
		m.mu.closed = true
		close(m.done)
	}
}

// step is the step task: it holds the step token and applies queued work
// until there is none, or until it must wait for the current Run to return
// (the Run's task then continues as the step task).
func (m *Machine[P]) step() {
	for {
		m.mu.Lock()
		if m.mu.stopped || m.mu.finished {
			m.releaseLocked()
			m.mu.Unlock()
			return
		}
		if m.mu.exited {
			m.mu.exited = false
			if m.mu.exitGen == m.core.Generation() && m.core.Terminal() {
				// The machine is done. Whatever is still queued could
				// only be ignored; report it, in order, so every event
				// Schedule accepted is accounted for.
				m.mu.finished = true
				rest := m.mu.queue
				m.mu.queue = nil
				m.mu.Unlock()
				for _, it := range rest {
					m.handle(it, false, nil)
				}
				continue
			}
		}
		if m.mu.startPending {
			m.mu.startPending = false
			m.mu.Unlock()
			c := Change{To: m.core.Current(), Generation: m.core.Generation()}
			var zero P
			if m.hooks.OnTransition != nil {
				m.hooks.OnTransition(c, zero)
			}
			m.startRun(c, Step[P]{})
			continue
		}
		if m.pending != nil {
			if m.mu.running {
				// The Run was cancelled; its task resumes stepping.
				m.releaseLocked()
				m.mu.Unlock()
				return
			}
			it := *m.pending
			m.pending = nil
			m.mu.Unlock()
			m.transition(it)
			continue
		}
		if len(m.mu.queue) == 0 {
			m.releaseLocked()
			m.mu.Unlock()
			return
		}
		it := m.mu.queue[0]
		m.mu.queue[0] = item[P]{}
		m.mu.queue = m.mu.queue[1:]
		running, cancel := m.mu.running, m.mu.runCancel
		m.mu.Unlock()
		m.handle(it, running, cancel)
	}
}

// handle decides what a queued event does: nothing (stale, or no
// transition from here), a transition now, or, while the current Run is
// still executing, a cancellation of that Run and a transition once it has
// returned.
func (m *Machine[P]) handle(it item[P], running bool, cancel context.CancelFunc) {
	ev := it.step.Event
	if it.gen != 0 && it.gen != m.core.Generation() {
		m.ignored(ev, staleError(ev, it.gen, m.core.Current(), m.core.Generation()))
		return
	}
	if err := m.core.Check(ev); err != nil {
		m.ignored(ev, err)
		return
	}
	if running {
		cancel()
		m.pending = &it
		return
	}
	m.transition(it)
}

// transition applies an accepted event once no Run is executing, reports
// it and starts the new state's Run.
func (m *Machine[P]) transition(it item[P]) {
	c, err := m.core.Apply(m.base, it.step.Event)
	if err != nil {
		m.ignored(it.step.Event, err) // unreachable: Check accepted it
		return
	}
	m.mu.Lock()
	if m.mu.stopped {
		m.mu.Unlock()
		return
	}
	m.mu.state = c.To
	m.mu.Unlock()
	if m.hooks.OnTransition != nil {
		m.hooks.OnTransition(c, it.step.Payload)
	}
	m.startRun(c, it.step)
}

// startRun submits the Run of the state just entered, unless the machine
// was stopped meanwhile.
func (m *Machine[P]) startRun(c Change, entry Step[P]) {
	h := m.handlers[c.To]
	m.mu.Lock()
	if m.mu.stopped {
		m.mu.Unlock()
		return
	}
	ctx, cancel := context.WithCancel(m.base)
	m.mu.running = true
	m.mu.runCancel = cancel
	m.mu.Unlock()
	m.exec.Go(func() { m.run(ctx, cancel, h, c.Generation, entry) })
}

// run is the run task of one state instance.
func (m *Machine[P]) run(ctx context.Context, cancel context.CancelFunc, h Handler[P], gen uint64, entry Step[P]) {
	out := h.Run(ctx, entry)
	cancel()
	m.mu.Lock()
	m.mu.running = false
	m.mu.runCancel = nil
	if m.mu.stopped {
		m.closeIfIdleLocked()
		m.mu.Unlock()
		return
	}
	// SPEC.md §4.1: the returned event is scheduled when the run returns,
	// behind the events already queued.
	if !out.IsNone() {
		m.mu.queue = append(m.mu.queue, item[P]{step: out, gen: gen})
	}
	m.mu.exited = true
	m.mu.exitGen = gen
	if m.mu.stepping {
		m.mu.Unlock()
		return
	}
	m.mu.stepping = true
	m.mu.Unlock()
	m.step()
}

// ignored reports a dropped event to Hooks.OnIgnored.
func (m *Machine[P]) ignored(ev Event, reason error) {
	if m.hooks.OnIgnored != nil {
		m.hooks.OnIgnored(m.core.Current(), ev, reason)
	}
}
