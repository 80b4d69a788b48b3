package slotqueue_test

// Behaviour beyond SPEC.md §8.3: overflow, errors and panics in callbacks,
// stopping, restarting, and the Item helpers.

import (
	"context"
	"errors"
	"runtime"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/holiman/uint256"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hostsales/hostsales/slotqueue"
)

// DESIGN Decision 9: a full queue drops the globally lowest item, and says so.
func TestFullQueueDropsGlobalLowest(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		g := newGate()
		var mu sync.Mutex
		var drops []slotqueue.Key
		q, err := slotqueue.New(g.process, &slotqueue.Options{
			MaxWorkers: 1, MaxSize: 3,
			OnDrop: func(it slotqueue.Item) {
				mu.Lock()
				defer mu.Unlock()
				drops = append(drops, it.Key())
			},
		})
		require.NoError(t, err)
		require.NoError(t, q.Start(context.Background()))
		defer func() { require.NoError(t, q.Stop(context.Background())) }()
		require.NoError(t, q.Push(priced(9, 0, 100))) // occupies the worker
		synctest.Wait()

		p5, p1, p3 := priced(1, 0, 5), priced(2, 0, 1), priced(3, 0, 3)
		require.NoError(t, q.Push(p5, p1, p3))
		// p1 is a child of the root here, not the last leaf: the reference
		// would have dropped the new item's leaf instead.
		p4 := priced(4, 0, 4)
		require.NoError(t, q.Push(p4))
		p0 := priced(5, 0, 0)
		require.NoError(t, q.Push(p0), "dropping the pushed item is still a success")

		assert.Equal(t, keys(p5, p4, p3), keys(q.Items()...))
		mu.Lock()
		assert.Equal(t, keys(p1, p0), drops)
		mu.Unlock()
		assert.Equal(t, uint64(2), q.Stats().Dropped)
		close(g.release)
	})
}

// A worker is never lost: errors and panics in the callback are counted and
// reported, and the worker takes the next item.
func TestCallbackErrorsAndPanicsKeepWorkers(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		boom := errors.New("boom")
		var mu sync.Mutex
		reported := map[slotqueue.Key]error{}
		release := make(chan struct{})
		process := func(ctx context.Context, it slotqueue.Item) error {
			switch it.RequestID[0] {
			case 1:
				return boom
			case 2:
				panic("kaput")
			case 3:
				panic(boom)
			case 4:
				runtime.Goexit()
			case 5:
				<-release
			}
			return nil
		}
		q, err := slotqueue.New(process, &slotqueue.Options{
			MaxWorkers: 2, MaxSize: 16,
			OnError: func(it slotqueue.Item, err error) {
				mu.Lock()
				defer mu.Unlock()
				reported[it.Key()] = err
			},
		})
		require.NoError(t, err)
		require.NoError(t, q.Start(context.Background()))
		defer func() { require.NoError(t, q.Stop(context.Background())) }()

		require.NoError(t, q.Push(mk(1, 0), mk(2, 0), mk(3, 0), mk(4, 0), mk(6, 0)))
		synctest.Wait()
		st := q.Stats()
		assert.Equal(t, uint64(5), st.Processed)
		assert.Equal(t, uint64(2), st.Errors, "the error and the Goexit")
		assert.Equal(t, uint64(2), st.Panics)
		assert.Equal(t, 0, st.WorkersBusy)

		mu.Lock()
		assert.ErrorIs(t, reported[mk(1, 0).Key()], boom)
		var pe *slotqueue.PanicError
		require.ErrorAs(t, reported[mk(2, 0).Key()], &pe)
		assert.Equal(t, "kaput", pe.Value)
		assert.NotEmpty(t, pe.Stack)
		assert.ErrorIs(t, reported[mk(2, 0).Key()], slotqueue.ErrPanic)
		assert.ErrorIs(t, reported[mk(3, 0).Key()], slotqueue.ErrPanic)
		assert.ErrorIs(t, reported[mk(3, 0).Key()], boom, "an error panic value is unwrapped")
		assert.Error(t, reported[mk(4, 0).Key()])
		assert.Len(t, reported, 4)
		mu.Unlock()

		// Both workers are back, the one whose callback called Goexit included.
		require.NoError(t, q.Push(mk(5, 0), mk(5, 1)))
		synctest.Wait()
		assert.Equal(t, 2, q.Stats().WorkersBusy)
		close(release)
	})
}

