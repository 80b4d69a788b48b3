package sim_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/hostsales/hostsales/market"
	"github.com/hostsales/hostsales/sim"
)

// TestMain runs the SIGKILL children of the scenario tests (the test
// binary re-executed; see sim.MaybeRunChild), and checks for leaked
// goroutines.
func TestMain(m *testing.M) {
	sim.MaybeRunChild()
	goleak.VerifyTestMain(m)
}

// run starts tasks that log, spawn more tasks and wait on the clock, and
// returns the order of what they did.
func run(t *testing.T, seed uint64) []string {
	clock := market.NewManualClock(100)
	e := sim.NewExecutor(seed)
	c := sim.NewClock(clock, e)
	var log []string
	ctx, cancel := context.WithCancel(context.Background())
	for i := range 5 {
		e.Go(func() {
			log = append(log, fmt.Sprintf("t%d start %d", i, c.Now()))
			if i%2 == 0 {
				e.Go(func() { log = append(log, fmt.Sprintf("t%d child", i)) })
			}
			if err := c.WaitUntil(ctx, int64(100+10*(i%3))); err != nil {
				log = append(log, fmt.Sprintf("t%d cancelled %d", i, c.Now()))
				return
			}
			log = append(log, fmt.Sprintf("t%d woke %d", i, c.Now()))
		})
	}
	e.Go(func() {
		if err := c.WaitUntil(ctx, 1000); err != nil {
			log = append(log, "long cancelled")
		}
	})
	for {
		e.RunReady()
		if c.Now() >= 120 {
			cancel() // from the driver: the long waiter is woken
			e.RunReady()
			break
		}
		require.True(t, clock.Step())
	}
	assert.Equal(t, 0, e.Live())
	return log
}

func TestSameSeedSameOrder(t *testing.T) {
	a := run(t, 1)
	assert.Equal(t, a, run(t, 1))
	assert.Contains(t, a, "t0 woke 100")
	assert.Contains(t, a, "t2 woke 120")
	assert.Contains(t, a, "long cancelled")
	orders := map[string]bool{}
	for seed := range uint64(20) {
		orders[fmt.Sprint(run(t, seed))] = true
	}
	assert.Greater(t, len(orders), 2, "seeds choose different interleavings")
}

func TestConcurrentQuiesce(t *testing.T) {
	clock := market.NewManualClock(0)
	e := sim.NewConcurrentExecutor()
	c := sim.NewClock(clock, e)
	done := make(chan int, 10)
	for i := range 10 {
		e.Go(func() {
			_ = c.WaitUntil(context.Background(), int64(i))
			done <- i
		})
	}
	for got := 0; got < 10; {
		e.Quiesce()
		for len(done) > 0 {
			<-done
			got++
		}
		if got < 10 {
			require.True(t, clock.Step())
		}
	}
	e.Quiesce()
	assert.Equal(t, 0, e.Live())
}
