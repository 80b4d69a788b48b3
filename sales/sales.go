package sales

import (
	"bytes"
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"

	"github.com/hashicorp/go-multierror"

	"github.com/hostsales/hostsales/market"
	"github.com/hostsales/hostsales/reservations"
	"github.com/hostsales/hostsales/slotqueue"
	"github.com/hostsales/hostsales/statemachine"
)

// metrics are the counters Sales keeps; Stats exports them.
type metrics struct {
	availabilityMismatch atomic.Uint64
	proofs               atomic.Uint64
	errored              atomic.Uint64
	restoredEnded        atomic.Uint64
	reconciledEnded      atomic.Uint64
	declined             atomic.Uint64
	retries              atomic.Uint64 // failed calls a sale tried again
	reconcileRestarted   atomic.Uint64 // sales Reconcile restarted for slots still ours
}

// Sales is the sales side of a storage host (SPEC §4.9): it turns the
// market's storage requests into queued slots, runs one Agent per slot it
// takes, restores sales after a restart and reconciles leftovers.
//
// Sales owns every task it starts (through Options.Executor) and Stop waits
// for them. It is safe for concurrent use.
type Sales struct {
	deps      Deps
	opts      *Options
	queue     *SlotQueue
	exec      statemachine.Executor
	own       *statemachine.GoExecutor // the default executor, waited for by Stop
	metrics   metrics
	errCounts errorCounts

	// ctx is the lifetime of Sales' tasks; cancel ends them at Stop.
	ctx    context.Context
	cancel context.CancelFunc
	signer market.Address
	randMu sync.Mutex // guards opts.Rand
	logSeq atomic.Uint64
	period atomic.Pointer[market.Periodicity] // see periodicity

	mu struct {
		sync.Mutex
		running bool
		stopped bool
		agents  map[slotKey]*Agent
		byReq   map[market.RequestID]map[uint64]*Agent // the same agents, by request
		subs    []market.Subscription
	}
}

// New returns Sales over deps. It fails with ErrInvalidOptions when a
// required callback is missing or the queue limits are invalid.
func New(deps Deps, opts *Options) (*Sales, error) {
	if deps.Market == nil || deps.Clock == nil || deps.Reservations == nil {
		return nil, fmt.Errorf("%w: Market, Clock and Reservations are required", ErrInvalidOptions)
	}
	o, err := opts.ensureDefaults()
	if err != nil {
		return nil, err
	}
	s := &Sales{deps: deps, opts: o, exec: o.Executor}
	if s.exec == nil {
		s.own = &statemachine.GoExecutor{}
		s.exec = s.own
	}
	s.queue, err = newSlotQueue(o.MaxWorkers, o.QueueSize, s.sell, s.exec.Go)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalidOptions, err)
	}
	s.mu.agents = map[slotKey]*Agent{}
	s.mu.byReq = map[market.RequestID]map[uint64]*Agent{}
	// Event log keys of this process start at a random point, so that
	// lines written at the same market second before a restart are not
	// overwritten (the order within one process is kept).
	s.logSeq.Store(o.Rand.Uint64() >> 8)
	if o.Registerer != nil {
		if err := o.Registerer.Register(collector{s}); err != nil {
			return nil, fmt.Errorf("sales: registering metrics: %w", err)
		}
	}
	return s, nil
}

// Queue returns the slot queue (for status and metrics).
func (s *Sales) Queue() *SlotQueue { return s.queue }

// Start restores the sales of the slots this host holds, ends leftover
// reservations, starts the queue, subscribes to the market and starts the
// periodic reconcile, in that order (SPEC §4.9, §5). It is idempotent; a
// stopped Sales cannot start again. ctx bounds the start-up only. If the
// start-up fails, everything it started is stopped and the error returned;
// later calls return ErrNotRunning.
func (s *Sales) Start(ctx context.Context) error {
	s.mu.Lock()
	if s.mu.running {
		s.mu.Unlock()
		return nil
	}
	if s.mu.stopped {
		s.mu.Unlock()
		return ErrNotRunning
	}
	s.ctx, s.cancel = context.WithCancel(context.WithoutCancel(ctx))
	s.mu.running = true
	s.mu.Unlock()
	fail := func(err error) error {
		// Nothing half-started stays running; this Sales cannot start
		// again (build a new one). Bounded by ctx, as the start-up is.
		_ = s.Stop(ctx)
		return err
	}
	signer, err := s.deps.Market.GetSigner(ctx)
	if err != nil {
		return fail(fmt.Errorf("sales: reading the signer: %w", err))
	}
	s.signer = signer
	if err := s.restore(ctx); err != nil {
		return fail(err)
	}
	if !s.running() { // stopped while restoring
		return ErrNotRunning
	}
	s.queue.start()
	s.deps.Reservations.SetOnAvailabilitySaved(func(a reservations.Availability) {
		if a.Enabled {
			s.queue.ClearSeenFlags()
		}
	})
	s.subscribe(ctx)
	if s.opts.ReconcilePeriod > 0 {
		s.exec.Go(s.reconcileLoop)
	}
	return nil
}

