package repostore

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"

	ds "github.com/ipfs/go-datastore"
	dsq "github.com/ipfs/go-datastore/query"
	dssync "github.com/ipfs/go-datastore/sync"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hostsales/hostsales/repostore/badgerds"
)

// txnMap is a transactional datastore over a MapDatastore, for tests: a
// transaction buffers its writes and applies them under one lock at Commit.
// commitHook, if set, runs inside Commit before the writes are applied.
type txnMap struct {
	ds.Batching
	mu         sync.Mutex
	commitHook func() error
	commits    int
}

func newTxnMap() *txnMap { return &txnMap{Batching: dssync.MutexWrap(ds.NewMapDatastore())} }

func (m *txnMap) NewTransaction(ctx context.Context, readOnly bool) (ds.Txn, error) {
	return &mapTxn{m: m, w: map[ds.Key]write{}}, nil
}

type mapTxn struct {
	m *txnMap
	w map[ds.Key]write
}

func (t *mapTxn) Get(ctx context.Context, k ds.Key) ([]byte, error) {
	if w, ok := t.w[k]; ok {
		if w.del {
			return nil, ds.ErrNotFound
		}
		return w.val, nil
	}
	return t.m.Get(ctx, k)
}
func (t *mapTxn) Has(ctx context.Context, k ds.Key) (bool, error) {
	_, err := t.Get(ctx, k)
	if errors.Is(err, ds.ErrNotFound) {
		return false, nil
	}
	return err == nil, err
}
func (t *mapTxn) GetSize(ctx context.Context, k ds.Key) (int, error) {
	b, err := t.Get(ctx, k)
	return len(b), err
}
func (t *mapTxn) Query(ctx context.Context, q dsq.Query) (dsq.Results, error) {
	return nil, errors.New("not supported")
}
func (t *mapTxn) Put(ctx context.Context, k ds.Key, v []byte) error {
	t.w[k] = write{val: v}
	return nil
}
func (t *mapTxn) Delete(ctx context.Context, k ds.Key) error {
	t.w[k] = write{del: true}
	return nil
}
func (t *mapTxn) Commit(ctx context.Context) error {
	t.m.mu.Lock()
	defer t.m.mu.Unlock()
	if t.m.commitHook != nil {
		if err := t.m.commitHook(); err != nil {
			return err
		}
	}
	t.m.commits++
	for k, w := range t.w {
		if w.del {
			_ = t.m.Batching.Delete(ctx, k)
		} else {
			_ = t.m.Batching.Put(ctx, k, w.val)
		}
	}
	return nil
}
func (t *mapTxn) Discard(ctx context.Context) {}

var _ ds.TxnDatastore = (*txnMap)(nil)

// holdWriter occupies the writer with an op that waits for release, so that
// the ops submitted meanwhile form one batch. It returns when the writer is
// inside the op.
func holdWriter(t *testing.T, s *Store) (release func(), held <-chan error) {
	in := make(chan struct{})
	out := make(chan struct{})
	res := make(chan error, 1)
	go func() {
		res <- s.Do(context.Background(), func(tx *Txn) error {
			close(in)
			<-out
			return nil
		})
	}()
	<-in
	return func() { close(out) }, res
}

// waitQueued blocks until n ops are queued behind the held writer.
func waitQueued(s *Store, n int) {
	for s.p.queued() < n {
		runtimeGosched()
	}
}

type result struct {
	i   int
	err error
}

func submit(s *Store, i int, op Op, out chan<- result) {
	go func() { out <- result{i, s.Do(context.Background(), op)} }()
}

