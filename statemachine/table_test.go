package statemachine_test

import (
	"context"
	"errors"
	"slices"
	"testing"

	"github.com/looplab/fsm"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	sm "github.com/hostsales/hostsales/statemachine"
)

// tableErrors flattens what NewTable returned into its *TableErrors.
func tableErrors(t *testing.T, err error) []sm.TableError {
	t.Helper()
	var errs []error
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		errs = j.Unwrap()
	} else {
		errs = []error{err}
	}
	out := make([]sm.TableError, 0, len(errs))
	for _, e := range errs {
		var te *sm.TableError
		require.ErrorAs(t, e, &te)
		assert.ErrorIs(t, e, sm.ErrInvalidTable)
		out = append(out, *te)
	}
	return out
}

func TestNewTableValidation(t *testing.T) {
	type te = sm.TableError
	tests := []struct {
		name   string
		modify func(s *sm.Spec)
		want   []te
	}{
		{
			name:   "no states",
			modify: func(s *sm.Spec) { *s = sm.Spec{} },
			want:   []te{{Kind: sm.KindNoStates}},
		},
		{
			name:   "empty state name",
			modify: func(s *sm.Spec) { s.States = append(slices.Clone(s.States), "") },
			want:   []te{{Kind: sm.KindEmptyName}},
		},
		{
			name:   "duplicate state",
			modify: func(s *sm.Spec) { s.States = append(slices.Clone(s.States), Filled) },
			want:   []te{{Kind: sm.KindDuplicateState, State: Filled}},
		},
		{
			name:   "duplicate event",
			modify: func(s *sm.Spec) { s.Events = append(slices.Clone(s.Events), EvFinish) },
			want:   []te{{Kind: sm.KindDuplicateEvent, Event: EvFinish}},
		},
		{
			name: "typo in a source state",
			modify: func(s *sm.Spec) {
				s.Transitions[0].From = []sm.State{"Preparng"}
			},
			want: []te{{Kind: sm.KindUnknownState, State: "Preparng", Event: EvDownload}},
		},
		{
			name: "typo in a destination state",
			modify: func(s *sm.Spec) {
				s.Transitions[2].To = "Finshed"
			},
			want: []te{
				{Kind: sm.KindUnknownState, State: "Finshed", Event: EvFinish},
				{Kind: sm.KindUnusedState, State: Finished},
			},
		},
		{
			name: "typo in an event",
			modify: func(s *sm.Spec) {
				s.Transitions[2].Event = "finsh"
			},
			want: []te{
				{Kind: sm.KindUnknownEvent, Event: "finsh"},
				{Kind: sm.KindUnusedEvent, Event: EvFinish},
			},
		},
		{
			name: "transition without source",
			modify: func(s *sm.Spec) {
				s.Transitions = append(s.Transitions, sm.Transition{Event: EvFinish, To: Finished})
			},
			want: []te{{Kind: sm.KindNoSource, Event: EvFinish}},
		},
		{
			name: "duplicate transition, same destination",
			modify: func(s *sm.Spec) {
				s.Transitions = append(s.Transitions, sm.Transition{Event: EvFinish, From: []sm.State{Filled}, To: Finished})
			},
			want: []te{{Kind: sm.KindDuplicateTransition, State: Filled, Event: EvFinish}},
		},
		{
			name: "duplicate transition, other destination",
			modify: func(s *sm.Spec) {
				s.Transitions = append(s.Transitions, sm.Transition{Event: EvDownload, From: []sm.State{Downloading, Preparing}, To: Errored})
			},
			want: []te{{Kind: sm.KindDuplicateTransition, State: Preparing, Event: EvDownload}},
		},
		{
			name: "self transition",
			modify: func(s *sm.Spec) {
				s.Transitions = append(s.Transitions, sm.Transition{Event: EvDownload, From: []sm.State{Downloading}, To: Downloading})
			},
			want: []te{{Kind: sm.KindSelfTransition, State: Downloading, Event: EvDownload}},
		},
		{
			name: "terminal state with a transition",
			modify: func(s *sm.Spec) {
				s.Transitions = append(s.Transitions, sm.Transition{Event: EvErrored, From: []sm.State{Cancelled}, To: Errored})
			},
			want: []te{{Kind: sm.KindTerminalHasTransition, State: Cancelled, Event: EvErrored}},
		},
		{
			name:   "unknown terminal state",
			modify: func(s *sm.Spec) { s.Terminal = append(slices.Clone(s.Terminal), "Done") },
			want:   []te{{Kind: sm.KindUnknownState, State: "Done"}},
		},
		{
			name:   "duplicate terminal state",
			modify: func(s *sm.Spec) { s.Terminal = append(slices.Clone(s.Terminal), Errored) },
			want:   []te{{Kind: sm.KindDuplicateState, State: Errored}},
		},
		{
			name:   "state in no transition",
			modify: func(s *sm.Spec) { s.States = append(slices.Clone(s.States), "Orphan") },
			want:   []te{{Kind: sm.KindUnusedState, State: "Orphan"}},
		},
		{
			name:   "event in no transition",
			modify: func(s *sm.Spec) { s.Events = append(slices.Clone(s.Events), "orphan") },
			want:   []te{{Kind: sm.KindUnusedEvent, Event: "orphan"}},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := exampleSpec()
			s.Transitions = slices.Clone(s.Transitions)
			tc.modify(&s)
			tbl, err := sm.NewTable(s)
			require.Error(t, err)
			assert.Nil(t, tbl)
			assert.Equal(t, tc.want, tableErrors(t, err))
		})
	}
}

