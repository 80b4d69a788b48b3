package badgerds

import (
	"context"
	"sync"

	badger "github.com/dgraph-io/badger/v4"
	ds "github.com/ipfs/go-datastore"
	dsq "github.com/ipfs/go-datastore/query"
)

var _ ds.Txn = (*txn)(nil)

// txn is a ds.Txn over one badger transaction. Reads see a snapshot taken
// at NewTransaction plus the transaction's own pending writes (queries
// too). It tracks its open query iterators and closes them before the
// badger transaction ends, since badger panics at Discard with an open
// iterator.
//
// Its methods lock internally, so concurrent calls do not corrupt it, but
// a transaction is a sequence: use it from one goroutine at a time.
type txn struct {
	d        *Datastore
	readOnly bool

	// mu serializes use of btxn (badger transactions are not thread-safe)
	// and guards the fields below. Taken after d.closeLk (read side).
	mu      sync.Mutex
	btxn    *badger.Txn
	done    bool
	queries map[*queryIter]struct{}
}

// enter checks ctx, takes d.closeLk (read) and t.mu, and checks the
// transaction is live. On nil error the caller must call t.exit.
func (t *txn) enter(ctx context.Context) error {
	if err := t.d.enter(ctx); err != nil {
		return err
	}
	t.mu.Lock()
	if t.done {
		t.mu.Unlock()
		t.d.exit()
		return ErrTxnDone
	}
	return nil
}

func (t *txn) exit() {
	t.mu.Unlock()
	t.d.exit()
}

// Get returns a copy of key's value as this transaction sees it, or
// ds.ErrNotFound (unwrapped).
func (t *txn) Get(ctx context.Context, key ds.Key) ([]byte, error) {
	if err := t.enter(ctx); err != nil {
		return nil, err
	}
	defer t.exit()
	val, err := getValue(t.btxn, key)
	return val, mapErr("txn get", key.String(), err)
}

// Has reports whether key is mapped to a value in this transaction.
func (t *txn) Has(ctx context.Context, key ds.Key) (bool, error) {
	if err := t.enter(ctx); err != nil {
		return false, err
	}
	defer t.exit()
	has, err := hasKey(t.btxn, key)
	return has, mapErr("txn has", key.String(), err)
}

// GetSize returns the size of key's value in this transaction, or -1 and
// ds.ErrNotFound (unwrapped).
func (t *txn) GetSize(ctx context.Context, key ds.Key) (int, error) {
	if err := t.enter(ctx); err != nil {
		return -1, err
	}
	defer t.exit()
	size, err := getSize(t.btxn, key)
	return size, mapErr("txn getsize", key.String(), err)
}

// Put records a write of value at key, applied at Commit. value is
// retained until then. Errors: ErrTxnTooBig when the transaction is full
// (the write is dropped, the transaction stays usable); badger's
// ErrReadOnlyTxn (wrapped) in a read-only transaction.
func (t *txn) Put(ctx context.Context, key ds.Key, value []byte) error {
	if err := t.enter(ctx); err != nil {
		return err
	}
	defer t.exit()
	return mapErr("txn put", key.String(), t.btxn.Set(key.Bytes(), value))
}

// Delete records a deletion of key, applied at Commit. A missing key is
// not an error. Errors as for Put.
func (t *txn) Delete(ctx context.Context, key ds.Key) error {
	if err := t.enter(ctx); err != nil {
		return err
	}
	defer t.exit()
	return mapErr("txn delete", key.String(), t.btxn.Delete(key.Bytes()))
}

// Query runs q over this transaction's view (snapshot plus pending
// writes, as of the call). The Results end with ErrTxnDone if the
// transaction is committed or discarded while they are open, and with
// ErrClosed if the Datastore closes. See Datastore.Query.
func (t *txn) Query(ctx context.Context, q dsq.Query) (dsq.Results, error) {
	if err := t.enter(ctx); err != nil {
		return nil, err
	}
	qi := newQueryIter(ctx, t.d, t, t.btxn, q)
	t.queries[qi] = struct{}{}
	t.exit()
	// Not holding any lock: see Datastore.Query.
	return qi.results(q), nil
}

// Commit closes the transaction's open queries and commits its writes
// atomically (durably, with SyncWrites on). Whatever it returns, the
// transaction is over; only a nil error means the writes were applied.
// Errors: ErrConflict (retry), ErrTxnDone if already committed or
// discarded, ErrClosed, or ctx.Err() (then nothing happened and the
// transaction is still open: Discard it).
func (t *txn) Commit(ctx context.Context) error {
	if err := t.enter(ctx); err != nil {
		return err
	}
	defer t.exit()
	t.closeQueriesLocked(ErrTxnDone)
	err := t.btxn.Commit()
	t.endLocked(ErrTxnDone)
	return mapErr("txn commit", "", err)
}

// Discard drops the transaction's writes and closes its open queries. It
// ignores ctx (it releases resources and must always run), is a no-op
// after Commit, after Discard and after the Datastore closed, and never
// fails.
func (t *txn) Discard(ctx context.Context) {
	if err := t.enter(context.WithoutCancel(ctx)); err != nil {
		return // done already, or Close ended it
	}
	defer t.exit()
	t.endLocked(ErrTxnDone)
}

// closeQueriesLocked releases every open query of t; their next result is
// reason. Requires d.closeLk (either side) and t.mu.
func (t *txn) closeQueriesLocked(reason error) {
	for q := range t.queries {
		q.mu.Lock()
		q.releaseLocked(reason)
		q.mu.Unlock()
	}
}

// endLocked closes t's queries, discards the badger transaction (a no-op
// after Commit) and unregisters t. Requires d.closeLk (either side) and
// t.mu.
func (t *txn) endLocked(reason error) {
	if t.done {
		return
	}
	t.closeQueriesLocked(reason)
	t.btxn.Discard()
	t.done = true
	t.d.mu.Lock()
	delete(t.d.mu.txns, t)
	t.d.mu.Unlock()
}
