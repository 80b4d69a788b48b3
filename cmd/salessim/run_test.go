package main

import (
	"bytes"
	"context"
	"encoding/json"
	"image/png"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/holiman/uint256"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hostsales/hostsales/sim"
)

// tinyScenario is the small scenario the tests run (a few hundred steps a
// seed).
const tinyScenario = "testdata/tiny.yaml"

// result is what one in-process invocation of the command gave.
type result struct {
	code           int
	stdout, stderr string
}

// runCmd runs the command in-process with args.
func runCmd(t *testing.T, args ...string) result {
	t.Helper()
	return runCmdCtx(t, t.Context(), args...)
}

func runCmdCtx(t *testing.T, ctx context.Context, args ...string) result {
	t.Helper()
	var out, errb bytes.Buffer
	code := run(ctx, args, &out, &errb)
	return result{code: code, stdout: out.String(), stderr: errb.String()}
}

// decodeJSON decodes a --json report.
func decodeJSON(t *testing.T, s string) jsonReport {
	t.Helper()
	var j jsonReport
	dec := json.NewDecoder(strings.NewReader(s))
	dec.DisallowUnknownFields()
	require.NoError(t, dec.Decode(&j), "stdout: %s", s)
	return j
}

func TestUsageErrors(t *testing.T) {
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"unknown flag", []string{"--nope"}, "flag provided but not defined: -nope"},
		{"seed and seeds", []string{"--seed", "1", "--seeds", "1-2"}, "--seed and --seeds do not go together"},
		{"bad seeds", []string{"--seeds", "5-1"}, "--seeds: \"5-1\": the range ends below its start"},
		{"bad seed", []string{"--seed", "x"}, "invalid value \"x\" for flag -seed"},
		{"parallel zero", []string{"--parallel", "0"}, "--parallel must be at least 1"},
		{"plot with seeds", []string{"--seeds", "1-2", "--plot", "x.png"}, "--plot draws one run"},
		{"plot not png", []string{"--plot", "x.jpg"}, "--plot writes a PNG"},
		{"trace with seeds", []string{"--seeds", "1-2", "--trace", "t.txt"}, "--trace writes one run's trace"},
		{"sample-every without plot", []string{"--sample-every", "10"}, "--sample-every goes with --plot"},
		{"negative sample-every", []string{"--sample-every", "-1", "--plot", "x.png"}, "--sample-every must not be negative"},
		{"timing without json", []string{"--timing"}, "--timing adds wall-clock figures to --json"},
		{"two scenarios", []string{"steady", "flood"}, "one scenario at a time (got steady flood)"},
		{"unknown scenario", []string{"nope"}, `unknown scenario "nope": the built-ins are ` + strings.Join(sim.BuiltinNames(), ", ")},
		{"missing file", []string{"no/such/scenario.yaml"}, "scenario file no/such/scenario.yaml: no such file"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := runCmd(t, tt.args...)
			assert.Equal(t, exitUsage, r.code)
			assert.Contains(t, r.stderr, "salessim: "+tt.want)
			assert.Empty(t, r.stdout)
		})
	}
}

func TestInvalidScenarioFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "bad.yaml")
	require.NoError(t, os.WriteFile(path, []byte("name: bad\nduration: 60\nnodes: []\n"), 0o644))
	r := runCmd(t, path)
	assert.Equal(t, exitUsage, r.code)
	assert.Contains(t, r.stderr, "bad.yaml: sim: invalid scenario: line 3: $.nodes: at least one node is required")
}

func TestHelp(t *testing.T) {
	r := runCmd(t, "--help")
	require.Equal(t, exitOK, r.code, r.stderr)
	assert.Contains(t, r.stdout, "Usage: salessim [flags] [SCENARIO]")
	assert.Contains(t, r.stdout, "--seeds LIST")
	assert.NotContains(t, r.stdout, "break-accounting-at", "the self-test flag is hidden")
}

