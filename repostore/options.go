package repostore

import (
	"fmt"
	"log/slog"
	"time"

	ds "github.com/ipfs/go-datastore"

	"github.com/hostsales/hostsales/repostore/badgerds"
)

// Default values filled in by Options.EnsureDefaults.
const (
	// DefaultQuotaMaxBytes is the reference's default quota: 20 GiB.
	DefaultQuotaMaxBytes uint64 = 20 << 30
	// DefaultBlockTTL is how long a block stored without an explicit
	// expiry is kept: 30 days, as the reference.
	DefaultBlockTTL int64 = 30 * 24 * 60 * 60
	// DefaultMaxBatchOps bounds how many ops one commit carries.
	DefaultMaxBatchOps = 1024
)

// Options configure a Store. The zero value is valid: a durable badger repo
// with a 20 GiB quota.
type Options struct {
	// Datastore, when set, is used instead of opening badger at the path.
	// It must be safe for concurrent use (wrap a MapDatastore with
	// go-datastore's sync.MutexWrap). The Store does not close it. Only a
	// datastore with transactions (ds.TxnDatastore) makes each commit
	// atomic on disk; with any other, a crash may leave part of a batch.
	Datastore ds.Datastore
	// Badger configures the default badger datastore. Its NoSync field is
	// ignored: durability is set by NoSync below.
	Badger *badgerds.Options
	// NoSync opts out of durability: a commit is acknowledged before it
	// reaches the disk, so a crash may lose recent acknowledged ops (never
	// a part of one). The default (false) syncs every commit.
	NoSync bool
	// QuotaMaxBytes is the byte quota (max). Default DefaultQuotaMaxBytes.
	QuotaMaxBytes uint64
	// DefaultBlockTTL is the expiry, in seconds from Now, of blocks put
	// without one. Default DefaultBlockTTL.
	DefaultBlockTTL int64
	// Now returns the current time in unix seconds. Default: the wall clock.
	// Block expiry is its only use.
	Now func() int64
	// Logger receives the store's logs. Default: discarded.
	Logger *slog.Logger
	// MaxBatchOps bounds the number of ops in one commit. Default
	// DefaultMaxBatchOps.
	MaxBatchOps int
	// FaultHook, for tests, is called before every datastore call an op
	// makes through its Txn (call is "get", "has", "put", "delete" or
	// "query") and before every commit ("commit"). A non-nil error fails
	// that call as the datastore would.
	FaultHook func(call string, key ds.Key) error
}

// EnsureDefaults returns a copy of o (or of the zero Options for nil) with
// every unset field given its default.
func (o *Options) EnsureDefaults() *Options {
	var c Options
	if o != nil {
		c = *o
	}
	if c.QuotaMaxBytes == 0 {
		c.QuotaMaxBytes = DefaultQuotaMaxBytes
	}
	if c.DefaultBlockTTL == 0 {
		c.DefaultBlockTTL = DefaultBlockTTL
	}
	if c.Now == nil {
		c.Now = func() int64 { return time.Now().Unix() }
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if c.MaxBatchOps == 0 {
		c.MaxBatchOps = DefaultMaxBatchOps
	}
	return &c
}

// Validate reports an error matching ErrInvalidOptions for values that
// EnsureDefaults cannot fix.
func (o *Options) Validate() error {
	switch {
	case o.DefaultBlockTTL < 0:
		return fmt.Errorf("%w: DefaultBlockTTL %d is negative", ErrInvalidOptions, o.DefaultBlockTTL)
	case o.MaxBatchOps < 0:
		return fmt.Errorf("%w: MaxBatchOps %d is negative", ErrInvalidOptions, o.MaxBatchOps)
	}
	return nil
}
