package sales

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"

	"github.com/holiman/uint256"

	"github.com/hostsales/hostsales/market"
	"github.com/hostsales/hostsales/reservations"
	"github.com/hostsales/hostsales/slotqueue"
	"github.com/hostsales/hostsales/statemachine"
)

// slotKey identifies a sale: one agent per (request, slot index).
type slotKey struct {
	req  market.RequestID
	slot uint64
}

// Agent drives the sale of one slot through the machine of SPEC §4.3.
// Its fields are guarded by mu; the machine runs one state at a time.
type Agent struct {
	s    *Sales
	key  slotKey
	m    *statemachine.Machine[step]
	item *slotqueue.Item // set for agents started from the queue

	mu struct {
		sync.Mutex
		request     *market.StorageRequest
		reservation *reservations.Reservation
		filled      bool // our fillSlot succeeded, or the slot was ours at restore
		watching    bool
		stopWatch   context.CancelFunc
		cleaned     bool
	}
	// released guards onRelease: the sale gives its queue worker back once,
	// when it is filled or cleaned up.
	released  sync.Once
	onRelease func() // frees the queue worker; nil for restored sales
}

// RequestID returns the sale's request.
func (a *Agent) RequestID() market.RequestID { return a.key.req }

// SlotIndex returns the sale's slot.
func (a *Agent) SlotIndex() uint64 { return a.key.slot }

// SlotID returns the sale's slot id.
func (a *Agent) SlotID() market.SlotID { return market.SlotIDFor(a.key.req, a.key.slot) }

// State returns the sale's current state ("" once stopped).
func (a *Agent) State() statemachine.State { return a.m.State() }

// Request returns the request, if it was retrieved.
func (a *Agent) Request() (market.StorageRequest, bool) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.mu.request == nil {
		return market.StorageRequest{}, false
	}
	return *a.mu.request, true
}

// Reservation returns the sale's reservation, if it has one.
func (a *Agent) Reservation() (reservations.Reservation, bool) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.mu.reservation == nil {
		return reservations.Reservation{}, false
	}
	return *a.mu.reservation, true
}

func (a *Agent) setReservation(r *reservations.Reservation) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.mu.reservation = r
}

func (a *Agent) isFilled() bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.mu.filled
}

func (a *Agent) setFilled() {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.mu.filled = true
}

func (a *Agent) log() *slog.Logger {
	return a.s.opts.Logger.With("requestId", a.key.req.String(), "slotIndex", a.key.slot)
}

func newAgent(s *Sales, key slotKey, item *slotqueue.Item, req *market.StorageRequest) (*Agent, error) {
	a := &Agent{s: s, key: key, item: item}
	a.mu.request = req
	h := func(f func(ctx context.Context, entry stepT) stepT) statemachine.Handler[step] {
		return statemachine.HandlerFunc[step](f)
	}
	handlers := map[statemachine.State]statemachine.Handler[step]{
		StatePreparing:      h(a.runPreparing),
		StateSlotReserving:  h(a.runSlotReserving),
		StateDownloading:    h(a.runDownloading),
		StateInitialProving: h(a.runInitialProving),
		StateFilling:        h(a.runFilling),
		StateFilled:         h(a.runFilled),
		StateProving:        h(a.runProving),
		StatePayout:         h(a.runPayout),
		StateFinished:       h(a.runFinished),
		StateCancelled:      h(a.runCancelled),
		StateFailed:         h(a.runFailed),
		StateIgnored:        h(a.runIgnored),
		StateErrored:        h(a.runErrored),
		StateUnknown:        h(a.runUnknown),
	}
	m, err := statemachine.New(Table, handlers, &statemachine.Options[step]{
		Executor: s.exec,
		Hooks: statemachine.Hooks[step]{OnTransition: func(c statemachine.Change, p step) {
			reason := p.reason
			if p.err != nil {
				reason = p.err.Error()
			}
			a.log().Debug("sale transition", "from", c.From, "to", c.To, "event", c.Event, "reason", reason)
			s.appendLog(a, LogEntry{Time: s.deps.Clock.Now(), RequestID: key.req, SlotIndex: key.slot,
				From: c.From, To: c.To, Event: c.Event, Reason: reason})
			if f := s.opts.OnTransition; f != nil {
				f(key.req, key.slot, c.From, c.To, c.Event)
			}
		}},
	})
	if err != nil {
		return nil, err
	}
	a.m = m
	return a, nil
}

// retrieveRequest fetches the request once (SPEC §4.2). It returns false
// when the market does not know it.
func (a *Agent) retrieveRequest(ctx context.Context) (market.StorageRequest, bool, error) {
	if r, ok := a.Request(); ok {
		return r, true, nil
	}
	r, err := a.s.deps.Market.GetRequest(ctx, a.key.req)
	if errors.Is(err, market.ErrUnknownRequest) {
		return market.StorageRequest{}, false, nil
	}
	if err != nil {
		return market.StorageRequest{}, false, err
	}
	a.mu.Lock()
	a.mu.request = &r
	a.mu.Unlock()
	return r, true, nil
}