func TestFailingOpInBatchLeavesNoTrace(t *testing.T) {
	m := newTxnMap()
	s, err := Open("", &Options{Datastore: m, QuotaMaxBytes: 1000})
	require.NoError(t, err)
	defer s.Close()

	release, held := holdWriter(t, s)
	boom := errors.New("boom")
	out := make(chan result, 3)
	submit(s, 0, func(tx *Txn) error {
		_ = tx.Put(ds.NewKey("/a"), []byte("a"))
		return tx.Reserve(10)
	}, out)
	waitQueued(s, 1)
	submit(s, 1, func(tx *Txn) error {
		_ = tx.Put(ds.NewKey("/b"), []byte("b"))
		_ = tx.Put(ds.NewKey("/a"), []byte("overwritten"))
		_ = tx.Reserve(100)
		return boom
	}, out)
	waitQueued(s, 2)
	submit(s, 2, func(tx *Txn) error {
		v, err := tx.Get(ds.NewKey("/a"))
		if err != nil {
			return err
		}
		if tx.Quota().Reserved != 10 {
			return fmt.Errorf("saw reserved %d", tx.Quota().Reserved)
		}
		return tx.Put(ds.NewKey("/c"), append([]byte("c"), v...))
	}, out)
	waitQueued(s, 3)
	before := m.commits
	release()
	require.NoError(t, <-held)
	got := map[int]error{}
	for range 3 {
		r := <-out
		got[r.i] = r.err
	}
	assert.NoError(t, got[0])
	assert.ErrorIs(t, got[1], boom)
	assert.NoError(t, got[2])
	assert.Equal(t, before+2, m.commits, "the held op's batch, then the three queued ops as one commit")

	v, err := s.Get(ctx, ds.NewKey("/c"))
	require.NoError(t, err)
	assert.Equal(t, "ca", string(v), "op 2 saw op 0's write, not op 1's")
	_, err = s.Get(ctx, ds.NewKey("/b"))
	assert.ErrorIs(t, err, ds.ErrNotFound)
	assert.Equal(t, uint64(10), s.Quota().Reserved)
}

var ctx = context.Background()

func TestNothingAcknowledgedBeforeDurable(t *testing.T) {
	m := newTxnMap()
	s, err := Open("", &Options{Datastore: m, QuotaMaxBytes: 1000})
	require.NoError(t, err)
	defer s.Close()

	inCommit := make(chan struct{})
	proceed := make(chan struct{})
	m.mu.Lock()
	m.commitHook = func() error {
		close(inCommit)
		<-proceed
		return nil
	}
	m.mu.Unlock()
	out := make(chan result, 1)
	submit(s, 0, func(tx *Txn) error { return tx.Reserve(5) }, out)
	<-inCommit
	select {
	case r := <-out:
		t.Fatalf("acknowledged before the commit returned: %v", r.err)
	default:
	}
	assert.Equal(t, uint64(0), s.Quota().Reserved, "readers do not see uncommitted counters")
	close(proceed)
	require.NoError(t, (<-out).err)
	assert.Equal(t, uint64(5), s.Quota().Reserved)
}

func TestCommitFailureFailsTheBatch(t *testing.T) {
	m := newTxnMap()
	s, err := Open("", &Options{Datastore: m, QuotaMaxBytes: 1000})
	require.NoError(t, err)
	defer s.Close()

	release, held := holdWriter(t, s)
	disk := errors.New("disk on fire")
	out := make(chan result, 4)
	for i := range 4 {
		submit(s, i, func(tx *Txn) error {
			_ = tx.Put(ds.NewKey(fmt.Sprintf("/k%d", i)), []byte("v"))
			return tx.Reserve(1)
		}, out)
	}
	waitQueued(s, 4)
	m.mu.Lock()
	m.commitHook = func() error { return disk }
	m.mu.Unlock()
	release()
	assert.ErrorIs(t, <-held, disk, "the held op's commit failed too")
	for range 4 {
		r := <-out
		assert.ErrorIs(t, r.err, ErrCommit)
		assert.ErrorIs(t, r.err, disk)
	}
	assert.Equal(t, uint64(0), s.Quota().Reserved)
	m.mu.Lock()
	m.commitHook = nil
	m.mu.Unlock()
	// The writer carries on from the committed state.
	require.NoError(t, s.Reserve(ctx, 3))
	assert.Equal(t, uint64(3), s.Quota().Reserved)
	raw, err := m.Get(ctx, quotaKey)
	require.NoError(t, err)
	q, _, err := decodeQuota(raw, 1000)
	require.NoError(t, err)
	assert.Equal(t, uint64(3), q.Reserved, "the stored record matches")
}

