package market

import (
	"context"
	"runtime"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestManualClockSetAdvance(t *testing.T) {
	c := NewManualClock(100)
	assert.Equal(t, int64(100), c.Now())
	require.NoError(t, c.Advance(5))
	assert.Equal(t, int64(105), c.Now())
	require.NoError(t, c.Set(105), "setting the current time is allowed")
	assert.ErrorIs(t, c.Set(104), ErrClockBackwards)
	assert.Equal(t, int64(105), c.Now())
	assert.ErrorIs(t, c.Advance(1<<63), ErrClockBackwards)
	assert.Equal(t, int64(105), c.Now())
}

func TestManualClockTimersFireInOrder(t *testing.T) {
	c := NewManualClock(0)
	var got []string
	var at []int64
	rec := func(name string) func() {
		return func() { got = append(got, name); at = append(at, c.Now()) }
	}
	c.AfterFunc(20, rec("b@20"))
	c.AfterFunc(10, rec("a@10"))
	c.AfterFunc(20, rec("c@20"))
	stopped := c.AfterFunc(15, rec("stopped"))
	c.AfterFunc(10, func() {
		rec("d@10")()
		// Registered while firing, for a time not yet passed: fires in this move.
		c.AfterFunc(12, rec("e@12"))
		// Due at once: fires before anything later.
		c.AfterFunc(0, rec("f@now"))
	})
	assert.Equal(t, 5, c.Waiters())
	d, ok := c.NextDeadline()
	require.True(t, ok)
	assert.Equal(t, int64(10), d)

	assert.True(t, stopped.Stop())
	assert.False(t, stopped.Stop())
	require.NoError(t, c.Set(100))
	assert.Equal(t, []string{"a@10", "d@10", "f@now", "e@12", "b@20", "c@20"}, got)
	assert.Equal(t, []int64{10, 10, 10, 12, 20, 20}, at, "Now() is the deadline while it fires")
	assert.Equal(t, int64(100), c.Now())
	assert.Equal(t, 0, c.Waiters())
	_, ok = c.NextDeadline()
	assert.False(t, ok)
}

func TestManualClockStep(t *testing.T) {
	c := NewManualClock(0)
	assert.False(t, c.Step())
	var fired []int64
	c.AfterFunc(30, func() { fired = append(fired, c.Now()) })
	c.AfterFunc(50, func() { fired = append(fired, c.Now()) })
	require.True(t, c.Step())
	assert.Equal(t, int64(30), c.Now())
	assert.Equal(t, []int64{30}, fired)
	// A due timer fires without moving the clock.
	c.AfterFunc(10, func() { fired = append(fired, c.Now()) })
	require.True(t, c.Step())
	assert.Equal(t, int64(30), c.Now())
	require.True(t, c.Step())
	assert.Equal(t, []int64{30, 30, 50}, fired)
	assert.False(t, c.Step())
}

func TestManualClockWaitUntil(t *testing.T) {
	c := NewManualClock(10)
	ctx := context.Background()
	require.NoError(t, c.WaitUntil(ctx, 10), "already reached")
	require.NoError(t, c.WaitUntil(ctx, 5))

	done := make(chan error, 1)
	go func() { done <- c.WaitUntil(ctx, 20) }()
	waitForWaiters(t, c, 1)
	require.NoError(t, c.Set(19))
	select {
	case <-done:
		t.Fatal("woke before its time")
	default:
	}
	require.NoError(t, c.Set(20))
	require.NoError(t, <-done)
}

func TestManualClockWaitUntilCancelled(t *testing.T) {
	c := NewManualClock(0)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- c.WaitUntil(ctx, 100) }()
	waitForWaiters(t, c, 1)
	cancel()
	assert.ErrorIs(t, <-done, context.Canceled)
	assert.Equal(t, 0, c.Waiters(), "a cancelled wait is removed")
	assert.ErrorIs(t, c.WaitUntil(ctx, 0), context.Canceled, "a done ctx wins even if the time passed")
}

func TestManualClockConcurrent(t *testing.T) {
	c := NewManualClock(0)
	ctx := context.Background()
	var wg sync.WaitGroup
	for i := range 50 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			assert.NoError(t, c.WaitUntil(ctx, int64(i%7)+1))
		}()
	}
	for range 10 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_ = c.Advance(1)
			_ = c.Now()
			_, _ = c.NextDeadline()
		}()
	}
	wg.Wait()
	assert.Equal(t, int64(10), c.Now())
}

// waitForWaiters blocks until n goroutines wait on c. It polls a counter
// the clock maintains, never the wall clock.
func waitForWaiters(t *testing.T, c *ManualClock, n int) {
	t.Helper()
	for c.Waiters() < n {
		runtime.Gosched()
	}
}
