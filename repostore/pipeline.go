package repostore

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"sync/atomic"

	ds "github.com/ipfs/go-datastore"
)

// The commit pipeline (DESIGN.md, Decision 3).
//
// Callers submit ops into one queue; exactly one caller at a time holds the
// writer role and owns the quota counters. The writer takes every queued op
// (its own first), runs each against a Txn whose writes are buffered,
// drops a failing op with its writes and merges a succeeding one into the
// batch, then writes the batch as one datastore transaction committed with
// one sync, and only then answers every caller in it. If more ops queued up
// meanwhile, it hands the writer role to the oldest waiting caller, whose
// batch is all of them: group commit.
//
// This is LevelDB's writer queue rather than a dedicated writer goroutine:
// the semantics are the same (one writer, ops applied in queue order, no
// conflicts), but a lone caller commits on its own goroutine with no hand-off
// to wait for, and the pipeline owns no goroutine at all.

// Request states.
const (
	reqQueued    int32 = iota // waiting in the queue
	reqClaimed                // taken into a batch by the writer
	reqAbandoned              // its caller's context ended first; skipped
	reqPromoted               // its caller is to become the writer
)

type request struct {
	op    Op
	state atomic.Int32
	err   error
	// wake receives one token when the request is answered, and one when
	// its caller is promoted to writer (before it is answered).
	wake chan struct{}
}

// entry is a succeeded op waiting in a batch for its commit.
type entry struct {
	req    *request
	writes map[string]write
	quota  Quota // counters after this op
	blocks int64 // block count after this op
	hooks  []func()
}

type batch struct {
	p       *pipeline
	ctx     context.Context
	writes  map[string]write // merged writes of the entries, for reads
	anc     ancestors        // their keys by ancestor, for Query; nil until an op queries
	quota   Quota
	blocks  int64
	count   int64 // estimated entries for the datastore transaction
	size    int64 // estimated bytes for the datastore transaction
	entries []entry
	// failed are ops that returned an error after reading the writes of
	// entries before them; they are answered only when those are settled.
	failed []failure
}

type failure struct {
	req *request
	err error
}

type pipeline struct {
	opts   *Options
	ds     ds.Datastore
	txnDS  ds.TxnDatastore // nil when the datastore has no transactions
	syncAt bool            // call ds.Sync after each commit
	// Transaction limits, 0 = none. Batches are cut well below them.
	maxCount, maxSize int64

	mu      sync.Mutex // guards the fields below
	closed  bool
	leading bool       // some caller holds the writer role
	queue   []*request // waiting ops, oldest first
	idle    sync.Cond  // signalled when leading becomes false

	// Owned by the writer role.
	committed Quota
	blocks    int64
	splits    int // batches split on the datastore's size limit, for tests

	// Published after every commit for lock-free readers.
	snap atomic.Pointer[snapshot]
}

type snapshot struct {
	quota  Quota
	blocks int64
}

// entryOverhead approximates badger's per-entry bookkeeping in a txn.
const entryOverhead = 32

func estimate(k string, w write) int64 { return int64(len(k)+len(w.val)) + entryOverhead }

func (p *pipeline) start() {
	p.idle.L = &p.mu
	p.publish()
}

func (p *pipeline) publish() {
	p.snap.Store(&snapshot{quota: p.committed, blocks: p.blocks})
}

// do submits op and waits for its outcome. If ctx ends before a writer
// takes the op, the op is dropped and ctx's error returned; once taken, do
// waits for the commit (bounded by one batch) so the caller always learns
// the real outcome. A caller promoted to writer commits one batch for
// everyone queued, whatever its ctx.
func (p *pipeline) do(ctx context.Context, op Op) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	req := &request{op: op, wake: make(chan struct{}, 1)}
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return ErrClosed
	}
	p.queue = append(p.queue, req)
	if !p.leading {
		p.leading = true
		p.mu.Unlock()
		p.lead()
		return req.err
	}
	p.mu.Unlock()
	select {
	case <-req.wake:
	case <-ctx.Done():
		if req.state.CompareAndSwap(reqQueued, reqAbandoned) {
			return ctx.Err()
		}
		<-req.wake
	}
	if req.state.Load() == reqPromoted {
		p.lead() // answers req in its batch
	}
	return req.err
}

// queued returns the number of waiting ops.
func (p *pipeline) queued() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.queue)
}

