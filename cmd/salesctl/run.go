package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"net/url"
	"os"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/hostsales/hostsales/api"
)

// Exit codes.
const (
	exitOK      = 0
	exitFailure = 1 // the operation failed, or fsck found problems
	exitUsage   = 2 // the command line is wrong
)

// Defaults of the global flags, each overridden by its environment
// variable.
const (
	defaultAPI     = "http://127.0.0.1:8080"
	defaultDataDir = "hostsales-data"
	envAPI         = "HOSTSALES_API"
	envToken       = "HOSTSALES_API_TOKEN"
	envDataDir     = "HOSTSALES_DATA_DIR"
)

// usageError is a wrong command line: exit code 2.
type usageError struct{ err error }

func (e usageError) Error() string { return e.err.Error() }
func (e usageError) Unwrap() error { return e.err }

func usagef(format string, args ...any) error { return usageError{fmt.Errorf(format, args...)} }

// errProblemsFound is returned by fsck when the repo has problems left; the
// report was printed already.
var errProblemsFound = errors.New("problems found")

// app is one invocation: the global flags and where output goes. It is
// used by one goroutine.
type app struct {
	stdout, stderr io.Writer
	apiURL         string
	token          string
	dataDir        string
	json           bool
	timeout        time.Duration
	// started is set when a command's action begins: errors before it
	// (flags, arguments, required flags) are usage errors.
	started bool
}

// run is the whole command: it parses args, runs the command and returns
// the exit code, printing results on stdout and errors (one line each) on
// stderr. ctx cancels whatever the command is doing.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	a := &app{stdout: stdout, stderr: stderr}
	root := a.rootCommand()
	root.SetArgs(args)
	root.SetOut(stdout)
	root.SetErr(stderr)
	cmd, err := root.ExecuteContextC(ctx)
	if err == nil {
		return exitOK
	}
	if errors.Is(err, errProblemsFound) {
		return exitFailure
	}
	var ue usageError
	if errors.As(err, &ue) || !a.started {
		fmt.Fprintf(stderr, "salesctl: %v\n", err)
		fmt.Fprintf(stderr, "Run '%s --help' for usage.\n", cmd.CommandPath())
		return exitUsage
	}
	fmt.Fprintf(stderr, "salesctl: %s\n", a.describe(err))
	return exitFailure
}

// describe turns an error into the one line the operator reads.
func (a *app) describe(err error) string {
	var ae *api.Error
	if errors.As(err, &ae) {
		msg := fmt.Sprintf("%d %s", ae.Status, http.StatusText(ae.Status))
		if ae.Message != "" {
			msg += ": " + oneLine(ae.Message)
		}
		if ae.Status == http.StatusUnauthorized {
			msg += fmt.Sprintf(" (the node wants its API token: --token, %s, or the %s file in --data-dir)", envToken, api.TokenFile)
		}
		return msg
	}
	var re *reachError
	if errors.As(err, &re) {
		switch {
		case errors.Is(err, context.DeadlineExceeded):
			return fmt.Sprintf("no answer from the node at %s within %s (--timeout)", a.apiURL, a.timeout)
		case errors.Is(err, context.Canceled):
			return "interrupted"
		case errors.Is(err, syscall.ECONNREFUSED):
			return fmt.Sprintf("cannot reach the node at %s: connection refused (is the node running? --api or %s sets its address)",
				a.apiURL, envAPI)
		}
		return fmt.Sprintf("cannot reach the node at %s: %s (is the node running? --api or %s sets its address)",
			a.apiURL, oneLine(rootCause(err).Error()), envAPI)
	}
	if errors.Is(err, context.Canceled) {
		return "interrupted"
	}
	return oneLine(err.Error())
}

// rootCause is the innermost error of a chain of single wraps.
func rootCause(err error) error {
	for {
		next := errors.Unwrap(err)
		if next == nil {
			return err
		}
		err = next
	}
}

// oneLine folds a message onto one line.
func oneLine(s string) string { return strings.Join(strings.Fields(s), " ") }

func envOr(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}

