package statemachine

import (
	"fmt"
	"slices"
	"strings"

	"github.com/looplab/fsm"
)

// State names a state of a machine, for example "SaleDownloading". Define
// the states of a machine as typed constants; the empty State means "no
// state" (a machine that is not started or was stopped).
type State string

// Event names an event of a machine, for example "slotFilled". Define the
// events of a machine as typed constants. The empty Event is never a valid
// event: a Step whose Event is empty means "no event".
type Event string

// Transition is one row of a transition table: in any of the states From,
// the event Event moves the machine to To. It is handed to looplab/fsm as
// an fsm.EventDesc{Name: Event, Src: From, Dst: To}.
type Transition struct {
	// Event is the event that triggers the transition. It must be listed in
	// Spec.Events.
	Event Event
	// From lists the source states, at least one. Each must be listed in
	// Spec.States, and each (Event, From[i]) pair must appear in one
	// Transition only.
	From []State
	// To is the destination state. It must be listed in Spec.States and
	// differ from every state in From.
	To State
}

// Spec is the declarative description of a machine: its states, its events,
// its transitions and its terminal states. It is plain data; NewTable checks
// it and turns it into an immutable *Table. States and events are typed
// constants, and every name a transition uses must be declared, so a typo is
// reported by NewTable instead of being silently ignored by looplab/fsm.
//
// An event with no transition from the current state is ignored by a
// Machine (SPEC.md §4.3: "a dash means the event is ignored"), so a Spec
// lists only the transitions that happen.
type Spec struct {
	// States lists every state, in the order used by Table.States.
	States []State
	// Events lists every event, in the order used by Table.Events.
	Events []Event
	// Transitions is the transition table.
	Transitions []Transition
	// Terminal lists the states in which a machine ends: once the run of a
	// terminal state returns, the machine is done. A terminal state has no
	// outgoing transition, so every event in it is ignored.
	Terminal []State
}

// Table is a validated, immutable transition table built by NewTable. It is
// safe for concurrent use, and one Table is meant to be shared by every
// machine of a kind (one per sale, for example).
type Table struct {
	states      []State
	events      []Event
	transitions []Transition
	terminal    []State // sorted

	stateSet    map[State]bool
	eventSet    map[Event]bool
	terminalSet map[State]bool
	next        map[tkey]State
	fsmEvents   fsm.Events
}

type tkey struct {
	ev   Event
	from State
}

// NewTable validates s and returns the table it describes. It reports every
// problem it finds, joined with errors.Join; each one is a *TableError that
// matches ErrInvalidTable with errors.Is. The Table copies s, so later
// changes to s do not affect it.
func NewTable(s Spec) (*Table, error) {
	t := &Table{
		states:      slices.Clone(s.States),
		events:      slices.Clone(s.Events),
		transitions: make([]Transition, 0, len(s.Transitions)),
		stateSet:    make(map[State]bool, len(s.States)),
		eventSet:    make(map[Event]bool, len(s.Events)),
		terminalSet: make(map[State]bool, len(s.Terminal)),
		next:        make(map[tkey]State),
	}
	var errs []error
	bad := func(kind TableErrorKind, st State, ev Event) {
		errs = append(errs, &TableError{Kind: kind, State: st, Event: ev})
	}

	if len(s.States) == 0 {
		bad(KindNoStates, "", "")
	}
	for _, st := range s.States {
		switch {
		case st == "":
			bad(KindEmptyName, "", "")
		case t.stateSet[st]:
			bad(KindDuplicateState, st, "")
		}
		t.stateSet[st] = true
	}
	for _, ev := range s.Events {
		switch {
		case ev == "":
			bad(KindEmptyName, "", "")
		case t.eventSet[ev]:
			bad(KindDuplicateEvent, "", ev)
		}
		t.eventSet[ev] = true
	}

	usedState := make(map[State]bool)
	usedEvent := make(map[Event]bool)
	for _, tr := range s.Transitions {
		tr.From = slices.Clone(tr.From)
		t.transitions = append(t.transitions, tr)
		if !t.eventSet[tr.Event] {
			bad(KindUnknownEvent, "", tr.Event)
		}
		if !t.stateSet[tr.To] {
			bad(KindUnknownState, tr.To, tr.Event)
		}
		if len(tr.From) == 0 {
			bad(KindNoSource, "", tr.Event)
		}
		usedEvent[tr.Event] = true
		usedState[tr.To] = true
		for _, from := range tr.From {
			usedState[from] = true
			if !t.stateSet[from] {
				bad(KindUnknownState, from, tr.Event)
			}
			if from == tr.To {
				bad(KindSelfTransition, from, tr.Event)
			}
			k := tkey{tr.Event, from}
			if _, dup := t.next[k]; dup {
				bad(KindDuplicateTransition, from, tr.Event)
				continue
			}
			t.next[k] = tr.To
		}
	}

	for _, st := range s.Terminal {
		switch {
		case !t.stateSet[st]:
			bad(KindUnknownState, st, "")
		case t.terminalSet[st]:
			bad(KindDuplicateState, st, "")
		}
		t.terminalSet[st] = true
	}
	// Report each terminal state with outgoing transitions once per event,
	// in the order of the spec.
	for _, tr := range s.Transitions {
		for _, from := range tr.From {
			if t.terminalSet[from] {
				bad(KindTerminalHasTransition, from, tr.Event)
			}
		}
	}

	for _, st := range s.States {
		if st != "" && !usedState[st] {
			bad(KindUnusedState, st, "")
		}
	}
	for _, ev := range s.Events {
		if ev != "" && !usedEvent[ev] {
			bad(KindUnusedEvent, "", ev)
		}
	}

	if len(errs) > 0 {
		return nil, joinErrors(errs)
	}

	t.terminal = slices.Clone(s.Terminal)
	slices.Sort(t.terminal)
	t.fsmEvents = make(fsm.Events, 0, len(t.transitions))
	for _, tr := range t.transitions {
		src := make([]string, len(tr.From))
		for i, from := range tr.From {
			src[i] = string(from)
		}
		t.fsmEvents = append(t.fsmEvents, fsm.EventDesc{Name: string(tr.Event), Src: src, Dst: string(tr.To)})
	}
	return t, nil
}