func TestList(t *testing.T) {
	r := runCmd(t, "--list")
	require.Equal(t, exitOK, r.code, r.stderr)
	lines := strings.Split(strings.TrimRight(r.stdout, "\n"), "\n")
	names := sim.BuiltinNames()
	require.Len(t, lines, len(names))
	for i, name := range names {
		sc, err := sim.Builtin(name)
		require.NoError(t, err)
		assert.Regexp(t, "^"+name+" +", lines[i])
		assert.True(t, strings.HasSuffix(lines[i], oneLine(sc.Description)), "line %q", lines[i])
	}
}

func TestSingleSeedText(t *testing.T) {
	r := runCmd(t, "--seed", "3", tinyScenario)
	require.Equal(t, exitOK, r.code, r.stderr)
	for _, want := range []string{"scenario", "tiny (in memory)", "seed ", "steps", "simulated time", "SaleFinished",
		"bytes sold", "collateral returned", "collateral kept", "queue peak", "invariant checks", "faults injected",
		"crashes", "trace hash", "violations", "wall time", "throughput", "sales/s"} {
		assert.Contains(t, r.stdout, want)
	}
	assert.Empty(t, r.stderr)
}

func TestJSONIsByteIdentical(t *testing.T) {
	a := runCmd(t, "--json", "--seed", "4", tinyScenario)
	require.Equal(t, exitOK, a.code, a.stderr)
	b := runCmd(t, "--json", "--seed", "4", tinyScenario)
	require.Equal(t, exitOK, b.code, b.stderr)
	assert.Equal(t, a.stdout, b.stdout, "the same seed and scenario print the same bytes")
	c := runCmd(t, "--json", "--seed", "5", tinyScenario)
	require.Equal(t, exitOK, c.code, c.stderr)
	assert.NotEqual(t, a.stdout, c.stdout, "another seed runs another run")

	j := decodeJSON(t, a.stdout)
	require.NotNil(t, j.Summary)
	assert.Equal(t, uint64(4), j.Summary.Seed)
	assert.Equal(t, "tiny", j.Summary.Scenario)
	assert.Len(t, j.TraceHash, 64)
	assert.Nil(t, j.Timing, "no wall-clock figures without --timing")
	assert.NotContains(t, a.stdout, "elapsed")
}

func TestJSONSweepIsByteIdenticalWhateverTheParallelism(t *testing.T) {
	a := runCmd(t, "--json", "--seeds", "1-4", "--parallel", "1", tinyScenario)
	require.Equal(t, exitOK, a.code, a.stderr)
	b := runCmd(t, "--json", "--seeds", "4,1-3", "--parallel", "3", tinyScenario)
	require.Equal(t, exitOK, b.code, b.stderr)
	assert.Equal(t, a.stdout, b.stdout)
	j := decodeJSON(t, a.stdout)
	require.Len(t, j.Runs, 4)
	for i, l := range j.Runs {
		assert.Equal(t, uint64(i+1), l.Seed, "runs are sorted by seed")
	}
}

func TestTimingFlag(t *testing.T) {
	r := runCmd(t, "--json", "--timing", "--seed", "1", tinyScenario)
	require.Equal(t, exitOK, r.code, r.stderr)
	j := decodeJSON(t, r.stdout)
	require.NotNil(t, j.Timing)
	assert.Positive(t, j.Timing.ElapsedSeconds)
	assert.Equal(t, 1, j.Timing.Parallel)
}

