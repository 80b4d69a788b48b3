package slotqueue_test

// The cases of SPEC.md §8.3 (tests/codex/sales/testslotqueue.nim), one test
// each, in the spec's order. Time is synctest's fake clock: sleeps return as
// soon as every goroutine of the bubble waits.

import (
	"context"
	"math/rand/v2"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hostsales/hostsales/slotqueue"
)

// Suite "Slot queue start/stop".

// Reference: SPEC.md §8.3 item 1
func TestStartsOutNotRunning(t *testing.T) {
	q, err := slotqueue.New((&recorder{}).process(0), nil)
	require.NoError(t, err)
	assert.False(t, q.Running())
	assert.ErrorIs(t, q.Push(mk(1, 0)), slotqueue.ErrNotRunning)
}

// Reference: SPEC.md §8.3 item 2
func TestQueueStartsPaused(t *testing.T) {
	q, err := slotqueue.New((&recorder{}).process(0), nil)
	require.NoError(t, err)
	assert.True(t, q.Paused())
	assert.True(t, q.Stats().Paused)
}

// Reference: SPEC.md §8.3 item 3
func TestStartMultipleTimes(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		g := newGate()
		q := started(t, g.process, 2, 8)
		require.NoError(t, q.Start(context.Background())) // already running
		require.NoError(t, q.Start(context.Background()))
		assert.True(t, q.Running())

		// Still exactly MaxWorkers workers: two take an item, the rest wait.
		require.NoError(t, q.Push(mk(1, 0), mk(1, 1), mk(1, 2), mk(1, 3)))
		synctest.Wait()
		st := q.Stats()
		assert.Equal(t, 2, st.WorkersBusy)
		assert.Equal(t, 2, st.Len)
		close(g.release)
		synctest.Wait()
		assert.Equal(t, uint64(4), q.Stats().Processed)
	})
}

// Reference: SPEC.md §8.3 item 4
func TestStopWhenAlreadyStopped(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		q, err := slotqueue.New((&recorder{}).process(0), nil)
		require.NoError(t, err)
		assert.NoError(t, q.Stop(context.Background())) // never started
		assert.False(t, q.Running())
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		assert.NoError(t, q.Stop(ctx), "nothing to wait for, even with a done ctx")
	})
}

// Reference: SPEC.md §8.3 item 5
func TestStopWhenRunning(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		q, err := slotqueue.New((&recorder{}).process(0), nil)
		require.NoError(t, err)
		require.NoError(t, q.Start(context.Background()))
		require.True(t, q.Running())
		assert.NoError(t, q.Stop(context.Background()))
		assert.False(t, q.Running())
		assert.ErrorIs(t, q.Push(mk(1, 0)), slotqueue.ErrNotRunning)
	})
}

// Reference: SPEC.md §8.3 item 6
func TestStopMultipleTimes(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		q, err := slotqueue.New((&recorder{}).process(0), nil)
		require.NoError(t, err)
		require.NoError(t, q.Start(context.Background()))
		for range 3 {
			assert.NoError(t, q.Stop(context.Background()))
			assert.False(t, q.Running())
		}
	})
}

// Suite "Slot queue workers".

// Reference: SPEC.md §8.3 item 7
func TestMaxWorkersCannotBeZero(t *testing.T) {
	for _, workers := range []int{0, -1} {
		_, err := slotqueue.New((&recorder{}).process(0), &slotqueue.Options{MaxWorkers: workers, MaxSize: 128})
		assert.ErrorIs(t, err, slotqueue.ErrInvalidOptions, "MaxWorkers %d", workers)
		_, err = slotqueue.NewCore(workers, 128)
		assert.ErrorIs(t, err, slotqueue.ErrInvalidOptions, "MaxWorkers %d", workers)
	}
}