// States returns the states of the table in the order of the Spec. The
// caller owns the returned slice.
func (t *Table) States() []State { return slices.Clone(t.states) }

// Events returns the events of the table in the order of the Spec. The
// caller owns the returned slice.
func (t *Table) Events() []Event { return slices.Clone(t.events) }

// Transitions returns the transitions of the table in the order of the
// Spec. The caller owns the returned slice and its From slices.
func (t *Table) Transitions() []Transition {
	out := make([]Transition, len(t.transitions))
	for i, tr := range t.transitions {
		tr.From = slices.Clone(tr.From)
		out[i] = tr
	}
	return out
}

// Terminal returns the terminal states, sorted. The caller owns the
// returned slice.
func (t *Table) Terminal() []State { return slices.Clone(t.terminal) }

// HasState reports whether s is a state of the table.
func (t *Table) HasState(s State) bool { return t.stateSet[s] }

// HasEvent reports whether ev is an event of the table.
func (t *Table) HasEvent(ev Event) bool { return t.eventSet[ev] }

// IsTerminal reports whether s is a terminal state of the table.
func (t *Table) IsTerminal(s State) bool { return t.terminalSet[s] }

// Next returns the state that ev leads to from the state from, and false if
// ev is ignored in from (or either name is unknown). It answers from the
// validated Spec; Core asks looplab/fsm, and the package's tests check that
// the two agree for every state and event.
func (t *Table) Next(from State, ev Event) (State, bool) {
	to, ok := t.next[tkey{ev, from}]
	return to, ok
}

// FSMEvents returns the transition table exactly as it is given to
// fsm.NewFSM, one fsm.EventDesc per Transition in the order of the Spec.
// It lets a test check what looplab/fsm was told against the typed
// constants (STYLE.md §2.5). The caller owns the returned slice.
func (t *Table) FSMEvents() fsm.Events {
	out := make(fsm.Events, len(t.fsmEvents))
	for i, e := range t.fsmEvents {
		e.Src = slices.Clone(e.Src)
		out[i] = e
	}
	return out
}

// newFSM builds a looplab FSM over the table, positioned at initial, with
// no callbacks: looplab is only the table and the guard (STYLE.md §2.1).
func (t *Table) newFSM(initial State) *fsm.FSM {
	return fsm.NewFSM(string(initial), t.fsmEvents, nil)
}

// Mermaid returns the table as a Mermaid state diagram, for a golden file
// that makes every change to the table a reviewable diff (STYLE.md §2.8).
//
// The body is fsm.VisualizeWithType(f, fsm.MermaidStateDiagram) for an FSM
// positioned at initial: a "[*] --> initial" line, then one
// "from --> to: event" line per transition, sorted by source state and then
// by event (looplab sorts them, so the output is deterministic). Mermaid
// lines "state --> [*]" for the terminal states, sorted, are appended,
// because looplab knows nothing of terminal states. It returns
// ErrUnknownState if initial is not a state of the table.
func (t *Table) Mermaid(initial State) (string, error) {
	if !t.stateSet[initial] {
		return "", fmt.Errorf("%w: %q", ErrUnknownState, initial)
	}
	out, err := fsm.VisualizeWithType(t.newFSM(initial), fsm.MermaidStateDiagram)
	if err != nil {
		return "", fmt.Errorf("statemachine: mermaid: %w", err)
	}
	var b strings.Builder
	b.WriteString(out)
	for _, st := range t.terminal {
		fmt.Fprintf(&b, "    %s --> [*]\n", st)
	}
	return b.String(), nil
}
