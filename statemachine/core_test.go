package statemachine_test

import (
	"context"
	"slices"
	"testing"

	"github.com/looplab/fsm"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"pgregory.net/rapid"

	sm "github.com/hostsales/hostsales/statemachine"
)

func TestCoreApply(t *testing.T) {
	tbl := exampleTable(t)
	ctx := context.Background()
	c, err := sm.NewCore(tbl, Preparing)
	require.NoError(t, err)
	assert.Equal(t, Preparing, c.Current())
	assert.Equal(t, uint64(1), c.Generation())
	assert.Same(t, tbl, c.Table())

	ch, err := c.Apply(ctx, EvDownload)
	require.NoError(t, err)
	assert.Equal(t, sm.Change{Event: EvDownload, From: Preparing, To: Downloading, Generation: 2}, ch)

	// No transition from here: ignored by a Machine, an error for a Core.
	_, err = c.Apply(ctx, EvFinish)
	require.ErrorIs(t, err, sm.ErrInvalidEvent)
	var ee *sm.EventError
	require.ErrorAs(t, err, &ee)
	assert.Equal(t, &sm.EventError{Event: EvFinish, State: Downloading, Err: fsm.InvalidEventError{Event: "finish", State: "Downloading"}}, ee)
	var inv fsm.InvalidEventError
	assert.ErrorAs(t, err, &inv)
	assert.Equal(t, Downloading, c.Current())
	assert.Equal(t, uint64(2), c.Generation())

	// Not in the table at all.
	_, err = c.Apply(ctx, "finsh")
	require.ErrorIs(t, err, sm.ErrInvalidEvent)
	var unk fsm.UnknownEventError
	assert.ErrorAs(t, err, &unk)
	assert.ErrorAs(t, c.Check("finsh"), &unk)

	// A cancelled context changes nothing: looplab only sees
	// context.WithoutCancel.
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	ch, err = c.Apply(cctx, EvSlotFilled)
	require.NoError(t, err)
	assert.Equal(t, Filled, ch.To)
	assert.False(t, c.Terminal())

	ch, err = c.Apply(cctx, EvFinish)
	require.NoError(t, err)
	assert.Equal(t, uint64(4), ch.Generation)
	assert.True(t, c.Terminal())
	for _, ev := range exampleEvents {
		assert.ErrorIs(t, c.Check(ev), sm.ErrInvalidEvent, "every event is ignored in a terminal state")
	}

	_, err = sm.NewCore(tbl, "Nowhere")
	assert.ErrorIs(t, err, sm.ErrUnknownState)
}

func TestCoreApplyAtRejectsStaleGeneration(t *testing.T) {
	ctx := context.Background()
	c, err := sm.NewCore(exampleTable(t), Preparing)
	require.NoError(t, err)
	gen := c.Generation()

	// An outside event wins...
	_, err = c.Apply(ctx, EvDownload)
	require.NoError(t, err)
	// ...so the event the Preparing run produced is stale, even though
	// slotFilled is allowed from Downloading too.
	require.NoError(t, c.Check(EvSlotFilled))
	_, err = c.ApplyAt(ctx, gen, EvSlotFilled)
	assert.ErrorIs(t, err, sm.ErrStaleEvent)
	assert.Equal(t, Downloading, c.Current())

	ch, err := c.ApplyAt(ctx, c.Generation(), EvSlotFilled)
	require.NoError(t, err)
	assert.Equal(t, Filled, ch.To)
}

// TestCoreMatchesModel applies random event sequences to a Core and to a
// naive model that scans the Spec's transitions, from every initial state.
func TestCoreMatchesModel(t *testing.T) {
	spec := exampleSpec()
	tbl := exampleTable(t)
	allEvents := append(slices.Clone(exampleEvents), "unknown")
	next := func(s sm.State, ev sm.Event) (sm.State, bool) {
		for _, tr := range spec.Transitions {
			if tr.Event == ev && slices.Contains(tr.From, s) {
				return tr.To, true
			}
		}
		return "", false
	}
	rapid.Check(t, func(rt *rapid.T) {
		state := rapid.SampledFrom(exampleStates).Draw(rt, "initial")
		c, err := sm.NewCore(tbl, state)
		require.NoError(rt, err)
		gen := uint64(1)
		for _, ev := range rapid.SliceOf(rapid.SampledFrom(allEvents)).Draw(rt, "events") {
			to, ok := next(state, ev)
			ch, err := c.Apply(context.Background(), ev)
			if !ok {
				require.ErrorIs(rt, err, sm.ErrInvalidEvent)
				continue
			}
			require.NoError(rt, err)
			gen++
			require.Equal(rt, sm.Change{Event: ev, From: state, To: to, Generation: gen}, ch)
			state = to
			require.Equal(rt, state, c.Current())
			require.Equal(rt, gen, c.Generation())
			require.Equal(rt, slices.Contains(spec.Terminal, state), c.Terminal())
		}
	})
}
