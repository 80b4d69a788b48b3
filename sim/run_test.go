package sim_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hostsales/hostsales/sim"
)

// runScenario runs sc with cfg and requires no harness error.
func runScenario(t *testing.T, sc *sim.Scenario, cfg sim.Config) *sim.Result {
	t.Helper()
	res, err := sim.Run(context.Background(), sc, cfg)
	require.NoError(t, err)
	return res
}

func summaryJSON(t *testing.T, s sim.Summary) []byte {
	t.Helper()
	b, err := json.Marshal(s)
	require.NoError(t, err)
	return b
}

// Every built-in scenario replays exactly: the same seed gives the same
// trace and a byte-identical summary; another seed takes another path.
// Reference: DESIGN.md, Determinism.
func TestDeterminism(t *testing.T) {
	for _, name := range sim.BuiltinNames() {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			sc, err := sim.Builtin(name)
			require.NoError(t, err)
			var trace bytes.Buffer
			a := runScenario(t, sc, sim.Config{Seed: 7, Trace: &trace})
			b := runScenario(t, sc, sim.Config{Seed: 7})
			assert.Equal(t, a.TraceHash, b.TraceHash, "same seed, same trace")
			assert.Equal(t, string(summaryJSON(t, a.Summary)), string(summaryJSON(t, b.Summary)), "same seed, same summary")
			assert.Equal(t, a.Violation, b.Violation)
			assert.Positive(t, a.Summary.Requests, "the scenario has requests")
			assert.Positive(t, a.Summary.SalesByEndState["SaleFinished"], "the scenario sells")
			lines := strings.Count(trace.String(), "\n")
			assert.Greater(t, lines, 100)
			// Another seed: the first thousand steps are enough to differ.
			short := *sc
			short.Steps = 1000
			c := runScenario(t, &short, sim.Config{Seed: 8})
			assert.NotEqual(t, a.TraceHash, c.TraceHash, "another seed, another trace")
			t.Logf("%s: %d steps, %d trace lines, %d requests, sales %v, violation %v", name, a.Summary.Steps, lines,
				a.Summary.Requests, a.Summary.SalesByEndState, a.Violation)
		})
	}
}

// The checker catches a broken accounting step at exactly the step it
// happens, and names the invariant it breaks (an availability whose
// totalSize grew without a reservation: I2). The break is made after the
// step and before its checks, so it is caught at any step: among them
// steps at which the node itself rewrites that availability record (a
// reservation made or ended), spread over the whole run, drain included.
func TestCheckerCatchesBrokenAccounting(t *testing.T) {
	t.Parallel()
	sc, err := sim.Builtin("steady")
	require.NoError(t, err)
	const seed = 3
	var trace bytes.Buffer
	clean := runScenario(t, sc, sim.Config{Seed: seed, Trace: &trace})
	require.Nil(t, clean.Violation)
	// The steps at which alice's availability record was rewritten: a
	// reservation ended (traced from the check after its step) or was
	// made (the sale reserving).
	var ended, reserved []uint64
	for line := range strings.Lines(trace.String()) {
		f := strings.Fields(line)
		if len(f) < 4 || f[2] != "alice" {
			continue
		}
		step, err := strconv.ParseUint(f[0], 10, 64)
		require.NoError(t, err)
		switch {
		case f[3] == "reservations" && strings.Contains(line, " ended: "):
			ended = append(ended, step)
		case strings.Contains(line, " SalePreparing -reserve-> "):
			reserved = append(reserved, step)
		}
	}
	require.Greater(t, len(ended), 4)
	require.Greater(t, len(reserved), 4)
	last := ended[len(ended)-1]
	require.Greater(t, last, clean.ActiveSteps, "the last reservation ends in the drain")
	steps := []uint64{1, 2, 150, 777, // no commit of the node's availability in the step
		ended[0], ended[len(ended)/2], last, // a reservation ended in the step
		reserved[0], reserved[len(reserved)/2], reserved[len(reserved)-1], // one was made
		clean.ActiveSteps + 1, clean.Summary.Steps - 1} // the drain
	for _, at := range steps {
		t.Run(fmt.Sprintf("step=%d", at), func(t *testing.T) {
			res := runScenario(t, sc, sim.Config{Seed: seed, BreakAccountingAt: at, StopAtViolation: true})
			require.NotNil(t, res.Violation, "the broken step is caught")
			v := res.Violation
			assert.Equal(t, uint64(seed), v.Seed)
			assert.Equal(t, at, v.Step)
			assert.Equal(t, "I2", v.Invariant)
			assert.Contains(t, v.Message, "totalSize-freeSize")
			assert.Contains(t, strings.Join(v.Trace, "\n"), fmt.Sprintf("%d +", at), "the trace leads to the step")
			assert.Contains(t, strings.Join(v.Trace, "\n"), "breaks the accounting")
			assert.Equal(t, at, res.Summary.Steps, "the run stops there")
		})
	}
	// Without StopAtViolation the run goes on, and still reports the first.
	res := runScenario(t, sc, sim.Config{Seed: seed, BreakAccountingAt: 40})
	require.NotNil(t, res.Violation)
	assert.Equal(t, uint64(40), res.Violation.Step)
	assert.Greater(t, res.Summary.Steps, uint64(40))
}

