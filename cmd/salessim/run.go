package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/hostsales/hostsales/sim"
)

// Exit codes.
const (
	exitOK          = 0
	exitFailure     = 1   // a violation, or a harness failure
	exitUsage       = 2   // the command line is wrong
	exitInterrupted = 130 // SIGINT or SIGTERM (128 + SIGINT, as shells report it)
)

// defaultScenario is the built-in run when no scenario is named.
const defaultScenario = "steady"

// usageError is a wrong command line: exit code 2.
type usageError struct{ err error }

func (e usageError) Error() string { return e.err.Error() }
func (e usageError) Unwrap() error { return e.err }

func usagef(format string, args ...any) error { return usageError{fmt.Errorf(format, args...)} }

// options is a parsed command line.
type options struct {
	scenarioArg string // as given (or defaultScenario), for the replay command
	seeds       []uint64
	seedsText   string // the seeds as given, for messages
	parallel    int
	json        bool
	timing      bool
	list        bool
	help        bool
	durable     bool
	failFast    bool
	plot        string // a PNG to draw (one seed)
	trace       string // a file for the whole trace (one seed)
	sampleEvery int64  // simulated seconds between samples for --plot (0: chosen from the scenario)
	dataDir     string // where on-disk runs keep their data ("": the system's temporary directory)
	breakAt     uint64 // hidden: Config.BreakAccountingAt
}

// hiddenFlags are left out of --help.
var hiddenFlags = map[string]bool{"break-accounting-at": true}

// newFlagSet declares the flags into o.
func newFlagSet(o *options) (*flag.FlagSet, *uint64, *string) {
	fs := flag.NewFlagSet("salessim", flag.ContinueOnError)
	fs.SetOutput(io.Discard) // errors are reported by run, usage by printUsage
	seed := fs.Uint64("seed", 1, "run seed `N`")
	seeds := fs.String("seeds", "", "run these seeds: `LIST` of seeds and ranges, e.g. 1-1000 or 1,5,9-12")
	fs.IntVar(&o.parallel, "parallel", runtime.NumCPU(), "run `N` seeds at once")
	fs.BoolVar(&o.json, "json", false, "print the summary as JSON (byte-identical for the same seeds and scenario)")
	fs.BoolVar(&o.timing, "timing", false, "add the wall-clock figures (elapsed, throughput) to the JSON")
	fs.BoolVar(&o.list, "list", false, "list the built-in scenarios and exit")
	fs.BoolVar(&o.durable, "durable", false, "put every node on a durable (synced) on-disk repo")
	fs.BoolVar(&o.failFast, "fail-fast", false, "stop the sweep at the first violation")
	fs.StringVar(&o.plot, "plot", "", "draw the run (one seed) over simulated time into this `FILE.png`")
	fs.Int64Var(&o.sampleEvery, "sample-every", 0, "simulated `SECONDS` between the samples --plot draws (default: about 300 samples over the run)")
	fs.StringVar(&o.trace, "trace", "", "write the run's whole trace (one seed) to this `FILE`")
	fs.StringVar(&o.dataDir, "data-dir", "", "the `DIR` on-disk runs keep their data in while they run (default: the system's temporary directory)")
	fs.Uint64Var(&o.breakAt, "break-accounting-at", 0, "break an availability record at this `STEP` (checker self-test)")
	fs.BoolVar(&o.help, "help", false, "print this help")
	fs.BoolVar(&o.help, "h", false, "print this help")
	return fs, seed, seeds
}

