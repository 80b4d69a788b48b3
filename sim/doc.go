// Package sim is the deterministic simulation of hostsales: scenarios of
// a simulated market (market/simmarket) with clients, competing hosts and
// one or more hostsales nodes, under faults, operator changes and
// crashes, run step by step from a seed, with every invariant of
// DESIGN.md (I1-I5) checked as it goes. The same seed and scenario replay
// the same run exactly (DESIGN.md, Determinism), so a failure found by a
// seed sweep can be replayed and debugged.
//
// # Running a scenario
//
// A Scenario comes from YAML (LoadScenario, ParseScenario; the built-in
// ones, BuiltinNames and Builtin, are the files of testdata/scenarios) or
// is built in Go. Run runs it:
//
//	sc, err := sim.Builtin("storm")
//	res, err := sim.Run(ctx, sc, sim.Config{Seed: 42, StopAtViolation: true})
//	// err: the harness failed. res.Violation: an invariant did not hold.
//	fmt.Println(res.Summary, res.TraceHash)
//
// cmd/salessim does the same from the command line:
//
//	go run ./cmd/salessim --seed 42 storm
//
// Each node has its own repo (in memory, or badger on disk), Reservations,
// Sales and market address; every task of every node runs on one seeded
// Executor and market time moves only when no task is ready (see Run for
// what a step is and what is checked when).
//
// # Replaying a seed
//
// A Violation names its seed and step and carries the end of the trace.
// To see everything that led there, run the same scenario with the same
// seed and Config.Trace set (every sale transition, market event,
// request, fault, crash, restart and operator action, one line each, as
// "<step> +<seconds> <who> <what>"), and Config.Logger for the nodes'
// own logs. The run is the same one, step for step: TraceHash is equal.
// Nothing in a run depends on wall time, map order or goroutine
// scheduling; only Config.Seed and the Scenario decide it.
//
// # Sweeps
//
// The tests run the storm scenario, shortened, for 200 seeds
// (TestStormSweep) and every built-in scenario twice for determinism. A
// long sweep runs behind an environment variable:
//
//	HOSTSALES_SIM_SEEDS=1-10000 go test ./sim -run TestSeedSweep -timeout 0
//
// # SIGKILL crashes
//
// A sigkill crash re-executes the running program as a child (the test
// binary, or cmd/salessim) that replays the run from the start on durable
// on-disk repos and is killed with SIGKILL at the crash point; the node
// then restarts from the child's data directory. Programs that run such
// scenarios call MaybeRunChild first thing in main (or TestMain).
//
// # The executor and the clock
//
// Executor and Clock are the building blocks: a seeded step-by-step
// executor that runs one task at a time, and a clock that parks tasks
// waiting on market time. Used directly:
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
//
// # Concurrency
//
// Run drives everything from its caller's goroutine; separate Runs are
// independent and may run in parallel. A Scenario is read, never changed,
// by Run.
package sim
