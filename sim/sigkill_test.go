package sim_test

import (
	"bytes"
	"context"
	"fmt"
	"math/rand/v2"
	"regexp"
	"runtime"
	"slices"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hostsales/hostsales/sim"
)

// The real crash, at 51 kill points: for each of 17 seeds the sigkill
// scenario runs with three kills at steps drawn at random. At each, a
// child process (this test binary, run again: TestMain calls
// sim.MaybeRunChild) replays the run from the start on a durable on-disk
// repo until the kill point (a datastore call within the step, possibly
// inside an operation, or the end of the step), and is killed there with
// SIGKILL. The node restarts from the child's data directory: it must hold
// exactly what was committed before the kill (checked as "durability"),
// and the run goes on to its end with I1-I5 holding.
func TestSIGKILLKillPoints(t *testing.T) {
	t.Parallel()
	base, err := sim.Builtin("sigkill")
	require.NoError(t, err)
	const seeds, kills = 17, 3
	rng := rand.New(rand.NewPCG(5, 5))
	type job struct {
		seed  uint64
		steps []uint64
	}
	var jobs []job
	for s := range uint64(seeds) {
		// The kill points fall in the first 80% of the run's active phase
		// (where crashes strike), learned from a run in memory without
		// crashes; each restart adds steps, so the last still lands.
		plain := *base
		plain.Crashes = nil
		plain.Nodes = slices.Clone(base.Nodes)
		for i := range plain.Nodes {
			plain.Nodes[i].OnDisk, plain.Nodes[i].Durable = false, false
		}
		pre, err := sim.Run(context.Background(), &plain, sim.Config{Seed: s + 1})
		require.NoError(t, err)
		require.Nil(t, pre.Violation)
		span := int(pre.ActiveSteps * 4 / 5)
		require.Greater(t, span, kills*60, "seed %d: too short a run for %d kills", s+1, kills)
		var steps []uint64
		for len(steps) < kills {
			k := uint64(1 + rng.IntN(span))
			if !slices.ContainsFunc(steps, func(o uint64) bool { return max(o, k)-min(o, k) < 60 }) {
				steps = append(steps, k)
			}
		}
		slices.Sort(steps)
		jobs = append(jobs, job{seed: s + 1, steps: steps})
	}
	landed := regexp.MustCompile(`crash lands at (get|has|put|delete|query|commit)`)
	var mu sync.Mutex
	midOp, total := 0, 0
	work := make(chan job)
	var wg sync.WaitGroup
	for range runtime.GOMAXPROCS(0) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := range work {
				sc := *base
				sc.Crashes = []sim.CrashSpec{{Kind: sim.CrashSigkill, Node: "disk", When: sim.When{Steps: j.steps}}}
				var trace bytes.Buffer
				res, err := sim.Run(context.Background(), &sc, sim.Config{Seed: j.seed, Trace: &trace, Dir: t.TempDir()})
				name := fmt.Sprintf("seed %d kills at steps %v", j.seed, j.steps)
				if !assert.NoError(t, err, name) {
					continue
				}
				assert.Nil(t, res.Violation, name)
				assert.Equal(t, kills, res.Summary.Crashes, name)
				assert.Equal(t, kills, res.Summary.Restarts, name)
				mu.Lock()
				midOp += len(landed.FindAllIndex(trace.Bytes(), -1))
				total += res.Summary.Crashes
				mu.Unlock()
			}
		}()
	}
	for _, j := range jobs {
		work <- j
	}
	close(work)
	wg.Wait()
	t.Logf("%d kill points, %d of them inside a datastore operation", total, midOp)
	assert.GreaterOrEqual(t, total, 50)
	assert.Positive(t, midOp, "some kills interrupt an operation")
}

// A child command that does not run the child (it never calls
// sim.MaybeRunChild) is a harness error that says so, not a hang.
func TestSIGKILLChildMustRunTheChild(t *testing.T) {
	t.Parallel()
	sc, err := sim.Builtin("sigkill")
	require.NoError(t, err)
	sc.Crashes = []sim.CrashSpec{{Kind: sim.CrashSigkill, Node: "disk", When: sim.When{Steps: []uint64{20}}}}
	_, err = sim.Run(context.Background(), sc, sim.Config{Seed: 1, ChildCommand: []string{"true"}})
	require.Error(t, err)
	assert.Contains(t, err.Error(), "MaybeRunChild")
}