// Stop stops the queue, the subscriptions, every agent and every task, and
// waits for them (or for ctx). Reservations stay stored: a later Start
// restores them. It is idempotent.
func (s *Sales) Stop(ctx context.Context) error {
	s.mu.Lock()
	if !s.mu.running {
		s.mu.stopped = true
		s.mu.Unlock()
		return nil
	}
	s.mu.running, s.mu.stopped = false, true
	subs := s.mu.subs
	s.mu.subs = nil
	s.mu.Unlock()
	s.deps.Reservations.SetOnAvailabilitySaved(nil)
	var errs *multierror.Error
	for _, sub := range subs {
		sub.Unsubscribe()
	}
	s.queue.stop()
	s.cancel()
	// With an executor of the caller's, its tasks cannot run while Stop
	// waits: stop without waiting and let the caller drain it.
	stopCtx := ctx
	if s.own == nil {
		stopCtx = doneCtx
	}
	for _, a := range s.agentList() {
		a.unsubscribe()
		err := a.m.Stop(stopCtx)
		if err != nil && !errors.Is(err, statemachine.ErrNotStarted) && (s.own != nil || !errors.Is(err, context.Canceled)) {
			errs = multierror.Append(errs, err)
		}
	}
	if s.own != nil {
		s.own.Wait()
	}
	s.mu.Lock()
	s.mu.agents = map[slotKey]*Agent{}
	s.mu.byReq = map[market.RequestID]map[uint64]*Agent{}
	s.mu.Unlock()
	return errs.ErrorOrNil()
}

func (s *Sales) running() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.mu.running
}

// agentList returns the live agents ordered by (request, slot), so that
// whatever is done to each happens in a reproducible order.
func (s *Sales) agentList() []*Agent {
	s.mu.Lock()
	out := make([]*Agent, 0, len(s.mu.agents))
	for _, a := range s.mu.agents {
		out = append(out, a)
	}
	s.mu.Unlock()
	slices.SortFunc(out, func(a, b *Agent) int {
		if c := bytes.Compare(a.key.req[:], b.key.req[:]); c != 0 {
			return c
		}
		return cmp.Compare(a.key.slot, b.key.slot)
	})
	return out
}

// register adds a to the live agents; it reports false if the slot already
// has one.
func (s *Sales) register(a *Agent) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.mu.running {
		return false
	}
	if _, ok := s.mu.agents[a.key]; ok {
		return false
	}
	s.mu.agents[a.key] = a
	r := s.mu.byReq[a.key.req]
	if r == nil {
		r = map[uint64]*Agent{}
		s.mu.byReq[a.key.req] = r
	}
	r[a.key.slot] = a
	return true
}

func (s *Sales) forget(a *Agent) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.mu.agents[a.key] == a {
		delete(s.mu.agents, a.key)
		r := s.mu.byReq[a.key.req]
		delete(r, a.key.slot)
		if len(r) == 0 {
			delete(s.mu.byReq, a.key.req)
		}
	}
}

// ActiveSale returns the live agent of a slot (SPEC §4.9 activeSale).
func (s *Sales) ActiveSale(id market.SlotID) (*Agent, bool) {
	for _, a := range s.agentList() {
		if a.SlotID() == id {
			return a, true
		}
	}
	return nil, false
}

// Agents returns the live agents, in no particular order.
func (s *Sales) Agents() []*Agent { return s.agentList() }

// MySlots returns the slots the market says this host holds, with their
// requests (SPEC §4.9 mySlots); slots freed meanwhile are left out.
func (s *Sales) MySlots(ctx context.Context) ([]market.Slot, error) {
	ids, err := s.deps.Market.MySlots(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]market.Slot, 0, len(ids))
	for _, id := range ids {
		slot, err := s.deps.Market.GetActiveSlot(ctx, id)
		if errors.Is(err, market.ErrSlotIsFree) {
			continue
		}
		if err != nil {
			return nil, err
		}
		out = append(out, slot)
	}
	return out, nil
}

// sell is the queue's worker (SPEC §4.5 processSlot): it starts an agent
// in SalePreparing; the worker is freed when the sale is filled or cleaned
// up (Agent.release), not by waiting here.
func (s *Sales) sell(it slotqueue.Item) {
	key := slotKey{req: market.RequestID(it.RequestID), slot: uint64(it.SlotIndex)}
	a, err := newAgent(s, key, &it, nil)
	if err != nil {
		s.opts.Logger.Error("starting a sale", "err", err)
		s.queue.done()
		return
	}
	a.onRelease = s.queue.done
	if !s.register(a) {
		s.queue.done() // already being sold, or stopping
		return
	}
	if err := a.m.Start(s.ctx, StatePreparing); err != nil {
		s.forget(a)
		a.release()
	}
}

// onFilled is the agent's filled handler: tell the node and free the
// queue worker.
func (s *Sales) onFilled(a *Agent, req market.StorageRequest) {
	if f := s.opts.OnSale; f != nil {
		f(req, a.key.slot)
	}
	a.release()
}

// each calls f for every live agent of request req, in slot order.
func (s *Sales) each(req market.RequestID, f func(*Agent)) {
	s.mu.Lock()
	var list []*Agent
	for _, a := range s.mu.byReq[req] {
		list = append(list, a)
	}
	s.mu.Unlock()
	slices.SortFunc(list, func(a, b *Agent) int { return cmp.Compare(a.key.slot, b.key.slot) })
	for _, a := range list {
		f(a)
	}
}
