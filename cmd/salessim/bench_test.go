package main

import (
	"testing"

	"github.com/hostsales/hostsales/sim"
)

// BenchmarkSteady runs the steady built-in scenario, one seed per
// iteration (seeds 1, 2, 3, ... so that -benchtime Nx always runs the
// same runs), with every node in memory and on a durable (synced) on-disk
// badger repo, each with the invariant checks on (checked: as salessim
// runs them) and off (unchecked: sim.Config.SkipChecks, the same runs
// without the checks: the baseline that tells what the checks cost, to
// be read as the checked/unchecked ratio of one run of the command). It
// reports sales/s, the simulated sales completed (SaleFinished) per
// wall-clock second, and steps/s.
//
//	go test -run '^$' -bench BenchmarkSteady -benchtime 8x ./cmd/salessim
func BenchmarkSteady(b *testing.B) {
	sc, err := sim.Builtin("steady")
	if err != nil {
		b.Fatal(err)
	}
	for _, mode := range []struct {
		name    string
		durable bool
	}{{"memory", false}, {"durable", true}} {
		b.Run(mode.name, func(b *testing.B) {
			for _, checks := range []struct {
				name string
				skip bool
			}{{"checked", false}, {"unchecked", true}} {
				b.Run(checks.name, func(b *testing.B) {
					dir := b.TempDir()
					var sales, steps int
					var seed uint64
					for b.Loop() {
						seed++
						res, err := sim.Run(b.Context(), sc, sim.Config{Seed: seed, Durable: mode.durable, Dir: dir,
							StopAtViolation: true, SkipChecks: checks.skip})
						if err != nil {
							b.Fatal(err)
						}
						if v := res.Violation; v != nil {
							b.Logf("seed %d: %v", seed, v)
						}
						sales += res.Summary.SalesByEndState[completedState]
						steps += int(res.Summary.Steps)
					}
					secs := b.Elapsed().Seconds()
					b.ReportMetric(float64(sales)/secs, "sales/s")
					b.ReportMetric(float64(steps)/secs, "steps/s")
				})
			}
		})
	}
}
