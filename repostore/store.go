package repostore

import (
	"context"
	"errors"
	"fmt"
	"io"
	"iter"
	"log/slog"
	"strconv"
	"sync"
	"sync/atomic"

	"github.com/hashicorp/go-multierror"
	ds "github.com/ipfs/go-datastore"
	dsq "github.com/ipfs/go-datastore/query"

	"github.com/hostsales/hostsales/repostore/badgerds"
)

// Store is the node's repository. It is safe for concurrent use. Writes go
// through the commit pipeline (Do); reads see committed state and never
// wait for the writer.
type Store struct {
	opts   *Options
	ds     ds.Datastore
	owned  io.Closer // the badger datastore Open created, closed by Close
	p      pipeline
	closed atomic.Bool
	once   sync.Once
	err    error

	recordedMax uint64 // the quota record's max at Open
}

// Open opens (creating if needed) the repo at path. With Options.Datastore
// set, path is ignored and that datastore is used.
//
// Open fails with ErrInvalidOptions for bad options, with
// badgerds.ErrLocked if another process (or this one) holds the
// directory, with a *CorruptError for an undecodable quota record, and
// with a *QuotaError matching ErrQuotaBelowUsage if the stored usage
// exceeds QuotaMaxBytes.
func Open(path string, opts *Options) (*Store, error) {
	if opts != nil {
		if err := opts.Validate(); err != nil {
			return nil, err
		}
	}
	o := opts.EnsureDefaults()
	s := &Store{opts: o}
	if o.Datastore != nil {
		s.ds = o.Datastore
		s.p.syncAt = !o.NoSync
	} else {
		var bo badgerds.Options
		if o.Badger != nil {
			bo = *o.Badger
		}
		bo.NoSync = o.NoSync
		if bo.Logger == nil {
			bo.Logger = o.Logger
		}
		bd, err := badgerds.Open(path, &bo)
		if err != nil {
			return nil, err
		}
		s.ds, s.owned = bd, bd
	}
	if err := s.load(); err != nil {
		if s.owned != nil {
			err = multierror.Append(err, s.owned.Close()).ErrorOrNil()
		}
		return nil, err
	}
	s.p.opts = o
	s.p.ds = s.ds
	s.p.txnDS, _ = s.ds.(ds.TxnDatastore)
	if l, ok := s.ds.(interface {
		MaxBatchCount() int64
		MaxBatchSize() int64
	}); ok {
		// Cut batches at half the engine's limits; commit splits if the
		// estimate is ever wrong.
		s.p.maxCount, s.p.maxSize = l.MaxBatchCount()/2, l.MaxBatchSize()/2
	}
	s.p.start()
	return s, nil
}

// load reads the counters and checks them against the configured maximum.
func (s *Store) load() error {
	ctx := context.Background()
	q := Quota{Max: s.opts.QuotaMaxBytes}
	raw, err := s.ds.Get(ctx, quotaKey)
	switch {
	case err == nil:
		if q, s.recordedMax, err = decodeQuota(raw, s.opts.QuotaMaxBytes); err != nil {
			return err
		}
	case !errors.Is(err, ds.ErrNotFound):
		return err
	}
	if q.TotalUsed() > q.Max || q.TotalUsed() < q.Used {
		return &QuotaError{Kind: ErrQuotaBelowUsage, Quota: q}
	}
	s.p.committed = q
	raw, err = s.ds.Get(ctx, totalKey)
	switch {
	case err == nil:
		n, perr := strconv.ParseInt(string(raw), 10, 64)
		if perr != nil || n < 0 {
			return &CorruptError{Key: totalKey.String(), Err: fmt.Errorf("bad block count %q", raw)}
		}
		s.p.blocks = n
	case !errors.Is(err, ds.ErrNotFound):
		return err
	}
	return nil
}

// RecordedQuotaMax returns the quota maximum the store was last written
// with, as found at Open (0 if the store never recorded one): what an
// offline check compares the counters with when it does not know the
// node's --quota.
func (s *Store) RecordedQuotaMax() uint64 { return s.recordedMax }

// Close drains the pipeline (every queued op is applied and answered)
// and closes the datastore Open opened. It is
// idempotent; every later call returns the first call's result.
func (s *Store) Close() error {
	s.once.Do(func() {
		s.closed.Store(true)
		s.p.close()
		if s.owned != nil {
			s.err = s.owned.Close()
		}
	})
	return s.err
}

// Do submits op to the commit pipeline and returns when it is durable (or
// has failed). The op's error is returned as is; a commit failure matches
// ErrCommit. If ctx ends before the writer takes the op, the op does not
// run and ctx's error is returned; once taken, Do waits for the outcome.
// After Close, Do returns ErrClosed.
func (s *Store) Do(ctx context.Context, op Op) error { return s.p.do(ctx, op) }

// Quota returns the committed counters.
func (s *Store) Quota() Quota { return s.p.snap.Load().quota }

// Available returns max-used-reserved of the committed counters.
func (s *Store) Available() uint64 { return s.Quota().Available() }

// TotalBlocks returns the number of stored blocks.
func (s *Store) TotalBlocks() int64 { return s.p.snap.Load().blocks }

// Now returns the store's current time (Options.Now).
func (s *Store) Now() int64 { return s.opts.Now() }

