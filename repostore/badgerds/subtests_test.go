package badgerds_test

import (
	"context"
	"errors"
	"fmt"
	"testing"

	badger "github.com/dgraph-io/badger/v4"
	ds "github.com/ipfs/go-datastore"
	dsq "github.com/ipfs/go-datastore/query"

	"github.com/hostsales/hostsales/repostore/badgerds"
)

// Subtests in the shape of go-datastore's dstest suite: each takes a
// fresh, empty store. SubtestClosed closes it.
var txnSubtests = []struct {
	name string
	f    func(t *testing.T, d ds.TxnDatastore)
}{
	{"TxnCommit", SubtestTxnCommit},
	{"TxnDiscard", SubtestTxnDiscard},
	{"TxnConflict", SubtestTxnConflict},
	{"TxnOpenQueryAtCommit", SubtestTxnOpenQueryAtCommit},
	{"TxnOpenQueryAtDiscard", SubtestTxnOpenQueryAtDiscard},
	{"Closed", SubtestClosed},
	{"ContextCancelled", SubtestContextCancelled},
}

func TestTxnSubtests(t *testing.T) {
	for _, m := range modes {
		t.Run(m.name, func(t *testing.T) {
			for _, st := range txnSubtests {
				t.Run(st.name, func(t *testing.T) {
					st.f(t, m.open(t, &badgerds.Options{NoSync: true}))
				})
			}
		})
	}
}

// SubtestTxnCommit checks that a transaction's writes are invisible
// outside it until Commit, visible inside it (Get, Has, GetSize, Query),
// applied atomically by Commit, and that the committed transaction
// refuses further use with ErrTxnDone.
func SubtestTxnCommit(t *testing.T, d ds.TxnDatastore) {
	ctx := t.Context()
	base, k1, k2 := ds.NewKey("/base"), ds.NewKey("/t/1"), ds.NewKey("/t/2")
	noErr(t, d.Put(ctx, base, []byte("b0")), "Put base")

	txn, err := d.NewTransaction(ctx, false)
	noErr(t, err, "NewTransaction")
	defer txn.Discard(ctx)
	noErr(t, txn.Put(ctx, k1, []byte("v1")), "txn Put k1")
	noErr(t, txn.Put(ctx, k2, []byte("v22")), "txn Put k2")
	noErr(t, txn.Delete(ctx, base), "txn Delete base")
	noErr(t, txn.Delete(ctx, ds.NewKey("/missing")), "txn Delete missing")

	// Outside: nothing yet.
	_, err = d.Get(ctx, k1)
	eq(t, err, ds.ErrNotFound, "Get k1 outside before commit")
	has, err := d.Has(ctx, base)
	noErr(t, err, "Has base")
	eq(t, has, true, "Has base outside before commit")

	// Inside: own writes.
	v, err := txn.Get(ctx, k1)
	noErr(t, err, "txn Get k1")
	eqBytes(t, v, []byte("v1"), "txn Get k1")
	has, err = txn.Has(ctx, base)
	noErr(t, err, "txn Has base")
	eq(t, has, false, "txn Has base after txn Delete")
	_, err = txn.Get(ctx, base)
	eq(t, err, ds.ErrNotFound, "txn Get deleted base")
	size, err := txn.GetSize(ctx, k2)
	noErr(t, err, "txn GetSize k2")
	eq(t, size, 3, "txn GetSize k2")
	size, err = txn.GetSize(ctx, base)
	eq(t, err, ds.ErrNotFound, "txn GetSize deleted")
	eq(t, size, -1, "txn GetSize deleted")
	eqStrings(t, queryKeys(t, txn, dsq.Query{}), []string{"/t/1", "/t/2"}, "txn Query all")
	eqStrings(t, queryKeys(t, txn, dsq.Query{Prefix: "/t", Orders: []dsq.Order{dsq.OrderByKeyDescending{}}}),
		[]string{"/t/2", "/t/1"}, "txn Query /t desc")

	noErr(t, txn.Commit(ctx), "Commit")

	v, err = d.Get(ctx, k1)
	noErr(t, err, "Get k1 after commit")
	eqBytes(t, v, []byte("v1"), "Get k1 after commit")
	_, err = d.Get(ctx, base)
	eq(t, err, ds.ErrNotFound, "Get base after commit")
	eqStrings(t, queryKeys(t, d, dsq.Query{KeysOnly: true}), []string{"/t/1", "/t/2"}, "Query after commit")

	// A committed transaction is over.
	_, err = txn.Get(ctx, k1)
	isErr(t, err, badgerds.ErrTxnDone, "txn Get after commit")
	isErr(t, txn.Put(ctx, k1, nil), badgerds.ErrTxnDone, "txn Put after commit")
	_, err = txn.Query(ctx, dsq.Query{})
	isErr(t, err, badgerds.ErrTxnDone, "txn Query after commit")
	isErr(t, txn.Commit(ctx), badgerds.ErrTxnDone, "second Commit")
	txn.Discard(ctx) // no-op
	_, err = d.Get(ctx, k1)
	noErr(t, err, "Get k1 after Discard-after-Commit")

	// Read-only transactions read and refuse writes.
	ro, err := d.NewTransaction(ctx, true)
	noErr(t, err, "NewTransaction read-only")
	defer ro.Discard(ctx)
	v, err = ro.Get(ctx, k2)
	noErr(t, err, "ro Get")
	eqBytes(t, v, []byte("v22"), "ro Get")
	if err := ro.Put(ctx, k2, []byte("x")); err == nil {
		t.Fatal("Put in a read-only transaction succeeded")
	}
	noErr(t, ro.Commit(ctx), "ro Commit")
}

