package badgerds

import (
	"context"
	"errors"
	"slices"
	"strings"
	"sync"

	badger "github.com/dgraph-io/badger/v4"
	ds "github.com/ipfs/go-datastore"
)

var _ ds.Batch = (*Batch)(nil)

// Batch buffers writes in memory and applies them at Commit. It is what
// Datastore.Batch returns.
//
// A Batch is NOT atomic. Commit applies the buffered writes (the last
// write per key wins) in key order, in as few badger transactions as the
// transaction limits allow (see Datastore.MaxBatchSize); if a later one
// fails, the earlier ones stay committed. Nothing is visible before
// Commit. Use a Txn (Datastore.NewTransaction) for an all-or-nothing
// change. Blind writes never conflict, so a Batch never returns
// ErrConflict.
//
// A Batch is safe for concurrent use. Buffered values are retained, not
// copied, until Commit or Cancel returns. After Commit or Cancel every
// method returns ErrTxnDone; after the Datastore closes, ErrClosed.
type Batch struct {
	d *Datastore

	mu   sync.Mutex
	ops  map[ds.Key]batchOp // guarded by mu
	done bool               // guarded by mu
}

type batchOp struct {
	value  []byte
	delete bool
}

// Put buffers a write of value at key.
func (b *Batch) Put(ctx context.Context, key ds.Key, value []byte) error {
	return b.add(ctx, key, batchOp{value: value})
}

// Delete buffers a deletion of key; a missing key is not an error.
func (b *Batch) Delete(ctx context.Context, key ds.Key) error {
	return b.add(ctx, key, batchOp{delete: true})
}

func (b *Batch) add(ctx context.Context, key ds.Key, op batchOp) error {
	if err := b.d.enter(ctx); err != nil {
		return err
	}
	defer b.d.exit()
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.done {
		return ErrTxnDone
	}
	b.ops[key] = op
	return nil
}

// Commit applies the buffered writes (see Batch for why this is not
// atomic) and ends the batch, whatever it returns. With SyncWrites on
// every chunk is durable when Commit returns nil. Errors: ErrTxnDone,
// ErrClosed, ctx.Err() (then nothing was written and the batch stays
// open), ErrTxnTooBig if a single write exceeds the transaction limits,
// or badger's error for an invalid key or value.
func (b *Batch) Commit(ctx context.Context) error {
	if err := b.d.enter(ctx); err != nil {
		return err
	}
	defer b.d.exit()
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.done {
		return ErrTxnDone
	}
	ops := b.ops
	b.ops, b.done = nil, true
	return b.d.applyOps(ops)
}

// Cancel drops the buffered writes and ends the batch. It never fails and
// is a no-op after Commit or Cancel.
func (b *Batch) Cancel() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.ops, b.done = nil, true
	return nil
}

// applyOps writes ops in key order, committing a badger transaction
// whenever the next write would not fit. The caller holds d.closeLk
// (read).
func (d *Datastore) applyOps(ops map[ds.Key]batchOp) error {
	keys := make([]ds.Key, 0, len(ops))
	for k := range ops {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, func(a, b ds.Key) int { return strings.Compare(a.String(), b.String()) })

	btxn := d.db.NewTransaction(true)
	defer func() { btxn.Discard() }()
	pending := 0 // writes in btxn
	for _, k := range keys {
		op := ops[k]
		apply := func() error {
			if op.delete {
				return btxn.Delete(k.Bytes())
			}
			return btxn.Set(k.Bytes(), op.value)
		}
		err := apply()
		if errors.Is(err, badger.ErrTxnTooBig) && pending > 0 {
			if err := btxn.Commit(); err != nil {
				return mapErr("batch commit", "", err)
			}
			btxn = d.db.NewTransaction(true)
			pending = 0
			err = apply()
		}
		if err != nil {
			return mapErr("batch", k.String(), err)
		}
		pending++
	}
	return mapErr("batch commit", "", btxn.Commit())
}
