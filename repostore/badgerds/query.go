package badgerds

import (
	"bytes"
	"context"
	"path"
	"sync"

	badger "github.com/dgraph-io/badger/v4"
	dsq "github.com/ipfs/go-datastore/query"
)

// queryPrefetchSize is how many values a non-keys-only query reads ahead
// (badger's default is 100; a smaller window bounds the memory of a query
// over large values and wastes less work on limited queries).
const queryPrefetchSize = 16

// queryIter pulls entries from one badger iterator. It is the engine under
// every Results this package returns: a pull iterator (no goroutine) that
// dsq.ResultsFromIterator wraps.
//
// A datastore-level query owns a read-only badger transaction; a
// transaction's query borrows the transaction's. Either way it is
// registered (in Datastore.mu.queries or txn.queries) until released, so
// Close, Commit and Discard can close the badger iterator first.
//
// Each step takes d.closeLk (read), then the owner txn's mu (if any),
// then mu; so a step never overlaps Close, Commit or Discard.
type queryIter struct {
	d     *Datastore
	owner *txn // nil for a datastore-level query
	ctx   context.Context

	prefix  []byte // "/a/b/" or nil: only keys with this prefix
	seek    []byte // reverse with prefix: where to start (see newQueryIter)
	reverse bool
	values  bool // copy values (not KeysOnly)
	sizes   bool // KeysOnly with ReturnsSizes
	orders  []dsq.Order

	mu      sync.Mutex
	btxn    *badger.Txn // owned iff owner == nil
	it      *badger.Iterator
	started bool
	done    bool  // released: no more entries
	pending error // reported once by next after done, then cleared
}

// newQueryIter creates the badger iterator for q on btxn. The caller holds
// d.closeLk (read) and, for a txn query, owner.mu, and registers the
// result.
func newQueryIter(ctx context.Context, d *Datastore, owner *txn, btxn *badger.Txn, q dsq.Query) *queryIter {
	qi := &queryIter{
		d:      d,
		owner:  owner,
		ctx:    ctx,
		btxn:   btxn,
		values: !q.KeysOnly,
		sizes:  q.KeysOnly && q.ReturnsSizes,
		orders: q.Orders,
	}
	// Keys are unique, so a leading key order fixes the whole order, and
	// badger iterates in exactly that order (bytewise, as strings.Compare).
	if len(q.Orders) > 0 {
		switch q.Orders[0].(type) {
		case dsq.OrderByKey, *dsq.OrderByKey:
			qi.orders = nil
		case dsq.OrderByKeyDescending, *dsq.OrderByKeyDescending:
			qi.orders = nil
			qi.reverse = true
		}
	}
	opt := badger.IteratorOptions{
		PrefetchValues: qi.values,
		PrefetchSize:   queryPrefetchSize,
		Reverse:        qi.reverse,
	}
	if p := cleanPrefix(q.Prefix); p != "" {
		qi.prefix = []byte(p)
		if !qi.reverse {
			opt.Prefix = qi.prefix
		} else {
			// badger's reverse Seek(prefix) starts at the last key <=
			// prefix, i.e. before every key under "/a/b/", so a reverse
			// iterator with Prefix "/a/b/" yields nothing. Start instead at
			// "/a/b0" ('0' follows '/'), the least key above every
			// "/a/b/..." key, and narrow tables with "/a/b", which both the
			// start key and the wanted keys share. next skips the start key
			// itself and stops at the first key outside "/a/b/".
			parent := qi.prefix[:len(qi.prefix)-1]
			opt.Prefix = parent
			qi.seek = append(bytes.Clone(parent), '/'+1)
		}
	}
	qi.it = btxn.NewIterator(opt)
	return qi
}

// cleanPrefix returns the query prefix as badger should see it: cleaned
// like a ds.Key and followed by "/", so "/a" selects "/a/b" but not "/a"
// or "/ab"; "" for the root (no restriction). Mirrors NaiveQueryApply.
func cleanPrefix(prefix string) string {
	if prefix == "" {
		return ""
	}
	if prefix[0] != '/' {
		prefix = "/" + prefix
	}
	prefix = path.Clean(prefix)
	if prefix == "/" {
		return ""
	}
	return prefix + "/"
}