func TestNewTableReportsEveryProblem(t *testing.T) {
	_, err := sm.NewTable(sm.Spec{
		States:      []sm.State{"A", "B", "A"},
		Events:      []sm.Event{"go"},
		Transitions: []sm.Transition{{Event: "go", From: []sm.State{"A", "C"}, To: "B"}, {Event: "back", From: []sm.State{"B"}, To: "A"}},
		Terminal:    []sm.State{"B"},
	})
	require.ErrorIs(t, err, sm.ErrInvalidTable)
	assert.Equal(t, []sm.TableError{
		{Kind: sm.KindDuplicateState, State: "A"},
		{Kind: sm.KindUnknownState, State: "C", Event: "go"},
		{Kind: sm.KindUnknownEvent, Event: "back"},
		{Kind: sm.KindTerminalHasTransition, State: "B", Event: "back"},
	}, tableErrors(t, err))
	assert.Contains(t, err.Error(), `statemachine: invalid table: unknown state: state "C", event "go"`)
}

func TestTableCopiesSpec(t *testing.T) {
	s := exampleSpec()
	s.Transitions = slices.Clone(s.Transitions)
	s.Transitions[0].From = slices.Clone(s.Transitions[0].From)
	tbl, err := sm.NewTable(s)
	require.NoError(t, err)
	s.Transitions[0].From[0] = Filled
	s.States[0] = "Changed"
	to, ok := tbl.Next(Preparing, EvDownload)
	assert.True(t, ok)
	assert.Equal(t, Downloading, to)
	assert.Equal(t, exampleStates, tbl.States())
	got := tbl.Transitions()
	got[0].From[0] = Errored
	assert.Equal(t, []sm.State{Preparing}, tbl.Transitions()[0].From)
}

func TestTableAccessors(t *testing.T) {
	tbl := exampleTable(t)
	assert.Equal(t, exampleStates, tbl.States())
	assert.Equal(t, exampleEvents, tbl.Events())
	assert.Equal(t, []sm.State{Cancelled, Errored, Finished}, tbl.Terminal())
	assert.True(t, tbl.IsTerminal(Cancelled))
	assert.False(t, tbl.IsTerminal(Filled))
	assert.True(t, tbl.HasState(Filled))
	assert.False(t, tbl.HasState("filled"))
	assert.True(t, tbl.HasEvent(EvFinish))
	assert.False(t, tbl.HasEvent("Finish"))
	_, ok := tbl.Next(Filled, EvSlotFilled) // SPEC §4.3: a dash, ignored
	assert.False(t, ok)
}

