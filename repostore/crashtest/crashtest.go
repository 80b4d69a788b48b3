// Package crashtest is the harness of the SIGKILL crash tests: a child
// process (the test binary running itself) logs its intent before and its
// acknowledgement after every operation; the parent kills it after a
// number of acknowledgements, reads everything it wrote, waits for it,
// and tells per worker how many operations were acknowledged and how many
// begun. The one in flight at the kill may or may not have happened; an
// acknowledged one must be there.
//
// It is a test harness in its own package (as etcd's rafttest), imported
// only by tests.
package crashtest

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
)

// Log is the child's side. Each line is one write, so a kill never leaves
// half a line that parses. It is safe for concurrent use.
type Log struct {
	mu sync.Mutex
	w  io.Writer
}

// NewLog returns a Log writing to w (the child's standard output).
func NewLog(w io.Writer) *Log { return &Log{w: w} }

func (l *Log) line(kind byte, worker, seq int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	_, _ = io.WriteString(l.w, fmt.Sprintf("%c %d %d\n", kind, worker, seq))
}

// Intent records that worker is about to run its operation seq.
func (l *Log) Intent(worker, seq int) { l.line('I', worker, seq) }

// Ack records that worker's operation seq returned successfully.
func (l *Log) Ack(worker, seq int) { l.line('A', worker, seq) }

// Result is what the parent learnt of one child run, per worker.
type Result struct {
	Acked    []int // operations acknowledged
	Intended []int // operations begun (Acked, or one more)
}

// Run starts the test binary again (running no test) with env added to
// this process's environment, kills it with SIGKILL after killAfter
// acknowledgements, reads all its output, then waits for it. It fails if
// the child exits on its own or before killAfter acknowledgements.
func Run(env []string, workers, killAfter int) (Result, error) {
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), env...)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		return Result{}, err
	}
	if err := cmd.Start(); err != nil {
		return Result{}, err
	}
	r := Result{Acked: make([]int, workers), Intended: make([]int, workers)}
	sc := bufio.NewScanner(out)
	n, killed := 0, false
	for sc.Scan() { // read everything before waiting: the pipe must drain
		var kind string
		var w, seq int
		if _, err := fmt.Sscanf(sc.Text(), "%s %d %d", &kind, &w, &seq); err != nil || w < 0 || w >= workers {
			continue
		}
		switch kind {
		case "I":
			r.Intended[w]++
		case "A":
			r.Acked[w]++
			n++
		}
		if n >= killAfter && !killed {
			if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
				return r, err
			}
			killed = true
		}
	}
	err = cmd.Wait()
	var exit *exec.ExitError
	if !errors.As(err, &exit) {
		return r, fmt.Errorf("crashtest: child ended on its own (%v): %s", err, stderr.String())
	}
	if !killed {
		return r, fmt.Errorf("crashtest: child exited after %d acknowledgements: %s", n, stderr.String())
	}
	return r, nil
}