// SubtestTxnDiscard checks that Discard drops the writes, is idempotent,
// and makes Commit and reads fail with ErrTxnDone; and that Discard after
// Commit keeps the committed writes.
func SubtestTxnDiscard(t *testing.T, d ds.TxnDatastore) {
	ctx := t.Context()
	k := ds.NewKey("/d/1")
	txn, err := d.NewTransaction(ctx, false)
	noErr(t, err, "NewTransaction")
	noErr(t, txn.Put(ctx, k, []byte("x")), "txn Put")
	txn.Discard(ctx)
	txn.Discard(ctx)
	_, err = d.Get(ctx, k)
	eq(t, err, ds.ErrNotFound, "Get after Discard")
	isErr(t, txn.Commit(ctx), badgerds.ErrTxnDone, "Commit after Discard")
	_, err = txn.Get(ctx, k)
	isErr(t, err, badgerds.ErrTxnDone, "Get after Discard")
	isErr(t, txn.Delete(ctx, k), badgerds.ErrTxnDone, "Delete after Discard")

	// Discard with a cancelled context still discards.
	txn, err = d.NewTransaction(ctx, false)
	noErr(t, err, "NewTransaction")
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	txn.Discard(cctx)
	isErr(t, txn.Commit(ctx), badgerds.ErrTxnDone, "Commit after Discard(cancelled ctx)")

	k2 := ds.NewKey("/d/2")
	txn, err = d.NewTransaction(ctx, false)
	noErr(t, err, "NewTransaction")
	noErr(t, txn.Put(ctx, k2, []byte("y")), "txn Put")
	noErr(t, txn.Commit(ctx), "Commit")
	txn.Discard(ctx)
	v, err := d.Get(ctx, k2)
	noErr(t, err, "Get after Commit+Discard")
	eqBytes(t, v, []byte("y"), "Get after Commit+Discard")
}

// SubtestTxnConflict checks optimistic concurrency: of two transactions
// that read and write the same key, the second to commit fails with an
// error matching both badgerds.ErrConflict and badger.ErrConflict, and
// writes nothing. Blind writes (no read) do not conflict.
func SubtestTxnConflict(t *testing.T, d ds.TxnDatastore) {
	ctx := t.Context()
	k := ds.NewKey("/c")
	noErr(t, d.Put(ctx, k, []byte("0")), "Put")

	t1, err := d.NewTransaction(ctx, false)
	noErr(t, err, "NewTransaction 1")
	defer t1.Discard(ctx)
	t2, err := d.NewTransaction(ctx, false)
	noErr(t, err, "NewTransaction 2")
	defer t2.Discard(ctx)
	for i, txn := range []ds.Txn{t1, t2} {
		_, err := txn.Get(ctx, k)
		noErr(t, err, "txn Get")
		noErr(t, txn.Put(ctx, k, []byte{'1' + byte(i)}), "txn Put")
	}
	noErr(t, t1.Commit(ctx), "Commit 1")
	err = t2.Commit(ctx)
	isErr(t, err, badgerds.ErrConflict, "Commit 2")
	isErr(t, err, badger.ErrConflict, "Commit 2")
	v, err := d.Get(ctx, k)
	noErr(t, err, "Get")
	eqBytes(t, v, []byte("1"), "value after conflict")
	isErr(t, t2.Commit(ctx), badgerds.ErrTxnDone, "Commit after conflict")

	// Blind writes never conflict: the last commit wins.
	t3, err := d.NewTransaction(ctx, false)
	noErr(t, err, "NewTransaction 3")
	defer t3.Discard(ctx)
	t4, err := d.NewTransaction(ctx, false)
	noErr(t, err, "NewTransaction 4")
	defer t4.Discard(ctx)
	noErr(t, t3.Put(ctx, k, []byte("3")), "t3 Put")
	noErr(t, t4.Put(ctx, k, []byte("4")), "t4 Put")
	noErr(t, t3.Commit(ctx), "Commit 3")
	noErr(t, t4.Commit(ctx), "Commit 4")
	v, err = d.Get(ctx, k)
	noErr(t, err, "Get")
	eqBytes(t, v, []byte("4"), "value after blind writes")
}

