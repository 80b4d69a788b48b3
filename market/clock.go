package market

import (
	"container/heap"
	"context"
	"errors"
	"fmt"
	"math"
	"sync"
)

// Clock is market time: unix seconds as the market sees them (the block
// timestamp on chain). Sales and the simulated market read time only
// through a Clock, never through time.Now.
//
// Implementations are safe for concurrent use.
type Clock interface {
	// Now returns the current market time, in unix seconds.
	Now() int64
	// WaitUntil blocks until Now() >= t and returns nil, or returns ctx's
	// error if ctx is done first (also when ctx is already done on entry).
	WaitUntil(ctx context.Context, t int64) error
}

// ErrClockBackwards is returned by ManualClock.Set and Advance for a move
// into the past or beyond the largest int64 time; the clock is unchanged.
var ErrClockBackwards = errors.New("market: clock cannot go backwards")

// ManualClock is a virtual Clock that only moves when told to (Set, Advance,
// Step). Tests and the simulation drive it by hand; a demo can drive it from
// a ticker it owns.
//
// Pending waits (WaitUntil) and timers (AfterFunc) fire in a deterministic
// order: by deadline, then by registration order. When the clock moves
// forward over several deadlines it stops at each one in turn: Now()
// returns that deadline while its waiters fire, and timer callbacks run
// synchronously on the goroutine that moved the clock, so a callback that
// registers a timer for a time not yet passed is fired in the same move.
//
// The zero value is a clock at time 0. ManualClock is safe for concurrent
// use. Set, Advance and Step are
// serialized with each other; timer callbacks must not call them (that
// deadlocks), but may call anything else, including AfterFunc.
type ManualClock struct {
	advanceMu sync.Mutex // serializes Set, Advance and Step; never taken under mu

	// mu guards the fields below. It is never held while a waiter fires.
	mu struct {
		sync.Mutex
		now     int64
		seq     uint64
		waiters waiterHeap
	}
}

var _ Clock = (*ManualClock)(nil)

// NewManualClock returns a ManualClock showing start.
func NewManualClock(start int64) *ManualClock {
	c := &ManualClock{}
	c.mu.now = start
	return c
}

// Now returns the clock's current time.
func (c *ManualClock) Now() int64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.mu.now
}

// WaitUntil blocks until the clock reaches t (returns nil at once if it
// already has), or until ctx is done (returns ctx.Err()). A cancelled wait
// is removed from the clock, so it no longer counts in Waiters.
func (c *ManualClock) WaitUntil(ctx context.Context, t int64) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	c.mu.Lock()
	if t <= c.mu.now {
		c.mu.Unlock()
		return nil
	}
	w := &waiter{at: t, ch: make(chan struct{})}
	c.pushLocked(w)
	c.mu.Unlock()

	select {
	case <-w.ch:
		return nil
	case <-ctx.Done():
		c.mu.Lock()
		c.removeLocked(w)
		c.mu.Unlock()
		return ctx.Err()
	}
}

// Timer is a pending AfterFunc call.
type Timer struct {
	c *ManualClock
	w *waiter
}

// Stop cancels the timer. It reports whether the call was prevented (false
// if it already ran or was stopped). Safe for concurrent use and from inside
// any callback.
func (t *Timer) Stop() bool {
	t.c.mu.Lock()
	defer t.c.mu.Unlock()
	return t.c.removeLocked(t.w)
}

// AfterFunc arranges for fn to be called, on the goroutine that moves the
// clock, once the clock reaches t. If t is not after Now(), fn is due at
// once and runs at the next Set, Advance or Step (never inside AfterFunc
// itself). fn must not call Set, Advance or Step.
func (c *ManualClock) AfterFunc(t int64, fn func()) *Timer {
	if fn == nil {
		fn = func() {}
	}
	w := &waiter{at: t, fn: fn}
	c.mu.Lock()
	c.pushLocked(w)
	c.mu.Unlock()
	return &Timer{c: c, w: w}
}

