package statemachine

import (
	"errors"
	"fmt"
	"strings"

	"github.com/looplab/fsm"
)

// Sentinel errors of the package. Every error the package returns is one of
// these or wraps one, so callers test with errors.Is.
var (
	// ErrInvalidTable matches every *TableError: NewTable found a problem in
	// a Spec, or New found a handler map that does not match its Table.
	ErrInvalidTable = errors.New("statemachine: invalid table")
	// ErrInvalidEvent matches every *EventError: an event that is not in
	// the table at all, or that has no transition from the current state.
	// A Machine ignores the second kind (SPEC.md §4.3) and reports it only
	// to Hooks.OnIgnored; Core returns it.
	ErrInvalidEvent = errors.New("statemachine: invalid event")
	// ErrStaleEvent reports an event produced by the run of a state
	// instance that is no longer current: another event moved the machine
	// first (SPEC.md §4.1). Core.ApplyAt returns it; a Machine ignores such
	// events and reports them to Hooks.OnIgnored.
	ErrStaleEvent = errors.New("statemachine: stale event")
	// ErrUnknownState is returned when a state that is not in the table is
	// given as an initial state (NewCore, Machine.Start, Table.Mermaid).
	ErrUnknownState = errors.New("statemachine: unknown state")
	// ErrNotStarted is returned by Machine.Schedule before Machine.Start.
	// The event is dropped.
	ErrNotStarted = errors.New("statemachine: not started")
	// ErrStopped is returned by Machine.Schedule and Machine.Start once the
	// machine was stopped or is done (its terminal state's run returned).
	// The event is dropped (SPEC.md §4.1: "scheduling into a stopped
	// machine is ignored").
	ErrStopped = errors.New("statemachine: stopped")
)

// EventError reports an event that cannot be applied in a state. It matches
// ErrInvalidEvent with errors.Is, and the looplab/fsm error it stands for
// with errors.As: fsm.InvalidEventError when the event exists but has no
// transition from State, fsm.UnknownEventError when the table has no such
// event.
type EventError struct {
	// Event is the refused event.
	Event Event
	// State is the state the machine was in.
	State State
	// Err is the looplab/fsm error: fsm.InvalidEventError or
	// fsm.UnknownEventError.
	Err error
}

// Error returns a message naming the event and the state.
func (e *EventError) Error() string {
	return fmt.Sprintf("%v: %q in state %q: %v", ErrInvalidEvent, e.Event, e.State, e.Err)
}

// Unwrap returns ErrInvalidEvent and the looplab/fsm error.
func (e *EventError) Unwrap() []error { return []error{ErrInvalidEvent, e.Err} }

// invalidEvent builds the *EventError for ev in state, using looplab's own
// error types: UnknownEventError when the table lacks ev, InvalidEventError
// otherwise.
func invalidEvent(t *Table, ev Event, state State) *EventError {
	var err error = fsm.InvalidEventError{Event: string(ev), State: string(state)}
	if !t.HasEvent(ev) {
		err = fsm.UnknownEventError{Event: string(ev)}
	}
	return &EventError{Event: ev, State: state, Err: err}
}

// TableErrorKind says what is wrong in a Spec or a handler map.
type TableErrorKind int

// The problems NewTable and New detect.
const (
	// KindNoStates: the Spec lists no state.
	KindNoStates TableErrorKind = iota + 1
	// KindEmptyName: a state or an event is the empty string.
	KindEmptyName
	// KindDuplicateState: a state is listed twice in States or in Terminal.
	KindDuplicateState
	// KindDuplicateEvent: an event is listed twice in Events.
	KindDuplicateEvent
	// KindUnknownState: a transition or Terminal names a state that is not
	// in States.
	KindUnknownState
	// KindUnknownEvent: a transition names an event that is not in Events.
	KindUnknownEvent
	// KindNoSource: a transition has no From state.
	KindNoSource
	// KindDuplicateTransition: the same (Event, From) pair appears in two
	// transitions. looplab/fsm would silently keep the last one.
	KindDuplicateTransition
	// KindSelfTransition: a transition leads from a state to itself.
	// looplab/fsm reports that as "no transition", so the state's run would
	// not restart; the package forbids it rather than guess.
	KindSelfTransition
	// KindTerminalHasTransition: a terminal state has an outgoing
	// transition.
	KindTerminalHasTransition
	// KindUnusedState: a state appears in no transition. looplab/fsm would
	// not know it, so the state sets would differ.
	KindUnusedState
	// KindUnusedEvent: an event appears in no transition. looplab/fsm would
	// report it as unknown.
	KindUnusedEvent
	// KindMissingHandler: New got no Handler (or a nil one) for a state.
	KindMissingHandler
	// KindUnknownHandler: New got a Handler for a state that is not in the
	// table.
	KindUnknownHandler
)

