package main

import (
	"bytes"
	"context"
	"sync"
	"testing"

	"github.com/schollz/progressbar/v3"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hostsales/hostsales/sim"
)

func loadTiny(t *testing.T) *sim.Scenario {
	t.Helper()
	sc, err := sim.LoadScenario(tinyScenario)
	require.NoError(t, err)
	return sc
}

func TestSweepInterruptedKeepsWhatRan(t *testing.T) {
	sc := loadTiny(t)
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	// One run at a time; the interrupt comes as the first seed ends.
	sw := sweep(ctx, sc, []uint64{1, 2, 3}, sim.Config{StopAtViolation: true},
		sweepOptions{parallel: 1, seedDone: cancel})
	require.True(t, sw.interrupted)
	require.Len(t, sw.outcomes, 3)
	assert.True(t, sw.outcomes[0].ran(), "the first seed ran to its end")
	for _, oc := range sw.outcomes[1:] {
		assert.False(t, oc.ran(), "seed %d was not started", oc.seed)
		assert.NoError(t, oc.err)
	}

	// The report sums what ran, and says it was interrupted.
	o := &options{seeds: []uint64{1, 2, 3}, parallel: 1, scenarioArg: tinyScenario}
	rep := newReport(sc, o, sw, 0)
	var out bytes.Buffer
	require.NoError(t, rep.write(&out, true, false))
	j := decodeJSON(t, out.String())
	assert.True(t, j.Interrupted)
	require.NotNil(t, j.Aggregate)
	assert.Equal(t, 1, j.Aggregate.Seeds)
	require.Len(t, j.Runs, 1)
	assert.Equal(t, uint64(1), j.Runs[0].Seed)

	out.Reset()
	require.NoError(t, rep.write(&out, false, false))
	assert.Contains(t, out.String(), "1-3 (1 of 3 ran)")
}

func TestSweepReportsProgress(t *testing.T) {
	sc := loadTiny(t)
	var buf bytes.Buffer
	p := &progress{bar: progressbar.NewOptions64(3, progressbar.OptionSetWriter(&buf))}
	sw := sweep(t.Context(), sc, []uint64{1, 2, 3}, sim.Config{}, sweepOptions{parallel: 3, seedDone: p.seedDone})
	require.False(t, sw.interrupted)
	assert.Equal(t, int64(3), p.bar.State().CurrentNum)
	p.finish()

	var mu sync.Mutex
	var calls int
	var last, total int64
	sweep(t.Context(), sc, []uint64{1}, sim.Config{}, sweepOptions{parallel: 2, simulated: func(d, tot int64) {
		mu.Lock()
		defer mu.Unlock()
		calls++
		last, total = d, tot
	}})
	assert.Positive(t, calls)
	assert.Equal(t, sc.Duration, total)
	assert.Equal(t, total, last, "the active phase is reported done")

	single := &progress{bar: progressbar.NewOptions64(1, progressbar.OptionSetWriter(&buf))}
	single.simulated(10, 900)
	assert.Equal(t, int64(900), single.bar.GetMax64())
	assert.Equal(t, int64(10), single.bar.State().CurrentNum)
	single.finish()
}

func TestNoProgressBarOffATerminal(t *testing.T) {
	var buf bytes.Buffer
	p := newProgress(&buf, "steady", 3)
	assert.Nil(t, p)
	p.finish() // a no-op on nil
	assert.Empty(t, buf.String())
}

func TestFailFastStopsTheSweep(t *testing.T) {
	r := runCmd(t, "--json", "--fail-fast", "--parallel", "1", "--seeds", "1-3", "--break-accounting-at", "30", tinyScenario)
	require.Equal(t, exitFailure, r.code, r.stderr)
	j := decodeJSON(t, r.stdout)
	require.Len(t, j.Violations, 1)
	assert.Equal(t, uint64(1), j.Violations[0].Seed)
	assert.Equal(t, 1, j.Aggregate.Seeds, "the sweep stopped at the first violation")
	assert.False(t, j.Interrupted, "stopping early is not an interrupt")
}