// SubtestTxnOpenQueryAtCommit checks that committing a transaction with
// open queries (untouched, partly read, and read through the Next channel)
// neither panics nor fails, and that those queries then end with
// ErrTxnDone and close cleanly, twice.
func SubtestTxnOpenQueryAtCommit(t *testing.T, d ds.TxnDatastore) {
	subtestTxnOpenQueryAtEnd(t, d, true)
}

// SubtestTxnOpenQueryAtDiscard is SubtestTxnOpenQueryAtCommit with Discard.
func SubtestTxnOpenQueryAtDiscard(t *testing.T, d ds.TxnDatastore) {
	subtestTxnOpenQueryAtEnd(t, d, false)
}

func subtestTxnOpenQueryAtEnd(t *testing.T, d ds.TxnDatastore, commit bool) {
	ctx := t.Context()
	txn, err := d.NewTransaction(ctx, false)
	noErr(t, err, "NewTransaction")
	defer txn.Discard(ctx)
	// Ten keys: dsq's collector cannot exhaust the channel query before
	// the transaction ends (it holds one result buffered, one being sent).
	for i := range 10 {
		noErr(t, txn.Put(ctx, ds.NewKey(fmt.Sprintf("/q/%d", i)), []byte{byte(i)}), "txn Put")
	}
	untouched, err := txn.Query(ctx, dsq.Query{Prefix: "/q"})
	noErr(t, err, "Query untouched")
	partial, err := txn.Query(ctx, dsq.Query{Prefix: "/q", KeysOnly: true})
	noErr(t, err, "Query partial")
	r, ok := partial.NextSync()
	eq(t, ok, true, "partial first result")
	noErr(t, r.Error, "partial first result")
	viaChan, err := txn.Query(ctx, dsq.Query{Prefix: "/q", Orders: []dsq.Order{dsq.OrderByKeyDescending{}}})
	noErr(t, err, "Query via channel")
	first := <-viaChan.Next()
	noErr(t, first.Error, "channel first result")

	notPanics(t, "ending the transaction", func() {
		if commit {
			noErr(t, txn.Commit(ctx), "Commit with open queries")
		} else {
			txn.Discard(ctx)
		}
	})

	for name, res := range map[string]dsq.Results{"untouched": untouched, "partial": partial} {
		r, ok := res.NextSync()
		eq(t, ok, true, name+": a result after the end")
		isErr(t, r.Error, badgerds.ErrTxnDone, name+": result after the end")
		_, ok = res.NextSync()
		eq(t, ok, false, name+": exhausted")
	}
	// The channel may still deliver entries read before the end; it must
	// then report ErrTxnDone and close.
	var last error
	for r := range viaChan.Next() {
		last = r.Error
	}
	isErr(t, last, badgerds.ErrTxnDone, "channel: last result")
	for _, res := range []dsq.Results{untouched, partial, viaChan} {
		notPanics(t, "Close", func() {
			noErr(t, res.Close(), "Close")
			noErr(t, res.Close(), "second Close")
		})
	}

	_, err = d.Get(ctx, ds.NewKey("/q/1"))
	if commit {
		noErr(t, err, "Get after Commit")
	} else {
		eq(t, err, ds.ErrNotFound, "Get after Discard")
	}
}

