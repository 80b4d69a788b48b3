package badgerds

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync"

	badger "github.com/dgraph-io/badger/v4"
	ds "github.com/ipfs/go-datastore"
	dsq "github.com/ipfs/go-datastore/query"
)

var (
	_ ds.Datastore           = (*Datastore)(nil)
	_ ds.Batching            = (*Datastore)(nil)
	_ ds.TxnDatastore        = (*Datastore)(nil)
	_ ds.PersistentDatastore = (*Datastore)(nil)
	_ ds.GCDatastore         = (*Datastore)(nil)
	_ io.Closer              = (*Datastore)(nil)
)

// gcDiscardRatio is the discard ratio passed to badger's RunValueLogGC: a
// value-log file is rewritten when at least half of it is garbage.
const gcDiscardRatio = 0.5

// Datastore is a go-datastore (Datastore, Batching, TxnDatastore,
// PersistentDatastore, GCDatastore) over a badger v4 database. It never
// panics, where badger would (an iterator open at Txn.Discard, an iterator
// created after close): open transactions and query iterators are tracked
// and closed before the transaction ends or the database closes.
//
// A *Datastore is safe for concurrent use. Every method checks its ctx
// first and returns ctx.Err() if it is done; after Close every method
// returns an error matching ErrClosed.
//
// Values passed to Put (here, and on a Txn or Batch) are retained until the
// write is committed; the caller must not modify them before that.
// Returned values are copies the caller owns.
type Datastore struct {
	db   *badger.DB
	opts Options // filled copy

	// closeLk orders every use of db against Close. An operation holds the
	// read lock while it calls into badger (a query: for one step); Close
	// holds the write lock while it ends open transactions and queries and
	// closes db. Never acquire it twice in one goroutine (a waiting Close
	// would deadlock the second RLock), and never hold it while calling
	// back into dsq code that may call our query iterators.
	//
	// Lock order: closeLk -> txn.mu -> queryIter.mu -> mu.
	closeLk sync.RWMutex
	closed  bool // guarded by closeLk

	// mu guards the registries of live transactions and datastore-level
	// queries. It is a leaf lock: nothing is acquired and no badger call is
	// made while holding it.
	mu struct {
		sync.Mutex
		txns    map[*txn]struct{}
		queries map[*queryIter]struct{}
	}
}

// Open opens (creating if needed) the badger database in directory path
// with opts (nil means defaults) and returns it as a Datastore. With
// opts.InMemory the path is ignored.
//
// Errors: invalid options (from Options.Validate); ErrLocked, wrapping
// badger's error, when the directory is held by another open store in this
// or another process; any other badger error, wrapped. A directory left by
// a crashed process opens normally: badger replays its logs and every
// write that was committed (and, by default, synced) is there.
func Open(path string, opts *Options) (*Datastore, error) {
	if err := opts.Validate(); err != nil {
		return nil, err
	}
	o := opts.EnsureDefaults()
	if !o.InMemory && path == "" {
		return nil, errors.New("badgerds: open: empty path (set Options.InMemory for a memory-only store)")
	}
	db, err := badger.Open(o.badgerOptions(path))
	if err != nil {
		if isLockErr(err) {
			return nil, fmt.Errorf("%w (%s): %w", ErrLocked, path, err)
		}
		return nil, fmt.Errorf("badgerds: open %s: %w", path, err)
	}
	d := &Datastore{db: db, opts: *o}
	d.mu.txns = make(map[*txn]struct{})
	d.mu.queries = make(map[*queryIter]struct{})
	return d, nil
}

// DB returns the underlying badger database, as an escape hatch for
// benchmarks and tools. The caller must not close it (use Close) and must
// not use it after Close; badger panics on misuse that Datastore guards
// against (for example an iterator created on a closed database).
func (d *Datastore) DB() *badger.DB { return d.db }

// MaxBatchCount returns the largest number of writes one transaction may
// hold (badger derives it from Options.MemTableSize). A Txn that reaches
// it returns ErrTxnTooBig; a Batch splits into several commits instead.
// It is safe to call at any time, also after Close.
func (d *Datastore) MaxBatchCount() int64 { return d.db.MaxBatchCount() }

// MaxBatchSize returns the largest estimated size, in bytes, of the writes
// one transaction may hold (15% of Options.MemTableSize). See
// MaxBatchCount. It is safe to call at any time, also after Close.
func (d *Datastore) MaxBatchSize() int64 { return d.db.MaxBatchSize() }

// enter checks ctx and takes the read side of closeLk for an operation.
// On nil error the caller must call d.exit.
func (d *Datastore) enter(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	d.closeLk.RLock()
	if d.closed {
		d.closeLk.RUnlock()
		return ErrClosed
	}
	return nil
}

func (d *Datastore) exit() { d.closeLk.RUnlock() }

