// Package sim runs hostsales deterministically: a seeded step-by-step
// executor that runs one task at a time, and a clock that parks tasks
// waiting on market time, so that the same seed and scenario replay the
// same run exactly (DESIGN.md, Determinism).
//
// # Usage
//
//	clock := market.NewManualClock(start)     // the simulated market's clock
//	exec := sim.NewExecutor(seed)
//	pc := sim.NewClock(clock, exec)           // give pc to Sales as its Clock
//	s, _ := sales.New(sales.Deps{Clock: pc, ...}, &sales.Options{Executor: exec, ...})
//	for !done() {
//		exec.RunReady()                      // every ready task, one at a time
//		if !clock.Step() { break }            // then advance market time
//	}
//
// Every task of the system under test must be started through the
// Executor and must block only in the Clock's WaitUntil (or not at all);
// any other blocking would stall the run (Step never returns). Work done
// on the driver's goroutine (market events fired by the clock) happens
// between steps.
package sim