// Logger returns the store's logger.
func (s *Store) Logger() *slog.Logger { return s.opts.Logger }

func (s *Store) check(ctx context.Context) error {
	if s.closed.Load() {
		return ErrClosed
	}
	return ctx.Err()
}

// Get returns the committed value at key, or an error matching
// ds.ErrNotFound.
func (s *Store) Get(ctx context.Context, key ds.Key) ([]byte, error) {
	if err := s.check(ctx); err != nil {
		return nil, err
	}
	return s.ds.Get(ctx, key)
}

// Has reports whether key holds a committed value.
func (s *Store) Has(ctx context.Context, key ds.Key) (bool, error) {
	if err := s.check(ctx); err != nil {
		return false, err
	}
	return s.ds.Has(ctx, key)
}

// Query iterates over the committed entries matching q. Stopping the loop
// early releases the underlying iterator.
func (s *Store) Query(ctx context.Context, q dsq.Query) iter.Seq2[dsq.Entry, error] {
	if err := s.check(ctx); err != nil {
		return func(yield func(dsq.Entry, error) bool) { yield(dsq.Entry{}, err) }
	}
	return ds.QueryIter(ctx, s.ds, q)
}

// Reserve adds n bytes to the reserved counter (SPEC §6 reserve).
func (s *Store) Reserve(ctx context.Context, n uint64) error {
	return s.Do(ctx, func(tx *Txn) error { return tx.Reserve(n) })
}

// Release takes n bytes off the reserved counter (SPEC §6 release).
func (s *Store) Release(ctx context.Context, n uint64) error {
	return s.Do(ctx, func(tx *Txn) error { return tx.Release(n) })
}

// PutBlock stores data, pinned, expiring ttl seconds from now (0: the
// default TTL). See Txn.PutBlock.
func (s *Store) PutBlock(ctx context.Context, data []byte, ttl int64) (BlockPut, error) {
	if ttl < 0 {
		return BlockPut{}, ErrInvalidExpiry
	}
	if ttl == 0 {
		ttl = s.opts.DefaultBlockTTL
	}
	var res BlockPut
	err := s.Do(ctx, func(tx *Txn) (err error) {
		res, err = tx.PutBlock(data, tx.Now()+ttl, "")
		return err
	})
	return res, err
}

// GetBlock returns a committed block's data, or ErrBlockNotFound.
func (s *Store) GetBlock(ctx context.Context, h Hash) ([]byte, error) {
	b, err := s.Get(ctx, blockKey(h))
	if errors.Is(err, ds.ErrNotFound) {
		return nil, fmt.Errorf("%w: %s", ErrBlockNotFound, h)
	}
	return b, err
}

// HasBlock reports whether block h is stored.
func (s *Store) HasBlock(ctx context.Context, h Hash) (bool, error) {
	return s.Has(ctx, blockMetaKey(h))
}

// BlockInfo returns a committed block's metadata, or ErrBlockNotFound.
func (s *Store) BlockInfo(ctx context.Context, h Hash) (BlockInfo, error) {
	raw, err := s.Get(ctx, blockMetaKey(h))
	if errors.Is(err, ds.ErrNotFound) {
		return BlockInfo{}, fmt.Errorf("%w: %s", ErrBlockNotFound, h)
	}
	if err != nil {
		return BlockInfo{}, err
	}
	return decodeBlockInfo(h, raw)
}

// DeleteBlock removes an untagged block (see Txn.DeleteBlock).
func (s *Store) DeleteBlock(ctx context.Context, h Hash) error {
	return s.Do(ctx, func(tx *Txn) error { return tx.DeleteBlock(h) })
}

// EnsureExpiry moves a block's expiry later (see Txn.EnsureExpiry).
func (s *Store) EnsureExpiry(ctx context.Context, h Hash, expiry int64) error {
	return s.Do(ctx, func(tx *Txn) error { return tx.EnsureExpiry(h, expiry) })
}

// Expiries lists committed expiry entries in time order, skipping offset
// and returning at most limit (0 = all).
func (s *Store) Expiries(ctx context.Context, offset, limit int) ([]ExpiryEntry, error) {
	if err := s.check(ctx); err != nil {
		return nil, err
	}
	entries, err := collect(ctx, s.ds, dsq.Query{Prefix: expiryRoot.String(), KeysOnly: true,
		Orders: []dsq.Order{dsq.OrderByKey{}}, Offset: offset, Limit: limit})
	if err != nil {
		return nil, err
	}
	return parseExpiries(entries)
}

// DeleteExpired is the maintenance pass: it removes every block whose
// expiry is at or before Now and that no tag holds (a held block stays
// until its holders drop it), in commits of at most perCommit blocks
// (0: 1024), and returns how many it removed and the bytes given back.
func (s *Store) DeleteExpired(ctx context.Context, perCommit int) (int, uint64, error) {
	if perCommit <= 0 {
		perCommit = 1024
	}
	var total int
	var freed uint64
	for {
		var n int
		var f uint64
		err := s.Do(ctx, func(tx *Txn) (err error) {
			n, f, err = tx.DeleteExpired(tx.Now(), perCommit)
			return err
		})
		if err != nil {
			return total, freed, err
		}
		total += n
		freed += f
		if n < perCommit {
			return total, freed, nil
		}
	}
}