// Get returns a copy of the value stored at key, or ds.ErrNotFound
// (unwrapped) if there is none. A stored empty value is returned as a
// non-nil empty slice.
func (d *Datastore) Get(ctx context.Context, key ds.Key) ([]byte, error) {
	if err := d.enter(ctx); err != nil {
		return nil, err
	}
	defer d.exit()
	var val []byte
	err := d.db.View(func(btxn *badger.Txn) error {
		var err error
		val, err = getValue(btxn, key)
		return err
	})
	return val, mapErr("get", key.String(), err)
}

// Has reports whether key is mapped to a value. A missing key is not an
// error.
func (d *Datastore) Has(ctx context.Context, key ds.Key) (bool, error) {
	if err := d.enter(ctx); err != nil {
		return false, err
	}
	defer d.exit()
	var has bool
	err := d.db.View(func(btxn *badger.Txn) error {
		var err error
		has, err = hasKey(btxn, key)
		return err
	})
	return has, mapErr("has", key.String(), err)
}

// GetSize returns the exact size of the value stored at key, or -1 and
// ds.ErrNotFound (unwrapped) if there is none. It does not copy the value.
func (d *Datastore) GetSize(ctx context.Context, key ds.Key) (int, error) {
	if err := d.enter(ctx); err != nil {
		return -1, err
	}
	defer d.exit()
	size := -1
	err := d.db.View(func(btxn *badger.Txn) error {
		var err error
		size, err = getSize(btxn, key)
		return err
	})
	return size, mapErr("getsize", key.String(), err)
}

// Put stores value at key in its own transaction; with SyncWrites on (the
// default) it returns after the write is on disk. value is retained until
// then. Errors: ErrTxnTooBig if the single write exceeds the transaction
// limits; badger's errors for an empty key or oversized key or value.
func (d *Datastore) Put(ctx context.Context, key ds.Key, value []byte) error {
	if err := d.enter(ctx); err != nil {
		return err
	}
	defer d.exit()
	err := d.db.Update(func(btxn *badger.Txn) error {
		return btxn.Set(key.Bytes(), value)
	})
	return mapErr("put", key.String(), err)
}

// Delete removes key. Deleting a missing key is not an error.
func (d *Datastore) Delete(ctx context.Context, key ds.Key) error {
	if err := d.enter(ctx); err != nil {
		return err
	}
	defer d.exit()
	err := d.db.Update(func(btxn *badger.Txn) error {
		return btxn.Delete(key.Bytes())
	})
	return mapErr("delete", key.String(), err)
}

// Query runs q over a consistent snapshot taken when Query is called.
// Results are produced lazily; the snapshot's badger read transaction stays
// open until the Results are exhausted or closed, so close them (closing
// twice, or after Close, is safe). If ctx is cancelled during iteration the
// next result carries ctx.Err() and iteration ends; if the Datastore is
// closed, it carries ErrClosed.
//
// q.Prefix selects strict descendants, as in go-datastore; ordering by key
// (ascending or descending) is done by the badger iterator, other orders,
// filters, offset and limit by dsq.NaiveQueryApply. ReturnExpirations is
// not supported (the store has no TTLs). With KeysOnly, Entry.Size is set
// only when q.ReturnsSizes is, and is -1 otherwise.
func (d *Datastore) Query(ctx context.Context, q dsq.Query) (dsq.Results, error) {
	if err := d.enter(ctx); err != nil {
		return nil, err
	}
	btxn := d.db.NewTransaction(false)
	qi := newQueryIter(ctx, d, nil, btxn, q)
	d.mu.Lock()
	d.mu.queries[qi] = struct{}{}
	d.mu.Unlock()
	d.exit()
	// Not holding closeLk: NaiveQueryApply may drain qi (for an order),
	// and every step of qi takes closeLk itself.
	return qi.results(q), nil
}

// Sync makes every Put and Delete that returned before it durable. With
// SyncWrites on (the default) every write already is, so Sync is a no-op;
// with Options.NoSync it flushes badger's write-ahead files (the prefix is
// ignored: badger cannot sync part of the store). In memory it does
// nothing.
func (d *Datastore) Sync(ctx context.Context, prefix ds.Key) error {
	if err := d.enter(ctx); err != nil {
		return err
	}
	defer d.exit()
	if d.opts.InMemory || !d.opts.NoSync || d.opts.ReadOnly {
		return nil
	}
	return mapErr("sync", "", d.db.Sync())
}

// DiskUsage returns the bytes used by the LSM tree and the value log, as
// last measured by badger (it refreshes its figures about once a minute
// and at open). It is 0 in memory.
func (d *Datastore) DiskUsage(ctx context.Context) (uint64, error) {
	if err := d.enter(ctx); err != nil {
		return 0, err
	}
	defer d.exit()
	if d.opts.InMemory {
		return 0, nil
	}
	lsm, vlog := d.db.Size()
	return uint64(max(lsm, 0) + max(vlog, 0)), nil
}

