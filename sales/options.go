package sales

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/hostsales/hostsales/market"
	"github.com/hostsales/hostsales/reservations"
	"github.com/hostsales/hostsales/slotqueue"
	"github.com/hostsales/hostsales/statemachine"
)

// Deps are what Sales works with. Sales does not own them: the caller
// closes the repo after Sales.Stop.
type Deps struct {
	// Market is this host's view of the marketplace.
	Market market.Market
	// Clock is market time.
	Clock market.Clock
	// Reservations holds availabilities and reservations.
	Reservations *reservations.Reservations
}

// StoreFunc hands a batch of downloaded blocks to hostsales: they are
// written, tagged with the sale's reservation, and their bytes move from
// reserved to used, in one commit. It fails (ErrBytesOutOfBounds) when the
// batches exceed the slot size.
type StoreFunc func(ctx context.Context, blocks [][]byte) error

// Callbacks are the node's side of a sale (SPEC §4.7). They are called on
// the sale's own goroutine; OnStore, OnProve and OnExpiryUpdate may block
// (they get a context cancelled when the sale leaves the state), OnSale and
// OnClear must return quickly. None may call Sales.Stop.
type Callbacks struct {
	// OnStore fetches the slot's data and hands each batch to store.
	// Required.
	OnStore func(ctx context.Context, req market.StorageRequest, expiry int64, slotIndex uint64,
		store StoreFunc, isRepairing bool) error
	// OnProve computes a storage proof for the challenge. Required.
	OnProve func(ctx context.Context, slot market.Slot, challenge market.Challenge) (market.Proof, error)
	// OnExpiryUpdate raises the expiry of the dataset's blocks. Required.
	OnExpiryUpdate func(ctx context.Context, cid string, expiry int64) error
	// OnClear is told when a sale's data may be dropped. Optional.
	OnClear func(req market.StorageRequest, slotIndex uint64)
	// OnSale is told when a slot was filled by this host. Optional.
	OnSale func(req market.StorageRequest, slotIndex uint64)
}

// Options configure Sales. The zero value (with the required callbacks)
// is valid.
type Options struct {
	Callbacks
	// MaxWorkers bounds the sales being prepared, downloaded, proven and
	// filled at once (default 3).
	MaxWorkers int
	// QueueSize bounds the slots waiting in the queue (default 128).
	QueueSize int
	// ReconcilePeriod is how often, in market seconds, reservations without
	// a live sale whose slot is not ours are ended (DESIGN.md Decision 7).
	// Default 3600; negative disables the periodic pass.
	ReconcilePeriod int64
	// Rand orders the slots of a request (SPEC §3.1). Default: seeded from
	// crypto randomness. A simulation passes a seeded one.
	Rand *rand.Rand
	// Executor runs every task of Sales and its agents (state runs, expiry
	// watchers, event handlers, cleanup, queue workers). Default:
	// goroutines, all of them waited for by Stop. With an executor of the
	// caller's (a deterministic simulation's, package sim), Stop does not
	// wait: the caller runs the executor until its tasks are done.
	Executor statemachine.Executor
	// Logger receives structured logs. Default: discarded.
	Logger *slog.Logger
	// Admit, optional, is asked before a slot is reserved whether to take
	// it; a refusal ignores the slot (it is retried when an availability
	// changes) and its reason goes to the sale's event log. It runs on the
	// sale's goroutine and must not call Sales.Stop.
	Admit func(ctx context.Context, a Admission) (ok bool, reason string)
	// LogRetention is how long, in market seconds, a sale's event log is
	// kept. Default 7 days; negative keeps it forever.
	LogRetention int64
	// Registerer, optional, receives Sales' Prometheus metrics (queue,
	// sales by state, bytes and collateral per availability, the repo
	// quota, errors by kind), all read at scrape time.
	Registerer prometheus.Registerer
	// OnTransition, optional, is called after every transition of every
	// sale, on that sale's goroutine; it must return quickly and must not
	// call into Sales.
	OnTransition func(requestID market.RequestID, slotIndex uint64, from, to statemachine.State, ev statemachine.Event)
}

// Admission is what the admission filter (Options.Admit) is told about a
// slot before it is reserved.
type Admission struct {
	Request   market.StorageRequest
	SlotIndex uint64
	// Availability is the one the slot would be carved from.
	Availability reservations.Availability
	// FreeBytes is the repo's unreserved, unused quota.
	FreeBytes uint64
	// ActiveSales is the number of live sales, this one included.
	ActiveSales int
}

// ErrInvalidOptions is returned by New for options it cannot use.
var ErrInvalidOptions = errors.New("sales: invalid options")

func (o *Options) ensureDefaults() (*Options, error) {
	var c Options
	if o != nil {
		c = *o
	}
	if c.OnStore == nil || c.OnProve == nil || c.OnExpiryUpdate == nil {
		return nil, fmt.Errorf("%w: OnStore, OnProve and OnExpiryUpdate are required", ErrInvalidOptions)
	}
	if c.MaxWorkers == 0 {
		c.MaxWorkers = slotqueue.DefaultMaxWorkers
	}
	if c.QueueSize == 0 {
		c.QueueSize = slotqueue.DefaultMaxSize
	}
	if c.ReconcilePeriod == 0 {
		c.ReconcilePeriod = 3600
	}
	if c.LogRetention == 0 {
		c.LogRetention = 7 * 24 * 3600
	}
	if c.Rand == nil {
		c.Rand = rand.New(rand.NewPCG(rand.Uint64(), rand.Uint64()))
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	return &c, nil
}
