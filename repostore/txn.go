package repostore

import (
	"context"
	"errors"
	"slices"

	ds "github.com/ipfs/go-datastore"
	dsq "github.com/ipfs/go-datastore/query"
)

// Op is one atomic change, run by the commit pipeline's writer goroutine
// against a Txn. If it returns an error, none of its writes and none of its
// quota changes take effect, whatever the other ops of its batch do.
//
// An Op must be a function of what it reads through the Txn: it must not
// block, must not call back into the Store, must not keep the Txn after it
// returns, and must make no change outside the Txn except through
// Txn.OnCommit.
type Op func(tx *Txn) error

// write is one pending change: a new value, or a deletion.
type write struct {
	val []byte
	del bool
}

// Txn is an op's view of the repo: committed state, plus the writes of the
// ops before it in the same batch, plus its own writes. Reads see all three;
// writes are buffered until the batch commits. A Txn is used only by the
// writer goroutine and is not safe for concurrent use.
type Txn struct {
	b      *batch
	writes map[string]write
	anc    ancestors // the keys of writes, by ancestor, for Query; built on first need
	quota  Quota
	blocks int64 // change of the block count
	hooks  []func()
	calls  int
}

// errFaultInjected marks errors produced by Options.FaultHook.
var errFaultInjected = errors.New("repostore: injected fault")

func (t *Txn) call(kind string, key ds.Key) error {
	t.calls++
	if h := t.b.p.opts.FaultHook; h != nil {
		if err := h(kind, key); err != nil {
			return errors.Join(errFaultInjected, err)
		}
	}
	return nil
}

func (t *Txn) lookup(key ds.Key) (write, bool) {
	k := key.String()
	if w, ok := t.writes[k]; ok {
		return w, true
	}
	w, ok := t.b.writes[k]
	return w, ok
}

// Get returns the value stored at key, or an error matching ds.ErrNotFound.
// The returned slice must not be modified.
func (t *Txn) Get(key ds.Key) ([]byte, error) {
	if err := t.call("get", key); err != nil {
		return nil, err
	}
	if w, ok := t.lookup(key); ok {
		if w.del {
			return nil, ds.ErrNotFound
		}
		return w.val, nil
	}
	return t.b.p.ds.Get(t.b.ctx, key)
}

// Pending reports whether the op or its batch has written key and not yet
// committed it, and what: the value, or deleted. A caller that keeps its
// own copy of committed records (updated by OnCommit hooks) reads the
// committed value from that copy when nothing is pending. It is not a
// datastore call.
func (t *Txn) Pending(key ds.Key) (value []byte, deleted, ok bool) {
	w, ok := t.lookup(key)
	return w.val, w.del, ok
}

// Has reports whether key holds a value.
func (t *Txn) Has(key ds.Key) (bool, error) {
	if err := t.call("has", key); err != nil {
		return false, err
	}
	if w, ok := t.lookup(key); ok {
		return !w.del, nil
	}
	return t.b.p.ds.Has(t.b.ctx, key)
}

// Put buffers value at key. The Txn keeps value; the caller must not
// modify it afterwards.
func (t *Txn) Put(key ds.Key, value []byte) error {
	if err := t.call("put", key); err != nil {
		return err
	}
	if value == nil {
		value = []byte{}
	}
	k := key.String()
	t.writes[k] = write{val: value}
	if t.anc != nil {
		t.anc.add(k)
	}
	return nil
}

// Delete buffers the removal of key. Deleting a missing key is not an error.
func (t *Txn) Delete(key ds.Key) error {
	if err := t.call("delete", key); err != nil {
		return err
	}
	k := key.String()
	t.writes[k] = write{del: true}
	if t.anc != nil {
		t.anc.add(k)
	}
	return nil
}