// Reference: SPEC.md §8.3 item 8
func TestMaxWorkersCannotSurpassMaxSize(t *testing.T) {
	tests := []struct {
		name             string
		workers, maxSize int
		ok               bool
	}{
		{name: "size 1, 2 workers", workers: 2, maxSize: 1},
		{name: "equal is allowed", workers: 4, maxSize: 4, ok: true},
		{name: "size 0", workers: 1, maxSize: 0},
		{name: "size above uint16", workers: 1, maxSize: slotqueue.MaxQueueSize + 1},
		{name: "largest size", workers: 1, maxSize: slotqueue.MaxQueueSize, ok: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			opts := &slotqueue.Options{MaxWorkers: tt.workers, MaxSize: tt.maxSize}
			_, err := slotqueue.New((&recorder{}).process(0), opts)
			if tt.ok {
				assert.NoError(t, err)
				assert.NoError(t, opts.Validate())
			} else {
				assert.ErrorIs(t, err, slotqueue.ErrInvalidOptions)
				assert.ErrorIs(t, opts.Validate(), slotqueue.ErrInvalidOptions)
			}
		})
	}
	_, err := slotqueue.New(nil, nil)
	assert.ErrorIs(t, err, slotqueue.ErrInvalidOptions, "nil ProcessFunc")
}

// Suite "Slot queue".

// Reference: SPEC.md §8.3 item 9
func TestStartsOutEmpty(t *testing.T) {
	q, err := slotqueue.New((&recorder{}).process(0), nil)
	require.NoError(t, err)
	assert.Equal(t, 0, q.Len())
	assert.Equal(t, "[]", q.String())
}

// Reference: SPEC.md §8.3 item 10
func TestReportsCorrectSize(t *testing.T) {
	q, err := slotqueue.New((&recorder{}).process(0), &slotqueue.Options{MaxWorkers: 2, MaxSize: 7})
	require.NoError(t, err)
	assert.Equal(t, 7, q.Cap())
	d, err := slotqueue.New((&recorder{}).process(0), nil)
	require.NoError(t, err)
	assert.Equal(t, slotqueue.DefaultMaxSize, d.Cap())
}

// Reference: SPEC.md §8.3 item 11
func TestComparesItems(t *testing.T) {
	a := priced(1, 0, 2)
	a.Collateral.SetUint64(3)
	a.Expiry, a.HasExpiry = 5, true
	b := priced(2, 0, 3)            // more profitable,
	b.Collateral.SetUint64(2)       // less collateral,
	b.Expiry, b.HasExpiry = 4, true // shorter expiry
	assert.Negative(t, slotqueue.Compare(b, a))
	assert.Positive(t, slotqueue.Compare(a, b))
}

// Reference: SPEC.md §8.3 item 12
func TestPrioritizesBySeen(t *testing.T) {
	unseen := priced(1, 0, 1)
	seen := priced(2, 0, 100)
	seen.Seen = true
	assert.Negative(t, slotqueue.Compare(unseen, seen))
}

// Reference: SPEC.md §8.3 item 13
func TestPrioritizesByProfitability(t *testing.T) {
	profitable := priced(1, 0, 2)
	profitable.Collateral.SetUint64(10)
	cheap := priced(2, 0, 1) // lower collateral, but less profitable
	cheap.Collateral.SetUint64(1)
	assert.Negative(t, slotqueue.Compare(profitable, cheap))
}

// Reference: SPEC.md §8.3 item 14
func TestPrioritizesByCollateral(t *testing.T) {
	low := mk(1, 0)
	low.Collateral.SetUint64(1)
	low.Expiry, low.HasExpiry = 1, true
	high := mk(2, 0)
	high.Collateral.SetUint64(2)
	high.Expiry, high.HasExpiry = 100, true // later expiry does not help
	assert.Negative(t, slotqueue.Compare(low, high))
}

// Reference: SPEC.md §8.3 item 15
func TestPrioritizesByExpiry(t *testing.T) {
	a := mk(1, 0)
	a.SlotSize, a.Expiry, a.HasExpiry = 1, 1, true
	b := mk(2, 0)
	b.SlotSize, b.Expiry, b.HasExpiry = 2, 2, true
	assert.Negative(t, slotqueue.Compare(b, a))

	// With everything else equal, the expiry alone decides.
	c, d := mk(3, 0), mk(4, 0)
	c.Expiry, c.HasExpiry = 1, true
	d.Expiry, d.HasExpiry = 2, true
	assert.Negative(t, slotqueue.Compare(d, c))
}

// Reference: SPEC.md §8.3 item 16
func TestPrioritizesBySlotSize(t *testing.T) {
	small, large := mk(1, 0), mk(2, 0)
	small.SlotSize, large.SlotSize = 1, 2
	assert.Negative(t, slotqueue.Compare(large, small))
}