// With the checks off (Config.SkipChecks, for measuring what they cost)
// the run is the same one: the same steps, sales and summary, with no
// check counted.
func TestSkipChecks(t *testing.T) {
	t.Parallel()
	for _, name := range []string{"steady", "storm"} {
		t.Run(name, func(t *testing.T) {
			sc, err := sim.Builtin(name)
			require.NoError(t, err)
			short := *sc
			short.Steps = 2000
			checked := runScenario(t, &short, sim.Config{Seed: 5})
			require.Nil(t, checked.Violation)
			skipped := runScenario(t, &short, sim.Config{Seed: 5, SkipChecks: true})
			require.Nil(t, skipped.Violation)
			assert.Positive(t, checked.Summary.InvariantChecks)
			assert.Zero(t, skipped.Summary.InvariantChecks)
			want := checked.Summary
			want.InvariantChecks = 0
			assert.Equal(t, string(summaryJSON(t, want)), string(summaryJSON(t, skipped.Summary)))
		})
	}
}

// Samples come every SampleEvery simulated seconds, one per node, with
// each availability's free, reserved and used bytes.
func TestSamples(t *testing.T) {
	t.Parallel()
	sc, err := sim.Builtin("operator")
	require.NoError(t, err)
	var progress []int64
	res := runScenario(t, sc, sim.Config{Seed: 1, SampleEvery: 300, Progress: func(done, total int64) {
		assert.Equal(t, sc.Duration, total)
		progress = append(progress, done)
	}})
	require.Nil(t, res.Violation)
	require.NotEmpty(t, res.Samples)
	last := map[string]int64{}
	sold := false
	for _, s := range res.Samples {
		assert.Zero(t, s.Time%300, "on the grid")
		if prev, ok := last[s.Node]; ok {
			assert.Equal(t, prev+300, s.Time, "every 300 s for %s", s.Node)
		}
		last[s.Node] = s.Time
		for _, a := range s.Availabilities {
			assert.NotEmpty(t, a.ID)
			sold = sold || a.Used > 0
		}
	}
	assert.True(t, sold, "some sample sees written bytes")
	assert.Equal(t, res.Summary.SimulatedSeconds/300+1, int64(len(res.Samples)/2), "two nodes, up to the end")
	require.NotEmpty(t, progress)
	assert.Equal(t, sc.Duration, progress[len(progress)-1])
}

// TestSeedSweep sweeps many seeds of a scenario; it runs only when
// HOSTSALES_SIM_SEEDS is set, to a count ("500") or a range ("1-10000"):
//
//	HOSTSALES_SIM_SEEDS=1-10000 go test ./sim -run TestSeedSweep -timeout 0
//
// HOSTSALES_SIM_SCENARIO names the built-in scenario (default storm, as
// TestStormSweep runs it but at its full length). A failing seed is
// replayed with the same scenario and seed (cmd/salessim, or sim.Run with
// Config.Trace) to see its whole trace.
func TestSeedSweep(t *testing.T) {
	spec := os.Getenv("HOSTSALES_SIM_SEEDS")
	if spec == "" {
		t.Log("set HOSTSALES_SIM_SEEDS to sweep (see the doc comment)")
		return
	}
	lo, hi := uint64(1), uint64(0)
	if a, b, ok := strings.Cut(spec, "-"); ok {
		var err1, err2 error
		lo, err1 = strconv.ParseUint(a, 10, 64)
		hi, err2 = strconv.ParseUint(b, 10, 64)
		require.NoError(t, err1)
		require.NoError(t, err2)
	} else {
		n, err := strconv.ParseUint(spec, 10, 64)
		require.NoError(t, err)
		hi = n
	}
	require.LessOrEqual(t, lo, hi, "HOSTSALES_SIM_SEEDS=%s", spec)
	name := os.Getenv("HOSTSALES_SIM_SCENARIO")
	if name == "" {
		name = "storm"
	}
	base, err := sim.Builtin(name)
	require.NoError(t, err)
	var seeds []uint64
	for s := lo; s <= hi; s++ {
		seeds = append(seeds, s)
	}
	sweep(t, seeds, func() *sim.Scenario {
		sc := *base
		return &sc
	})
}

// A scenario bounded by steps alone ends its active phase at that step
// and drains.
func TestStepsBound(t *testing.T) {
	t.Parallel()
	sc, err := sim.Builtin("steady")
	require.NoError(t, err)
	sc.Duration, sc.Steps = 0, 400
	var last [2]int64
	res := runScenario(t, sc, sim.Config{Seed: 2, Progress: func(done, total int64) { last = [2]int64{done, total} }})
	require.Nil(t, res.Violation)
	assert.Greater(t, res.Summary.Steps, uint64(400), "the drain comes after")
	assert.Equal(t, [2]int64{400, 400}, last)
	assert.Positive(t, res.Summary.Requests)
}