// parseArgs parses the command line. Flags may come before or after the
// scenario; "--" ends the flags.
func parseArgs(args []string) (*options, error) {
	o := &options{}
	fs, seed, seeds := newFlagSet(o)
	var positional []string
	for in := args; ; {
		if err := fs.Parse(in); err != nil {
			return nil, usageError{err}
		}
		rest := fs.Args()
		if len(rest) == 0 {
			break
		}
		if i := len(in) - len(rest) - 1; i >= 0 && in[i] == "--" {
			positional = append(positional, rest...)
			break
		}
		positional = append(positional, rest[0])
		in = rest[1:]
	}
	if o.help || o.list {
		return o, nil
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	switch {
	case len(positional) > 1:
		return nil, usagef("one scenario at a time (got %s)", strings.Join(positional, " "))
	case len(positional) == 1:
		o.scenarioArg = positional[0]
	default:
		o.scenarioArg = defaultScenario
	}
	switch {
	case set["seed"] && set["seeds"]:
		return nil, usagef("--seed and --seeds do not go together")
	case set["seeds"]:
		s, err := parseSeeds(*seeds)
		if err != nil {
			return nil, usagef("--seeds: %v", err)
		}
		o.seeds, o.seedsText = s, *seeds
	default:
		o.seeds, o.seedsText = []uint64{*seed}, fmt.Sprint(*seed)
	}
	switch {
	case o.parallel < 1:
		return nil, usagef("--parallel must be at least 1")
	case o.sampleEvery < 0:
		return nil, usagef("--sample-every must not be negative")
	case o.plot != "" && len(o.seeds) > 1:
		return nil, usagef("--plot draws one run: give one --seed")
	case o.trace != "" && len(o.seeds) > 1:
		return nil, usagef("--trace writes one run's trace: give one --seed")
	case o.plot != "" && !strings.EqualFold(filepath.Ext(o.plot), ".png"):
		return nil, usagef("--plot writes a PNG: name the file FILE.png")
	case set["sample-every"] && o.plot == "":
		return nil, usagef("--sample-every goes with --plot")
	case o.timing && !o.json:
		return nil, usagef("--timing adds wall-clock figures to --json (the text summary has them already)")
	}
	return o, nil
}

// printUsage writes the help text.
func printUsage(w io.Writer) {
	o := &options{}
	fs, _, _ := newFlagSet(o)
	fmt.Fprint(w, `Usage: salessim [flags] [SCENARIO]

Runs the deterministic marketplace simulation of hostsales: SCENARIO (a
built-in name, see --list, or a scenario .yaml file; default steady) for
one seed or a sweep of seeds, checking every invariant at every step.
A violation prints a command that replays it.

Flags:
`)
	tw := tabwriter.NewWriter(w, 0, 8, 2, ' ', 0)
	fs.VisitAll(func(f *flag.Flag) {
		if hiddenFlags[f.Name] || f.Name == "h" {
			return
		}
		name, usage := flag.UnquoteUsage(f)
		def := ""
		if f.DefValue != "" && f.DefValue != "false" && f.DefValue != "0" {
			def = " (default " + f.DefValue + ")"
		}
		fmt.Fprintf(tw, "  --%s %s\t%s%s\n", f.Name, name, usage, def)
	})
	tw.Flush()
	fmt.Fprint(w, `
Exit codes: 0 no violation, 1 a violation or a harness failure,
2 a usage error, 130 interrupted.
`)
}

// run is the whole command: it parses args, runs the seeds and prints the
// summary on stdout (diagnostics on stderr), and returns the exit code.
// Cancelling ctx stops the runs; what finished is still summed up.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	o, err := parseArgs(args)
	if err != nil {
		fmt.Fprintf(stderr, "salessim: %v\nRun 'salessim --help' for usage.\n", err)
		return exitUsage
	}
	if o.help {
		printUsage(stdout)
		return exitOK
	}
	if o.list {
		if err := listBuiltins(stdout); err != nil {
			fmt.Fprintf(stderr, "salessim: %v\n", err)
			return exitFailure
		}
		return exitOK
	}
	sc, err := resolveScenario(o.scenarioArg)
	if err != nil {
		fmt.Fprintf(stderr, "salessim: %v\n", err)
		var ue usageError
		if errors.As(err, &ue) {
			return exitUsage
		}
		return exitFailure
	}
	return execute(ctx, o, sc, stdout, stderr)
}

// listBuiltins prints the built-in scenarios with their descriptions.
func listBuiltins(w io.Writer) error {
	tw := tabwriter.NewWriter(w, 0, 8, 2, ' ', 0)
	for _, name := range sim.BuiltinNames() {
		sc, err := sim.Builtin(name)
		if err != nil {
			return fmt.Errorf("built-in scenario %s: %w", name, err)
		}
		fmt.Fprintf(tw, "%s\t%s\n", name, oneLine(sc.Description))
	}
	return tw.Flush()
}

// resolveScenario finds the scenario arg names: a built-in by name, else
// a file. An unknown name, a missing file and an invalid scenario are
// usage errors.
func resolveScenario(arg string) (*sim.Scenario, error) {
	names := sim.BuiltinNames()
	if slices.Contains(names, arg) {
		sc, err := sim.Builtin(arg)
		if err != nil {
			return nil, fmt.Errorf("built-in scenario %s: %w", arg, err)
		}
		return sc, nil
	}
	looksLikeFile := strings.ContainsRune(arg, '/') || strings.ContainsRune(arg, filepath.Separator) ||
		strings.HasSuffix(arg, ".yaml") || strings.HasSuffix(arg, ".yml")
	if _, err := os.Stat(arg); err != nil {
		if looksLikeFile {
			return nil, usagef("scenario file %s: %v", arg, statReason(err))
		}
		return nil, usagef("unknown scenario %q: the built-ins are %s (--list describes them), or give a scenario .yaml file",
			arg, strings.Join(names, ", "))
	}
	sc, err := sim.LoadScenario(arg)
	if err != nil {
		return nil, usageError{err}
	}
	return sc, nil
}