// Reference: SPEC.md §8.3 item 17
func TestNewItemsExpandsAllSlotIndices(t *testing.T) {
	const slots = 12
	items, err := slotqueue.NewItems(mk(1, 99), slots, rand.New(rand.NewPCG(1, 2)))
	require.NoError(t, err)
	require.Len(t, items, slots)
	seen := map[uint16]bool{}
	for _, it := range items {
		assert.Equal(t, reqID(1), it.RequestID)
		assert.False(t, seen[it.SlotIndex], "slot %d twice", it.SlotIndex)
		seen[it.SlotIndex] = true
	}
	for i := range uint16(slots) {
		assert.True(t, seen[i], "slot %d missing", i)
	}
}

// Reference: SPEC.md §8.3 item 18
func TestCanProcessItems(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var rec recorder
		q := started(t, rec.process(processDelay), 1, 4)
		first, second := priced(1, 0, 2), priced(2, 0, 1)
		require.NoError(t, q.Push(first))
		require.NoError(t, q.Push(second))
		time.Sleep(3 * processDelay)
		assert.Equal(t, keys(first, second), rec.got())
		assert.Equal(t, 0, q.Len())
	})
}

// Reference: SPEC.md §8.3 item 19
func TestCanPushItemsPastMaxWorkers(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var rec recorder
		q := started(t, rec.process(processDelay), 2, 2)
		for i := range 5 {
			assert.NoError(t, q.Push(mk(byte(i+1), 0)))
		}
	})
}

// Reference: SPEC.md §8.3 item 20
func TestSupportsMaxSlots(t *testing.T) {
	items, err := slotqueue.NewItems(mk(1, 0), slotqueue.MaxSlots, rand.New(rand.NewPCG(3, 4)))
	require.NoError(t, err)
	assert.Len(t, items, 65535)
}

// Reference: SPEC.md §8.3 item 21
func TestRejectsMoreThanMaxSlots(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	// 65537 and 1<<32+1 passed the reference's truncating check (QUIRK,
	// DESIGN Decision 9); 0 slots make no items.
	for _, slots := range []uint64{65536, 65537, 1<<32 + 1, 1<<64 - 1, 0} {
		items, err := slotqueue.NewItems(mk(1, 0), slots, rng)
		assert.ErrorIs(t, err, slotqueue.ErrSlotCountOutOfRange, "%d slots", slots)
		assert.Nil(t, items)
	}
	_, err := slotqueue.NewItems(mk(1, 0), 1, nil)
	assert.ErrorIs(t, err, slotqueue.ErrNilShuffler)
}

// Reference: SPEC.md §8.3 item 22
func TestCannotPushDuplicates(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		g := newGate()
		q := started(t, g.process, 1, 8)
		require.NoError(t, q.Push(priced(9, 0, 100))) // keeps the only worker busy
		synctest.Wait()
		x := mk(1, 0)
		err := q.Push(x, x, x, x)
		assert.ErrorIs(t, err, slotqueue.ErrDuplicate)
		assert.Equal(t, 1, q.Len(), "the first copy is queued")
		assert.ErrorIs(t, q.Push(x), slotqueue.ErrDuplicate)
		close(g.release)
	})
}

// Reference: SPEC.md §8.3 item 23
func TestCanAddItemsPastMaxSize(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var rec recorder
		q := started(t, rec.process(processDelay), 2, 4)
		pushed := []slotqueue.Item{mk(1, 0), mk(2, 0), mk(3, 0), mk(4, 0)}
		for _, it := range pushed {
			require.NoError(t, q.Push(it))
		}
		time.Sleep(10 * processDelay)
		assert.ElementsMatch(t, keys(pushed...), rec.got())
		assert.Equal(t, uint64(0), q.Stats().Dropped)
	})
}

// Reference: SPEC.md §8.3 item 24
func TestCanDeleteItems(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var rec recorder
		q := started(t, rec.process(processDelay), 1, 8)
		item1, item2, item3 := priced(1, 0, 3), priced(2, 0, 2), priced(3, 0, 1)
		require.NoError(t, q.Push(item1, item2, item3))
		require.True(t, q.Contains(item3.Key()))
		assert.True(t, q.Delete(item3.Key()))
		assert.False(t, q.Contains(item3.Key()))
		assert.False(t, q.Delete(item3.Key()), "already gone")
	})
}

