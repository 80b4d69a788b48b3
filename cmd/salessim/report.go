package main

import (
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/dustin/go-humanize"
	"github.com/holiman/uint256"

	"github.com/hostsales/hostsales/sales"
	"github.com/hostsales/hostsales/sim"
)

// completedState is the end state of a sale that went through its whole
// life (preparing .. finished): what throughput counts.
var completedState = string(sales.StateFinished)

// aggregate sums up the summaries of several runs. Its JSON encoding is
// deterministic (fixed field order, maps with sorted keys).
type aggregate struct {
	// Seeds counts the runs summed (those that ran to their end or to
	// their violation).
	Seeds            int    `json:"seeds"`
	Steps            uint64 `json:"steps"`
	SimulatedSeconds int64  `json:"simulatedSeconds"`
	Requests         int    `json:"requests"`
	SlotsOffered     int    `json:"slotsOffered"`
	// SalesByEndState sums the runs' counts by end state.
	SalesByEndState map[string]int `json:"salesByEndState"`
	BytesSold       uint64         `json:"bytesSold"`
	// CollateralReturned and CollateralKept are decimal sums (256-bit).
	CollateralReturned string `json:"collateralReturned"`
	CollateralKept     string `json:"collateralKept"`
	// QueuePeak is the largest of the runs' peaks.
	QueuePeak       int            `json:"queuePeak"`
	QueueDropped    uint64         `json:"queueDropped"`
	InvariantChecks uint64         `json:"invariantChecks"`
	FaultsInjected  map[string]int `json:"faultsInjected"`
	Crashes         int            `json:"crashes"`
	Restarts        int            `json:"restarts"`
	// Violations counts the runs that broke an invariant.
	Violations int `json:"violations"`

	returned, kept uint256.Int
}

func newAggregate() *aggregate {
	return &aggregate{SalesByEndState: map[string]int{}, FaultsInjected: map[string]int{},
		CollateralReturned: "0", CollateralKept: "0"}
}

// add sums s in. A collateral figure that is not a decimal is an error
// (sim's Summary promises decimals).
func (a *aggregate) add(s *sim.Summary, violated bool) error {
	ret, err := uint256.FromDecimal(s.CollateralReturned)
	if err != nil {
		return fmt.Errorf("seed %d: collateral returned %q: %w", s.Seed, s.CollateralReturned, err)
	}
	kept, err := uint256.FromDecimal(s.CollateralKept)
	if err != nil {
		return fmt.Errorf("seed %d: collateral kept %q: %w", s.Seed, s.CollateralKept, err)
	}
	a.Seeds++
	a.Steps += s.Steps
	a.SimulatedSeconds += s.SimulatedSeconds
	a.Requests += s.Requests
	a.SlotsOffered += s.SlotsOffered
	for k, v := range s.SalesByEndState {
		a.SalesByEndState[k] += v
	}
	a.BytesSold += s.BytesSold
	a.returned.Add(&a.returned, ret)
	a.kept.Add(&a.kept, kept)
	a.CollateralReturned, a.CollateralKept = a.returned.Dec(), a.kept.Dec()
	a.QueuePeak = max(a.QueuePeak, s.QueuePeak)
	a.QueueDropped += s.QueueDropped
	a.InvariantChecks += s.InvariantChecks
	for k, v := range s.FaultsInjected {
		a.FaultsInjected[k] += v
	}
	a.Crashes += s.Crashes
	a.Restarts += s.Restarts
	if violated {
		a.Violations++
	}
	return nil
}

// timing is the wall-clock part of a report: never in the JSON unless
// asked for (--timing), since it differs from run to run.
type timing struct {
	ElapsedSeconds float64 `json:"elapsedSeconds"`
	// SalesPerSecond is the simulated sales completed (SaleFinished) per
	// wall-clock second, all parallel runs together.
	SalesPerSecond float64 `json:"salesPerSecond"`
	SeedsPerSecond float64 `json:"seedsPerSecond"`
	StepsPerSecond float64 `json:"stepsPerSecond"`
	Parallel       int     `json:"parallel"`
}