// Stop cancels the callbacks' context with cause ErrStopped and waits for
// them; Push then fails and items stay queued.
func TestStopCancelsCallbacksAndWaits(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		type key struct{}
		var mu sync.Mutex
		var causes []error
		var vals []any
		process := func(ctx context.Context, it slotqueue.Item) error {
			<-ctx.Done()
			time.Sleep(time.Second) // clean-up work after the cancel
			mu.Lock()
			defer mu.Unlock()
			causes = append(causes, context.Cause(ctx))
			vals = append(vals, ctx.Value(key{}))
			return ctx.Err()
		}
		q, err := slotqueue.New(process, &slotqueue.Options{MaxWorkers: 2, MaxSize: 8})
		require.NoError(t, err)
		startCtx, cancelStart := context.WithCancel(context.WithValue(context.Background(), key{}, "v"))
		require.NoError(t, q.Start(startCtx))
		cancelStart() // bounds Start only
		require.NoError(t, q.Push(mk(1, 0), mk(2, 0), mk(3, 0)))
		synctest.Wait()
		require.Equal(t, 2, q.Stats().WorkersBusy, "the cancelled start context did not stop them")

		start := time.Now()
		require.NoError(t, q.Stop(context.Background()))
		assert.Equal(t, time.Second, time.Since(start), "Stop waited for the callbacks")
		assert.Equal(t, []error{slotqueue.ErrStopped, slotqueue.ErrStopped}, causes)
		assert.Equal(t, []any{"v", "v"}, vals, "the start context's values are passed on")
		assert.ErrorIs(t, q.Push(mk(4, 0)), slotqueue.ErrNotRunning)
		assert.False(t, q.Delete(mk(3, 0).Key()), "no deletes when stopped, as the reference")
		assert.Equal(t, 0, q.DeleteRequest(reqID(3)))
		assert.True(t, q.Contains(mk(3, 0).Key()), "items stay queued")
		st := q.Stats()
		assert.False(t, st.Running)
		assert.Equal(t, 0, st.WorkersBusy)
	})
}

// Stop(ctx) gives up waiting when ctx ends; a later Stop waits again, and the
// queue can be restarted with its items.
func TestStopTimeoutAndRestart(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var rec recorder
		release := make(chan struct{})
		process := func(ctx context.Context, it slotqueue.Item) error {
			if it.RequestID[0] == 1 {
				<-release // ignores ctx
			}
			return rec.process(0)(ctx, it)
		}
		q, err := slotqueue.New(process, &slotqueue.Options{MaxWorkers: 1, MaxSize: 8})
		require.NoError(t, err)
		require.NoError(t, q.Start(context.Background()))
		require.NoError(t, q.Push(priced(1, 0, 9), priced(2, 0, 1)))
		synctest.Wait()

		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		assert.ErrorIs(t, q.Stop(ctx), context.DeadlineExceeded)

		// Restart while the old worker is still inside its callback: the
		// worker bound holds, so the new worker waits for it.
		require.NoError(t, q.Start(context.Background()))
		synctest.Wait()
		assert.Equal(t, 1, q.Stats().WorkersBusy)
		assert.Equal(t, 1, q.Len())
		close(release)
		synctest.Wait()
		assert.Equal(t, keys(priced(1, 0, 9), priced(2, 0, 1)), rec.got())
		assert.NoError(t, q.Stop(context.Background()))
	})
}

// A callback may push its item back marked seen (SPEC §3.6): the queue then
// pauses when that item comes up again.
func TestCallbackRequeuesSeenItem(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var q *slotqueue.Queue
		var mu sync.Mutex
		calls := 0
		process := func(ctx context.Context, it slotqueue.Item) error {
			mu.Lock()
			calls++
			mu.Unlock()
			it.Seen = true
			return q.Push(it)
		}
		q = started(t, process, 2, 8)
		require.NoError(t, q.Push(mk(1, 0), mk(1, 1)))
		synctest.Wait()
		assert.Equal(t, 2, calls)
		assert.True(t, q.Paused())
		assert.Equal(t, 2, q.Len())

		q.ClearSeenFlags()
		q.Unpause()
		synctest.Wait()
		assert.Equal(t, 4, calls, "each item tried once more")
		assert.True(t, q.Paused())
	})
}