// lead runs one batch as the writer: every queued op (up to MaxBatchOps,
// the leader's own first), then hands the role to the oldest waiting caller
// or gives it up.
func (p *pipeline) lead() {
	p.mu.Lock()
	n := min(len(p.queue), p.opts.MaxBatchOps)
	reqs := make([]*request, n)
	copy(reqs, p.queue)
	p.queue = p.queue[n:]
	p.mu.Unlock()

	b := p.newBatch()
	for _, r := range reqs {
		p.apply(b, r)
	}
	p.commit(b)

	p.mu.Lock()
	defer p.mu.Unlock()
	for len(p.queue) > 0 {
		head := p.queue[0]
		if head.state.CompareAndSwap(reqQueued, reqPromoted) {
			head.wake <- struct{}{}
			return
		}
		p.queue = p.queue[1:] // abandoned
	}
	p.queue = nil
	p.leading = false
	p.idle.Broadcast()
}

// close stops accepting ops and waits until every queued op is answered.
func (p *pipeline) close() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.closed = true
	for p.leading {
		p.idle.Wait()
	}
}

func (p *pipeline) newBatch() *batch {
	return &batch{p: p, ctx: context.Background(), writes: make(map[string]write),
		quota: p.committed, blocks: p.blocks}
}

func finish(req *request, err error) {
	req.err = err
	req.wake <- struct{}{}
}

// runOp runs op, turning a panic into an error.
func runOp(op Op, t *Txn) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("repostore: op panicked: %v", r)
		}
	}()
	return op(t)
}

func (p *pipeline) apply(b *batch, req *request) {
	if !req.state.CompareAndSwap(reqQueued, reqClaimed) && !req.state.CompareAndSwap(reqPromoted, reqClaimed) {
		return // abandoned by its caller
	}
	var t *Txn
	for {
		t = &Txn{b: b, writes: make(map[string]write), quota: b.quota}
		if err := runOp(req.op, t); err != nil {
			if len(b.entries) == 0 {
				finish(req, err) // it saw only committed state
			} else {
				// It saw the batch's uncommitted writes: its answer stands
				// only if they commit.
				b.failed = append(b.failed, failure{req, err})
			}
			return
		}
		var count, size int64
		for k, w := range t.writes {
			count++
			size += estimate(k, w)
		}
		if p.tooBig(count, size) {
			finish(req, fmt.Errorf("%w: %d entries, %d bytes", ErrOpTooBig, count, size))
			return
		}
		if len(b.entries) == 0 || !p.tooBig(b.count+count+2, b.size+size+256) {
			break
		}
		// The batch is full. The op read the batch's writes; committing
		// them first leaves the committed state exactly as the op saw it.
		// If that commit fails, the op saw writes that never happened, so
		// it runs again on the fresh batch.
		ok := p.commit(b)
		*b = *p.newBatch()
		if ok {
			break
		}
	}
	for k, w := range t.writes {
		if old, ok := b.writes[k]; ok {
			b.count--
			b.size -= estimate(k, old)
		}
		b.writes[k] = w
		b.count++
		b.size += estimate(k, w)
	}
	if b.anc != nil {
		for k := range t.writes {
			b.anc.add(k)
		}
	}
	b.quota = t.quota
	b.blocks += t.blocks
	b.entries = append(b.entries, entry{req: req, writes: t.writes, quota: b.quota,
		blocks: b.blocks, hooks: t.hooks})
}

func (p *pipeline) tooBig(count, size int64) bool {
	return (p.maxCount > 0 && count > p.maxCount) || (p.maxSize > 0 && size > p.maxSize)
}

// commit makes the batch durable and answers its callers. It reports
// whether every op of the batch was committed.
func (p *pipeline) commit(b *batch) bool {
	ok := true
	if len(b.entries) > 0 {
		err := p.write(b.ctx, b.writes, b.quota, b.blocks)
		switch {
		case errors.Is(err, errTxnTooBig) && len(b.entries) > 1:
			// The estimate was off: split on op boundaries, each half alone.
			ok = p.split(b.ctx, b.entries)
		case errors.Is(err, errTxnTooBig):
			ok = p.settle(b.entries, b.quota, b.blocks, fmt.Errorf("%w: %w", ErrOpTooBig, err))
		default:
			ok = p.settle(b.entries, b.quota, b.blocks, err)
		}
	}
	for _, f := range b.failed {
		if ok {
			finish(f.req, f.err)
		} else {
			finish(f.req, fmt.Errorf("%w: %w", ErrCommit, errDecidedOnLostWrites))
		}
	}
	b.failed = nil
	return ok
}