// TestTableMatchesLooplab checks that what looplab/fsm was given is exactly
// the typed table: the same states, the same events, and for every state
// and every event the same decision and destination (STYLE.md §2.5; a typo
// would otherwise be silently ignored).
func TestTableMatchesLooplab(t *testing.T) {
	tbl := exampleTable(t)
	evs := tbl.FSMEvents()

	var fsmStates []sm.State
	var fsmEvents []sm.Event
	for _, e := range evs {
		fsmEvents = append(fsmEvents, sm.Event(e.Name))
		fsmStates = append(fsmStates, sm.State(e.Dst))
		for _, src := range e.Src {
			fsmStates = append(fsmStates, sm.State(src))
		}
	}
	sortUniq := func(s []sm.State) []sm.State { slices.Sort(s); return slices.Compact(s) }
	assert.Equal(t, sortUniq(slices.Clone(exampleStates)), sortUniq(fsmStates), "state sets differ")
	slices.Sort(fsmEvents)
	wantEvents := slices.Clone(exampleEvents)
	slices.Sort(wantEvents)
	assert.Equal(t, wantEvents, slices.Compact(fsmEvents), "event sets differ")

	ctx := context.Background()
	for _, s := range tbl.States() {
		var want []string
		for _, ev := range tbl.Events() {
			if _, ok := tbl.Next(s, ev); ok {
				want = append(want, string(ev))
			}
		}
		got := fsm.NewFSM(string(s), evs, nil).AvailableTransitions()
		slices.Sort(got)
		slices.Sort(want)
		assert.Equal(t, want, got, "events available in %s", s)

		for _, ev := range tbl.Events() {
			f := fsm.NewFSM(string(s), evs, nil)
			to, ok := tbl.Next(s, ev)
			assert.Equal(t, ok, f.Can(string(ev)), "%s in %s", ev, s)
			c, err := sm.NewCore(tbl, s)
			require.NoError(t, err)
			assert.Equal(t, ok, c.Check(ev) == nil, "Core.Check %s in %s", ev, s)
			if ok {
				require.NoError(t, f.Event(ctx, string(ev)))
				assert.Equal(t, string(to), f.Current(), "%s in %s", ev, s)
			}
		}
		if tbl.IsTerminal(s) {
			assert.Empty(t, got, "terminal state %s has transitions", s)
		}
	}
}

func TestMermaidGolden(t *testing.T) {
	tbl := exampleTable(t)
	got, err := tbl.Mermaid(Preparing)
	require.NoError(t, err)
	golden(t, "example.mmd", got)

	// The output is deterministic: looplab sorts the transitions, and the
	// terminal lines are sorted. Render it again with fresh maps.
	for range 20 {
		again, err := exampleTable(t).Mermaid(Preparing)
		require.NoError(t, err)
		require.Equal(t, got, again)
	}

	_, err = tbl.Mermaid("Nowhere")
	assert.ErrorIs(t, err, sm.ErrUnknownState)
}

func TestNormalizeFSMError(t *testing.T) {
	cause := errors.New("callback failed")
	tests := []struct {
		name    string
		in      error
		wantNil bool
		is      []error
	}{
		{name: "nil", in: nil, wantNil: true},
		{name: "no transition without error is ok", in: fsm.NoTransitionError{}, wantNil: true},
		{name: "no transition with error", in: fsm.NoTransitionError{Err: cause}, is: []error{cause}},
		{name: "invalid event", in: fsm.InvalidEventError{Event: "x", State: "A"}, is: []error{sm.ErrInvalidEvent}},
		{name: "unknown event", in: fsm.UnknownEventError{Event: "x"}, is: []error{sm.ErrInvalidEvent}},
		{name: "in transition", in: fsm.InTransitionError{Event: "x"}},
		{name: "context", in: context.Canceled, is: []error{context.Canceled}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := sm.NormalizeFSMError(tc.in, "x", "A")
			if tc.wantNil {
				assert.NoError(t, got)
				return
			}
			require.Error(t, got)
			for _, target := range tc.is {
				assert.ErrorIs(t, got, target)
			}
		})
	}

	got := sm.NormalizeFSMError(fsm.InvalidEventError{Event: "x", State: "A"}, "x", "A")
	var ee *sm.EventError
	require.ErrorAs(t, got, &ee)
	assert.Equal(t, sm.Event("x"), ee.Event)
	assert.Equal(t, sm.State("A"), ee.State)
	var inv fsm.InvalidEventError
	require.ErrorAs(t, got, &inv)
	assert.Equal(t, "A", inv.State)
	var unk fsm.UnknownEventError
	require.ErrorAs(t, sm.NormalizeFSMError(fsm.UnknownEventError{Event: "x"}, "x", "A"), &unk)
}
