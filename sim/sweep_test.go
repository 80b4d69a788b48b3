package sim_test

import (
	"context"
	"fmt"
	"runtime"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/hostsales/hostsales/sim"
)

// sweep runs scenario sc (made fresh for each seed) for every seed, on
// every CPU, and fails for each seed with a violation or an error.
func sweep(t *testing.T, seeds []uint64, scenario func() *sim.Scenario) {
	t.Helper()
	var mu sync.Mutex
	var failed []string
	var steps uint64
	jobs := make(chan uint64)
	var wg sync.WaitGroup
	for range runtime.GOMAXPROCS(0) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for seed := range jobs {
				res, err := sim.Run(context.Background(), scenario(), sim.Config{Seed: seed, StopAtViolation: true})
				mu.Lock()
				switch {
				case err != nil:
					failed = append(failed, fmt.Sprintf("seed %d: %v", seed, err))
				case res.Violation != nil:
					failed = append(failed, res.Violation.Error())
				default:
					steps += res.Summary.Steps
				}
				mu.Unlock()
			}
		}()
	}
	for _, s := range seeds {
		jobs <- s
	}
	close(jobs)
	wg.Wait()
	t.Logf("%d seeds, %d steps", len(seeds), steps)
	for _, f := range failed {
		t.Error(f)
	}
}

// The storm, shortened, every fault on, for 200 seeds: every invariant
// holds at every step of every run, and every run drains to I5.
func TestStormSweep(t *testing.T) {
	t.Parallel()
	base, err := sim.Builtin("storm")
	require.NoError(t, err)
	seeds := make([]uint64, 200)
	for i := range seeds {
		seeds[i] = uint64(i + 1)
	}
	sweep(t, seeds, func() *sim.Scenario {
		sc := *base
		sc.Duration = 300
		sc.Clients.Requests.Duration = sim.Range{Min: 120, Max: 600}
		return &sc
	})
}
