package sim

import (
	"bufio"
	"bytes"
	"context"
	"encoding/gob"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
)

// ChildEnv is the environment variable that makes a process a SIGKILL
// child of Run: it names the file describing the run to replay. A program
// that runs scenarios with sigkill crashes calls MaybeRunChild first
// thing in main (or TestMain), and Run re-executes it (Config.ChildCommand)
// with ChildEnv set.
const ChildEnv = "HOSTSALES_SIM_CHILD"

// MaybeRunChild returns at once unless ChildEnv is set. If it is, this
// process is a SIGKILL child: it replays the run described by the file
// ChildEnv names, from the start and with the same seed, on durable
// on-disk repos in the directory the file gives, until the crash it was
// started for lands; there it prints a line with the trace's hash, and
// waits to be killed with SIGKILL. It never returns: it exits the process
// (status 0 when the run ended before the crash, 3 on a harness error).
//
// The protocol on standard output is one line per message:
// "SIMCHILD READY <hash>", "SIMCHILD END" or "SIMCHILD ERROR <text>".
func MaybeRunChild() {
	path := os.Getenv(ChildEnv)
	if path == "" {
		return
	}
	out := os.Stdout
	fail := func(err error) {
		fmt.Fprintf(out, "SIMCHILD ERROR %s\n", strings.ReplaceAll(err.Error(), "\n", " "))
		os.Exit(3)
	}
	f, err := os.Open(path)
	if err != nil {
		fail(err)
	}
	var spec childSpec
	err = gob.NewDecoder(f).Decode(&spec)
	_ = f.Close()
	if err != nil {
		fail(fmt.Errorf("reading %s: %w", path, err))
	}
	role := &childRole{target: spec.Target, dir: spec.Dir, out: out}
	cfg := Config{Seed: spec.Seed, Durable: spec.Durable, StopAtViolation: spec.StopAtViolation,
		BreakAccountingAt: spec.BreakAccountingAt, SkipChecks: spec.SkipChecks}
	if _, err := run(context.Background(), spec.Scenario, cfg, role); err != nil {
		fail(err)
	}
	_ = role.end()
}

// childSpec is what a SIGKILL child replays: the run's scenario and the
// parts of its Config that change what happens, the sigkill crash to stop
// at, and its data directory.
type childSpec struct {
	Scenario          *Scenario
	Seed              uint64
	Durable           bool
	StopAtViolation   bool
	BreakAccountingAt uint64
	SkipChecks        bool
	Target            int
	Dir               string
}

// childRole is a run's part in a SIGKILL child: stop at sigkill crash
// number target (earlier ones are replayed as in-memory crashes over the
// same directory, which leaves the same committed state).
type childRole struct {
	target int
	dir    string
	out    io.Writer
}

// ready reports that the crash landed and waits to be killed. If the
// parent goes away instead (standard input closes), the child exits.
func (c *childRole) ready(digest string) {
	fmt.Fprintf(c.out, "SIMCHILD READY %s\n", digest)
	_, _ = io.Copy(io.Discard, os.Stdin)
	os.Exit(0)
}

// end reports that the run ended before the crash, and exits.
func (c *childRole) end() error {
	fmt.Fprintf(c.out, "SIMCHILD END\n")
	os.Exit(0)
	return nil
}

// killChild runs the SIGKILL child for crash cp: it replays the run in a
// child process until the crash lands there, checks that the child got
// there by the same path (the trace's hash), kills it with SIGKILL, and
// returns the child's data directory, in which the crashed node's repo is
// as the kill left it.
func (r *runner) killChild(cp *crashPoint) (string, error) {
	if os.Getenv(ChildEnv) != "" {
		// This process was started as a child but did not stop in
		// MaybeRunChild: starting children of its own could go on forever.
		return "", fmt.Errorf("sim: SIGKILL child: this program runs as a child (%s is set) but does not call sim.MaybeRunChild first thing", ChildEnv)
	}
	dir := filepath.Join(r.dir, fmt.Sprintf("kill-%d", cp.sigkill))
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", fmt.Errorf("sim: SIGKILL child: %w", err)
	}
	specPath := filepath.Join(dir, "child.gob")
	var buf bytes.Buffer
	spec := childSpec{Scenario: r.sc, Seed: r.cfg.Seed, Durable: r.cfg.Durable, StopAtViolation: r.cfg.StopAtViolation,
		BreakAccountingAt: r.cfg.BreakAccountingAt, SkipChecks: r.cfg.SkipChecks, Target: cp.sigkill, Dir: dir}
	if err := gob.NewEncoder(&buf).Encode(&spec); err != nil {
		return "", fmt.Errorf("sim: SIGKILL child: encoding the run: %w", err)
	}
	if err := os.WriteFile(specPath, buf.Bytes(), 0o644); err != nil {
		return "", fmt.Errorf("sim: SIGKILL child: %w", err)
	}
	argv := r.cfg.ChildCommand
	if len(argv) == 0 {
		exe, err := os.Executable()
		if err != nil {
			exe = os.Args[0]
		}
		argv = []string{exe}
	}
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Env = append(os.Environ(), ChildEnv+"="+specPath)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return "", fmt.Errorf("sim: SIGKILL child: %w", err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return "", fmt.Errorf("sim: SIGKILL child: %w", err)
	}
	if err := cmd.Start(); err != nil {
		return "", fmt.Errorf("sim: SIGKILL child: starting %s: %w", argv[0], err)
	}
	defer stdin.Close()
	sc := bufio.NewScanner(stdout)
	var digest, problem string
	killed := false
	for sc.Scan() { // everything is read before Wait: the pipe must drain
		line := sc.Text()
		switch {
		case strings.HasPrefix(line, "SIMCHILD READY ") && !killed:
			digest = strings.TrimPrefix(line, "SIMCHILD READY ")
			if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
				problem = "killing it: " + err.Error()
			}
			killed = true
		case strings.HasPrefix(line, "SIMCHILD END"):
			problem = "it ran to the end without reaching the crash"
		case strings.HasPrefix(line, "SIMCHILD ERROR "):
			problem = strings.TrimPrefix(line, "SIMCHILD ERROR ")
		}
	}
	err = cmd.Wait()
	if !killed && problem == "" {
		problem = "it ended without reaching the crash (does " + argv[0] + " call sim.MaybeRunChild first thing?)"
	}
	if problem != "" {
		return "", fmt.Errorf("sim: SIGKILL child for crash %d at step %d: %s\n%s", cp.sigkill, r.step, problem, stderr.String())
	}
	var exit *exec.ExitError
	if !killed || !errors.As(err, &exit) {
		return "", fmt.Errorf("sim: SIGKILL child for crash %d at step %d was not killed (%v)\n%s", cp.sigkill, r.step, err, stderr.String())
	}
	if ws, ok := exit.Sys().(syscall.WaitStatus); !ok || !ws.Signaled() || ws.Signal() != syscall.SIGKILL {
		return "", fmt.Errorf("sim: SIGKILL child for crash %d ended by %v, not SIGKILL\n%s", cp.sigkill, err, stderr.String())
	}
	if digest != cp.digest {
		return "", fmt.Errorf("sim: SIGKILL child for crash %d at step %d replayed another run (trace %s, here %s): the run is not deterministic",
			cp.sigkill, r.step, digest, cp.digest)
	}
	return dir, nil
}
