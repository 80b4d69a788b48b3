package badgerds_test

import (
	"bytes"
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	ds "github.com/ipfs/go-datastore"
	dsq "github.com/ipfs/go-datastore/query"

	"github.com/hostsales/hostsales/repostore/badgerds"
)

// The differential fuzz test decodes its input into a sequence of
// operations over a small key space, applies each to the adapter (in
// memory) and to go-datastore's MapDatastore, and compares every result.
// Transactions are emulated on the map side with a write buffer applied at
// commit. While a transaction is open, datastore-level writes first commit
// it, so the model never needs badger's conflict rules (SubtestTxnConflict
// covers those).

// fuzzKeys are chosen around the prefix boundaries: "/a-" and "/a0" sort
// just before and after every "/a/..." key.
var fuzzKeys = []string{
	"/a", "/a/b", "/a/b/c", "/a/c", "/a-", "/a0", "/ab", "/b", "/b/a", "/c", "/a/b0", "/a/b/c/d",
}

var fuzzPrefixes = []string{"", "/", "/a", "/a/", "/a/b", "/b", "/c", "/zz", "a", "/a/b/c", "/./a", "/a0"}

var fuzzOrders = [][]dsq.Order{
	nil,
	{dsq.OrderByKey{}},
	{dsq.OrderByKeyDescending{}},
	{dsq.OrderByValue{}, dsq.OrderByKey{}},
	{dsq.OrderByValueDescending{}, &dsq.OrderByKeyDescending{}},
}

const (
	opPut = iota
	opGet
	opHas
	opGetSize
	opDelete
	opQuery
	opTxnBegin
	opTxnPut
	opTxnDelete
	opTxnRead
	opTxnQuery
	opTxnCommit
	opTxnDiscard
	opBatch
	opEndedTxn
	opLeaveQueryOpen
	numOps
)

// fuzzInput hands out bytes of the input, then zeros.
type fuzzInput struct{ b []byte }

func (in *fuzzInput) next() byte {
	if len(in.b) == 0 {
		return 0
	}
	c := in.b[0]
	in.b = in.b[1:]
	return c
}

func (in *fuzzInput) key() ds.Key { return ds.NewKey(fuzzKeys[int(in.next())%len(fuzzKeys)]) }

// value returns 0-3 bytes (empty values included).
func (in *fuzzInput) value() []byte {
	c := in.next()
	return bytes.Repeat([]byte{c}, int(c)%4)
}

func (in *fuzzInput) query() dsq.Query {
	q := dsq.Query{Prefix: fuzzPrefixes[int(in.next())%len(fuzzPrefixes)]}
	flags := in.next()
	q.KeysOnly = flags&1 != 0
	q.ReturnsSizes = flags&2 != 0
	q.Orders = fuzzOrders[int(flags>>2)%len(fuzzOrders)]
	if flags&0x80 != 0 {
		q.Filters = []dsq.Filter{dsq.FilterKeyCompare{Op: dsq.GreaterThan, Key: "/a/b"}}
	}
	lim := in.next()
	if q.Orders != nil { // without an order, which entries a limit keeps is unspecified
		q.Limit = int(lim % 4)
		q.Offset = int(lim>>2) % 3
	}
	return q
}

// fuzzModel is the reference: a MapDatastore plus the open transaction's
// buffered writes (nil value: delete).
type fuzzModel struct {
	base *ds.MapDatastore
	txn  map[ds.Key][]byte // nil when no transaction is open
}

func (m *fuzzModel) get(ctx context.Context, k ds.Key) ([]byte, error) {
	if v, ok := m.txn[k]; ok {
		if v == nil {
			return nil, ds.ErrNotFound
		}
		return v, nil
	}
	return m.base.Get(ctx, k)
}

