package slotqueue

import (
	"fmt"
	"strings"
)

// Limits of SPEC §3.3.
const (
	// DefaultMaxWorkers is the reference's default number of workers.
	DefaultMaxWorkers = 3
	// DefaultMaxSize is the reference's default queue capacity.
	DefaultMaxSize = 128
	// MaxQueueSize is the largest allowed capacity.
	MaxQueueSize = 65535
)

// validateLimits applies the rules of SPEC §3.3.
func validateLimits(maxWorkers, maxSize int) error {
	switch {
	case maxSize < 1 || maxSize > MaxQueueSize:
		return fmt.Errorf("%w: MaxSize is %d, want 1..%d", ErrInvalidOptions, maxSize, MaxQueueSize)
	case maxWorkers <= 0:
		return fmt.Errorf("%w: MaxWorkers must be positive, is %d", ErrInvalidOptions, maxWorkers)
	case maxWorkers > maxSize:
		return fmt.Errorf("%w: MaxWorkers (%d) must not exceed MaxSize (%d)", ErrInvalidOptions, maxWorkers, maxSize)
	}
	return nil
}

// Core is the slot queue's state and rules without goroutines, locks or
// time: the ranked, bounded set of items, the paused flag, and the count of
// busy workers. Queue is Core behind a mutex plus a pool of goroutines; a
// deterministic executor (a simulation) drives a Core directly, one step at
// a time:
//
//	for {
//		it, ok := core.Next() // a free worker, unpaused, an unseen item on top
//		if !ok {
//			break
//		}
//		spawn(task(it)) // the task calls core.Done() when it returns
//	}
//
// and runs the loop again after every Push, Unpause and Done.
//
// Core is not safe for concurrent use: one goroutine owns it, or the owner
// serialises calls. It never blocks, starts no goroutine and calls nothing
// outside this package. Every method is O(1) or O(log n) unless stated.
type Core struct {
	h          *heap
	maxWorkers int
	busy       int
	paused     bool
	dropped    uint64
}

// NewCore returns an empty, paused Core with room for maxSize items and
// maxWorkers workers. It returns an error wrapping ErrInvalidOptions unless
// 1 <= maxSize <= MaxQueueSize and 1 <= maxWorkers <= maxSize (SPEC §3.3).
func NewCore(maxWorkers, maxSize int) (*Core, error) {
	if err := validateLimits(maxWorkers, maxSize); err != nil {
		return nil, err
	}
	return &Core{h: newHeap(maxSize, min(maxSize, 1024)), maxWorkers: maxWorkers, paused: true}, nil
}

// Push inserts it (SPEC §3.4). It returns an error wrapping ErrDuplicate, and
// changes nothing, when an item with the same Key is queued.
//
// When the queue is full, the lowest-priority item among the queued ones and
// it is dropped and returned with didDrop set; that may be it itself, and the
// push still succeeds. Pushing an unseen item unpauses the queue (even when
// that item is the one dropped: every queued item then outranks it, so is
// unseen too); a seen item never does.
func (c *Core) Push(it Item) (dropped Item, didDrop bool, err error) {
	dropped, didDrop, err = c.h.push(it)
	if err != nil {
		return Item{}, false, err
	}
	if didDrop {
		c.dropped++
	}
	if !it.Seen {
		c.paused = false
	}
	c.checkInvariants()
	return dropped, didDrop, nil
}

// Ready reports whether Next would hand out an item or pause the queue: the
// queue is not paused, not empty, and fewer than MaxWorkers items are out.
func (c *Core) Ready() bool {
	return !c.paused && c.h.len() > 0 && c.busy < c.maxWorkers
}

// Next is one step of a worker (SPEC §3.5). When the queue is Ready and its
// highest-priority item is unseen, Next removes that item, counts a busy
// worker and returns the item with ok set; the caller processes it and then
// calls Done. When the top item is seen, every queued item was tried, so
// Next pauses the queue, leaves the item where it is (the reference pops it
// and pushes it back) and returns ok false. Otherwise it changes nothing and
// returns ok false.
func (c *Core) Next() (it Item, ok bool) {
	if !c.Ready() {
		return Item{}, false
	}
	if c.h.topSeen() {
		c.paused = true
		return Item{}, false
	}
	it = c.h.popHighest()
	c.busy++
	c.checkInvariants()
	return it, true
}

// Done returns the worker of an item handed out by Next. Call it exactly once
// per such item, when its processing has ended however it ended; a call with
// no worker out is ignored.
func (c *Core) Done() {
	if c.busy > 0 {
		c.busy--
	}
}

// Busy returns the number of items handed out by Next and not yet Done.
func (c *Core) Busy() int { return c.busy }

// MaxWorkers returns the number of items that may be out at once.
func (c *Core) MaxWorkers() int { return c.maxWorkers }

// Delete removes the item with key k and reports whether it was queued.
func (c *Core) Delete(k Key) bool {
	ok := c.h.remove(k)
	c.checkInvariants()
	return ok
}

// DeleteRequest removes every item of the request and returns how many it
// removed. O(k log n) for k removed items.
func (c *Core) DeleteRequest(requestID [32]byte) int {
	n := c.h.removeRequest(requestID)
	c.checkInvariants()
	return n
}

// Contains reports whether an item with key k is queued.
func (c *Core) Contains(k Key) bool { return c.h.contains(k) }

// Len returns the number of queued items (not counting items out with
// workers).
func (c *Core) Len() int { return c.h.len() }

// Cap returns the capacity, maxSize.
func (c *Core) Cap() int { return c.h.limit }

// Paused reports whether the queue is paused. A new Core is paused.
func (c *Core) Paused() bool { return c.paused }

// Pause pauses the queue: Next hands out nothing until Unpause or the push
// of an unseen item.
func (c *Core) Pause() { c.paused = true }

// Unpause unpauses the queue.
func (c *Core) Unpause() { c.paused = false }

// ClearSeenFlags clears the Seen flag of every queued item and restores the
// full order (SPEC §3.4; the reference re-sifted only from the root). It
// does not unpause. O(n).
func (c *Core) ClearSeenFlags() {
	c.h.clearSeen()
	c.checkInvariants()
}

// Dropped returns how many items were dropped because the queue was full.
func (c *Core) Dropped() uint64 { return c.dropped }

// Items returns a copy of the queued items, highest priority first.
// O(n log n).
func (c *Core) Items() []Item { return c.h.items() }

// String lists the queued items, highest priority first: "[]" when empty,
// else "[0x…/1, 0x…/0 (seen)]". O(n log n).
func (c *Core) String() string { return formatItems(c.h.items()) }

func formatItems(items []Item) string {
	var b strings.Builder
	b.WriteByte('[')
	for i, it := range items {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(it.String())
	}
	b.WriteByte(']')
	return b.String()
}

// checkInvariants verifies the heap after every change in builds with the
// invariants or race tag, and compiles to nothing otherwise.
func (c *Core) checkInvariants() {
	if !invariants {
		return
	}
	if err := c.h.check(); err != nil {
		panic(fmt.Sprintf("slotqueue: invariant violated: %v", err))
	}
}