// SubtestClosed closes d and checks that every method then returns an
// error matching ErrClosed without panicking: on the store, on a
// transaction and a batch created before Close, and on query Results left
// open across Close. Close is idempotent.
func SubtestClosed(t *testing.T, d ds.TxnDatastore) {
	ctx := t.Context()
	k := ds.NewKey("/k")
	noErr(t, d.Put(ctx, k, []byte("v")), "Put")
	// Enough keys that dsq's collector (one result buffered, one being
	// sent) cannot exhaust the channel query before Close.
	for i := range 10 {
		noErr(t, d.Put(ctx, ds.NewKey(fmt.Sprintf("/k/%d", i)), []byte{byte(i)}), "Put")
	}

	txn, err := d.NewTransaction(ctx, false)
	noErr(t, err, "NewTransaction")
	noErr(t, txn.Put(ctx, ds.NewKey("/txn"), []byte("t")), "txn Put")
	txnRes, err := txn.Query(ctx, dsq.Query{})
	noErr(t, err, "txn Query")
	dsRes, err := d.Query(ctx, dsq.Query{Prefix: "/k"})
	noErr(t, err, "Query")
	chanRes, err := d.Query(ctx, dsq.Query{})
	noErr(t, err, "Query")
	<-chanRes.Next() // starts dsq's collector goroutine
	var batch ds.Batch
	if bd, ok := d.(ds.Batching); ok {
		batch, err = bd.Batch(ctx)
		noErr(t, err, "Batch")
		noErr(t, batch.Put(ctx, ds.NewKey("/batch"), []byte("b")), "batch Put")
	}

	notPanics(t, "Close", func() {
		noErr(t, d.Close(), "Close")
		noErr(t, d.Close(), "second Close")
	})

	notPanics(t, "use after Close", func() {
		_, err := d.Get(ctx, k)
		isErr(t, err, badgerds.ErrClosed, "Get")
		_, err = d.Has(ctx, k)
		isErr(t, err, badgerds.ErrClosed, "Has")
		_, err = d.GetSize(ctx, k)
		isErr(t, err, badgerds.ErrClosed, "GetSize")
		isErr(t, d.Put(ctx, k, nil), badgerds.ErrClosed, "Put")
		isErr(t, d.Delete(ctx, k), badgerds.ErrClosed, "Delete")
		_, err = d.Query(ctx, dsq.Query{})
		isErr(t, err, badgerds.ErrClosed, "Query")
		isErr(t, d.Sync(ctx, k), badgerds.ErrClosed, "Sync")
		_, err = d.NewTransaction(ctx, false)
		isErr(t, err, badgerds.ErrClosed, "NewTransaction")
		if bd, ok := d.(ds.Batching); ok {
			_, err = bd.Batch(ctx)
			isErr(t, err, badgerds.ErrClosed, "Batch")
		}
		if pd, ok := d.(ds.PersistentDatastore); ok {
			_, err = pd.DiskUsage(ctx)
			isErr(t, err, badgerds.ErrClosed, "DiskUsage")
		}
		if gd, ok := d.(ds.GCDatastore); ok {
			isErr(t, gd.CollectGarbage(ctx), badgerds.ErrClosed, "CollectGarbage")
		}

		_, err = txn.Get(ctx, k)
		isErr(t, err, badgerds.ErrClosed, "txn Get")
		isErr(t, txn.Put(ctx, k, nil), badgerds.ErrClosed, "txn Put")
		_, err = txn.Query(ctx, dsq.Query{})
		isErr(t, err, badgerds.ErrClosed, "txn Query")
		isErr(t, txn.Commit(ctx), badgerds.ErrClosed, "txn Commit")
		txn.Discard(ctx)

		if batch != nil {
			isErr(t, batch.Put(ctx, k, nil), badgerds.ErrClosed, "batch Put")
			isErr(t, batch.Commit(ctx), badgerds.ErrClosed, "batch Commit")
		}

		for name, res := range map[string]dsq.Results{"txn": txnRes, "datastore": dsRes} {
			r, ok := res.NextSync()
			eq(t, ok, true, name+" query: a result after Close")
			isErr(t, r.Error, badgerds.ErrClosed, name+" query: result after Close")
			_, err := res.Rest()
			noErr(t, err, name+" query: Rest after the error")
		}
		var last error
		for r := range chanRes.Next() {
			last = r.Error
		}
		isErr(t, last, badgerds.ErrClosed, "channel query: last result")
		for _, res := range []dsq.Results{txnRes, dsRes, chanRes} {
			noErr(t, res.Close(), "Results Close after Close")
			noErr(t, res.Close(), "second Results Close")
		}
	})
}