func (m *fuzzModel) query(ctx context.Context, q dsq.Query) ([]dsq.Entry, error) {
	if m.txn == nil {
		res, err := m.base.Query(ctx, q)
		if err != nil {
			return nil, err
		}
		return res.Rest()
	}
	all, err := m.base.Query(ctx, dsq.Query{})
	if err != nil {
		return nil, err
	}
	es, err := all.Rest()
	if err != nil {
		return nil, err
	}
	view := map[string]dsq.Entry{}
	for _, e := range es {
		view[e.Key] = e
	}
	for k, v := range m.txn {
		if v == nil {
			delete(view, k.String())
		} else {
			view[k.String()] = dsq.Entry{Key: k.String(), Value: v, Size: len(v)}
		}
	}
	merged := make([]dsq.Entry, 0, len(view))
	for _, e := range view {
		if q.KeysOnly {
			e.Value = nil
		}
		merged = append(merged, e)
	}
	return dsq.NaiveQueryApply(q, dsq.ResultsWithEntries(q, merged)).Rest()
}

func (m *fuzzModel) commit(ctx context.Context) error {
	for k, v := range m.txn {
		var err error
		if v == nil {
			err = m.base.Delete(ctx, k)
		} else {
			err = m.base.Put(ctx, k, v)
		}
		if err != nil {
			return err
		}
	}
	m.txn = nil
	return nil
}

func FuzzDifferential(f *testing.F) {
	f.Add([]byte{opPut, 1, 5, opGet, 1, opHas, 1, opGetSize, 1, opDelete, 1, opGet, 1, opHas, 1})
	f.Add([]byte{
		opPut, 0, 1, opPut, 1, 2, opPut, 2, 3, opPut, 4, 4, opPut, 5, 5, opPut, 6, 6,
		opQuery, 2, 2 << 2, 0, opQuery, 3, 2<<2 | 1, 5, opQuery, 0, 3 << 2, 0, opQuery, 4, 0x80 | 1<<2, 1,
	})
	f.Add([]byte{
		opPut, 1, 1, opTxnBegin, opTxnPut, 2, 7, opTxnDelete, 1, opTxnRead, 1, 0, opTxnRead, 2, 2,
		opTxnQuery, 2, 2 << 2, 0, opLeaveQueryOpen, 1, 2, opTxnCommit, opEndedTxn, 1, opGet, 2, opGet, 1,
	})
	f.Add([]byte{
		opTxnPut, 3, 3, opLeaveQueryOpen, 1, 0, opTxnDiscard, opEndedTxn, 0, opBatch, 3, 0, 1, 9, 1, 2, 1, 3, 0, 0,
		opQuery, 0, 1<<2 | 3, 0, opTxnPut, 1, 1, opPut, 2, 2, opQuery, 1, 4 << 2, 7,
	})
	rng := rand.New(rand.NewPCG(1, 2))
	for range 4 {
		seed := make([]byte, 400)
		for i := range seed {
			seed[i] = byte(rng.UintN(256))
		}
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		runDifferential(t, data)
	})
}