func TestProfitabilitySaturates(t *testing.T) {
	it := mk(1, 0)
	it.SlotSize, it.Duration = 1<<40, 3600
	it.PricePerBytePerSecond.SetUint64(7)
	p := it.Profitability()
	want := new(uint256.Int).Mul(uint256.NewInt(1<<40), uint256.NewInt(3600))
	want.Mul(want, uint256.NewInt(7))
	assert.Equal(t, want.Dec(), p.Dec())

	huge := it
	huge.PricePerBytePerSecond.SetAllOne()
	p = huge.Profitability()
	assert.Equal(t, new(uint256.Int).SetAllOne().Dec(), p.Dec())
	huge.PricePerBytePerSecond.Lsh(uint256.NewInt(1), 230) // overflows only with the duration
	p = huge.Profitability()
	assert.Equal(t, new(uint256.Int).SetAllOne().Dec(), p.Dec())

	// Saturated items tie on profitability; collateral decides.
	other := huge
	other.RequestID[0] = 2
	other.Collateral.SetUint64(0)
	assert.Negative(t, slotqueue.Compare(other, huge))
}

// The expiry criterion is total: no expiry ranks after any expiry.
func TestCompareExpiryIsTransitive(t *testing.T) {
	a, b, c := mk(1, 0), mk(2, 0), mk(3, 0)
	a.Expiry, a.HasExpiry = 5, true
	c.Expiry, c.HasExpiry = 3, true
	assert.Negative(t, slotqueue.Compare(a, c))
	assert.Negative(t, slotqueue.Compare(c, b), "an expiry beats none")
	assert.Negative(t, slotqueue.Compare(a, b))
	zero := mk(4, 0)
	zero.HasExpiry = true
	assert.Negative(t, slotqueue.Compare(zero, b), "even expiry 0")
	assert.Zero(t, slotqueue.Compare(b, mk(5, 0)))
}

// Ties go to the item pushed first, so a request's slots keep NewItems'
// shuffled order.
func TestTiesKeepPushOrder(t *testing.T) {
	c, err := slotqueue.NewCore(1, 64)
	require.NoError(t, err)
	items, err := slotqueue.NewItems(mk(7, 0), 40, seeded(11))
	require.NoError(t, err)
	for _, it := range items {
		_, _, err := c.Push(it)
		require.NoError(t, err)
	}
	assert.Equal(t, keys(items...), keys(c.Items()...))
	for _, want := range items {
		got, ok := c.Next()
		require.True(t, ok)
		assert.Equal(t, want.Key(), got.Key())
		c.Done()
	}
}

func TestItemAndQueueStrings(t *testing.T) {
	it := mk(0xab, 3)
	assert.Equal(t, "0xab00000000000000000000000000000000000000000000000000000000000000/3", it.String())
	it.Seen = true
	assert.Contains(t, it.String(), "/3 (seen)")

	c, err := slotqueue.NewCore(1, 4)
	require.NoError(t, err)
	assert.Equal(t, "[]", c.String())
	_, _, err = c.Push(priced(1, 0, 1))
	require.NoError(t, err)
	_, _, err = c.Push(priced(2, 1, 2))
	require.NoError(t, err)
	assert.Equal(t, "[0x02"+zeros(62)+"/1, 0x01"+zeros(62)+"/0]", c.String())
}

func zeros(n int) string {
	b := make([]byte, n)
	for i := range b {
		b[i] = '0'
	}
	return string(b)
}

// Core's worker accounting: Next hands out at most MaxWorkers items.
func TestCoreWorkerBound(t *testing.T) {
	c, err := slotqueue.NewCore(2, 8)
	require.NoError(t, err)
	assert.True(t, c.Paused())
	_, ok := c.Next()
	assert.False(t, ok, "empty and paused")
	for i := range 4 {
		_, _, err := c.Push(mk(byte(i), 0))
		require.NoError(t, err)
	}
	_, ok1 := c.Next()
	_, ok2 := c.Next()
	_, ok3 := c.Next()
	assert.Equal(t, []bool{true, true, false}, []bool{ok1, ok2, ok3})
	assert.Equal(t, 2, c.Busy())
	assert.False(t, c.Ready())
	c.Done()
	assert.True(t, c.Ready())
	c.Done()
	c.Done() // extra calls are ignored
	assert.Equal(t, 0, c.Busy())
	assert.Equal(t, 2, c.MaxWorkers())
	assert.Equal(t, 8, c.Cap())
}
