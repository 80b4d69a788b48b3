// Command salessim runs the deterministic marketplace simulation (package
// sim): a scenario — a built-in one or a YAML file — for one seed or a
// sweep of seeds, checking every invariant at every step, and prints what
// happened.
//
//	salessim                                 # the steady built-in, seed 1
//	salessim --list                          # the built-in scenarios
//	salessim --seed 17 storm                 # one seed of a built-in
//	salessim --seeds 1-1000 --parallel 2 flood
//	salessim --seeds 1,5,9-12 --json my.yaml # a scenario file; JSON summary
//	salessim --seed 1 --plot steady.png steady
//	salessim --durable --seeds 1-8 steady    # on-disk, synced repos
//
// For one seed it prints that run's summary; for several, their
// aggregate (sales by end state, bytes sold, collateral returned and kept,
// queue peak, invariant checks, faults, crashes, violations) and the
// throughput (simulated sales completed per wall-clock second). Seeds run
// in parallel, --parallel at a time (default: one per CPU), each its own
// sim.Run. --json prints the summary as JSON instead; for the same seeds,
// scenario and flags it is byte-identical from run to run (wall-clock
// figures only with --timing). --plot draws a single run over simulated
// time as a PNG: the free, reserved and used bytes of every availability,
// and the slot queue's length and the active sales of every node.
//
// A broken invariant prints the seed, the step, the invariant, its message,
// the end of the trace and a command that replays it exactly, such as
//
//	go run ./cmd/salessim --seed 17 storm
//
// A progress bar goes to stderr when stderr is a terminal. SIGINT or
// SIGTERM stops the runs; the seeds that finished are summed up.
//
// Exit codes: 0 every run kept every invariant; 1 a violation, or a
// harness failure (one line on stderr); 2 a usage error (an unknown flag
// or scenario, an invalid scenario file); 130 interrupted.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/hostsales/hostsales/sim"
)

func main() {
	// A sigkill scenario re-runs this executable as the child that gets
	// killed; in the child this runs the node and exits.
	sim.MaybeRunChild()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}