// runLine is one seed of a sweep in the JSON report.
type runLine struct {
	Seed      uint64 `json:"seed"`
	Steps     uint64 `json:"steps"`
	Finished  int    `json:"salesFinished"`
	TraceHash string `json:"traceHash"`
	// Violation names the invariant the run broke, if any.
	Violation string `json:"violation,omitempty"`
}

// runError is a seed's harness failure in the JSON report.
type runError struct {
	Seed  uint64 `json:"seed"`
	Error string `json:"error"`
}

// report is what salessim prints about a sweep.
type report struct {
	scenario   string
	durable    bool
	seeds      []uint64
	sw         *sweepResult
	agg        *aggregate
	aggErr     error
	violations []*sim.Violation // by seed
	timing     timing
}

func newReport(sc *sim.Scenario, o *options, sw *sweepResult, elapsed time.Duration) *report {
	r := &report{scenario: sc.Name, durable: o.durable, seeds: o.seeds, sw: sw, agg: newAggregate()}
	for _, oc := range sw.outcomes {
		if !oc.ran() {
			continue
		}
		if err := r.agg.add(&oc.res.Summary, oc.res.Violation != nil); err != nil && r.aggErr == nil {
			r.aggErr = err
		}
		if oc.res.Violation != nil {
			r.violations = append(r.violations, oc.res.Violation)
		}
	}
	secs := elapsed.Seconds()
	r.timing = timing{ElapsedSeconds: round3(secs), Parallel: min(o.parallel, len(o.seeds))}
	if secs > 0 {
		r.timing.SalesPerSecond = round3(float64(r.agg.SalesByEndState[completedState]) / secs)
		r.timing.SeedsPerSecond = round3(float64(r.agg.Seeds) / secs)
		r.timing.StepsPerSecond = round3(float64(r.agg.Steps) / secs)
	}
	return r
}

func round3(f float64) float64 {
	v, _ := strconv.ParseFloat(strconv.FormatFloat(f, 'f', 3, 64), 64)
	return v
}

// single reports whether the report is about one seed that ran.
func (r *report) single() *outcome {
	if len(r.sw.outcomes) == 1 && r.sw.outcomes[0].ran() {
		return &r.sw.outcomes[0]
	}
	return nil
}

// jsonReport is the --json output. For one seed it carries that run's
// Summary; for several, the aggregate and one line per seed, by seed.
type jsonReport struct {
	Scenario string `json:"scenario"`
	Durable  bool   `json:"durable"`
	Seeds    string `json:"seeds"`
	// One seed.
	Summary   *sim.Summary `json:"summary,omitempty"`
	TraceHash string       `json:"traceHash,omitempty"`
	// Several seeds.
	Aggregate *aggregate `json:"aggregate,omitempty"`
	Runs      []runLine  `json:"runs,omitempty"`
	// Violations are the broken invariants, by seed, with their traces.
	Violations []*sim.Violation `json:"violations"`
	// Errors are the harness failures, by seed.
	Errors []runError `json:"errors,omitempty"`
	// Interrupted is set when the sweep was stopped before every seed ran.
	Interrupted bool    `json:"interrupted,omitempty"`
	Timing      *timing `json:"timing,omitempty"`
}

// write prints the report: aligned text, or JSON.
func (r *report) write(w io.Writer, asJSON, withTiming bool) error {
	if r.aggErr != nil {
		return r.aggErr
	}
	if asJSON {
		return r.writeJSON(w, withTiming)
	}
	return r.writeText(w)
}

