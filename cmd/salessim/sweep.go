package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"slices"
	"sync"
	"sync/atomic"

	"github.com/hostsales/hostsales/sim"
)

// outcome is what one seed's run came to: res if it ran to its end (or
// to its violation), err if it failed or was stopped, neither if it was
// never started. (res and err are both set when the run ended but its
// data could not be removed.)
type outcome struct {
	seed uint64
	res  *sim.Result
	err  error
	// cancelled is set when err only says the sweep stopped the run
	// (interrupted, or ended early by a failure elsewhere or --fail-fast).
	cancelled bool
}

// ran reports whether the run went to its end (or to its violation).
func (o *outcome) ran() bool { return o.res != nil }

// sweepResult is every seed's outcome, in the order of the seeds.
type sweepResult struct {
	outcomes []outcome
	// interrupted is set when ctx (the caller's: SIGINT) ended the sweep
	// before every seed ran.
	interrupted bool
}

// sweepOptions tunes a sweep.
type sweepOptions struct {
	parallel int  // runs at once (at least 1)
	failFast bool // stop at the first violation
	// simulated, optional, is the Config.Progress of a sweep of one seed.
	simulated func(done, total int64)
	// seedDone, optional, is called (from the run's goroutine) after each
	// seed of a sweep of several has run or failed.
	seedDone func()
}

// errStopped is the cause the sweep cancels its runs with after a harness
// failure or, with failFast, a violation.
var errStopped = errors.New("salessim: sweep stopped")

// sweep runs sc once per seed, opts.parallel runs at a time, each with cfg
// and its own seed, and returns the outcomes in the order of seeds. A
// harness failure stops the runs still going (and those not started);
// so does a violation with failFast. Cancelling ctx stops them all. sweep
// returns after every run it started has returned.
func sweep(ctx context.Context, sc *sim.Scenario, seeds []uint64, cfg sim.Config, opts sweepOptions) *sweepResult {
	sctx, stop := context.WithCancelCause(ctx)
	defer stop(nil)
	out := &sweepResult{outcomes: make([]outcome, len(seeds))}
	for i, s := range seeds {
		out.outcomes[i].seed = s
	}
	single := len(seeds) == 1
	var next atomic.Int64
	var wg sync.WaitGroup
	for range min(opts.parallel, len(seeds)) {
		wg.Go(func() {
			for {
				i := int(next.Add(1) - 1)
				if i >= len(seeds) || sctx.Err() != nil {
					return
				}
				oc := &out.outcomes[i]
				c := cfg
				c.Seed = oc.seed
				if single {
					c.Progress = opts.simulated
				}
				res, err := sim.Run(sctx, sc, c)
				switch {
				case err != nil && sctx.Err() != nil:
					oc.err, oc.cancelled = err, true
				case err != nil:
					oc.err = err
					stop(errStopped)
				default:
					oc.res = res
					if res.Dir != "" {
						// Config.Dir was set: the run's data is ours to
						// remove, now rather than at the end of the sweep.
						if err := os.RemoveAll(res.Dir); err != nil {
							oc.err = fmt.Errorf("removing the run's data: %w", err)
							stop(errStopped)
						}
					}
					if res.Violation != nil && opts.failFast {
						stop(errStopped)
					}
				}
				if !single && opts.seedDone != nil {
					opts.seedDone()
				}
			}
		})
	}
	wg.Wait()
	out.interrupted = ctx.Err() != nil && slices.ContainsFunc(out.outcomes, func(oc outcome) bool { return !oc.ran() })
	return out
}
