package sales

import (
	"errors"
	"sync"

	"github.com/hostsales/hostsales/slotqueue"
)

// SlotQueue is Sales' slot queue: a slotqueue.Core (the ranking, the bound
// and the pause rules of SPEC §3) driven by Sales' executor. When a worker
// is free it takes the best item and starts its sale as a task; the worker
// is free again when the sale is filled or cleaned up. No goroutine waits
// for a sale, so a deterministic executor can run everything (DESIGN.md,
// Determinism). It is safe for concurrent use; its lock is held only for
// in-memory work.
type SlotQueue struct {
	mu struct {
		sync.Mutex
		core    *slotqueue.Core
		running bool
	}
	sell func(it slotqueue.Item) // starts a sale; must call done eventually
	run  func(task func())       // the executor
}

func newSlotQueue(maxWorkers, maxSize int, sell func(slotqueue.Item), run func(func())) (*SlotQueue, error) {
	core, err := slotqueue.NewCore(maxWorkers, maxSize)
	if err != nil {
		return nil, err
	}
	q := &SlotQueue{sell: sell, run: run}
	q.mu.core = core
	return q, nil
}

func (q *SlotQueue) start() {
	q.mu.Lock()
	q.mu.running = true
	q.mu.Unlock()
	q.dispatch()
}

func (q *SlotQueue) stop() {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.mu.running = false
}

// dispatch hands every item a free worker can take to a new task.
func (q *SlotQueue) dispatch() {
	var take []slotqueue.Item
	q.mu.Lock()
	for q.mu.running {
		it, ok := q.mu.core.Next()
		if !ok {
			break
		}
		take = append(take, it)
	}
	q.mu.Unlock()
	for _, it := range take {
		q.run(func() { q.sell(it) })
	}
}

// done frees the worker of an item handed out by dispatch.
func (q *SlotQueue) done() {
	q.mu.Lock()
	q.mu.core.Done()
	q.mu.Unlock()
	q.dispatch()
}

// Push queues items in one step, so no worker takes one before all are
// ranked. Items already queued are skipped (their error wraps
// slotqueue.ErrDuplicate and is returned, joined); a full queue drops its
// lowest-ranked item. It returns slotqueue.ErrNotRunning when Sales is not
// running.
func (q *SlotQueue) Push(items ...slotqueue.Item) error {
	q.mu.Lock()
	if !q.mu.running {
		q.mu.Unlock()
		return slotqueue.ErrNotRunning
	}
	var errs []error
	for _, it := range items {
		if _, _, err := q.mu.core.Push(it); err != nil {
			errs = append(errs, err)
		}
	}
	q.mu.Unlock()
	q.dispatch()
	return joinErrs(errs)
}

// Delete removes a queued slot; it reports whether one was queued.
func (q *SlotQueue) Delete(k slotqueue.Key) bool {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.mu.core.Delete(k)
}

// DeleteRequest removes every queued slot of a request.
func (q *SlotQueue) DeleteRequest(id [32]byte) int {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.mu.core.DeleteRequest(id)
}

// ClearSeenFlags marks every queued item unseen and unpauses the queue, so
// every waiting slot is tried again (an availability was saved, SPEC §2.3).
func (q *SlotQueue) ClearSeenFlags() {
	q.mu.Lock()
	q.mu.core.ClearSeenFlags()
	q.mu.core.Unpause()
	q.mu.Unlock()
	q.dispatch()
}

// Items returns the queued items, best first.
func (q *SlotQueue) Items() []slotqueue.Item {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.mu.core.Items()
}

// Paused reports whether the queue is paused.
func (q *SlotQueue) Paused() bool {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.mu.core.Paused()
}

// Stats returns the queue's counters.
func (q *SlotQueue) Stats() slotqueue.Stats {
	q.mu.Lock()
	defer q.mu.Unlock()
	c := q.mu.core
	return slotqueue.Stats{Len: c.Len(), Cap: c.Cap(), Running: q.mu.running, Paused: c.Paused(),
		WorkersBusy: c.Busy(), Dropped: c.Dropped()}
}

func joinErrs(errs []error) error {
	if len(errs) == 0 {
		return nil
	}
	return errors.Join(errs...)
}
