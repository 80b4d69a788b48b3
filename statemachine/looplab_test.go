package statemachine_test

import (
	"context"
	"strings"
	"testing"

	"github.com/looplab/fsm"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// These tests pin the behaviours of looplab/fsm v1.0.3 that the package is
// built around. If an upgrade changes one of them, revisit the design notes
// in doc.go.

func doorFSM(initial string) *fsm.FSM {
	return fsm.NewFSM(initial, fsm.Events{
		{Name: "open", Src: []string{"closed"}, Dst: "open"},
		{Name: "close", Src: []string{"open"}, Dst: "closed"},
	}, nil)
}

// A done context makes Event refuse the transition and return ctx.Err();
// worse, the FSM keeps its half-made transition and is wedged from then on:
// every later Event returns InTransitionError and Can is false. Hence
// context.WithoutCancel on every call (STYLE.md §2.3).
func TestLooplabCancelledContextWedgesFSM(t *testing.T) {
	f := doorFSM("closed")
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	err := f.Event(ctx, "open")
	require.ErrorIs(t, err, context.Canceled)
	assert.Equal(t, "closed", f.Current())

	assert.False(t, f.Can("open"), "the FSM is stuck in its aborted transition")
	err = f.Event(context.Background(), "open")
	var inTransition fsm.InTransitionError
	assert.ErrorAs(t, err, &inTransition)

	g := doorFSM("closed")
	require.NoError(t, g.Event(context.WithoutCancel(ctx), "open"))
	assert.Equal(t, "open", g.Current())
}

// A self transition is not a transition: Event returns NoTransitionError
// with a nil Err, which means ok (STYLE.md §2.4). NewTable forbids self
// transitions so a Machine never has to decide whether to restart a run.
func TestLooplabSelfTransitionIsNoTransition(t *testing.T) {
	f := fsm.NewFSM("a", fsm.Events{{Name: "stay", Src: []string{"a"}, Dst: "a"}}, nil)
	err := f.Event(context.Background(), "stay")
	var noTrans fsm.NoTransitionError
	require.ErrorAs(t, err, &noTrans)
	assert.NoError(t, noTrans.Err)
}

// A second (event, source) pair silently replaces the first; NewTable
// reports KindDuplicateTransition instead.
func TestLooplabDuplicateTransitionOverwrites(t *testing.T) {
	f := fsm.NewFSM("a", fsm.Events{
		{Name: "go", Src: []string{"a"}, Dst: "b"},
		{Name: "go", Src: []string{"a"}, Dst: "c"},
	}, nil)
	require.NoError(t, f.Event(context.Background(), "go"))
	assert.Equal(t, "c", f.Current())
}

// Callback keys that name no known state or event are dropped silently, so
// a typo in a callback key is never reported. The package installs no
// callbacks at all, and checks handler keys against the table instead.
func TestLooplabUnknownCallbackKeyIgnored(t *testing.T) {
	called := false
	f := fsm.NewFSM("closed", fsm.Events{{Name: "open", Src: []string{"closed"}, Dst: "open"}},
		fsm.Callbacks{"enter_opne": func(context.Context, *fsm.Event) { called = true }})
	require.NoError(t, f.Event(context.Background(), "open"))
	assert.False(t, called)
}

// The Mermaid state diagram is sorted by source state then event, but its
// first line is the FSM's current state, so the diagram of a table depends
// on where the FSM stands; terminal states are not marked.
func TestLooplabMermaidShowsCurrentState(t *testing.T) {
	a, err := fsm.VisualizeWithType(doorFSM("closed"), fsm.MermaidStateDiagram)
	require.NoError(t, err)
	b, err := fsm.VisualizeWithType(doorFSM("open"), fsm.MermaidStateDiagram)
	require.NoError(t, err)
	assert.NotEqual(t, a, b)
	assert.True(t, strings.HasPrefix(a, "stateDiagram-v2\n    [*] --> closed\n"), a)
	assert.Equal(t, "stateDiagram-v2\n    [*] --> closed\n    closed --> open: open\n    open --> closed: close\n", a)
}

// InvalidEventError is returned for an event known to the table but not
// allowed in the current state, UnknownEventError for an event the table
// does not have at all (an event listed with no transition is unknown).
func TestLooplabEventErrors(t *testing.T) {
	f := doorFSM("closed")
	var invalid fsm.InvalidEventError
	require.ErrorAs(t, f.Event(context.Background(), "close"), &invalid)
	assert.Equal(t, fsm.InvalidEventError{Event: "close", State: "closed"}, invalid)
	var unknown fsm.UnknownEventError
	require.ErrorAs(t, f.Event(context.Background(), "slam"), &unknown)
}
