package slotqueue_test

import (
	"context"
	mrand "math/rand/v2"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/hostsales/hostsales/slotqueue"
)

// processDelay is how long the recording callback takes (fake time inside
// synctest bubbles).
const processDelay = 10 * time.Millisecond

// mk returns an unseen item of request req (first id byte) and slot index
// slot with price 1, size 1, duration 1, collateral 1 and no expiry.
func mk(req byte, slot uint16) slotqueue.Item {
	it := slotqueue.Item{SlotIndex: slot, SlotSize: 1, Duration: 1}
	it.RequestID[0] = req
	it.PricePerBytePerSecond.SetUint64(1)
	it.Collateral.SetUint64(1)
	return it
}

// priced returns mk(req, slot) with the given price per byte per second.
func priced(req byte, slot uint16, price uint64) slotqueue.Item {
	it := mk(req, slot)
	it.PricePerBytePerSecond.SetUint64(price)
	return it
}

func reqID(b byte) [32]byte {
	var id [32]byte
	id[0] = b
	return id
}

// recorder records the keys its callback processed, in the order the
// callbacks ended.
type recorder struct {
	mu   sync.Mutex
	keys []slotqueue.Key
}

// process returns a ProcessFunc that sleeps for delay and then records the
// item.
func (r *recorder) process(delay time.Duration) slotqueue.ProcessFunc {
	return func(ctx context.Context, it slotqueue.Item) error {
		time.Sleep(delay)
		r.mu.Lock()
		defer r.mu.Unlock()
		r.keys = append(r.keys, it.Key())
		return nil
	}
}

func (r *recorder) got() []slotqueue.Key {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]slotqueue.Key(nil), r.keys...)
}

func keys(items ...slotqueue.Item) []slotqueue.Key {
	out := make([]slotqueue.Key, len(items))
	for i, it := range items {
		out[i] = it.Key()
	}
	return out
}

// started returns a running queue that Stop is deferred for. It must be
// called inside a synctest bubble (or a plain test).
func started(t *testing.T, process slotqueue.ProcessFunc, maxWorkers, maxSize int) *slotqueue.Queue {
	t.Helper()
	q, err := slotqueue.New(process, &slotqueue.Options{MaxWorkers: maxWorkers, MaxSize: maxSize})
	require.NoError(t, err)
	require.NoError(t, q.Start(context.Background()))
	t.Cleanup(func() { require.NoError(t, q.Stop(context.Background())) })
	return q
}

// gate is a ProcessFunc that blocks each call until release is closed or
// the queue stops.
type gate struct {
	release chan struct{}
}

func newGate() *gate { return &gate{release: make(chan struct{})} }

func (g *gate) process(ctx context.Context, it slotqueue.Item) error {
	select {
	case <-g.release:
		return nil
	case <-ctx.Done():
		return context.Cause(ctx)
	}
}

// seeded returns a seeded source of randomness for NewItems.
func seeded(seed uint64) *mrand.Rand { return mrand.New(mrand.NewPCG(seed, seed)) }