func TestSweepAggregatesTheSeeds(t *testing.T) {
	const n = 3
	r := runCmd(t, "--json", "--seeds", "1-3", tinyScenario)
	require.Equal(t, exitOK, r.code, r.stderr)
	got := decodeJSON(t, r.stdout)
	require.NotNil(t, got.Aggregate)
	assert.Nil(t, got.Summary)
	assert.Equal(t, "1-3", got.Seeds)

	want := newAggregate()
	for seed := 1; seed <= n; seed++ {
		one := runCmd(t, "--json", "--seed", strconv.Itoa(seed), tinyScenario)
		require.Equal(t, exitOK, one.code, one.stderr)
		j := decodeJSON(t, one.stdout)
		require.NotNil(t, j.Summary)
		require.NoError(t, want.add(j.Summary, false))
		assert.Equal(t, j.TraceHash, got.Runs[seed-1].TraceHash, "seed %d runs the same in a sweep", seed)
		assert.Equal(t, j.Summary.SalesByEndState["SaleFinished"], got.Runs[seed-1].Finished)
	}
	// Check the sums by hand too, not only through add.
	agg := got.Aggregate
	assert.Equal(t, n, agg.Seeds)
	assert.Equal(t, want.Steps, agg.Steps)
	assert.Equal(t, want.SimulatedSeconds, agg.SimulatedSeconds)
	assert.Equal(t, want.Requests, agg.Requests)
	assert.Equal(t, want.SlotsOffered, agg.SlotsOffered)
	assert.Equal(t, want.SalesByEndState, agg.SalesByEndState)
	assert.Equal(t, want.BytesSold, agg.BytesSold)
	assert.Equal(t, want.CollateralReturned, agg.CollateralReturned)
	assert.Equal(t, want.CollateralKept, agg.CollateralKept)
	assert.Equal(t, want.QueuePeak, agg.QueuePeak)
	assert.Equal(t, want.QueueDropped, agg.QueueDropped)
	assert.Equal(t, want.InvariantChecks, agg.InvariantChecks)
	assert.Equal(t, want.FaultsInjected, agg.FaultsInjected)
	assert.Equal(t, want.Crashes, agg.Crashes)
	assert.Equal(t, want.Restarts, agg.Restarts)
	assert.Zero(t, agg.Violations)
	assert.Positive(t, agg.SalesByEndState["SaleFinished"])
	assert.Positive(t, agg.InvariantChecks)

	text := runCmd(t, "--seeds", "1-3", tinyScenario)
	require.Equal(t, exitOK, text.code, text.stderr)
	assert.Contains(t, text.stdout, "1-3 (3 of 3 ran)")
	assert.Contains(t, text.stdout, "seeds/s")
}

func TestAggregateSumsCollateralBeyond64Bits(t *testing.T) {
	a := newAggregate()
	big := "100000000000000000000000000000" // above 2^64
	s := sim.Summary{CollateralReturned: big, CollateralKept: "1", QueuePeak: 3}
	require.NoError(t, a.add(&s, false))
	s.QueuePeak = 2
	require.NoError(t, a.add(&s, true))
	assert.Equal(t, "200000000000000000000000000000", a.CollateralReturned)
	assert.Equal(t, "2", a.CollateralKept)
	assert.Equal(t, 3, a.QueuePeak, "the peak is the largest, not a sum")
	assert.Equal(t, 1, a.Violations)
	want, err := uint256.FromDecimal(a.CollateralReturned)
	require.NoError(t, err)
	assert.Equal(t, a.returned.Dec(), want.Dec())

	s.CollateralKept = "12x"
	assert.ErrorContains(t, a.add(&s, false), `collateral kept "12x"`)
}

func TestBreakAccountingReportsTheViolation(t *testing.T) {
	const step = "30"
	r := runCmd(t, "--seed", "7", "--break-accounting-at", step, "steady")
	require.Equal(t, exitFailure, r.code, "stdout: %s\nstderr: %s", r.stdout, r.stderr)
	assert.Contains(t, r.stderr, "at seed 7, step "+step+":")
	assert.Contains(t, r.stderr, "trace (the last")
	assert.Contains(t, r.stderr, "replay: go run ./cmd/salessim --seed 7 --break-accounting-at "+step+" steady\n")
	assert.Contains(t, r.stdout, "violations           1")

	j := runCmd(t, "--json", "--seeds", "7-8", "--break-accounting-at", step, "steady")
	require.Equal(t, exitFailure, j.code, j.stderr)
	rep := decodeJSON(t, j.stdout)
	require.Len(t, rep.Violations, 2)
	for i, v := range rep.Violations {
		assert.Equal(t, uint64(7+i), v.Seed)
		assert.Equal(t, uint64(30), v.Step)
		assert.NotEmpty(t, v.Invariant)
		assert.NotEmpty(t, v.Trace)
		assert.Equal(t, v.Invariant, rep.Runs[i].Violation)
	}
	assert.Equal(t, 2, rep.Aggregate.Violations)
	assert.Contains(t, j.stderr, "1 more violations:\n  seed 8 step 30 ")
	assert.Contains(t, j.stderr, "replay: go run ./cmd/salessim --seed 8 --break-accounting-at 30 steady\n")
}