var kindText = map[TableErrorKind]string{
	KindNoStates:              "no states",
	KindEmptyName:             "empty state or event name",
	KindDuplicateState:        "duplicate state",
	KindDuplicateEvent:        "duplicate event",
	KindUnknownState:          "unknown state",
	KindUnknownEvent:          "unknown event",
	KindNoSource:              "transition without source state",
	KindDuplicateTransition:   "duplicate transition",
	KindSelfTransition:        "self transition",
	KindTerminalHasTransition: "terminal state has a transition",
	KindUnusedState:           "state in no transition",
	KindUnusedEvent:           "event in no transition",
	KindMissingHandler:        "no handler for state",
	KindUnknownHandler:        "handler for unknown state",
}

// String returns a short description of the kind.
func (k TableErrorKind) String() string {
	if s, ok := kindText[k]; ok {
		return s
	}
	return fmt.Sprintf("TableErrorKind(%d)", int(k))
}

// TableError reports one problem in a Spec (from NewTable) or in a handler
// map (from New). It matches ErrInvalidTable with errors.Is.
type TableError struct {
	// Kind says what is wrong.
	Kind TableErrorKind
	// State is the state concerned, if any.
	State State
	// Event is the event concerned, if any.
	Event Event
}

// Error returns a message naming the problem, the state and the event.
func (e *TableError) Error() string {
	var what []string
	if e.State != "" {
		what = append(what, fmt.Sprintf("state %q", e.State))
	}
	if e.Event != "" {
		what = append(what, fmt.Sprintf("event %q", e.Event))
	}
	if len(what) == 0 {
		return fmt.Sprintf("%v: %v", ErrInvalidTable, e.Kind)
	}
	return fmt.Sprintf("%v: %v: %s", ErrInvalidTable, e.Kind, strings.Join(what, ", "))
}

// Unwrap returns ErrInvalidTable.
func (e *TableError) Unwrap() error { return ErrInvalidTable }

// joinErrors returns the only error of errs, or errors.Join of all of them.
func joinErrors(errs []error) error {
	if len(errs) == 1 {
		return errs[0]
	}
	return errors.Join(errs...)
}

// normalizeFSMError maps what fsm.FSM.Event returned for ev in state to
// this package's errors, in one place (STYLE.md §2.4):
//
//   - nil, and fsm.NoTransitionError with a nil Err, are ok (nil);
//   - fsm.InvalidEventError and fsm.UnknownEventError become an
//     *EventError (ErrInvalidEvent) that wraps them;
//   - anything else (a NoTransitionError carrying an error, InTransition,
//     Canceled, Internal, a context error) is wrapped with the event and the
//     state. With no callbacks, no Async and context.WithoutCancel these
//     cannot happen.
func normalizeFSMError(err error, ev Event, state State) error {
	if err == nil {
		return nil
	}
	var noTrans fsm.NoTransitionError
	if errors.As(err, &noTrans) && noTrans.Err == nil {
		return nil
	}
	var invalid fsm.InvalidEventError
	var unknown fsm.UnknownEventError
	if errors.As(err, &invalid) || errors.As(err, &unknown) {
		return &EventError{Event: ev, State: state, Err: err}
	}
	return fmt.Errorf("statemachine: fsm: event %q in state %q: %w", ev, state, err)
}

// staleError reports ev, produced by the run of generation gen, arriving
// when the machine is in state, generation cur.
func staleError(ev Event, gen uint64, state State, cur uint64) error {
	return fmt.Errorf("%w: %q from generation %d, current state %q is generation %d",
		ErrStaleEvent, ev, gen, state, cur)
}