// CollectGarbage rewrites value-log files that are at least half garbage,
// one after another, until badger reports there is nothing left to rewrite,
// checking ctx between files. It returns nil when done, when another
// collection is already running, and in memory or read-only mode (there
// is nothing to collect). It holds off Close while a file is rewritten.
func (d *Datastore) CollectGarbage(ctx context.Context) error {
	if d.opts.InMemory || d.opts.ReadOnly {
		if err := d.enter(ctx); err != nil {
			return err
		}
		d.exit()
		return nil
	}
	for {
		if err := d.enter(ctx); err != nil {
			return err
		}
		err := d.db.RunValueLogGC(gcDiscardRatio)
		d.exit()
		switch {
		case err == nil:
			continue
		case errors.Is(err, badger.ErrNoRewrite), errors.Is(err, badger.ErrRejected):
			return nil
		default:
			return mapErr("collect garbage", "", err)
		}
	}
}

// NewTransaction starts a transaction: a consistent snapshot plus the
// transaction's own pending writes, committed atomically by Commit. With
// readOnly set, writes fail. Transactions are optimistic: Commit returns
// ErrConflict if a key the transaction read changed meanwhile (blind
// writes never conflict). Always call Discard (it is a no-op after
// Commit); Close discards transactions still open, after which the Txn's
// methods return ErrClosed.
//
// The Txn locks internally, so misuse cannot corrupt it, but it is a
// sequence of steps: use it from one goroutine at a time. Its queries see
// its pending writes; the transaction tracks them and ends them (their
// next result is ErrTxnDone) before Commit or Discard.
func (d *Datastore) NewTransaction(ctx context.Context, readOnly bool) (ds.Txn, error) {
	if err := d.enter(ctx); err != nil {
		return nil, err
	}
	defer d.exit()
	t := &txn{
		d:        d,
		btxn:     d.db.NewTransaction(!readOnly),
		readOnly: readOnly,
		queries:  make(map[*queryIter]struct{}),
	}
	d.mu.Lock()
	d.mu.txns[t] = struct{}{}
	d.mu.Unlock()
	return t, nil
}

// Batch returns a new Batch. The returned value also has a
// Cancel() error method that drops it. See Batch for its semantics.
func (d *Datastore) Batch(ctx context.Context) (ds.Batch, error) {
	if err := d.enter(ctx); err != nil {
		return nil, err
	}
	defer d.exit()
	return &Batch{d: d, ops: make(map[ds.Key]batchOp)}, nil
}

// Close ends every open transaction (discarding its writes) and query
// (whose next result is ErrClosed), then closes badger, which flushes
// memtables and releases the directory lock. It returns badger's close
// error, if any. Close is idempotent: later calls return nil. It waits
// for operations in progress (each is short: one call, one commit, one
// query step) but not for unconsumed query Results.
func (d *Datastore) Close() error {
	d.closeLk.Lock()
	defer d.closeLk.Unlock()
	if d.closed {
		return nil
	}
	d.closed = true

	// No operation holds closeLk, so none holds a txn or query lock or is
	// inside badger; we take those locks only to keep -race and the lock
	// order honest.
	d.mu.Lock()
	txns := make([]*txn, 0, len(d.mu.txns))
	for t := range d.mu.txns {
		txns = append(txns, t)
	}
	queries := make([]*queryIter, 0, len(d.mu.queries))
	for q := range d.mu.queries {
		queries = append(queries, q)
	}
	d.mu.Unlock()

	for _, t := range txns {
		t.mu.Lock()
		t.endLocked(ErrClosed)
		t.mu.Unlock()
	}
	for _, q := range queries {
		q.mu.Lock()
		q.releaseLocked(ErrClosed)
		q.mu.Unlock()
	}
	if err := d.db.Close(); err != nil {
		return fmt.Errorf("badgerds: close: %w", err)
	}
	return nil
}

// getValue returns a copy of key's value in btxn.
func getValue(btxn *badger.Txn, key ds.Key) ([]byte, error) {
	item, err := btxn.Get(key.Bytes())
	if err != nil {
		return nil, err
	}
	val, err := item.ValueCopy(nil)
	if err != nil {
		return nil, err
	}
	if val == nil {
		val = []byte{}
	}
	return val, nil
}

func hasKey(btxn *badger.Txn, key ds.Key) (bool, error) {
	_, err := btxn.Get(key.Bytes())
	switch {
	case err == nil:
		return true, nil
	case errors.Is(err, badger.ErrKeyNotFound):
		return false, nil
	default:
		return false, err
	}
}

// getSize returns the exact size of key's value in btxn, or -1.
// item.ValueSize is only an estimate for values kept in the value log;
// Value reads the length without copying (the log is memory-mapped).
func getSize(btxn *badger.Txn, key ds.Key) (int, error) {
	item, err := btxn.Get(key.Bytes())
	if err != nil {
		return -1, err
	}
	return itemSize(item)
}

func itemSize(item *badger.Item) (int, error) {
	size := -1
	err := item.Value(func(v []byte) error {
		size = len(v)
		return nil
	})
	if err != nil {
		return -1, err
	}
	return size, nil
}
