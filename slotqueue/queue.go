package slotqueue

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"runtime/debug"
	"sync"
)

// ProcessFunc processes one item taken by a worker. The worker stays busy
// until it returns. ctx is cancelled, with cause ErrStopped, when Stop is
// called; a ProcessFunc that may run long must watch it. A returned error and
// a panic (recovered as a *PanicError) are counted, logged and handed to
// Options.OnError; either way the worker goes on with the next item.
//
// A ProcessFunc runs on a worker goroutine with no lock of the queue held,
// so it may call any method of the Queue, including Push of the item it got
// (SPEC §3.6 re-queues a seen item that way), but not Stop: Stop waits for
// the ProcessFunc, so it would wait for itself until its ctx expires.
type ProcessFunc func(ctx context.Context, it Item) error

// Options configure a Queue. Pass nil to New for DefaultOptions().
type Options struct {
	// MaxWorkers is the number of worker goroutines, so the most items
	// processed at once. It must be at least 1 and at most MaxSize. There is
	// no implicit default for a zero (SPEC §8.3 item 7 requires it to be an
	// error): start from DefaultOptions.
	MaxWorkers int
	// MaxSize is the capacity, 1 to MaxQueueSize. Pushing into a full queue
	// drops its lowest-priority item. No implicit default either.
	MaxSize int
	// Logger receives the queue's logs: callback errors and panics at Warn
	// and Error, drops at Debug. Default (nil): discarded.
	Logger *slog.Logger
	// OnDrop, if set, is called with every item dropped because the queue was
	// full; that may be the item just pushed. It is called on the goroutine
	// that called Push, after Push released the queue's lock and before Push
	// returns, once per drop in order. It must not block, and it must not
	// call back into the queue: the queue's state may already have moved on.
	OnDrop func(Item)
	// OnError, if set, is called after a ProcessFunc returned an error (err
	// is that error), panicked (err is a *PanicError) or called
	// runtime.Goexit (err says so), on that worker's goroutine, with no lock
	// held, before the worker takes its next item. It must not block for
	// long and must not call back into the queue.
	OnError func(it Item, err error)
}

// DefaultOptions returns the reference's defaults: 3 workers, 128 items.
func DefaultOptions() Options {
	return Options{MaxWorkers: DefaultMaxWorkers, MaxSize: DefaultMaxSize}
}

// Validate checks the limits of SPEC §3.3: 1 <= MaxSize <= MaxQueueSize and
// 1 <= MaxWorkers <= MaxSize. Its error wraps ErrInvalidOptions.
func (o *Options) Validate() error { return validateLimits(o.MaxWorkers, o.MaxSize) }

// Stats is a snapshot of a Queue's gauges and counters, for metrics.
type Stats struct {
	Len         int    // queued items
	Cap         int    // MaxSize
	Running     bool   // between Start and Stop
	Paused      bool   // the paused flag
	WorkersBusy int    // workers inside a ProcessFunc
	Dropped     uint64 // items dropped because the queue was full
	Processed   uint64 // ProcessFunc calls that ended, however they ended
	Errors      uint64 // of those, the ones that returned an error or called runtime.Goexit
	Panics      uint64 // of those, the ones that panicked
}

// Queue is the slot queue (SPEC §3): a bounded set of items ranked by
// Compare, and MaxWorkers worker goroutines that take the best item while
// the queue is running and not paused and hand it to the ProcessFunc.
//
// Every method is safe for concurrent use. None blocks except Stop, and no
// lock is held while a ProcessFunc, OnDrop or OnError runs. The state lives
// in a Core; the Queue adds a mutex, the workers and the running flag.
type Queue struct {
	process ProcessFunc
	workers int
	logger  *slog.Logger
	onDrop  func(Item)
	onError func(Item, error)

	// mu guards the fields in it. It is never held while user code runs
	// (ProcessFunc, OnDrop, OnError) and never across a blocking wait other
	// than wake.Wait.
	mu struct {
		sync.Mutex
		core *Core
		run  *run // the current run; nil when not running
		// live counts worker goroutines, of this run and of stopped runs
		// still finishing; exited is closed when it drops to zero.
		live      int
		exited    chan struct{}
		processed uint64
		errors    uint64
		panics    uint64
	}
	// wake signals workers waiting for the core to become Ready, or for
	// their run to stop. Its lock is mu.
	wake *sync.Cond
}

// run is one Start..Stop period.
type run struct {
	ctx     context.Context // handed to ProcessFuncs
	cancel  context.CancelCauseFunc
	stopped bool // guarded by Queue.mu
}

// errGoexit is reported for a ProcessFunc that called runtime.Goexit.
var errGoexit = errors.New("slotqueue: process callback called runtime.Goexit")

