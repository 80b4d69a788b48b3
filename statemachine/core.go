package statemachine

import (
	"context"
	"fmt"

	"github.com/looplab/fsm"
)

// Change describes one transition applied by a Core or a Machine.
type Change struct {
	// Event is the event that caused the transition. It is empty for the
	// entry into the initial state when a Machine starts.
	Event Event
	// From is the state left. It is empty when a Machine starts.
	From State
	// To is the state entered.
	To State
	// Generation identifies the instance of To that was entered: it
	// starts at 1 for the initial state and grows by one with every
	// transition, so two visits to the same state have different
	// generations.
	Generation uint64
}

// Core is the synchronous heart of a machine: the current state, its
// generation, and one looplab/fsm FSM used as the transition guard. It
// starts no goroutine, takes no lock of its own, reads no clock and does no
// IO; applying an event either moves it to the next state or returns why
// not, and the caller performs whatever the new state has to do. A Machine
// is a Core driven by an event queue and an Executor; a simulation or a
// test may drive a Core directly.
//
// Core is not safe for concurrent use: one owner calls it (in a Machine,
// whichever task currently holds the machine's step token). Its FSM is
// never shared, so looplab's internal mutexes are never contended.
type Core struct {
	t   *Table
	f   *fsm.FSM
	gen uint64
}

// NewCore returns a Core positioned at initial, with generation 1. It is
// also how a machine is restored: pass the persisted state name
// (STYLE.md §2.6; the FSM is built at that state, never moved there with
// SetState). It returns an error wrapping ErrUnknownState if initial is not
// a state of t.
func NewCore(t *Table, initial State) (*Core, error) {
	if !t.HasState(initial) {
		return nil, fmt.Errorf("%w: %q", ErrUnknownState, initial)
	}
	return &Core{t: t, f: t.newFSM(initial), gen: 1}, nil
}

// Table returns the table of the core.
func (c *Core) Table() *Table { return c.t }

// Current returns the current state.
func (c *Core) Current() State { return State(c.f.Current()) }

// Generation returns the generation of the current state instance (see
// Change.Generation).
func (c *Core) Generation() uint64 { return c.gen }

// Terminal reports whether the current state is terminal.
func (c *Core) Terminal() bool { return c.t.IsTerminal(c.Current()) }

// Check reports whether ev would move the core out of its current state:
// nil if so, otherwise an *EventError (ErrInvalidEvent) wrapping
// fsm.InvalidEventError (ev has no transition from here, including every
// event in a terminal state) or fsm.UnknownEventError (ev is not in the
// table). It asks looplab's guard (fsm.FSM.Can) and changes nothing.
func (c *Core) Check(ev Event) error {
	if c.f.Can(string(ev)) {
		return nil
	}
	return invalidEvent(c.t, ev, c.Current())
}

// Apply applies ev to the current state. On success it returns the Change
// and a nil error; the generation has grown by one. Otherwise the core is
// unchanged and the error is an *EventError (see Check) or, for a failure
// of looplab/fsm that cannot happen with a validated table, an error
// naming the event and the state.
//
// ctx supplies values only: it reaches looplab/fsm as
// context.WithoutCancel(ctx), because fsm.FSM.Event silently refuses to
// transition (returning ctx.Err()) when its context is done, and
// cancellation belongs to the runs of the states, not to the table. A nil
// ctx is taken as context.Background().
func (c *Core) Apply(ctx context.Context, ev Event) (Change, error) {
	from := c.Current()
	err := normalizeFSMError(c.f.Event(context.WithoutCancel(orBackground(ctx)), string(ev)), ev, from)
	if err != nil {
		return Change{}, err
	}
	to := c.Current()
	if to == from {
		// Unreachable: NewTable rejects self transitions, the only way
		// looplab reports success without moving.
		return Change{}, fmt.Errorf("statemachine: event %q in state %q did not transition", ev, from)
	}
	c.gen++
	return Change{Event: ev, From: from, To: to, Generation: c.gen}, nil
}

// ApplyAt applies ev only if the current state instance is still gen, the
// generation of the state whose run produced ev. If another event moved the
// core since, it returns ErrStaleEvent and changes nothing, so an event
// that arrived first wins (SPEC.md §4.1). Otherwise it behaves as Apply.
func (c *Core) ApplyAt(ctx context.Context, gen uint64, ev Event) (Change, error) {
	if gen != c.gen {
		return Change{}, staleError(ev, gen, c.Current(), c.gen)
	}
	return c.Apply(ctx, ev)
}