// Reference: SPEC.md §8.3 item 25
func TestDeleteItemByRequestAndSlot(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var rec recorder
		q := started(t, rec.process(processDelay), 1, 8)
		top, deleted, kept := priced(1, 0, 3), priced(1, 1, 1), priced(2, 0, 2)
		require.NoError(t, q.Push(top, deleted, kept))
		// The only worker takes at most top before this Delete.
		assert.True(t, q.Delete(slotqueue.Key{RequestID: reqID(1), SlotIndex: 1}))
		time.Sleep(10 * processDelay)
		assert.Equal(t, keys(top, kept), rec.got())
	})
}

// Reference: SPEC.md §8.3 item 26
func TestDeleteAllItemsByRequest(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var rec recorder
		q := started(t, rec.process(processDelay), 1, 8)
		top := priced(2, 0, 9)
		req1 := []slotqueue.Item{priced(1, 0, 1), priced(1, 1, 1), priced(1, 2, 1)}
		other := priced(3, 0, 5)
		require.NoError(t, q.Push(append([]slotqueue.Item{top, other}, req1...)...))
		assert.Equal(t, 3, q.DeleteRequest(reqID(1)))
		for _, it := range req1 {
			assert.False(t, q.Contains(it.Key()))
		}
		time.Sleep(10 * processDelay)
		assert.Equal(t, keys(top, other), rec.got())
	})
}

// Reference: SPEC.md §8.3 item 27
func TestCanCheckIfContainsItem(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		g := newGate()
		q := started(t, g.process, 1, 8)
		require.NoError(t, q.Push(priced(9, 0, 100)))
		synctest.Wait() // the only worker is busy
		it := mk(1, 3)
		assert.False(t, q.Contains(it.Key()))
		require.NoError(t, q.Push(it))
		assert.True(t, q.Contains(it.Key()))
		assert.False(t, q.Contains(mk(1, 4).Key()))
		close(g.release)
	})
}

// sortedBy pushes items into a Core (no workers take them) and returns its
// order.
func sortedBy(t *testing.T, items ...slotqueue.Item) []slotqueue.Key {
	t.Helper()
	c, err := slotqueue.NewCore(1, 16)
	require.NoError(t, err)
	for _, it := range items {
		_, _, err := c.Push(it)
		require.NoError(t, err)
	}
	return keys(c.Items()...)
}

// Reference: SPEC.md §8.3 item 28
func TestSortsByProfitabilityDescending(t *testing.T) {
	low, high := priced(1, 0, 1), priced(2, 0, 2)
	assert.Equal(t, keys(high, low), sortedBy(t, low, high))
	assert.Equal(t, keys(high, low), sortedBy(t, high, low))
}

// Reference: SPEC.md §8.3 item 29
func TestSortsByCollateralAscending(t *testing.T) {
	cheap, dear := mk(1, 0), mk(2, 0)
	cheap.Collateral.SetUint64(1)
	dear.Collateral.SetUint64(2)
	assert.Equal(t, keys(cheap, dear), sortedBy(t, dear, cheap))
	assert.Equal(t, keys(cheap, dear), sortedBy(t, cheap, dear))
}

// Reference: SPEC.md §8.3 item 30
func TestSortsByExpiryDescending(t *testing.T) {
	soon, late := mk(1, 0), mk(2, 0)
	soon.Expiry, soon.HasExpiry = 1, true
	late.Expiry, late.HasExpiry = 2, true
	assert.Equal(t, keys(late, soon), sortedBy(t, soon, late))
	assert.Equal(t, keys(late, soon), sortedBy(t, late, soon))
}

// Reference: SPEC.md §8.3 item 31
func TestSortsBySlotSizeDescending(t *testing.T) {
	small, big := mk(1, 0), mk(2, 0)
	small.SlotSize, big.SlotSize = 1, 2
	assert.Equal(t, keys(big, small), sortedBy(t, small, big))
	assert.Equal(t, keys(big, small), sortedBy(t, big, small))
}

// Reference: SPEC.md §8.3 item 32
func TestCallsCallbackOnceItemAdded(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var rec recorder
		q := started(t, rec.process(processDelay), 3, 8)
		it := mk(1, 0)
		require.NoError(t, q.Push(it))
		time.Sleep(2 * processDelay)
		assert.Equal(t, keys(it), rec.got())
	})
}

// Reference: SPEC.md §8.3 item 33
func TestProcessesItemOnlyOnce(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var rec recorder
		q := started(t, rec.process(processDelay), 3, 8)
		it := mk(1, 0)
		require.NoError(t, q.Push(it))
		time.Sleep(100 * processDelay)
		assert.Equal(t, keys(it), rec.got())
		assert.Equal(t, 0, q.Len())
		assert.Equal(t, uint64(1), q.Stats().Processed)
	})
}

