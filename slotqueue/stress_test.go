package slotqueue_test

import (
	"context"
	"errors"
	"fmt"
	mrand "math/rand/v2"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hostsales/hostsales/slotqueue"
)

// TestWorkerAccountingUnderStress pushes thousands of items whose callbacks
// succeed, fail, panic, block for a while, block until Stop, or push their
// item back as seen, while the test pauses, unpauses, clears seen flags and
// deletes at random. It checks that no item is processed twice at once, that
// no more than MaxWorkers callbacks run at once, that every item is
// accounted for (processed, dropped, deleted), that every worker comes back,
// and (synctest, goleak) that no goroutine is left.
func TestWorkerAccountingUnderStress(t *testing.T) {
	for _, seed := range []uint64{1, 2, 3} {
		t.Run(fmt.Sprintf("seed=%d", seed), func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) { stress(t, seed) })
		})
	}
}

// behaviour of an item's callback, from its slot index.
const (
	behaveOK = iota
	behaveError
	behavePanic
	behaveSleep
	behaveRequeue
	behaveUntilStop
	behaviours
)

func stress(t *testing.T, seed uint64) {
	const (
		workers = 4
		maxSize = 48
		batches = 1500
		perReq  = 8 // slots per request: up to 8 items per push
	)
	rng := mrand.New(mrand.NewPCG(seed, 99))
	errBoom := errors.New("boom")

	var (
		mu          sync.Mutex
		inFlight    = map[slotqueue.Key]bool{}
		running     int
		maxRunning  int
		started     int
		errs        int
		panics      int
		requeued    = map[slotqueue.Key]bool{}
		requeues    int
		lastBatch   bool
		releaseLast = make(chan struct{})
	)
	var q *slotqueue.Queue
	process := func(ctx context.Context, it slotqueue.Item) error {
		k := it.Key()
		mu.Lock()
		if inFlight[k] {
			t.Errorf("%v processed twice at once", k)
		}
		inFlight[k] = true
		started++
		running++
		maxRunning = max(maxRunning, running)
		final := lastBatch
		mu.Unlock()
		defer func() {
			mu.Lock()
			delete(inFlight, k)
			running--
			mu.Unlock()
		}()
		if final {
			<-releaseLast // the final check that every worker is back
			return nil
		}
		switch int(it.SlotIndex) % behaviours {
		case behaveError:
			mu.Lock()
			errs++
			mu.Unlock()
			return errBoom
		case behavePanic:
			mu.Lock()
			panics++
			mu.Unlock()
			panic(fmt.Sprintf("panic on %v", k))
		case behaveSleep:
			time.Sleep(time.Duration(1+int(it.RequestID[0])%20) * time.Millisecond)
		case behaveRequeue:
			mu.Lock()
			again := !requeued[k]
			requeued[k] = true
			mu.Unlock()
			if again { // SPEC §3.6: no availability matched
				it.Seen = true
				if err := q.Push(it); err == nil {
					mu.Lock()
					requeues++
					mu.Unlock()
				}
			}
		case behaveUntilStop:
			select {
			case <-ctx.Done():
				return context.Cause(ctx)
			case <-time.After(100 * time.Millisecond):
			}
		}
		return nil
	}
	q, err := slotqueue.New(process, &slotqueue.Options{MaxWorkers: workers, MaxSize: maxSize})
	require.NoError(t, err)
	require.NoError(t, q.Start(context.Background()))

	pushed, deleted := 0, 0
	for b := range batches {
		// A request with fresh id: pushes of the test never collide.
		var tmpl slotqueue.Item
		tmpl.RequestID[0], tmpl.RequestID[1], tmpl.RequestID[2] = byte(b), byte(b>>8), 0xee
		tmpl.SlotSize, tmpl.Duration = 1+rng.Uint64N(4), 1+rng.Uint64N(4)
		tmpl.PricePerBytePerSecond.SetUint64(rng.Uint64N(5))
		tmpl.Collateral.SetUint64(rng.Uint64N(3))
		tmpl.Seen = rng.IntN(10) == 0
		items, err := slotqueue.NewItems(tmpl, 1+rng.Uint64N(perReq), rng)
		require.NoError(t, err)
		require.NoError(t, q.Push(items...))
		pushed += len(items)

		switch r := rng.IntN(20); {
		case r < 3:
			q.Pause()
		case r < 6:
			q.Unpause()
		case r < 7:
			q.ClearSeenFlags()
		case r < 8:
			old := b - rng.IntN(min(b+1, 10))
			deleted += q.DeleteRequest([32]byte{byte(old), byte(old >> 8), 0xee})
		case r < 9:
			k := slotqueue.Key{SlotIndex: uint16(rng.IntN(perReq))}
			k.RequestID[0], k.RequestID[1], k.RequestID[2] = byte(b), byte(b>>8), 0xee
			if q.Delete(k) {
				deleted++
			}
		}
		time.Sleep(time.Duration(rng.IntN(20)) * time.Millisecond) // let workers run
		st := q.Stats()
		require.LessOrEqual(t, st.WorkersBusy, workers)
		require.LessOrEqual(t, st.Len, maxSize)
	}

	// Drain: make every queued item eligible until none is left.
	for i := 0; q.Len() > 0 || q.Stats().WorkersBusy > 0; i++ {
		require.Less(t, i, 1000, "the queue does not drain")
		q.ClearSeenFlags()
		q.Unpause()
		time.Sleep(time.Second)
	}
	synctest.Wait()

	st := q.Stats()
	mu.Lock()
	assert.LessOrEqual(t, maxRunning, workers)
	assert.Equal(t, 0, running)
	assert.Equal(t, uint64(started), st.Processed)
	assert.Equal(t, uint64(errs), st.Errors)
	assert.Equal(t, uint64(panics), st.Panics)
	// Every pushed item was processed, dropped or deleted.
	assert.Equal(t, pushed+requeues, started+int(st.Dropped)+deleted,
		"pushed %d + requeued %d vs processed %d + dropped %d + deleted %d",
		pushed, requeues, started, st.Dropped, deleted)
	t.Logf("pushed %d, requeued %d, processed %d (errors %d, panics %d), dropped %d, deleted %d",
		pushed, requeues, started, errs, panics, st.Dropped, deleted)
	assert.Positive(t, panics)
	assert.Positive(t, errs)
	assert.Positive(t, requeues)
	lastBatch = true
	mu.Unlock()

	// Every worker is back: MaxWorkers items are taken at once.
	final := make([]slotqueue.Item, workers+1)
	for i := range final {
		final[i] = mk(0xff, uint16(i))
	}
	require.NoError(t, q.Push(final...))
	synctest.Wait()
	st = q.Stats()
	assert.Equal(t, workers, st.WorkersBusy)
	assert.Equal(t, 1, st.Len)
	close(releaseLast)
	synctest.Wait()
	assert.Equal(t, 0, q.Stats().WorkersBusy)
	require.NoError(t, q.Stop(context.Background()))
}