// errDecidedOnLostWrites answers an op that failed after reading writes of
// its batch that then failed to commit: its own error may be an artefact of
// state that never existed, so it is not reported; the caller may retry.
var errDecidedOnLostWrites = errors.New("the op failed on uncommitted writes of its batch, which did not commit")

// split commits es in two halves, in order; a half that is still too big
// splits again, down to a single op, which then fails with ErrOpTooBig.
func (p *pipeline) split(ctx context.Context, es []entry) bool {
	p.splits++
	mid := len(es) / 2
	if !p.commitEntries(ctx, es[:mid]) {
		// The later ops may have read writes that were not committed.
		p.settle(es[mid:], p.committed, p.blocks, errEarlierFailed)
		return false
	}
	return p.commitEntries(ctx, es[mid:])
}

// errEarlierFailed answers ops whose batch was split and whose earlier part
// failed: they may have read its writes, so they cannot be committed.
var errEarlierFailed = errors.New("an earlier part of the batch failed")

func (p *pipeline) commitEntries(ctx context.Context, es []entry) bool {
	last := es[len(es)-1]
	merged := make(map[string]write)
	for _, e := range es {
		for k, w := range e.writes {
			merged[k] = w
		}
	}
	err := p.write(ctx, merged, last.quota, last.blocks)
	if errors.Is(err, errTxnTooBig) {
		if len(es) > 1 {
			return p.split(ctx, es)
		}
		err = fmt.Errorf("%w: %w", ErrOpTooBig, err)
	}
	return p.settle(es, last.quota, last.blocks, err)
}

// settle publishes the outcome of a commit of es and answers their callers.
// It reports whether the commit succeeded.
func (p *pipeline) settle(es []entry, q Quota, blocks int64, err error) bool {
	if err == nil {
		p.committed = q
		p.blocks = blocks
		p.publish()
		for _, e := range es {
			for _, h := range e.hooks {
				h()
			}
		}
	} else if !errors.Is(err, ErrOpTooBig) {
		err = fmt.Errorf("%w: %w", ErrCommit, err)
	}
	for _, e := range es {
		finish(e.req, err)
	}
	return err == nil
}

// errTxnTooBig is what write returns when the datastore refuses the
// transaction's size; commit splits on it.
var errTxnTooBig = errors.New("repostore: transaction too big")

// write applies the writes plus the counter records as one datastore
// transaction (or batch) and makes it durable.
func (p *pipeline) write(ctx context.Context, writes map[string]write, q Quota, blocks int64) error {
	if h := p.opts.FaultHook; h != nil {
		if err := h("commit", ds.RawKey("/")); err != nil {
			return errors.Join(errFaultInjected, err)
		}
	}
	var extra [2]struct {
		k ds.Key
		v []byte
	}
	n := 0
	if q != p.committed {
		extra[n].k, extra[n].v = quotaKey, encodeQuota(q)
		n++
	}
	if blocks != p.blocks {
		extra[n].k, extra[n].v = totalKey, []byte(strconv.FormatInt(blocks, 10))
		n++
	}
	var w ds.Write = p.ds
	var commit func() error
	if p.txnDS != nil {
		txn, err := p.txnDS.NewTransaction(ctx, false)
		if err != nil {
			return err
		}
		defer txn.Discard(ctx)
		w, commit = txn, func() error { return txn.Commit(ctx) }
	} else if bds, ok := p.ds.(ds.Batching); ok {
		bt, err := bds.Batch(ctx)
		if err != nil {
			return err
		}
		w, commit = bt, func() error { return bt.Commit(ctx) }
	}
	put := func(k ds.Key, wr write) error {
		var err error
		if wr.del {
			err = w.Delete(ctx, k)
		} else {
			err = w.Put(ctx, k, wr.val)
		}
		if isTxnTooBig(err) {
			return fmt.Errorf("%w: %w", errTxnTooBig, err)
		}
		return err
	}
	for k, wr := range writes {
		if err := put(ds.RawKey(k), wr); err != nil {
			return err
		}
	}
	for _, e := range extra[:n] {
		if err := put(e.k, write{val: e.v}); err != nil {
			return err
		}
	}
	if commit != nil {
		if err := commit(); err != nil {
			if isTxnTooBig(err) {
				return fmt.Errorf("%w: %w", errTxnTooBig, err)
			}
			return err
		}
	}
	if p.syncAt {
		return p.ds.Sync(ctx, ds.RawKey("/"))
	}
	return nil
}