func TestCloseDrainsQueuedOps(t *testing.T) {
	s, err := Open("", &Options{Datastore: newTxnMap(), QuotaMaxBytes: 1000})
	require.NoError(t, err)
	release, held := holdWriter(t, s)
	out := make(chan result, 5)
	for i := range 5 {
		submit(s, i, func(tx *Txn) error { return tx.Reserve(1) }, out)
	}
	waitQueued(s, 5)
	closed := make(chan error)
	go func() { closed <- s.Close() }()
	release()
	require.NoError(t, <-held)
	for range 5 {
		assert.NoError(t, (<-out).err)
	}
	require.NoError(t, <-closed)
	assert.Equal(t, uint64(5), s.Quota().Reserved)
	assert.ErrorIs(t, s.Reserve(ctx, 1), ErrClosed)
}

func TestAbandonedOpDoesNotRun(t *testing.T) {
	s, err := Open("", &Options{Datastore: newTxnMap(), QuotaMaxBytes: 1000})
	require.NoError(t, err)
	defer s.Close()
	release, held := holdWriter(t, s)
	cctx, cancel := context.WithCancel(ctx)
	ran := make(chan struct{}, 1)
	out := make(chan error, 1)
	go func() {
		out <- s.Do(cctx, func(tx *Txn) error { ran <- struct{}{}; return tx.Reserve(1) })
	}()
	waitQueued(s, 1)
	cancel()
	assert.ErrorIs(t, <-out, context.Canceled)
	release()
	require.NoError(t, <-held)
	require.NoError(t, s.Reserve(ctx, 2)) // after the abandoned op in queue order
	select {
	case <-ran:
		t.Fatal("an abandoned op ran")
	default:
	}
	assert.Equal(t, uint64(2), s.Quota().Reserved)
}

// smallBadger opens an in-memory badger with a tiny memtable, so its
// transaction limits are small.
func smallBadger(t *testing.T) *Store {
	t.Helper()
	s, err := Open("", &Options{QuotaMaxBytes: 1 << 40, NoSync: true,
		Badger: &badgerds.Options{InMemory: true, MemTableSize: 8 << 20}})
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, s.Close()) })
	return s
}

func TestBatchesAreCutAndSplitByTxnSize(t *testing.T) {
	s := smallBadger(t)
	require.NotZero(t, s.p.maxSize)
	per := int(s.p.maxSize / 8) // 8 ops fill half the real limit
	release, held := holdWriter(t, s)
	const n = 40
	out := make(chan result, n)
	for i := range n {
		submit(s, i, func(tx *Txn) error {
			if err := tx.Put(ds.NewKey(fmt.Sprintf("/big/%03d", i)), make([]byte, per)); err != nil {
				return err
			}
			return tx.Reserve(1)
		}, out)
	}
	waitQueued(s, n)
	release()
	require.NoError(t, <-held)
	for range n {
		assert.NoError(t, (<-out).err)
	}
	assert.Zero(t, s.p.splits, "batches were cut before the limit, never split")
	assert.Equal(t, uint64(n), s.Quota().Reserved)
	for i := range n {
		has, err := s.Has(ctx, ds.NewKey(fmt.Sprintf("/big/%03d", i)))
		require.NoError(t, err)
		assert.True(t, has)
	}
}

func TestSplitOnTxnTooBigKeepsEveryOp(t *testing.T) {
	s := smallBadger(t)
	// Pretend the limits are far larger than they are, so the estimate
	// lets one batch outgrow the real transaction and commit must split.
	s.p.maxCount, s.p.maxSize = 0, 0
	per := int(s.ds.(*badgerds.Datastore).MaxBatchSize() / 6)
	release, held := holdWriter(t, s)
	const n = 30
	out := make(chan result, n)
	for i := range n {
		submit(s, i, func(tx *Txn) error {
			if err := tx.Put(ds.NewKey(fmt.Sprintf("/big/%03d", i)), make([]byte, per)); err != nil {
				return err
			}
			return tx.Reserve(1)
		}, out)
	}
	waitQueued(s, n)
	release()
	require.NoError(t, <-held)
	for range n {
		assert.NoError(t, (<-out).err)
	}
	assert.Positive(t, s.p.splits, "the batch was split")
	assert.Equal(t, uint64(n), s.Quota().Reserved)
	raw, err := s.Get(ctx, quotaKey)
	require.NoError(t, err)
	q, _, err := decodeQuota(raw, 1)
	require.NoError(t, err)
	assert.Equal(t, uint64(n), q.Reserved)
}