func runDifferential(t *testing.T, data []byte) {
	ctx := t.Context()
	d, err := badgerds.Open("", &badgerds.Options{InMemory: true, MemTableSize: 8 << 20, BlockCacheSize: 1 << 20, IndexCacheSize: 1 << 20})
	noErr(t, err, "Open")
	var (
		model  = &fuzzModel{base: ds.NewMapDatastore()}
		txn    ds.Txn // the adapter's open transaction, if model.txn != nil
		ended  ds.Txn // the last committed or discarded transaction
		opened []dsq.Results
	)
	defer func() {
		notPanics(t, "Close", func() {
			noErr(t, d.Close(), "Close")
			for _, r := range opened {
				noErr(t, r.Close(), "Results Close after Close")
			}
		})
	}()
	begin := func() {
		if txn == nil {
			var err error
			txn, err = d.NewTransaction(ctx, false)
			noErr(t, err, "NewTransaction")
			model.txn = map[ds.Key][]byte{}
		}
	}
	end := func(commit bool) {
		if txn == nil {
			return
		}
		if commit {
			noErr(t, txn.Commit(ctx), "txn Commit")
			noErr(t, model.commit(ctx), "model commit")
		} else {
			txn.Discard(ctx)
			model.txn = nil
		}
		ended, txn = txn, nil
	}
	// reader is what reads go through: the open transaction, if any.
	reader := func() ds.Read {
		if txn != nil {
			return txn
		}
		return d
	}
	var trace strings.Builder
	in := &fuzzInput{b: data}
	for step := 0; len(in.b) > 0 && step < 300; step++ {
		op := int(in.next()) % numOps
		fmt.Fprintf(&trace, "%d:%d ", step, op)
		where := func() string { return fmt.Sprintf("step %d op %d (trace %s)", step, op, trace.String()) }
		switch op {
		case opPut, opDelete:
			end(true)
			k := in.key()
			if op == opPut {
				v := in.value()
				noErr(t, d.Put(ctx, k, v), where())
				noErr(t, model.base.Put(ctx, k, v), where())
			} else {
				noErr(t, d.Delete(ctx, k), where())
				noErr(t, model.base.Delete(ctx, k), where())
			}
		case opGet, opTxnRead:
			if op == opTxnRead {
				begin()
			}
			k := in.key()
			sub := in.next() % 3
			if op == opGet {
				sub = 0
			}
			compareRead(t, ctx, reader(), model, k, sub, where())
		case opHas:
			compareRead(t, ctx, reader(), model, in.key(), 1, where())
		case opGetSize:
			compareRead(t, ctx, reader(), model, in.key(), 2, where())
		case opQuery, opTxnQuery:
			if op == opTxnQuery {
				begin()
			}
			q := in.query()
			res, err := reader().Query(ctx, q)
			noErr(t, err, where())
			got, err := res.Rest()
			noErr(t, err, where())
			noErr(t, res.Close(), where())
			want, err := model.query(ctx, q)
			noErr(t, err, where())
			compareEntries(t, q, got, want, where()+" "+q.String())
		case opTxnBegin:
			begin()
		case opTxnPut, opTxnDelete:
			begin()
			k := in.key()
			if op == opTxnPut {
				v := in.value()
				noErr(t, txn.Put(ctx, k, v), where())
				model.txn[k] = v
			} else {
				noErr(t, txn.Delete(ctx, k), where())
				model.txn[k] = nil
			}
		case opTxnCommit:
			end(true)
		case opTxnDiscard:
			end(false)
		case opBatch:
			end(true)
			b, err := d.Batch(ctx)
			noErr(t, err, where())
			n := int(in.next() % 5)
			pending := map[ds.Key][]byte{}
			for range n {
				k := in.key()
				if in.next()%2 == 0 {
					v := in.value()
					noErr(t, b.Put(ctx, k, v), where())
					pending[k] = v
				} else {
					noErr(t, b.Delete(ctx, k), where())
					pending[k] = nil
				}
			}
			if in.next()%4 == 0 {
				noErr(t, b.(interface{ Cancel() error }).Cancel(), where())
				break
			}
			noErr(t, b.Commit(ctx), where())
			model.txn = pending
			noErr(t, model.commit(ctx), where())
		case opEndedTxn:
			k := in.key()
			if ended == nil {
				break
			}
			var err error
			if in.next()%2 == 0 {
				_, err = ended.Get(ctx, k)
			} else {
				err = ended.Put(ctx, k, nil)
			}
			isErr(t, err, badgerds.ErrTxnDone, where())
			isErr(t, ended.Commit(ctx), badgerds.ErrTxnDone, where())
			ended.Discard(ctx)
		case opLeaveQueryOpen:
			// A query left open (partly read) across later commits,
			// discards and the final Close.
			q := in.query()
			if in.next()%2 == 0 {
				begin()
			}
			res, err := reader().Query(ctx, q)
			noErr(t, err, where())
			if r, ok := res.NextSync(); ok {
				noErr(t, r.Error, where())
			}
			opened = append(opened, res)
		}
	}
	// Whatever state the sequence left, the committed data must agree.
	end(true)
	q := dsq.Query{Orders: []dsq.Order{dsq.OrderByKey{}}}
	res, err := d.Query(ctx, q)
	noErr(t, err, "final query")
	got, err := res.Rest()
	noErr(t, err, "final query")
	want, err := model.query(ctx, q)
	noErr(t, err, "final model query")
	compareEntries(t, q, got, want, "final state")
}