func (r *report) writeJSON(w io.Writer, withTiming bool) error {
	j := jsonReport{Scenario: r.scenario, Durable: r.durable, Seeds: formatSeeds(r.seeds),
		Violations: r.violations, Interrupted: r.sw.interrupted}
	if j.Violations == nil {
		j.Violations = []*sim.Violation{}
	}
	for _, oc := range r.sw.outcomes {
		if oc.err != nil && !oc.cancelled {
			j.Errors = append(j.Errors, runError{Seed: oc.seed, Error: oneLine(oc.err.Error())})
		}
	}
	if oc := r.single(); oc != nil {
		j.Summary, j.TraceHash = &oc.res.Summary, oc.res.TraceHash
	} else {
		j.Aggregate = r.agg
		j.Runs = []runLine{}
		for _, oc := range r.sw.outcomes {
			if !oc.ran() {
				continue
			}
			l := runLine{Seed: oc.seed, Steps: oc.res.Summary.Steps, TraceHash: oc.res.TraceHash,
				Finished: oc.res.Summary.SalesByEndState[completedState]}
			if v := oc.res.Violation; v != nil {
				l.Violation = v.Invariant
			}
			j.Runs = append(j.Runs, l)
		}
	}
	if withTiming {
		t := r.timing
		j.Timing = &t
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(j)
}

func (r *report) writeText(w io.Writer) error {
	if r.agg.Seeds == 0 {
		return nil // nothing ran to its end: the errors say why
	}
	tw := tabwriter.NewWriter(w, 0, 8, 2, ' ', 0)
	row := func(k, format string, args ...any) { fmt.Fprintf(tw, "%s\t%s\n", k, fmt.Sprintf(format, args...)) }
	mode := "in memory"
	if r.durable {
		mode = "durable, on disk"
	}
	row("scenario", "%s (%s)", r.scenario, mode)
	var s aggregate
	if oc := r.single(); oc != nil {
		sum := &oc.res.Summary
		row("seed", "%d", oc.seed)
		s = aggregate{Seeds: 1, Steps: sum.Steps, SimulatedSeconds: sum.SimulatedSeconds, Requests: sum.Requests,
			SlotsOffered: sum.SlotsOffered, SalesByEndState: sum.SalesByEndState, BytesSold: sum.BytesSold,
			CollateralReturned: sum.CollateralReturned, CollateralKept: sum.CollateralKept,
			QueuePeak: sum.QueuePeak, QueueDropped: sum.QueueDropped, InvariantChecks: sum.InvariantChecks,
			FaultsInjected: sum.FaultsInjected, Crashes: sum.Crashes, Restarts: sum.Restarts}
	} else {
		s = *r.agg
		row("seeds", "%s (%d of %d ran)", formatSeeds(r.seeds), s.Seeds, len(r.seeds))
	}
	row("steps", "%s", humanize.Comma(int64(s.Steps)))
	row("simulated time", "%s", formatSimTime(s.SimulatedSeconds))
	row("requests", "%s (%s slots offered)", humanize.Comma(int64(s.Requests)), humanize.Comma(int64(s.SlotsOffered)))
	total := 0
	for _, v := range s.SalesByEndState {
		total += v
	}
	row("sales", "%s", humanize.Comma(int64(total)))
	for _, k := range slices.Sorted(maps.Keys(s.SalesByEndState)) {
		row("  "+k, "%s", humanize.Comma(int64(s.SalesByEndState[k])))
	}
	row("bytes sold", "%s (%s B)", humanize.IBytes(s.BytesSold), humanize.Comma(int64(s.BytesSold)))
	row("collateral returned", "%s", s.CollateralReturned)
	row("collateral kept", "%s", s.CollateralKept)
	peak := "queue peak"
	if r.single() == nil {
		peak = "queue peak (max)"
	}
	row(peak, "%d (%s dropped)", s.QueuePeak, humanize.Comma(int64(s.QueueDropped)))
	row("invariant checks", "%s", humanize.Comma(int64(s.InvariantChecks)))
	if len(s.FaultsInjected) == 0 {
		row("faults injected", "none")
	} else {
		n := 0
		for _, v := range s.FaultsInjected {
			n += v
		}
		row("faults injected", "%s", humanize.Comma(int64(n)))
		for _, k := range slices.Sorted(maps.Keys(s.FaultsInjected)) {
			row("  "+k, "%s", humanize.Comma(int64(s.FaultsInjected[k])))
		}
	}
	row("crashes", "%d (%d restarts)", s.Crashes, s.Restarts)
	if oc := r.single(); oc != nil {
		row("trace hash", "%s", oc.res.TraceHash)
	}
	row("violations", "%d", len(r.violations))
	t := r.timing
	row("wall time", "%.2f s (%d at once)", t.ElapsedSeconds, t.Parallel)
	row("throughput", "%s sales/s, %.2f seeds/s, %s steps/s", humanize.CommafWithDigits(t.SalesPerSecond, 0),
		t.SeedsPerSecond, humanize.CommafWithDigits(t.StepsPerSecond, 0))
	return tw.Flush()
}

// formatSimTime writes simulated seconds as days, hours, minutes.
func formatSimTime(secs int64) string {
	d := time.Duration(secs) * time.Second
	days := secs / 86400
	rest := (d - time.Duration(days)*24*time.Hour).Round(time.Second)
	s := rest.String()
	if days > 0 {
		s = fmt.Sprintf("%dd%s", days, s)
	}
	return fmt.Sprintf("%s (%s s)", s, humanize.Comma(secs))
}

// formatSeeds writes sorted seeds compactly: "1-8,10,12-13".
func formatSeeds(seeds []uint64) string {
	var b strings.Builder
	for i := 0; i < len(seeds); {
		j := i
		for j+1 < len(seeds) && seeds[j+1] == seeds[j]+1 {
			j++
		}
		if b.Len() > 0 {
			b.WriteByte(',')
		}
		if j > i {
			fmt.Fprintf(&b, "%d-%d", seeds[i], seeds[j])
		} else {
			fmt.Fprintf(&b, "%d", seeds[i])
		}
		i = j + 1
	}
	return b.String()
}

// maxListedViolations bounds the one-line list of further violations.
const maxListedViolations = 10

// writeViolations prints the first violation in full (seed, step,
// invariant, message, trace, replay command) and the others one line
// each.
func writeViolations(w io.Writer, vs []*sim.Violation, o *options) {
	v := vs[0]
	fmt.Fprintf(w, "VIOLATION of %s at seed %d, step %d: %s\n", v.Invariant, v.Seed, v.Step, v.Message)
	if len(v.Trace) > 0 {
		fmt.Fprintf(w, "trace (the last %d lines):\n", len(v.Trace))
		for _, l := range v.Trace {
			fmt.Fprintf(w, "  %s\n", l)
		}
	}
	fmt.Fprintf(w, "replay: %s\n", replayCommand(o, v.Seed))
	if len(vs) > 1 {
		fmt.Fprintf(w, "%d more violations:\n", len(vs)-1)
		for i, v := range vs[1:] {
			if i == maxListedViolations {
				fmt.Fprintf(w, "  ... and %d more (--json lists them all)\n", len(vs)-1-maxListedViolations)
				break
			}
			fmt.Fprintf(w, "  seed %d step %d %s: %s\n    replay: %s\n", v.Seed, v.Step, v.Invariant,
				oneLine(v.Message), replayCommand(o, v.Seed))
		}
	}
}

// replayCommand is the command line that replays seed exactly.
func replayCommand(o *options, seed uint64) string {
	args := []string{"go", "run", "./cmd/salessim", "--seed", strconv.FormatUint(seed, 10)}
	if o.durable {
		args = append(args, "--durable")
	}
	if o.breakAt > 0 {
		args = append(args, "--break-accounting-at", strconv.FormatUint(o.breakAt, 10))
	}
	if strings.HasPrefix(o.scenarioArg, "-") {
		args = append(args, "--")
	}
	args = append(args, shellQuote(o.scenarioArg))
	return strings.Join(args, " ")
}

// shellQuote quotes s for a POSIX shell when it needs it.
func shellQuote(s string) string {
	if s != "" && strings.Trim(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_./=:,+@%") == "" {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}
