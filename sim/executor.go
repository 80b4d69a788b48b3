package sim

import (
	"context"
	"math/rand/v2"
	"slices"
	"sync"

	"github.com/hostsales/hostsales/market"
)

// Executor runs tasks one at a time. Each task gets an id when it is
// started (or resumed after waiting on the Clock) in the order the running
// task (or the driver) asked for it, so ids are deterministic; Step picks
// the next task among the ready ones with a seeded random choice. It
// implements statemachine.Executor. It is safe for concurrent use, but only
// one goroutine (the driver) should call Step and RunReady.
type Executor struct {
	mu         sync.Mutex
	cond       sync.Cond
	concurrent bool // tasks run at once; see NewConcurrentExecutor
	active     int  // concurrent mode: tasks running (not parked)
	rng        *rand.Rand
	nextID     uint64
	ready      []*slot
	running    bool
	parked     map[uint64]*parking
	live       int
	steps      uint64
}

type slot struct {
	id  uint64
	go_ chan struct{}
}

type parking struct {
	at  int64
	ctx context.Context
	now func() int64
}

// NewExecutor returns an executor whose choices are drawn from seed.
func NewExecutor(seed uint64) *Executor {
	e := &Executor{rng: rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15)), parked: map[uint64]*parking{}}
	e.cond.L = &e.mu
	return e
}

// NewConcurrentExecutor returns an executor that runs every task at once
// on its own goroutine, as production does, and only tracks them: Quiesce
// tells the driver when every task has finished or waits on the Clock, so
// market time can advance. Runs are not reproducible; benchmarks use it to
// measure real concurrency (group commit) on simulated time.
func NewConcurrentExecutor() *Executor {
	e := NewExecutor(0)
	e.concurrent = true
	return e
}

// Go starts task when Step picks it (concurrent mode: at once).
func (e *Executor) Go(task func()) {
	if e.concurrent {
		e.mu.Lock()
		e.live++
		e.active++
		e.mu.Unlock()
		go func() {
			task()
			e.mu.Lock()
			e.live--
			e.active--
			e.cond.Broadcast()
			e.mu.Unlock()
		}()
		return
	}
	e.mu.Lock()
	s := &slot{id: e.nextID, go_: make(chan struct{})}
	e.nextID++
	e.ready = append(e.ready, s)
	e.live++
	e.mu.Unlock()
	go func() {
		<-s.go_
		task()
		e.mu.Lock()
		e.running = false
		e.live--
		e.cond.Broadcast()
		e.mu.Unlock()
	}()
}

// Step runs one ready task until it finishes or parks on the Clock, and
// reports whether there was one. It first waits until every parked task
// that is due (its time has come, or its context ended) is ready again.
func (e *Executor) Step() bool {
	e.mu.Lock()
	for e.dueLocked() {
		e.cond.Wait()
	}
	if len(e.ready) == 0 {
		e.mu.Unlock()
		return false
	}
	slices.SortFunc(e.ready, func(a, b *slot) int { return cmpU64(a.id, b.id) })
	i := e.rng.IntN(len(e.ready))
	s := e.ready[i]
	e.ready = slices.Delete(e.ready, i, i+1)
	e.running = true
	e.steps++
	e.mu.Unlock()
	close(s.go_)
	e.mu.Lock()
	for e.running {
		e.cond.Wait()
	}
	e.mu.Unlock()
	return true
}

// RunReady steps until no task is ready, and returns how many steps ran.
func (e *Executor) RunReady() int {
	n := 0
	for e.Step() {
		n++
	}
	return n
}

// Quiesce (concurrent mode) blocks until no task runs: each has finished
// or waits on the Clock for a time that has not come.
func (e *Executor) Quiesce() {
	e.mu.Lock()
	defer e.mu.Unlock()
	for e.active > 0 || e.dueLocked() {
		e.cond.Wait()
	}
}

// Live returns the number of tasks started and not finished (ready,
// running or parked).
func (e *Executor) Live() int {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.live
}

// Steps returns the number of steps run so far.
func (e *Executor) Steps() uint64 {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.steps
}

func (e *Executor) dueLocked() bool {
	for _, p := range e.parked {
		if p.ctx.Err() != nil || p.at <= p.now() {
			return true
		}
	}
	return false
}

func cmpU64(a, b uint64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// Clock is market time for tasks of an Executor: WaitUntil parks the
// calling task (another task may run) until the time comes or its context
// ends. It implements market.Clock.
type Clock struct {
	inner *market.ManualClock
	e     *Executor
}

// NewClock returns a parking clock over inner for tasks of e.
func NewClock(inner *market.ManualClock, e *Executor) *Clock { return &Clock{inner: inner, e: e} }

// Now returns the current market time.
func (c *Clock) Now() int64 { return c.inner.Now() }

// WaitUntil parks the calling task until Now() >= t, or returns ctx's
// error when it ends first. It must be called from a task of the executor.
func (c *Clock) WaitUntil(ctx context.Context, t int64) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if t <= c.inner.Now() {
		return nil
	}
	fired := make(chan struct{})
	// Registered while this task still runs, so the clock cannot move
	// past t before it knows about it.
	timer := c.inner.AfterFunc(t, func() { close(fired) })
	e := c.e
	e.mu.Lock()
	id := e.nextID
	e.nextID++
	e.parked[id] = &parking{at: t, ctx: ctx, now: c.inner.Now}
	if e.concurrent {
		e.active--
	} else {
		e.running = false
	}
	e.cond.Broadcast()
	e.mu.Unlock()

	var err error
	select {
	case <-fired:
	case <-ctx.Done():
		timer.Stop()
		err = ctx.Err()
	}
	e.mu.Lock()
	delete(e.parked, id)
	if e.concurrent {
		e.active++
		e.cond.Broadcast()
		e.mu.Unlock()
		return err
	}
	s := &slot{id: id, go_: make(chan struct{})}
	e.ready = append(e.ready, s)
	e.cond.Broadcast()
	e.mu.Unlock()
	<-s.go_
	return err
}

var _ market.Clock = (*Clock)(nil)