// Reference: SPEC.md §8.3 item 34
func TestProcessesItemsInOrderOfAdditionOneAtATime(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var rec recorder
		q := started(t, rec.process(processDelay), 1, 8)
		// Each item outranks the previous one, yet each is processed before
		// the next is pushed.
		var pushed []slotqueue.Item
		for i := range 4 {
			it := priced(byte(i+1), 0, uint64(i+1))
			pushed = append(pushed, it)
			require.NoError(t, q.Push(it))
			time.Sleep(2 * processDelay)
		}
		assert.Equal(t, keys(pushed...), rec.got())
	})
}

// Reference: SPEC.md §8.3 item 35 (PORT: a batch push)
func TestProcessesBatchInQueueOrder(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var rec recorder
		q := started(t, rec.process(processDelay), 1, 8)
		i1, i2, i3, i4 := priced(1, 0, 1), priced(2, 0, 2), priced(3, 0, 3), priced(4, 0, 4)
		require.NoError(t, q.Push(i1, i2, i3, i4))
		time.Sleep(10 * processDelay)
		assert.Equal(t, keys(i4, i3, i2, i1), rec.got())
	})
}

// Reference: SPEC.md §8.3 item 36
func TestPushingItemsUnpausesQueue(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var rec recorder
		q := started(t, rec.process(processDelay), 2, 8)
		q.Pause()
		pushed := []slotqueue.Item{mk(1, 0), mk(1, 1), mk(2, 0)}
		require.NoError(t, q.Push(pushed...))
		assert.False(t, q.Paused())
		time.Sleep(10 * processDelay)
		assert.ElementsMatch(t, keys(pushed...), rec.got())
	})
}

// Reference: SPEC.md §8.3 item 37
func TestPushingSeenItemDoesNotUnpause(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var rec recorder
		q := started(t, rec.process(processDelay), 2, 8)
		q.Pause()
		it := mk(1, 0)
		it.Seen = true
		require.NoError(t, q.Push(it))
		time.Sleep(10 * processDelay)
		assert.True(t, q.Paused())
		assert.Empty(t, rec.got())
		assert.True(t, q.Contains(it.Key()))
	})
}

// Reference: SPEC.md §8.3 item 38
func TestPausedQueueWaitsForUnpause(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var rec recorder
		q := started(t, rec.process(processDelay), 4, 4)
		require.True(t, q.Paused())
		seen := mk(1, 0)
		seen.Seen = true
		require.NoError(t, q.Push(seen))
		time.Sleep(10 * processDelay)
		assert.Empty(t, rec.got(), "paused: nothing processed")

		it := mk(2, 0)
		require.NoError(t, q.Push(it)) // unpauses
		time.Sleep(10 * processDelay)
		assert.Equal(t, keys(it), rec.got())
		// The seen item came up next and paused the queue again.
		assert.True(t, q.Paused())
		assert.Equal(t, 1, q.Len())
	})
}

// Reference: SPEC.md §8.3 item 39
func TestProcessingSeenItemPausesQueue(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var rec recorder
		q := started(t, rec.process(processDelay), 2, 8)
		q.Unpause()
		it := mk(1, 0)
		it.Seen = true
		require.NoError(t, q.Push(it))
		time.Sleep(10 * processDelay)
		assert.True(t, q.Paused())
		assert.Empty(t, rec.got())
		assert.True(t, q.Contains(it.Key()), "the seen item stays queued")
	})
}

// Reference: SPEC.md §8.3 item 40
func TestSeenFlagsCanBeCleared(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var rec recorder
		q := started(t, rec.process(processDelay), 1, 8)
		a, b := priced(1, 0, 1), priced(2, 0, 2)
		a.Seen, b.Seen = true, true
		require.NoError(t, q.Push(a, b))
		for _, it := range q.Items() {
			require.True(t, it.Seen)
		}
		q.ClearSeenFlags()
		for _, it := range q.Items() {
			assert.False(t, it.Seen)
		}
		assert.True(t, q.Paused(), "clearing does not unpause")
		q.Unpause()
		time.Sleep(10 * processDelay)
		assert.Equal(t, keys(b, a), rec.got())
	})
}