func TestPlotWritesAPNG(t *testing.T) {
	path := filepath.Join(t.TempDir(), "run.png")
	r := runCmd(t, "--seed", "2", "--plot", path, tinyScenario)
	require.Equal(t, exitOK, r.code, r.stderr)
	f, err := os.Open(path)
	require.NoError(t, err)
	defer f.Close()
	img, err := png.Decode(f)
	require.NoError(t, err)
	assert.Equal(t, 1200, img.Bounds().Dx())
	assert.Equal(t, 960, img.Bounds().Dy())
}

func TestTraceFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "trace.txt")
	r := runCmd(t, "--json", "--seed", "2", "--trace", path, tinyScenario)
	require.Equal(t, exitOK, r.code, r.stderr)
	data, err := os.ReadFile(path)
	require.NoError(t, err)
	assert.Contains(t, string(data), "start scenario=tiny seed=2")
}

func TestInterruptedBeforeAnySeedRan(t *testing.T) {
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	r := runCmdCtx(t, ctx, "--seeds", "1-3", tinyScenario)
	assert.Equal(t, exitInterrupted, r.code)
	assert.Contains(t, r.stderr, "salessim: interrupted: 0 of 3 seeds ran to their end")
	assert.Empty(t, r.stdout, "nothing ran, nothing to sum")
}

func TestDataDirIsCleanedUp(t *testing.T) {
	dir := t.TempDir()
	r := runCmd(t, "--durable", "--data-dir", dir, "--seeds", "1-2", tinyScenario)
	require.Equal(t, exitOK, r.code, r.stderr)
	assert.Contains(t, r.stdout, "tiny (durable, on disk)")
	left, err := os.ReadDir(dir)
	require.NoError(t, err)
	assert.Empty(t, left, "the runs' data is removed")

	r = runCmd(t, "--data-dir", filepath.Join(dir, "missing"), tinyScenario)
	assert.Equal(t, exitFailure, r.code)
	assert.Contains(t, r.stderr, "salessim: --data-dir: ")
}

func TestFormatSeeds(t *testing.T) {
	assert.Equal(t, "1-8", formatSeeds([]uint64{1, 2, 3, 4, 5, 6, 7, 8}))
	assert.Equal(t, "1,5,9-12", formatSeeds([]uint64{1, 5, 9, 10, 11, 12}))
	assert.Equal(t, "0", formatSeeds([]uint64{0}))
	assert.Equal(t, "", formatSeeds(nil))
}

func TestReplayCommandQuotes(t *testing.T) {
	o := &options{scenarioArg: "my runs/it's.yaml", durable: true}
	assert.Equal(t, `go run ./cmd/salessim --seed 3 --durable 'my runs/it'\''s.yaml'`, replayCommand(o, 3))
	o = &options{scenarioArg: "-odd.yaml"}
	assert.Equal(t, `go run ./cmd/salessim --seed 3 -- -odd.yaml`, replayCommand(o, 3))
}

func TestFlagsAfterTheScenario(t *testing.T) {
	o, err := parseArgs([]string{"flood", "--seed", "9", "--json"})
	require.NoError(t, err)
	assert.Equal(t, "flood", o.scenarioArg)
	assert.Equal(t, []uint64{9}, o.seeds)
	assert.True(t, o.json)

	o, err = parseArgs([]string{"--json", "--", "--seed"})
	require.NoError(t, err)
	assert.Equal(t, "--seed", o.scenarioArg, "after -- everything is the scenario")

	o, err = parseArgs(nil)
	require.NoError(t, err)
	assert.Equal(t, "steady", o.scenarioArg)
	assert.Equal(t, []uint64{1}, o.seeds)
}