func TestOpTooBigForOneTxn(t *testing.T) {
	s := smallBadger(t)
	err := s.Do(ctx, func(tx *Txn) error {
		for i := range 4 {
			if err := tx.Put(ds.NewKey(fmt.Sprint("/huge/", i)), make([]byte, s.p.maxSize/2)); err != nil {
				return err
			}
		}
		return tx.Reserve(1)
	})
	require.ErrorIs(t, err, ErrOpTooBig)
	assert.Equal(t, uint64(0), s.Quota().Reserved)
	require.NoError(t, s.Reserve(ctx, 1))
}

// Fault injection: an op fails at each of its datastore calls in turn, then
// succeeds; after every failure nothing of it is visible.
func TestFaultHookAtEveryCall(t *testing.T) {
	fail := -1
	calls := 0
	var mu sync.Mutex
	s, err := Open("", &Options{Datastore: newTxnMap(), QuotaMaxBytes: 1000,
		FaultHook: func(call string, key ds.Key) error {
			mu.Lock()
			defer mu.Unlock()
			calls++
			if calls-1 == fail {
				return fmt.Errorf("injected at %s %s", call, key)
			}
			return nil
		}})
	require.NoError(t, err)
	defer s.Close()
	op := func(tx *Txn) error {
		if _, err := tx.PutBlock([]byte("hello"), 1000, "r1"); err != nil {
			return err
		}
		if err := tx.Put(ds.NewKey("/rec"), []byte("x")); err != nil {
			return err
		}
		return tx.Reserve(7)
	}
	for i := 0; ; i++ {
		mu.Lock()
		fail, calls = i, 0
		mu.Unlock()
		err := s.Do(ctx, op)
		if err == nil {
			break
		}
		require.ErrorIs(t, err, errFaultInjected, "attempt %d", i)
		assert.Equal(t, Quota{Max: 1000}, s.Quota())
		assert.Equal(t, int64(0), s.TotalBlocks())
		has, err := s.Has(ctx, ds.NewKey("/rec"))
		require.NoError(t, err)
		assert.False(t, has)
		require.Less(t, i, 100)
	}
	assert.Equal(t, Quota{Max: 1000, Used: 5, Reserved: 7}, s.Quota())
}

// An op that fails after reading uncommitted writes of its batch is
// answered only once they are settled: with its own error if they commit,
// with ErrCommit if they do not (its error may stem from state that never
// existed). Found by the reservations linearizability test.
func TestFailedOpWaitsForItsBatch(t *testing.T) {
	for _, commitFails := range []bool{false, true} {
		t.Run(fmt.Sprintf("commitFails=%v", commitFails), func(t *testing.T) {
			m := newTxnMap()
			s, err := Open("", &Options{Datastore: m, QuotaMaxBytes: 1000})
			require.NoError(t, err)
			defer s.Close()
			release, held := holdWriter(t, s)
			out := make(chan result, 2)
			submit(s, 0, func(tx *Txn) error { return tx.Reserve(600) }, out)
			waitQueued(s, 1)
			submit(s, 1, func(tx *Txn) error { return tx.Reserve(600) }, out) // fails: only 400 left
			waitQueued(s, 2)
			inCommit := make(chan struct{}, 2)
			proceed := make(chan struct{})
			disk := errors.New("disk")
			m.mu.Lock()
			m.commitHook = func() error {
				inCommit <- struct{}{}
				<-proceed
				if commitFails {
					return disk
				}
				return nil
			}
			m.mu.Unlock()
			release()
			<-inCommit // the held op's own batch
			proceed <- struct{}{}
			<-held
			<-inCommit // the batch of ops 0 and 1
			select {
			case r := <-out:
				t.Fatalf("op %d answered before its batch committed: %v", r.i, r.err)
			default:
			}
			close(proceed)
			got := map[int]error{}
			for range 2 {
				r := <-out
				got[r.i] = r.err
			}
			if commitFails {
				assert.ErrorIs(t, got[0], ErrCommit)
				assert.ErrorIs(t, got[1], ErrCommit, "its refusal was decided on lost writes")
				assert.NotErrorIs(t, got[1], ErrQuotaExceeded)
				assert.Equal(t, uint64(0), s.Quota().Reserved)
			} else {
				assert.NoError(t, got[0])
				assert.ErrorIs(t, got[1], ErrQuotaExceeded)
				assert.Equal(t, uint64(600), s.Quota().Reserved)
			}
		})
	}
}