// Query runs q over the merged view and returns every entry. Queries that
// touch no pending write are passed to the datastore unchanged.
func (t *Txn) Query(q dsq.Query) ([]dsq.Entry, error) {
	if err := t.call("query", ds.NewKey(q.Prefix)); err != nil {
		return nil, err
	}
	prefix := ds.NewKey(q.Prefix).String()
	var pending []string
	if prefix == "/" {
		for _, m := range []map[string]write{t.b.writes, t.writes} {
			for k := range m {
				pending = append(pending, k)
			}
		}
	} else {
		if t.b.anc == nil {
			t.b.anc = indexAncestors(t.b.writes)
		}
		if t.anc == nil {
			t.anc = indexAncestors(t.writes)
		}
		for _, a := range []ancestors{t.b.anc, t.anc} {
			for k := range a[prefix] {
				pending = append(pending, k)
			}
		}
	}
	ctx := t.b.ctx
	if len(pending) == 0 {
		return collect(ctx, t.b.p.ds, q)
	}
	// Merge: read the committed entries under the prefix, overlay the
	// pending writes, then apply the query's own filters, orders, offset
	// and limit.
	base := dsq.Query{Prefix: q.Prefix}
	committed, err := collect(ctx, t.b.p.ds, base)
	if err != nil {
		return nil, err
	}
	merged := make(map[string][]byte, len(committed)+len(pending))
	for _, e := range committed {
		merged[e.Key] = e.Value
	}
	for _, k := range pending {
		if w, ok := t.lookup(ds.RawKey(k)); ok {
			if w.del {
				delete(merged, k)
			} else {
				merged[k] = w.val
			}
		}
	}
	keys := make([]string, 0, len(merged))
	for k := range merged {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	entries := make([]dsq.Entry, 0, len(keys))
	for _, k := range keys {
		e := dsq.Entry{Key: k, Size: len(merged[k])}
		if !q.KeysOnly {
			e.Value = merged[k]
		}
		entries = append(entries, e)
	}
	rest := q
	rest.Prefix = ""
	return dsq.NaiveQueryApply(rest, dsq.ResultsWithEntries(q, entries)).Rest()
}

func collect(ctx context.Context, d ds.Read, q dsq.Query) ([]dsq.Entry, error) {
	var out []dsq.Entry
	for e, err := range ds.QueryIter(ctx, d, q) {
		if err != nil {
			return nil, err
		}
		out = append(out, e)
	}
	return out, nil
}

// ancestors indexes written keys by each of their ancestors (the root
// excepted), so that a Query finds the pending writes under its prefix
// without scanning every write of the batch. It is built the first time an
// op of the batch queries, and kept up to date from then on; batches that
// never query pay nothing for it.
type ancestors map[string]map[string]struct{}

// indexAncestors indexes the keys of writes.
func indexAncestors(writes map[string]write) ancestors {
	a := ancestors{}
	for k := range writes {
		a.add(k)
	}
	return a
}

func (a ancestors) add(k string) {
	for i := len(k) - 1; i > 0; i-- {
		if k[i] == '/' {
			p := k[:i]
			set := a[p]
			if set == nil {
				set = map[string]struct{}{}
				a[p] = set
			}
			set[k] = struct{}{}
		}
	}
}

// Quota returns the counters as this op sees them.
func (t *Txn) Quota() Quota { return t.quota }

// Reserve adds n bytes to the reserved counter. It fails with a *QuotaError
// matching ErrQuotaExceeded, changing nothing, if used+reserved would exceed
// max.
func (t *Txn) Reserve(n uint64) error {
	q, err := t.quota.reserve(n)
	if err != nil {
		return err
	}
	t.quota = q
	return nil
}

// Release takes n bytes off the reserved counter. It fails with a
// *QuotaError matching ErrReleaseExceedsReserved, changing nothing, if fewer
// than n bytes are reserved.
func (t *Txn) Release(n uint64) error {
	q, err := t.quota.release(n)
	if err != nil {
		return err
	}
	t.quota = q
	return nil
}

// Now returns the repo's current time in unix seconds (Options.Now).
func (t *Txn) Now() int64 { return t.b.p.opts.Now() }

// OnCommit registers f to run on the writer goroutine after the op's batch
// is durable and before its caller returns. Hooks of failed ops never run.
// f must be quick and must not call into the Store.
func (t *Txn) OnCommit(f func()) { t.hooks = append(t.hooks, f) }