// results wraps qi as the dsq.Results for q: the iterator already applied
// the prefix and any leading key order; NaiveQueryApply applies the rest.
func (qi *queryIter) results(q dsq.Query) dsq.Results {
	rest := q
	rest.Prefix = ""
	rest.Orders = qi.orders
	res := dsq.ResultsFromIterator(rest, dsq.Iterator{Next: qi.next, Close: qi.close})
	return dsq.ResultsReplaceQuery(dsq.NaiveQueryApply(rest, res), q)
}

// lock takes the locks a step needs, in order; unlock releases them.
func (qi *queryIter) lock() {
	qi.d.closeLk.RLock()
	if qi.owner != nil {
		qi.owner.mu.Lock()
	}
	qi.mu.Lock()
}

func (qi *queryIter) unlock() {
	qi.mu.Unlock()
	if qi.owner != nil {
		qi.owner.mu.Unlock()
	}
	qi.d.closeLk.RUnlock()
}

// next returns the next entry. After the end it returns a pending error
// once (ctx.Err(), ErrClosed, ErrTxnDone or a read error) if there is one,
// then (Result{}, false) forever.
func (qi *queryIter) next() (dsq.Result, bool) {
	qi.lock()
	defer qi.unlock()
	if !qi.done {
		if err := qi.ctx.Err(); err != nil {
			qi.releaseLocked(err)
		}
	}
	if qi.done {
		if err := qi.pending; err != nil {
			qi.pending = nil
			return dsq.Result{Error: err}, true
		}
		return dsq.Result{}, false
	}

	it := qi.it
	if !qi.started {
		qi.started = true
		if qi.seek != nil {
			it.Seek(qi.seek)
		} else {
			it.Rewind()
		}
	} else {
		it.Next()
	}
	for ; it.Valid(); it.Next() {
		key := it.Item().Key()
		if qi.prefix == nil || bytes.HasPrefix(key, qi.prefix) {
			break
		}
		if qi.reverse && bytes.Compare(key, qi.prefix) > 0 {
			continue // the reverse start key, above the prefix range
		}
		qi.releaseLocked(nil)
		return dsq.Result{}, false
	}
	if !it.Valid() {
		qi.releaseLocked(nil)
		return dsq.Result{}, false
	}

	item := it.Item()
	e := dsq.Entry{Key: string(item.Key()), Size: -1}
	var err error
	switch {
	case qi.values:
		e.Value, err = item.ValueCopy(nil)
		if e.Value == nil {
			e.Value = []byte{}
		}
		e.Size = len(e.Value)
	case qi.sizes:
		e.Size, err = itemSize(item)
	}
	if err != nil {
		qi.releaseLocked(nil) // report the error now, then end
		return dsq.Result{Error: mapErr("query", e.Key, err)}, true
	}
	return dsq.Result{Entry: e}, true
}

// close releases the iterator; the Results end without error. Safe to
// call repeatedly, concurrently with Close, and after Close.
func (qi *queryIter) close() error {
	qi.lock()
	defer qi.unlock()
	qi.releaseLocked(nil)
	qi.pending = nil
	return nil
}

// releaseLocked closes the badger iterator, discards the owned badger
// transaction and unregisters qi; the next step reports reason (if not
// nil) and ends. Idempotent. Requires d.closeLk (either side), owner.mu
// (for a txn query) and qi.mu.
func (qi *queryIter) releaseLocked(reason error) {
	if qi.done {
		return
	}
	qi.done = true
	qi.pending = reason
	qi.it.Close()
	qi.it = nil
	if qi.owner != nil {
		delete(qi.owner.queries, qi)
	} else {
		qi.btxn.Discard()
		qi.d.mu.Lock()
		delete(qi.d.mu.queries, qi)
		qi.d.mu.Unlock()
	}
	qi.btxn = nil
}