func (a *app) rootCommand() *cobra.Command {
	root := &cobra.Command{
		Use:   "salesctl",
		Short: "Manage a hostsales node's availabilities and inspect its sales",
		Long: `salesctl manages a hostsales storage node: it creates, resizes, disables and
deletes availabilities and shows reservations, slots, the slot queue and the
repo's space through the node's REST API, and checks a stopped node's repo
offline (fsck).

Exit codes: 0 success, 1 failure (or problems found by fsck), 2 usage error.`,
		SilenceErrors:     true,
		SilenceUsage:      true,
		CompletionOptions: cobra.CompletionOptions{DisableDefaultCmd: true},
		Args:              noArgs,
		RunE:              a.missingSubcommand,
	}
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return usageError{err} })
	pf := root.PersistentFlags()
	pf.StringVar(&a.apiURL, "api", envOr(envAPI, defaultAPI), "the node's REST API address (env "+envAPI+")")
	pf.StringVar(&a.token, "token", os.Getenv(envToken),
		"the API token (env "+envToken+"; default: the "+api.TokenFile+" file in --data-dir, if present)")
	pf.StringVar(&a.dataDir, "data-dir", envOr(envDataDir, defaultDataDir), "the node's data directory (env "+envDataDir+")")
	pf.BoolVar(&a.json, "json", false, "print the API's JSON instead of tables")
	pf.DurationVar(&a.timeout, "timeout", 30*time.Second, "how long to wait for the node's answer")
	root.AddCommand(a.availabilityCommand(), a.reservationsCommand(), a.slotsCommand(),
		a.queueCommand(), a.spaceCommand(), a.fsckCommand())
	return root
}

// action marks the start of a command's action (see app.started).
func (a *app) action(fn func(ctx context.Context, cmd *cobra.Command, args []string) error) func(*cobra.Command, []string) error {
	return func(cmd *cobra.Command, args []string) error {
		a.started = true
		return fn(cmd.Context(), cmd, args)
	}
}

// missingSubcommand is the action of a command that only groups others.
func (a *app) missingSubcommand(cmd *cobra.Command, _ []string) error {
	names := []string{}
	for _, c := range cmd.Commands() {
		if c.IsAvailableCommand() {
			names = append(names, c.Name())
		}
	}
	return usagef("%s needs a subcommand: %s", cmd.CommandPath(), strings.Join(names, ", "))
}

// noArgs refuses arguments, naming an unknown subcommand as such.
func noArgs(cmd *cobra.Command, args []string) error {
	if len(args) == 0 {
		return nil
	}
	if cmd.HasSubCommands() {
		msg := fmt.Sprintf("unknown command %q for %q", args[0], cmd.CommandPath())
		if cmd.SuggestionsMinimumDistance <= 0 {
			cmd.SuggestionsMinimumDistance = 2
		}
		if s := cmd.SuggestionsFor(args[0]); len(s) > 0 {
			msg += "; did you mean " + strings.Join(s, " or ") + "?"
		}
		return usageError{errors.New(msg)}
	}
	return usagef("%s takes no arguments, got %q", cmd.CommandPath(), strings.Join(args, " "))
}

// oneArg requires exactly one argument, named what.
func oneArg(what string) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		switch {
		case len(args) == 0:
			return usagef("%s needs the %s", cmd.CommandPath(), what)
		case len(args) > 1:
			return usagef("%s takes one %s, got %d arguments", cmd.CommandPath(), what, len(args))
		}
		return nil
	}
}

// client returns an API client for --api with the token of --token or
// of the data directory's token file (none when that file is absent: a
// node on loopback needs none).
func (a *app) client() (*api.Client, error) {
	token := a.token
	if token == "" {
		t, err := api.ReadToken(a.dataDir)
		switch {
		case err == nil:
			token = t
		case errors.Is(err, fs.ErrNotExist):
		default:
			return nil, fmt.Errorf("reading the API token: %w", err)
		}
	}
	c, err := api.NewClient(a.apiURL, &api.ClientOptions{Token: token})
	if err != nil {
		return nil, usageError{fmt.Errorf("--api: %w", err)}
	}
	return c, nil
}

// call runs f with a client and a context bounded by --timeout.
func (a *app) call(ctx context.Context, f func(ctx context.Context, c *api.Client) error) error {
	c, err := a.client()
	if err != nil {
		return err
	}
	if a.timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, a.timeout)
		defer cancel()
	}
	err = f(ctx, c)
	var ue *url.Error
	var ae *api.Error
	if err != nil && !errors.As(err, &ae) && errors.As(err, &ue) {
		return &reachError{err}
	}
	return err
}

// reachError is a request that got no answer from the node.
type reachError struct{ err error }

func (e *reachError) Error() string { return e.err.Error() }
func (e *reachError) Unwrap() error { return e.err }