// Set moves the clock to t, firing every waiter with a deadline <= t in
// order (see ManualClock). Setting the current time fires the waiters that
// are due. t before Now() returns an error wrapping ErrClockBackwards.
func (c *ManualClock) Set(t int64) error {
	c.advanceMu.Lock()
	defer c.advanceMu.Unlock()
	if now := c.Now(); t < now {
		return fmt.Errorf("%w: set %d, now %d", ErrClockBackwards, t, now)
	}
	c.fireUntil(t)
	return nil
}

// Advance moves the clock forward by d seconds (see Set). An overflow of
// int64 returns an error wrapping ErrClockBackwards.
func (c *ManualClock) Advance(d uint64) error {
	c.advanceMu.Lock()
	defer c.advanceMu.Unlock()
	now := c.Now()
	if d > uint64(math.MaxInt64)-uint64(now) { // exact for negative now too
		return fmt.Errorf("%w: advance %d from %d overflows", ErrClockBackwards, d, now)
	}
	c.fireUntil(int64(uint64(now) + d))
	return nil
}

// Step moves the clock to the earliest pending deadline (or leaves it where
// it is if that deadline has already passed) and fires every waiter due then.
// It reports false, doing nothing, when nothing is pending. A simulation
// runs "until nothing is ready, then Step" to jump from event to event.
func (c *ManualClock) Step() bool {
	c.advanceMu.Lock()
	defer c.advanceMu.Unlock()
	c.mu.Lock()
	if len(c.mu.waiters) == 0 {
		c.mu.Unlock()
		return false
	}
	at := max(c.mu.waiters[0].at, c.mu.now)
	c.mu.Unlock()
	c.fireUntil(at)
	return true
}

// NextDeadline returns the earliest pending deadline (which may be at or
// before Now() for a due timer), and false when nothing is pending.
func (c *ManualClock) NextDeadline() (int64, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.mu.waiters) == 0 {
		return 0, false
	}
	return c.mu.waiters[0].at, true
}

// Waiters returns the number of pending waits and timers.
func (c *ManualClock) Waiters() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.mu.waiters)
}

// fireUntil moves the clock to t deadline by deadline. advanceMu is held.
func (c *ManualClock) fireUntil(t int64) {
	for {
		c.mu.Lock()
		if len(c.mu.waiters) == 0 || c.mu.waiters[0].at > t {
			c.mu.now = max(c.mu.now, t)
			c.mu.Unlock()
			return
		}
		c.mu.now = max(c.mu.now, c.mu.waiters[0].at)
		var due []*waiter
		for len(c.mu.waiters) > 0 && c.mu.waiters[0].at <= c.mu.now {
			due = append(due, heap.Pop(&c.mu.waiters).(*waiter))
		}
		c.mu.Unlock()
		for _, w := range due {
			if w.fn != nil {
				w.fn()
			} else {
				close(w.ch)
			}
		}
	}
}

func (c *ManualClock) pushLocked(w *waiter) {
	c.mu.seq++
	w.seq = c.mu.seq
	heap.Push(&c.mu.waiters, w)
}

// removeLocked removes w if it is still pending and reports whether it was.
func (c *ManualClock) removeLocked(w *waiter) bool {
	if w.index < 0 {
		return false
	}
	heap.Remove(&c.mu.waiters, w.index)
	return true
}

type waiter struct {
	at    int64
	seq   uint64
	ch    chan struct{} // closed when due (WaitUntil)
	fn    func()        // called when due (AfterFunc)
	index int           // position in the heap; -1 once removed
}

// waiterHeap orders waiters by deadline, then registration order.
type waiterHeap []*waiter

func (h waiterHeap) Len() int { return len(h) }
func (h waiterHeap) Less(i, j int) bool {
	if h[i].at != h[j].at {
		return h[i].at < h[j].at
	}
	return h[i].seq < h[j].seq
}
func (h waiterHeap) Swap(i, j int) {
	h[i], h[j] = h[j], h[i]
	h[i].index = i
	h[j].index = j
}
func (h *waiterHeap) Push(x any) {
	w := x.(*waiter)
	w.index = len(*h)
	*h = append(*h, w)
}
func (h *waiterHeap) Pop() any {
	old := *h
	n := len(old)
	w := old[n-1]
	old[n-1] = nil
	w.index = -1
	*h = old[:n-1]
	return w
}