// compareRead compares Get (sub 0), Has (1) or GetSize (2) of k.
func compareRead(t *testing.T, ctx context.Context, r ds.Read, m *fuzzModel, k ds.Key, sub byte, where string) {
	t.Helper()
	want, wantErr := m.get(ctx, k)
	if wantErr != nil && wantErr != ds.ErrNotFound {
		t.Fatalf("%s: model error %v", where, wantErr)
	}
	switch sub {
	case 0:
		got, err := r.Get(ctx, k)
		if err != wantErr {
			t.Fatalf("%s: Get(%s) error %v, want %v", where, k, err, wantErr)
		}
		if !bytes.Equal(got, want) {
			t.Fatalf("%s: Get(%s) = %q, want %q", where, k, got, want)
		}
		if err == nil && got == nil {
			t.Fatalf("%s: Get(%s) returned a nil value", where, k)
		}
	case 1:
		got, err := r.Has(ctx, k)
		noErr(t, err, where)
		if got != (wantErr == nil) {
			t.Fatalf("%s: Has(%s) = %v, want %v", where, k, got, wantErr == nil)
		}
	case 2:
		got, err := r.GetSize(ctx, k)
		if err != wantErr {
			t.Fatalf("%s: GetSize(%s) error %v, want %v", where, k, err, wantErr)
		}
		wantSize := len(want)
		if wantErr != nil {
			wantSize = -1
		}
		if got != wantSize {
			t.Fatalf("%s: GetSize(%s) = %d, want %d", where, k, got, wantSize)
		}
	}
}

func compareEntries(t *testing.T, q dsq.Query, got, want []dsq.Entry, where string) {
	t.Helper()
	if len(q.Orders) == 0 {
		byKey := func(a, b dsq.Entry) int { return strings.Compare(a.Key, b.Key) }
		slices.SortFunc(got, byKey)
		slices.SortFunc(want, byKey)
	}
	format := func(es []dsq.Entry) string {
		var s strings.Builder
		for _, e := range es {
			fmt.Fprintf(&s, "%s=%q/%d ", e.Key, e.Value, e.Size)
		}
		return s.String()
	}
	fail := func(why string) {
		t.Fatalf("%s: %s\n got: %s\nwant: %s", where, why, format(got), format(want))
	}
	if len(got) != len(want) {
		fail("different number of entries")
	}
	for i := range got {
		g, w := got[i], want[i]
		if g.Key != w.Key {
			fail("different keys")
		}
		if q.KeysOnly {
			if g.Value != nil {
				fail("value returned for a KeysOnly query")
			}
			if q.ReturnsSizes && g.Size != w.Size {
				fail("different sizes")
			}
			continue
		}
		if !bytes.Equal(g.Value, w.Value) || g.Value == nil {
			fail("different values")
		}
		if g.Size != len(g.Value) {
			fail("size does not match the value")
		}
	}
}

// TestDifferentialRandom runs the differential check on a few more
// generated sequences than the fuzz seeds, deterministically.
func TestDifferentialRandom(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	for i := range 20 {
		data := make([]byte, 600)
		for j := range data {
			data[j] = byte(rng.UintN(256))
		}
		t.Run(fmt.Sprint(i), func(t *testing.T) { runDifferential(t, data) })
	}
}
