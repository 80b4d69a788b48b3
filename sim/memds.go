package sim

import (
	"context"
	"errors"
	"strings"
	"sync"

	"github.com/google/btree"
	ds "github.com/ipfs/go-datastore"
	dsq "github.com/ipfs/go-datastore/query"
)

// memStore is the in-memory repo of a simulated node that is not on disk:
// an ordered map behind one lock, with transactions that apply all their
// writes under that lock. Every committed transaction is "durable": the
// store outlives the repostore.Store opened over it (the Store does not
// close a datastore it was given), so an in-memory crash reopens a new
// Store over the same memStore and finds exactly the transactions
// committed before the crash, never a part of one.
//
// It is a ds.TxnDatastore and is safe for concurrent use. Values are
// copied on the way in and out, so callers may reuse their slices.
type memStore struct {
	mu     sync.RWMutex
	t      *btree.BTreeG[memEntry]
	closed bool
}

type memEntry struct {
	key string
	val []byte
}

var errMemClosed = errors.New("sim: in-memory datastore closed")

func newMemStore() *memStore {
	return &memStore{t: btree.NewG(16, func(a, b memEntry) bool { return a.key < b.key })}
}

func (m *memStore) Get(_ context.Context, k ds.Key) ([]byte, error) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	if m.closed {
		return nil, errMemClosed
	}
	e, ok := m.t.Get(memEntry{key: k.String()})
	if !ok {
		return nil, ds.ErrNotFound
	}
	return append([]byte(nil), e.val...), nil
}

func (m *memStore) Has(_ context.Context, k ds.Key) (bool, error) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	if m.closed {
		return false, errMemClosed
	}
	return m.t.Has(memEntry{key: k.String()}), nil
}

func (m *memStore) GetSize(_ context.Context, k ds.Key) (int, error) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	if m.closed {
		return -1, errMemClosed
	}
	e, ok := m.t.Get(memEntry{key: k.String()})
	if !ok {
		return -1, ds.ErrNotFound
	}
	return len(e.val), nil
}

// Query scans the keys under q.Prefix in order and applies the rest of q
// with go-datastore's naive implementation.
func (m *memStore) Query(_ context.Context, q dsq.Query) (dsq.Results, error) {
	m.mu.RLock()
	if m.closed {
		m.mu.RUnlock()
		return nil, errMemClosed
	}
	prefix := ds.NewKey(q.Prefix).String()
	scan := prefix
	if prefix != "/" {
		scan += "/"
	}
	var es []dsq.Entry
	m.t.AscendGreaterOrEqual(memEntry{key: scan}, func(e memEntry) bool {
		if !strings.HasPrefix(e.key, scan) {
			return false
		}
		ent := dsq.Entry{Key: e.key, Size: len(e.val)}
		if !q.KeysOnly {
			ent.Value = append([]byte(nil), e.val...)
		}
		es = append(es, ent)
		return true
	})
	m.mu.RUnlock()
	// The entries are under the prefix and in key order already; drop an
	// order by key so the naive implementation does not sort them again,
	// and skip it when nothing else is asked.
	q2 := q
	if len(q.Orders) == 1 {
		if _, ok := q.Orders[0].(dsq.OrderByKey); ok {
			q2.Orders = nil
		}
	}
	if len(q2.Filters) == 0 && len(q2.Orders) == 0 && q2.Offset == 0 && q2.Limit == 0 {
		return dsq.ResultsWithEntries(q, es), nil
	}
	return dsq.ResultsReplaceQuery(dsq.NaiveQueryApply(q2, dsq.ResultsWithEntries(q2, es)), q), nil
}

func (m *memStore) Put(_ context.Context, k ds.Key, v []byte) error {
	return m.apply(map[string]*[]byte{k.String(): &v})
}

func (m *memStore) Delete(_ context.Context, k ds.Key) error {
	return m.apply(map[string]*[]byte{k.String(): nil})
}

func (m *memStore) apply(w map[string]*[]byte) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return errMemClosed
	}
	for k, v := range w {
		if v == nil {
			m.t.Delete(memEntry{key: k})
		} else {
			m.t.ReplaceOrInsert(memEntry{key: k, val: append([]byte(nil), (*v)...)})
		}
	}
	return nil
}

func (m *memStore) Sync(context.Context, ds.Key) error { return nil }

// Close makes every later call fail. The simulation closes a memStore
// only when its node is gone for good.
func (m *memStore) Close() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.closed = true
	return nil
}

func (m *memStore) NewTransaction(context.Context, bool) (ds.Txn, error) {
	return &memTxn{m: m, w: map[string]*[]byte{}}, nil
}

// memTxn buffers writes and applies them in one step at Commit. Reads see
// the committed state plus the transaction's own writes (queries see only
// the committed state: the repo's pipeline never queries through a
// datastore transaction).
type memTxn struct {
	m    *memStore
	w    map[string]*[]byte
	done bool
}

func (t *memTxn) Get(ctx context.Context, k ds.Key) ([]byte, error) {
	if v, ok := t.w[k.String()]; ok {
		if v == nil {
			return nil, ds.ErrNotFound
		}
		return append([]byte(nil), (*v)...), nil
	}
	return t.m.Get(ctx, k)
}

func (t *memTxn) Has(ctx context.Context, k ds.Key) (bool, error) {
	if v, ok := t.w[k.String()]; ok {
		return v != nil, nil
	}
	return t.m.Has(ctx, k)
}

func (t *memTxn) GetSize(ctx context.Context, k ds.Key) (int, error) {
	if v, ok := t.w[k.String()]; ok {
		if v == nil {
			return -1, ds.ErrNotFound
		}
		return len(*v), nil
	}
	return t.m.GetSize(ctx, k)
}

func (t *memTxn) Query(ctx context.Context, q dsq.Query) (dsq.Results, error) {
	return t.m.Query(ctx, q)
}

func (t *memTxn) Put(_ context.Context, k ds.Key, v []byte) error {
	if t.done {
		return errTxnDone
	}
	c := append([]byte(nil), v...)
	t.w[k.String()] = &c
	return nil
}

func (t *memTxn) Delete(_ context.Context, k ds.Key) error {
	if t.done {
		return errTxnDone
	}
	t.w[k.String()] = nil
	return nil
}

func (t *memTxn) Commit(context.Context) error {
	if t.done {
		return errTxnDone
	}
	t.done = true
	return t.m.apply(t.w)
}

func (t *memTxn) Discard(context.Context) { t.done = true }

var errTxnDone = errors.New("sim: transaction already committed or discarded")

var _ ds.TxnDatastore = (*memStore)(nil)