// SubtestContextCancelled checks that every method returns ctx.Err() for
// a done context and changes nothing, that a transaction or batch survives
// such a call, and that a query stops with ctx.Err() when its context is
// cancelled mid-iteration.
func SubtestContextCancelled(t *testing.T, d ds.TxnDatastore) {
	live := t.Context()
	dead, cancel := context.WithCancel(live)
	cancel()
	k := ds.NewKey("/x/1")
	noErr(t, d.Put(live, k, []byte("1")), "Put")

	_, err := d.Get(dead, k)
	isErr(t, err, context.Canceled, "Get")
	_, err = d.Has(dead, k)
	isErr(t, err, context.Canceled, "Has")
	_, err = d.GetSize(dead, k)
	isErr(t, err, context.Canceled, "GetSize")
	isErr(t, d.Put(dead, ds.NewKey("/x/dead"), nil), context.Canceled, "Put")
	isErr(t, d.Delete(dead, k), context.Canceled, "Delete")
	_, err = d.Query(dead, dsq.Query{})
	isErr(t, err, context.Canceled, "Query")
	isErr(t, d.Sync(dead, k), context.Canceled, "Sync")
	_, err = d.NewTransaction(dead, false)
	isErr(t, err, context.Canceled, "NewTransaction")
	if pd, ok := d.(ds.PersistentDatastore); ok {
		_, err = pd.DiskUsage(dead)
		isErr(t, err, context.Canceled, "DiskUsage")
	}
	if gd, ok := d.(ds.GCDatastore); ok {
		isErr(t, gd.CollectGarbage(dead), context.Canceled, "CollectGarbage")
	}
	has, err := d.Has(live, ds.NewKey("/x/dead"))
	noErr(t, err, "Has")
	eq(t, has, false, "Put with a dead context wrote")
	has, err = d.Has(live, k)
	noErr(t, err, "Has")
	eq(t, has, true, "Delete with a dead context deleted")

	txn, err := d.NewTransaction(live, false)
	noErr(t, err, "NewTransaction")
	defer txn.Discard(live)
	noErr(t, txn.Put(live, ds.NewKey("/x/2"), []byte("2")), "txn Put")
	_, err = txn.Get(dead, k)
	isErr(t, err, context.Canceled, "txn Get")
	isErr(t, txn.Put(dead, k, nil), context.Canceled, "txn Put")
	_, err = txn.Query(dead, dsq.Query{})
	isErr(t, err, context.Canceled, "txn Query")
	isErr(t, txn.Commit(dead), context.Canceled, "txn Commit")
	noErr(t, txn.Commit(live), "txn Commit after a dead-context Commit")

	if bd, ok := d.(ds.Batching); ok {
		b, err := bd.Batch(live)
		noErr(t, err, "Batch")
		isErr(t, b.Put(dead, ds.NewKey("/x/b"), nil), context.Canceled, "batch Put")
		noErr(t, b.Put(live, ds.NewKey("/x/3"), []byte("3")), "batch Put")
		isErr(t, b.Commit(dead), context.Canceled, "batch Commit")
		noErr(t, b.Commit(live), "batch Commit after a dead-context Commit")
		_, err = bd.Batch(dead)
		isErr(t, err, context.Canceled, "Batch")
	}

	// Cancel mid-iteration: the next step reports ctx.Err() and ends.
	qctx, qcancel := context.WithCancel(live)
	defer qcancel()
	res, err := d.Query(qctx, dsq.Query{Prefix: "/x"})
	noErr(t, err, "Query")
	defer res.Close()
	r, ok := res.NextSync()
	eq(t, ok, true, "first result")
	noErr(t, r.Error, "first result")
	qcancel()
	r, ok = res.NextSync()
	eq(t, ok, true, "result after cancel")
	isErr(t, r.Error, context.Canceled, "result after cancel")
	_, ok = res.NextSync()
	eq(t, ok, false, "exhausted after cancel")
	if errors.Is(r.Error, badgerds.ErrClosed) {
		t.Fatal("cancellation reported as ErrClosed")
	}
}