// New returns a stopped, paused, empty queue whose workers will call
// process. opts may be nil for DefaultOptions(); the queue keeps a copy. It
// returns an error wrapping ErrInvalidOptions for a nil process or limits
// that fail Options.Validate. New starts no goroutine.
func New(process ProcessFunc, opts *Options) (*Queue, error) {
	o := DefaultOptions()
	if opts != nil {
		o = *opts
	}
	if process == nil {
		return nil, fmt.Errorf("%w: nil ProcessFunc", ErrInvalidOptions)
	}
	core, err := NewCore(o.MaxWorkers, o.MaxSize)
	if err != nil {
		return nil, err
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	q := &Queue{process: process, workers: o.MaxWorkers, logger: o.Logger, onDrop: o.OnDrop, onError: o.OnError}
	q.mu.core = core
	q.mu.exited = make(chan struct{})
	close(q.mu.exited)
	q.wake = sync.NewCond(&q.mu.Mutex)
	return q, nil
}

// Start starts MaxWorkers worker goroutines (SPEC §3.4). It is idempotent: on
// a running queue it does nothing. A stopped queue can be started again; its
// items were kept.
//
// The context handed to ProcessFuncs carries ctx's values but not its
// cancellation or deadline: ctx bounds only the call to Start, and Stop
// cancels the workers. Start returns ctx.Err(), starting nothing, when ctx is
// already done, and nil otherwise.
func (q *Queue) Start(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.mu.run != nil {
		return nil
	}
	wctx, cancel := context.WithCancelCause(context.WithoutCancel(ctx))
	r := &run{ctx: wctx, cancel: cancel}
	q.mu.run = r
	if q.mu.live == 0 {
		q.mu.exited = make(chan struct{})
	}
	q.mu.live += q.workers
	for range q.workers {
		go q.work(r)
	}
	return nil
}

// Stop stops the queue (SPEC §3.4): from now on Push returns ErrNotRunning,
// the workers take no more items, and the context of running ProcessFuncs is
// cancelled with cause ErrStopped. Then Stop waits until every worker
// goroutine has exited, or until ctx is done, returning ctx.Err(); a later
// Stop waits again. Queued items are kept.
//
// Stop is idempotent and may be called on a queue never started. It must not
// be called from a ProcessFunc (it would wait for its caller).
func (q *Queue) Stop(ctx context.Context) error {
	q.mu.Lock()
	r := q.mu.run
	if r != nil {
		r.stopped = true
		q.mu.run = nil
		q.wake.Broadcast()
	}
	exited := q.mu.exited
	q.mu.Unlock()
	if r != nil {
		r.cancel(ErrStopped)
	}
	select {
	case <-exited: // first, so that a done ctx does not hide a clean stop
		return nil
	default:
	}
	select {
	case <-exited:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Running reports whether the queue is between Start and Stop.
func (q *Queue) Running() bool {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.mu.run != nil
}

// Push queues items (SPEC §3.4), all under one hold of the lock, so no
// worker takes an item between two items of one call: a batch is ranked as
// a whole (SPEC §8.3 item 35).
//
// On a queue that is not running it pushes nothing and returns
// ErrNotRunning. Otherwise it pushes every item whose Key is not queued yet
// (nor earlier in items) and skips the others, returning for them an error
// that wraps ErrDuplicate (errors.Join'ed when several). The reference stops
// at the first failing item instead; skipping lets a caller push a request's
// slots in one call and lose none of them to one duplicate.
//
// A full queue drops its lowest-priority item for each item pushed (that
// may be the pushed item itself), counts it in Stats.Dropped and hands it to
// Options.OnDrop; the push still succeeds. Pushing an unseen item unpauses
// the queue; a seen item never does.
func (q *Queue) Push(items ...Item) error {
	q.mu.Lock()
	if q.mu.run == nil {
		q.mu.Unlock()
		return ErrNotRunning
	}
	var drops []Item
	var errs []error
	for _, it := range items {
		d, dropped, err := q.mu.core.Push(it)
		switch {
		case err != nil:
			errs = append(errs, err)
		case dropped:
			drops = append(drops, d)
		}
	}
	if q.mu.core.Ready() {
		q.wake.Signal()
	}
	q.mu.Unlock()
	for _, d := range drops {
		q.logger.Debug("slot queue full, dropped the lowest-priority item",
			"requestId", requestIDString(d.RequestID), "slotIndex", d.SlotIndex)
		if q.onDrop != nil {
			q.onDrop(d)
		}
	}
	if len(errs) == 1 {
		return errs[0]
	}
	return errors.Join(errs...)
}

// Delete removes the item with key k (SPEC §3.4; delete by item is
// Delete(it.Key())) and reports whether it was queued. An item a worker took
// already is not affected. As in the reference, Delete on a queue that is
// not running does nothing and returns false.
func (q *Queue) Delete(k Key) bool {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.mu.run == nil {
		return false
	}
	return q.mu.core.Delete(k)
}

// DeleteRequest removes every queued item of the request and returns how
// many. Like Delete it does nothing on a queue that is not running.
func (q *Queue) DeleteRequest(requestID [32]byte) int {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.mu.run == nil {
		return 0
	}
	return q.mu.core.DeleteRequest(requestID)
}

// Contains reports whether an item with key k is queued.
func (q *Queue) Contains(k Key) bool {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.mu.core.Contains(k)
}

// Len returns the number of queued items.
func (q *Queue) Len() int {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.mu.core.Len()
}

// Cap returns the capacity, Options.MaxSize (the reference's size()).
func (q *Queue) Cap() int { return q.mu.core.Cap() } // immutable: no lock

// Paused reports whether the queue is paused. A new queue is paused; the
// first push of an unseen item unpauses it.
func (q *Queue) Paused() bool {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.mu.core.Paused()
}

// Pause pauses the queue: workers take no new item until Unpause or the
// push of an unseen item. Items already taken are processed to the end.
func (q *Queue) Pause() {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.mu.core.Pause()
}

// Unpause unpauses the queue.
func (q *Queue) Unpause() {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.mu.core.Unpause()
	if q.mu.core.Ready() {
		q.wake.Signal()
	}
}

// ClearSeenFlags clears the Seen flag of every queued item and restores the
// full order (SPEC §3.4, fixed as DESIGN Decision 9 says). It does not
// unpause; SPEC §3.6 calls Unpause after it. O(n).
func (q *Queue) ClearSeenFlags() {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.mu.core.ClearSeenFlags()
}

// Items returns a copy of the queued items, highest priority first.
// O(n log n).
func (q *Queue) Items() []Item {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.mu.core.Items()
}

// String lists the queued items, highest priority first; "[]" when empty.
func (q *Queue) String() string { return formatItems(q.Items()) }

// Stats returns a snapshot of the gauges and counters.
func (q *Queue) Stats() Stats {
	q.mu.Lock()
	defer q.mu.Unlock()
	c := q.mu.core
	return Stats{
		Len:         c.Len(),
		Cap:         c.Cap(),
		Running:     q.mu.run != nil,
		Paused:      c.Paused(),
		WorkersBusy: c.Busy(),
		Dropped:     c.Dropped(),
		Processed:   q.mu.processed,
		Errors:      q.mu.errors,
		Panics:      q.mu.panics,
	}
}

// work is one worker goroutine of run r (SPEC §3.5).
func (q *Queue) work(r *run) {
	stopped := false
	defer func() { q.exit(r, !stopped) }()
	for {
		it, ok := q.take(r)
		if !ok {
			stopped = true
			return
		}
		q.processOne(r, it)
	}
}

// take waits until the core hands out an item or r stops.
func (q *Queue) take(r *run) (Item, bool) {
	q.mu.Lock()
	defer q.mu.Unlock()
	for !r.stopped {
		if it, ok := q.mu.core.Next(); ok {
			if q.mu.core.Ready() {
				q.wake.Signal() // pass the wake-up on
			}
			return it, true
		}
		q.wake.Wait()
	}
	return Item{}, false
}

// processOne calls the ProcessFunc and returns the worker to the core
// however the call ends: return, panic, or runtime.Goexit.
func (q *Queue) processOne(r *run, it Item) {
	err := errGoexit
	defer func() { q.finish(it, err) }()
	err = q.call(r.ctx, it)
}

func (q *Queue) call(ctx context.Context, it Item) (err error) {
	defer func() {
		if v := recover(); v != nil {
			err = &PanicError{Value: v, Stack: debug.Stack()}
		}
	}()
	return q.process(ctx, it)
}

func (q *Queue) finish(it Item, err error) {
	pe, isPanic := err.(*PanicError) // set by call; not an error that wraps one
	q.mu.Lock()
	q.mu.core.Done()
	q.mu.processed++
	switch {
	case isPanic:
		q.mu.panics++
	case err != nil:
		q.mu.errors++
	}
	if q.mu.core.Ready() {
		q.wake.Signal()
	}
	q.mu.Unlock()
	if err == nil {
		return
	}
	if isPanic {
		q.logger.Error("slot processing panicked", "requestId", requestIDString(it.RequestID),
			"slotIndex", it.SlotIndex, "panic", fmt.Sprint(pe.Value), "stack", string(pe.Stack))
	} else {
		q.logger.Warn("slot processing failed", "requestId", requestIDString(it.RequestID),
			"slotIndex", it.SlotIndex, "error", err)
	}
	if q.onError != nil {
		q.onError(it, err)
	}
}

// exit accounts for a worker goroutine that ends. A worker that ends
// without its run stopping (its ProcessFunc called runtime.Goexit) is
// replaced, so the pool never shrinks.
func (q *Queue) exit(r *run, abnormal bool) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if abnormal && !r.stopped {
		go q.work(r) // takes over this goroutine's place in live
		return
	}
	q.mu.live--
	if q.mu.live == 0 {
		close(q.mu.exited)
	}
}

func requestIDString(id [32]byte) string { return "0x" + hex.EncodeToString(id[:]) }