// subscribe starts the expiry watcher once (SPEC §4.2): after the
// request's expiry it confirms the cancellation on chain before it tells
// the machine; it stops once the request started, finished or failed.
func (a *Agent) subscribe() {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.mu.watching || a.mu.request == nil {
		return
	}
	ctx, cancel := context.WithCancel(a.s.ctx)
	a.mu.watching, a.mu.stopWatch = true, cancel
	a.s.exec.Go(func() { a.watchExpiry(ctx) })
}

// unsubscribe stops the expiry watcher; it is idempotent.
func (a *Agent) unsubscribe() {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.mu.stopWatch != nil {
		a.mu.stopWatch()
		a.mu.stopWatch = nil
	}
}

// watchExpiry is the expiry watcher. Its market calls are retried (with
// backoff) until they answer: a watcher that gave up would leave a filled
// sale of a cancelled request proving nothing until the end of time.
func (a *Agent) watchExpiry(ctx context.Context) {
	m, clock := a.s.deps.Market, a.s.deps.Clock
	var expiry int64
	if a.persist(ctx, "expiry watcher: reading the expiry", func() (err error) {
		expiry, err = m.RequestExpiresAt(ctx, a.key.req)
		return err
	}) != nil {
		return
	}
	for {
		at := max(clock.Now(), expiry) + 1
		if err := clock.WaitUntil(ctx, at); err != nil {
			return
		}
		var st market.RequestState
		if a.persist(ctx, "expiry watcher: reading the request state", func() (err error) {
			st, err = m.RequestState(ctx, a.key.req)
			return err
		}) != nil {
			return
		}
		switch st {
		case market.RequestStateNew:
			continue // expired locally, not yet on chain
		case market.RequestStateCancelled:
			_ = a.m.Schedule(EventCancelled)
			return
		default:
			return
		}
	}
}

// onFulfilled: a started request can no longer be cancelled.
func (a *Agent) onFulfilled() { a.unsubscribe() }

func (a *Agent) onFailed() {
	if _, ok := a.Request(); ok {
		_ = a.m.Schedule(EventFailed)
	}
}

func (a *Agent) onSlotFilled() { _ = a.m.Schedule(EventSlotFilled) }

// release frees the agent's queue worker.
func (a *Agent) release() {
	a.released.Do(func() {
		if a.onRelease != nil {
			a.onRelease()
		}
	})
}

// cleanUp ends the sale (SPEC §4.5 with DESIGN.md Decisions 5 and 6): the
// reservation is ended in one commit, returning its bytes and the
// collateral due; a slot to reprocess goes back to the queue marked seen;
// the agent is stopped and forgotten. paid is the collateral the market
// paid back, nil when it paid none.
func (a *Agent) cleanUp(reprocess bool, paid *uint256.Int) { a.end(reprocess, paid, false) }

// end is cleanUp; with keep, the reservation is left for restore and
// Reconcile to settle (the market holds its collateral and could not be
// asked what it pays).
func (a *Agent) end(reprocess bool, paid *uint256.Int, keep bool) {
	a.mu.Lock()
	if a.mu.cleaned {
		a.mu.Unlock()
		return
	}
	a.mu.cleaned = true
	res, filled, req := a.mu.reservation, a.mu.filled, a.mu.request
	a.mu.Unlock()
	s := a.s
	if res != nil && keep {
		a.log().Warn("reservation kept for restore and reconcile", "reservationId", res.ID.String())
	}
	if res != nil && !keep {
		due := dueCollateral(res, filled, paid)
		// Detached: a stopping node still finishes the commit.
		ctx := context.WithoutCancel(s.ctx)
		if _, err := s.deps.Reservations.EndReservation(ctx, res.AvailabilityID, res.ID, due); err != nil {
			a.log().Error("ending the reservation", "reservationId", res.ID.String(), "err", err)
		}
	}
	// Forgotten before the slot goes back to the queue, so that a worker
	// taking it at once can start a new sale for it.
	s.forget(a)
	if reprocess && req != nil && a.item != nil {
		it := *a.item
		it.Seen = true
		if err := s.queue.Push(it); err != nil {
			a.log().Debug("re-queueing the slot", "err", err)
		}
	}
	a.unsubscribe()
	a.release()
	s.exec.Go(func() {
		// Stop without waiting (this task may be the machine's own): a
		// done context makes Stop cancel and return; Sales.Stop waits
		// for every task.
		_ = a.m.Stop(doneCtx)
	})
}

// doneCtx is an already-cancelled context, for calls that must not wait.
var doneCtx = func() context.Context {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	return ctx
}()

// dueCollateral is DESIGN.md Decision 6, for a sale's cleanup and for a
// reservation that outlived its sale (restore, Reconcile) alike:
// everything the reservation took if our fill never succeeded; if it did,
// what the market paid back (paid: the slot's current collateral when it
// was paid out, or cancelled and freed, to us; a forced release sets it
// to 0), and nothing otherwise (the request failed, or the slot was
// forfeited and freed for repair).
func dueCollateral(res *reservations.Reservation, filled bool, paid *uint256.Int) *uint256.Int {
	if !filled {
		c := res.Collateral
		return &c
	}
	if paid == nil {
		return new(uint256.Int)
	}
	return paid
}

// errorf builds the error a state hands to Errored.
func errorf(format string, args ...any) error { return fmt.Errorf("sales: "+format, args...) }
