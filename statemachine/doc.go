// Package statemachine is the small generic asynchronous state machine that
// drives every sale (SPEC.md §4.1; the sale states themselves live in
// package sales). It is layer 1 and imports no other hostsales package.
//
// A machine has a current state, a queue of events, and the run of the
// current state. Events are applied one at a time, in order. When an event
// leads somewhere from the current state, the machine cancels the current
// state's run, waits for it to return, enters the new state and starts the
// new state's run. When a run returns an event, that event is queued and
// applies only if the machine is still in the same state instance, so an
// outside event that arrives first wins and stale transitions are ignored.
// An event with no transition from the current state is ignored (SPEC.md
// §4.3: "a dash means the event is ignored"). A terminal state runs once;
// then the machine is done.
//
// # Usage
//
// The owner of a kind of machine (sales, for the sale machine) does this:
//
//  1. Declare the states and events as typed constants (State, Event) and
//     describe the machine in a Spec: states, events, transitions
//     {Event, From, To} and terminal states. Build the Table once with
//     NewTable and share it: NewTable rejects unknown names, duplicate or
//     self transitions, terminal states with outgoing transitions and
//     unused names, each as a *TableError (ErrInvalidTable).
//  2. Keep testdata/<name>.mmd as the golden output of Table.Mermaid, so a
//     change to the table is a reviewable diff (STYLE.md §2.8), and test
//     the table against looplab with Table.FSMEvents (STYLE.md §2.5).
//  3. Write one Handler per state. Run(ctx, entry) does the state's work
//     and returns the Step that leaves the state, with a payload for the
//     next state (Next), or None. It never fails: it turns its own errors
//     into an event (an "errored" event carrying the error). It returns
//     promptly once ctx is cancelled.
//  4. Per instance (per sale), create a Machine with New(table, handlers,
//     opts), passing an Executor (nil: the machine's own goroutines) and
//     Hooks. Hooks.OnTransition runs before the new state's Run starts:
//     persist the transition there (an event log, a state name), then a
//     crash never leaves effects of a state that was not recorded.
//  5. Start(ctx, initial). To restore after a restart, Start in the
//     persisted state: the looplab FSM is built at that state
//     (NewFSM(persisted)), never moved with SetState (STYLE.md §2.6).
//  6. Deliver outside events with Schedule (or ScheduleStep, with a
//     payload) from any goroutine. It never blocks on the machine.
//  7. Wait for Done, and call Stop(ctx) when the owner stops. Stop cancels
//     the current run and returns once none of the machine's tasks runs.
//     Never call Stop from a Run or a hook: it would wait for itself.
//
// A minimal machine:
//
//	table, err := statemachine.NewTable(statemachine.Spec{
//		States:      []statemachine.State{Idle, Busy, Done},
//		Events:      []statemachine.Event{Work, Finish},
//		Transitions: []statemachine.Transition{
//			{Event: Work, From: []statemachine.State{Idle}, To: Busy},
//			{Event: Finish, From: []statemachine.State{Busy}, To: Done},
//		},
//		Terminal: []statemachine.State{Done},
//	})
//	m, err := statemachine.New(table, handlers, &statemachine.Options[Input]{
//		Hooks: statemachine.Hooks[Input]{OnTransition: persist},
//	})
//	err = m.Start(ctx, Idle)
//	err = m.Schedule(Work)
//	<-m.Done()
//	err = m.Stop(ctx)
//
// # looplab/fsm as the table and the guard only
//
// looplab/fsm v1.0.3 holds the transition table and answers "may this
// event happen now, and where does it lead" (STYLE.md §2). The package
// builds each FSM with no callbacks at all, never uses Async, always passes
// context.WithoutCancel (with a cancelled context fsm.FSM.Event refuses the
// transition and leaves the FSM wedged in a half-made transition, so every
// later event fails), gives each machine its own FSM touched by one task at
// a time, and translates looplab's errors in one place:
// fsm.NoTransitionError with a nil Err is ok, fsm.InvalidEventError and
// fsm.UnknownEventError become an *EventError that matches ErrInvalidEvent
// and still unwraps to them with errors.As. Effects never run inside
// looplab; the caller performs them after the transition, as in etcd's
// raft.
//
// # Core and Machine; who runs what
//
// Core is the pure, synchronous part: a Table, a looplab FSM, and the
// generation of the current state instance. Apply moves it or says why
// not; ApplyAt refuses an event from an older generation (ErrStaleEvent).
// It has no goroutines, locks, clock or IO, so it can be driven directly by
// a test or a simulation, and it is what a model-based test compares
// against.
//
// Machine wraps a Core with the event queue and the runs. It never uses
// the go statement: everything runs as a task of its Executor. There are
// two kinds of task. A step task holds the machine's step token (at most
// one per machine) and applies queued events to the Core, calls the hooks
// and submits runs; it never blocks, and gives the token back when the
// queue is empty or when it must wait for a cancelled run to return. A
// run task calls a Handler's Run; when Run returns, its event is queued and
// the same task continues as the step task, so a transition driven by a
// run costs no extra task. There is no long-lived loop goroutine per
// machine, because a goroutine parked on a channel cannot be seen, let
// alone scheduled, by a simulation's executor.
//
// In production the Executor is a GoExecutor (goroutines tracked by a
// WaitGroup). A deterministic simulation (DESIGN.md "Determinism") supplies
// its own: it runs one ready task at a time, chosen with a seeded RNG, and
// treats a run that waits on the simulated clock or market as parked until
// the simulation wakes it. This works because the machine's own tasks never
// block, the only blocking code is inside handlers (which the simulation
// controls), and a run's cancellation is visible through ctx.Err() as soon
// as the cancelling step task returns. The same seed and scenario then
// replay exactly; the package's tests do this with a small cooperative
// executor. Such a driver stops a machine without blocking by calling Stop
// with an already-cancelled context and running the remaining tasks until
// Done is closed.
//
// # Why Machine is generic
//
// Machine[P] carries a payload of type P with every event into the next
// state's Run (SPEC.md's SaleFilling(proof), SaleErrored(error),
// SaleIgnored(reprocessSlot, returnsCollateral)). A type parameter keeps
// that payload typed end to end: sales defines one input struct and never
// type-asserts an any. The table itself (State, Event, Table, Core) is not
// generic, so one Table serves machines of any payload type.
//
// # Terminal states
//
// A terminal state has no outgoing transition, so it ignores every event,
// and the machine is done once its Run returns (Done is closed, State stays
// the terminal state, Schedule returns ErrStopped). A state whose Run may
// still move on (in SPEC.md, SaleFailed leads to SaleErrored, and the
// cleanup states fall into SaleErrored on an error) is not terminal: give
// it its outgoing transitions and let its owner Stop the machine, as the
// reference does after cleanup.
//
// # Concurrency and errors
//
// Table is immutable and safe for concurrent use. Core is not safe for
// concurrent use. Machine is safe for concurrent use; its mutex is never
// held while handlers or hooks run, nor across Executor.Go. Hooks are
// called from the step task, one at a time, in event order; they must be
// quick and must not call back into the machine. Every error the package
// returns matches one of its sentinels (ErrInvalidTable, ErrInvalidEvent,
// ErrStaleEvent, ErrUnknownState, ErrNotStarted, ErrStopped) with
// errors.Is. The package never reads the clock and never panics on misuse
// (a nil context is taken as context.Background()); it does not recover a
// panic raised by a handler or a hook.
package statemachine