// statReason says in a few words why a file cannot be read.
func statReason(err error) string {
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return "no such file"
	case errors.Is(err, fs.ErrPermission):
		return "permission denied"
	}
	return err.Error()
}

// oneLine folds a message onto one line.
func oneLine(s string) string { return strings.Join(strings.Fields(s), " ") }

// execute runs the seeds of o on sc and reports; it returns the exit code.
func execute(ctx context.Context, o *options, sc *sim.Scenario, stdout, stderr io.Writer) int {
	cfg := sim.Config{Durable: o.durable, StopAtViolation: true, BreakAccountingAt: o.breakAt}
	if o.plot != "" {
		cfg.SampleEvery = o.sampleEvery
		if cfg.SampleEvery == 0 {
			cfg.SampleEvery = defaultSampleEvery(sc)
		}
	}
	var traceFile *os.File
	var traceBuf *bufio.Writer
	if o.trace != "" {
		f, err := os.Create(o.trace)
		if err != nil {
			fmt.Fprintf(stderr, "salessim: --trace: %v\n", err)
			return exitFailure
		}
		traceFile, traceBuf = f, bufio.NewWriterSize(f, 1<<16)
		cfg.Trace = traceBuf
	}
	if o.dataDir != "" {
		// One directory for the sweep, removed at the end whatever
		// happened (sim.Run leaves Config.Dir's contents to its caller).
		d, err := os.MkdirTemp(o.dataDir, "salessim-*")
		if err != nil {
			fmt.Fprintf(stderr, "salessim: --data-dir: %v\n", err)
			return exitFailure
		}
		cfg.Dir = d
		defer func() {
			if err := os.RemoveAll(d); err != nil {
				fmt.Fprintf(stderr, "salessim: removing the run data: %v\n", err)
			}
		}()
	}

	bar := newProgress(stderr, sc.Name, len(o.seeds))
	start := time.Now()
	sopts := sweepOptions{parallel: o.parallel, failFast: o.failFast}
	if bar != nil {
		sopts.simulated, sopts.seedDone = bar.simulated, bar.seedDone
	}
	sw := sweep(ctx, sc, o.seeds, cfg, sopts)
	elapsed := time.Since(start)
	bar.finish()

	code := exitOK
	if traceFile != nil {
		if err := errors.Join(traceBuf.Flush(), traceFile.Close()); err != nil {
			fmt.Fprintf(stderr, "salessim: --trace: %v\n", err)
			code = exitFailure
		}
	}
	rep := newReport(sc, o, sw, elapsed)
	if err := rep.write(stdout, o.json, o.timing); err != nil {
		fmt.Fprintf(stderr, "salessim: writing the summary: %v\n", err)
		return exitFailure
	}
	if len(rep.violations) > 0 {
		writeViolations(stderr, rep.violations, o)
		code = exitFailure
	}
	if o.plot != "" && len(sw.outcomes) == 1 && sw.outcomes[0].res != nil {
		res := sw.outcomes[0].res
		title := fmt.Sprintf("%s, seed %d", sc.Name, o.seeds[0])
		if err := writePlot(o.plot, title, res.Samples); err != nil {
			fmt.Fprintf(stderr, "salessim: --plot: %v\n", err)
			code = exitFailure
		}
	}
	for _, oc := range sw.outcomes {
		if oc.err != nil && !oc.cancelled {
			fmt.Fprintf(stderr, "salessim: seed %d: harness failure: %v\n", oc.seed, oneLine(oc.err.Error()))
			code = exitFailure
		}
	}
	if sw.interrupted {
		for _, oc := range sw.outcomes {
			if oc.cancelled {
				fmt.Fprintf(stderr, "salessim: seed %d stopped: %v\n", oc.seed, oneLine(oc.err.Error()))
			}
		}
		fmt.Fprintf(stderr, "salessim: interrupted: %d of %d seeds ran to their end\n", rep.agg.Seeds, len(o.seeds))
		return exitInterrupted
	}
	return code
}

// defaultSampleEvery chooses the sampling interval for --plot: about 300
// samples over the run's expected simulated time (the active phase plus
// the drain that lets its longest request end), at least one second.
func defaultSampleEvery(sc *sim.Scenario) int64 {
	const samples = 300
	req := sc.Clients.Requests
	longest, expiry := int64(req.Duration.Max), int64(req.MaxExpiry)
	if longest == 0 {
		longest = 24 * 3600 // simmarket.RandomRequest's defaults
	}
	if expiry == 0 {
		expiry = 3600
	}
	span := sc.Duration + longest + expiry
	if sc.Settle > 0 {
		span = min(span, sc.Duration+sc.Settle)
	}
	return max(span/samples, 1)
}
