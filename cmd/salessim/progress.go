package main

import (
	"fmt"
	"io"
	"os"
	"sync"
	"time"

	"github.com/schollz/progressbar/v3"
	"golang.org/x/term"
)

// progress shows a sweep's progress as a bar on stderr: the seeds done,
// or for a single seed the simulated seconds of its active phase. It is
// a no-op (nil) when stderr is not a terminal. Its methods are safe for
// concurrent use (the runs of a sweep call them from their goroutines).
type progress struct {
	mu  sync.Mutex // guards bar's max (set at the first simulated call)
	bar *progressbar.ProgressBar
	// sized is set once a single run's total is known.
	sized bool
}

// newProgress returns a bar for a sweep of n seeds of scenario, or nil if
// w is not a terminal.
func newProgress(w io.Writer, scenario string, n int) *progress {
	f, ok := w.(*os.File)
	if !ok || !term.IsTerminal(int(f.Fd())) {
		return nil
	}
	desc, max, unit := fmt.Sprintf("%s: %d seeds", scenario, n), int64(n), "seeds"
	if n == 1 {
		// Sized by the first Progress call (the active phase's length).
		desc, max, unit = scenario, 1, "sim s"
	}
	opts := []progressbar.Option{
		progressbar.OptionSetWriter(f),
		progressbar.OptionSetDescription(desc),
		progressbar.OptionSetItsString(unit),
		progressbar.OptionShowCount(),
		progressbar.OptionSetPredictTime(true),
		progressbar.OptionSetWidth(30),
		progressbar.OptionThrottle(100 * time.Millisecond),
		progressbar.OptionClearOnFinish(),
	}
	if n == 1 {
		// The simulated seconds per wall second; for seeds, whose runs
		// end in bursts, the rate jumps about too much to help.
		opts = append(opts, progressbar.OptionShowIts())
	}
	bar := progressbar.NewOptions64(max, opts...)
	return &progress{bar: bar}
}

// simulated is sim.Config.Progress for a single run.
func (p *progress) simulated(done, total int64) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if !p.sized && total > 0 {
		p.bar.ChangeMax64(total)
		p.sized = true
	}
	_ = p.bar.Set64(done) // rendering errors only lose the bar
}

// seedDone counts one finished seed of a sweep.
func (p *progress) seedDone() {
	_ = p.bar.Add(1)
}

// finish takes the bar off the terminal, so the summary starts on a clean
// line. It is a no-op on a nil progress.
func (p *progress) finish() {
	if p == nil {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	_ = p.bar.Finish()
	_ = p.bar.Clear()
}
