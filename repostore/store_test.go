package repostore_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"

	ds "github.com/ipfs/go-datastore"
	dssync "github.com/ipfs/go-datastore/sync"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hostsales/hostsales/repostore"
	"github.com/hostsales/hostsales/repostore/badgerds"
)

// backends are the datastores every store test runs on.
var backends = []struct {
	name string
	open func(t *testing.T, o *repostore.Options) *repostore.Store
}{
	{"badger-mem", func(t *testing.T, o *repostore.Options) *repostore.Store {
		o.Badger = &badgerds.Options{InMemory: true}
		o.NoSync = true
		return mustOpen(t, "", o)
	}},
	{"badger-disk", func(t *testing.T, o *repostore.Options) *repostore.Store {
		return mustOpen(t, t.TempDir(), o)
	}},
	{"map", func(t *testing.T, o *repostore.Options) *repostore.Store {
		o.Datastore = dssync.MutexWrap(ds.NewMapDatastore())
		return mustOpen(t, "", o)
	}},
}

func mustOpen(t *testing.T, path string, o *repostore.Options) *repostore.Store {
	t.Helper()
	s, err := repostore.Open(path, o)
	require.NoError(t, err)
	t.Cleanup(func() { assert.NoError(t, s.Close()) })
	return s
}

// eachBackend runs f once per backend, with a 200-byte quota and a mock
// clock at 123 (the reference suite's setup).
func eachBackend(t *testing.T, f func(t *testing.T, s *repostore.Store, now *int64)) {
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			now := int64(123)
			s := b.open(t, &repostore.Options{QuotaMaxBytes: 200, Now: func() int64 { return now }})
			f(t, s, &now)
		})
	}
}

func data(n int, seed byte) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = seed + byte(i)
	}
	return b
}

var ctx = context.Background()

// Reference: SPEC.md §8.6 items 1-4 (start/stop flags, repeated start/stop).
func TestOpenCloseIdempotent(t *testing.T) {
	s, err := repostore.Open("", &repostore.Options{Datastore: dssync.MutexWrap(ds.NewMapDatastore())})
	require.NoError(t, err)
	require.NoError(t, s.Reserve(ctx, 1))
	require.NoError(t, s.Close())
	require.NoError(t, s.Close(), "a second Close is a no-op")
	assert.ErrorIs(t, s.Reserve(ctx, 1), repostore.ErrClosed)
	_, err = s.Get(ctx, ds.NewKey("/x"))
	assert.ErrorIs(t, err, repostore.ErrClosed)
	_, err = s.PutBlock(ctx, []byte("x"), 0)
	assert.ErrorIs(t, err, repostore.ErrClosed)
}

func TestQuota(t *testing.T) {
	// Reference: SPEC.md §8.6 item 5.
	t.Run("used grows on block put", func(t *testing.T) {
		eachBackend(t, func(t *testing.T, s *repostore.Store, _ *int64) {
			_, err := s.PutBlock(ctx, data(200, 1), 0)
			require.NoError(t, err)
			assert.Equal(t, uint64(200), s.Quota().Used)
			assert.Equal(t, int64(1), s.TotalBlocks())
		})
	})
	// Reference: SPEC.md §8.6 item 6.
	t.Run("used shrinks on block delete", func(t *testing.T) {
		eachBackend(t, func(t *testing.T, s *repostore.Store, _ *int64) {
			p, err := s.PutBlock(ctx, data(100, 1), 0)
			require.NoError(t, err)
			require.NoError(t, s.DeleteBlock(ctx, p.Hash))
			assert.Equal(t, uint64(0), s.Quota().Used)
			assert.Equal(t, int64(0), s.TotalBlocks())
		})
	})
	// Reference: SPEC.md §8.6 item 7.
	t.Run("a block put twice counts once", func(t *testing.T) {
		eachBackend(t, func(t *testing.T, s *repostore.Store, _ *int64) {
			p1, err := s.PutBlock(ctx, data(100, 1), 0)
			require.NoError(t, err)
			p2, err := s.PutBlock(ctx, data(100, 1), 0)
			require.NoError(t, err)
			assert.True(t, p1.New)
			assert.False(t, p2.New)
			assert.Equal(t, uint64(100), s.Quota().Used)
		})
	})
	// Reference: SPEC.md §8.6 item 8.
	t.Run("a block past the quota fails and is not stored", func(t *testing.T) {
		eachBackend(t, func(t *testing.T, s *repostore.Store, _ *int64) {
			d := data(300, 1)
			_, err := s.PutBlock(ctx, d, 0)
			require.ErrorIs(t, err, repostore.ErrQuotaExceeded)
			var qe *repostore.QuotaError
			require.ErrorAs(t, err, &qe)
			assert.Equal(t, repostore.Quota{Max: 200}, qe.Quota)
			assert.Equal(t, uint64(300), qe.Delta)
			assert.Equal(t, repostore.Quota{Max: 200}, s.Quota())
			has, err := s.HasBlock(ctx, repostore.HashOf(d))
			require.NoError(t, err)
			assert.False(t, has)
		})
	})
	// Reference: SPEC.md §8.6 item 9.
	t.Run("reserve", func(t *testing.T) {
		eachBackend(t, func(t *testing.T, s *repostore.Store, _ *int64) {
			_, err := s.PutBlock(ctx, data(100, 1), 0)
			require.NoError(t, err)
			require.NoError(t, s.Reserve(ctx, 100))
			q := s.Quota()
			assert.Equal(t, uint64(200), q.TotalUsed())
			assert.Equal(t, uint64(100), q.Used)
			assert.Equal(t, uint64(100), q.Reserved)
			assert.Equal(t, uint64(0), s.Available())
		})
	})
	// Reference: SPEC.md §8.6 item 10.
	t.Run("reserve over max fails and changes nothing", func(t *testing.T) {
		eachBackend(t, func(t *testing.T, s *repostore.Store, _ *int64) {
			_, err := s.PutBlock(ctx, data(100, 1), 0)
			require.NoError(t, err)
			before := s.Quota()
			err = s.Reserve(ctx, 101)
			require.ErrorIs(t, err, repostore.ErrQuotaExceeded)
			assert.Contains(t, err.Error(), "used 100, reserved 0, limit 200")
			assert.Equal(t, before, s.Quota())
		})
	})
	// Reference: SPEC.md §8.6 item 11.
	t.Run("release", func(t *testing.T) {
		eachBackend(t, func(t *testing.T, s *repostore.Store, _ *int64) {
			require.NoError(t, s.Reserve(ctx, 100))
			require.NoError(t, s.Release(ctx, 100))
			assert.Equal(t, repostore.Quota{Max: 200}, s.Quota())
		})
	})
	// Reference: SPEC.md §8.6 item 12 (a typed error instead of a RangeDefect).
	t.Run("release more than reserved fails and changes nothing", func(t *testing.T) {
		eachBackend(t, func(t *testing.T, s *repostore.Store, _ *int64) {
			require.NoError(t, s.Reserve(ctx, 100))
			err := s.Release(ctx, 101)
			require.ErrorIs(t, err, repostore.ErrReleaseExceedsReserved)
			assert.Equal(t, repostore.Quota{Max: 200, Reserved: 100}, s.Quota())
		})
	})
	t.Run("reserve that would overflow uint64 fails", func(t *testing.T) {
		eachBackend(t, func(t *testing.T, s *repostore.Store, _ *int64) {
			require.NoError(t, s.Reserve(ctx, 100))
			require.ErrorIs(t, s.Reserve(ctx, ^uint64(0)), repostore.ErrQuotaExceeded)
			assert.Equal(t, uint64(100), s.Quota().Reserved)
		})
	})
}

func TestQuotaReloadedOnReopen(t *testing.T) {
	dir := t.TempDir()
	s, err := repostore.Open(dir, &repostore.Options{QuotaMaxBytes: 1000})
	require.NoError(t, err)
	_, err = s.PutBlock(ctx, data(123, 1), 0)
	require.NoError(t, err)
	require.NoError(t, s.Reserve(ctx, 456))
	require.NoError(t, s.Close())

	s, err = repostore.Open(dir, &repostore.Options{QuotaMaxBytes: 1000})
	require.NoError(t, err)
	assert.Equal(t, repostore.Quota{Max: 1000, Used: 123, Reserved: 456}, s.Quota())
	assert.Equal(t, int64(1), s.TotalBlocks())
	require.NoError(t, s.Close())

	// A lowered max still above the usage opens.
	s, err = repostore.Open(dir, &repostore.Options{QuotaMaxBytes: 579})
	require.NoError(t, err)
	require.NoError(t, s.Close())

	// Below the usage: a clear, typed error.
	_, err = repostore.Open(dir, &repostore.Options{QuotaMaxBytes: 578})
	require.ErrorIs(t, err, repostore.ErrQuotaBelowUsage)
	var qe *repostore.QuotaError
	require.ErrorAs(t, err, &qe)
	assert.Equal(t, uint64(123), qe.Quota.Used)
	assert.Equal(t, uint64(456), qe.Quota.Reserved)

	// The failed open released the directory.
	s, err = repostore.Open(dir, &repostore.Options{QuotaMaxBytes: 1000})
	require.NoError(t, err)
	require.NoError(t, s.Close())
}

func TestCorruptQuotaRecord(t *testing.T) {
	m := dssync.MutexWrap(ds.NewMapDatastore())
	require.NoError(t, m.Put(ctx, ds.NewKey("/meta/quota/used"), []byte("{not json")))
	_, err := repostore.Open("", &repostore.Options{Datastore: m})
	require.ErrorIs(t, err, repostore.ErrCorrupt)
	assert.Contains(t, err.Error(), "/meta/quota/used")

	require.NoError(t, m.Put(ctx, ds.NewKey("/meta/quota/used"), []byte(`{"v":99,"used":1,"reserved":2}`)))
	_, err = repostore.Open("", &repostore.Options{Datastore: m})
	require.ErrorIs(t, err, repostore.ErrCorrupt)
	assert.Contains(t, err.Error(), "newer")

	// The reference's unversioned record reads as version 1.
	require.NoError(t, m.Put(ctx, ds.NewKey("/meta/quota/used"), []byte(`{"used":1,"reserved":2}`)))
	s, err := repostore.Open("", &repostore.Options{Datastore: m, QuotaMaxBytes: 10})
	require.NoError(t, err)
	assert.Equal(t, repostore.Quota{Max: 10, Used: 1, Reserved: 2}, s.Quota())
	require.NoError(t, s.Close())
}

func TestBlockExpiry(t *testing.T) {
	// Reference: SPEC.md §8.6 item 13.
	t.Run("explicit ttl", func(t *testing.T) {
		eachBackend(t, func(t *testing.T, s *repostore.Store, _ *int64) {
			p, err := s.PutBlock(ctx, data(10, 1), 10)
			require.NoError(t, err)
			info, err := s.BlockInfo(ctx, p.Hash)
			require.NoError(t, err)
			assert.Equal(t, int64(123+10), info.Expiry)
		})
	})
	// Reference: SPEC.md §8.6 item 14.
	t.Run("default ttl", func(t *testing.T) {
		eachBackend(t, func(t *testing.T, s *repostore.Store, _ *int64) {
			p, err := s.PutBlock(ctx, data(10, 1), 0)
			require.NoError(t, err)
			info, err := s.BlockInfo(ctx, p.Hash)
			require.NoError(t, err)
			assert.Equal(t, 123+repostore.DefaultBlockTTL, info.Expiry)
		})
	})
	// Reference: SPEC.md §8.6 item 15.
	t.Run("non-positive expiry refused", func(t *testing.T) {
		eachBackend(t, func(t *testing.T, s *repostore.Store, _ *int64) {
			p, err := s.PutBlock(ctx, data(10, 1), 10)
			require.NoError(t, err)
			assert.ErrorIs(t, s.EnsureExpiry(ctx, p.Hash, -1), repostore.ErrInvalidExpiry)
			assert.ErrorIs(t, s.EnsureExpiry(ctx, p.Hash, 0), repostore.ErrInvalidExpiry)
			_, err = s.PutBlock(ctx, data(10, 1), -5)
			assert.ErrorIs(t, err, repostore.ErrInvalidExpiry)
		})
	})
	// Reference: SPEC.md §8.6 item 16.
	t.Run("missing block", func(t *testing.T) {
		eachBackend(t, func(t *testing.T, s *repostore.Store, _ *int64) {
			assert.ErrorIs(t, s.EnsureExpiry(ctx, repostore.HashOf([]byte("nope")), 1000),
				repostore.ErrBlockNotFound)
		})
	})
	// Reference: SPEC.md §8.6 items 17 and 18.
	t.Run("expiry only moves later", func(t *testing.T) {
		eachBackend(t, func(t *testing.T, s *repostore.Store, _ *int64) {
			p, err := s.PutBlock(ctx, data(10, 1), 10)
			require.NoError(t, err)
			require.NoError(t, s.EnsureExpiry(ctx, p.Hash, 500))
			info, err := s.BlockInfo(ctx, p.Hash)
			require.NoError(t, err)
			assert.Equal(t, int64(500), info.Expiry)
			require.NoError(t, s.EnsureExpiry(ctx, p.Hash, 200))
			info, err = s.BlockInfo(ctx, p.Hash)
			require.NoError(t, err)
			assert.Equal(t, int64(500), info.Expiry)
			exp, err := s.Expiries(ctx, 0, 0)
			require.NoError(t, err)
			assert.Equal(t, []repostore.ExpiryEntry{{Hash: p.Hash, Expiry: 500}}, exp,
				"the index holds exactly one entry, at the later time")
		})
	})
	// Reference: SPEC.md §8.6 item 19.
	t.Run("delete removes expiry metadata", func(t *testing.T) {
		eachBackend(t, func(t *testing.T, s *repostore.Store, _ *int64) {
			p, err := s.PutBlock(ctx, data(10, 1), 10)
			require.NoError(t, err)
			require.NoError(t, s.DeleteBlock(ctx, p.Hash))
			exp, err := s.Expiries(ctx, 0, 0)
			require.NoError(t, err)
			assert.Empty(t, exp)
			_, err = s.BlockInfo(ctx, p.Hash)
			assert.ErrorIs(t, err, repostore.ErrBlockNotFound)
		})
	})
	// Reference: SPEC.md §8.6 item 20.
	t.Run("expiry listing pages", func(t *testing.T) {
		eachBackend(t, func(t *testing.T, s *repostore.Store, _ *int64) {
			for i := range 3 {
				_, err := s.PutBlock(ctx, data(10, byte(i)), int64(10+i))
				require.NoError(t, err)
			}
			page1, err := s.Expiries(ctx, 0, 2)
			require.NoError(t, err)
			page2, err := s.Expiries(ctx, 2, 2)
			require.NoError(t, err)
			require.Len(t, page1, 2)
			require.Len(t, page2, 1)
			assert.Equal(t, []int64{133, 134, 135},
				[]int64{page1[0].Expiry, page1[1].Expiry, page2[0].Expiry}, "time order")
		})
	})
	t.Run("maintenance deletes expired blocks and gives the bytes back", func(t *testing.T) {
		eachBackend(t, func(t *testing.T, s *repostore.Store, now *int64) {
			var hs []repostore.Hash
			for i := range 5 {
				p, err := s.PutBlock(ctx, data(10, byte(i)), int64(10*(i+1)))
				require.NoError(t, err)
				hs = append(hs, p.Hash)
			}
			require.Equal(t, uint64(50), s.Quota().Used)
			*now = 123 + 30
			n, freed, err := s.DeleteExpired(ctx, 2)
			require.NoError(t, err)
			assert.Equal(t, 3, n)
			assert.Equal(t, uint64(30), freed)
			assert.Equal(t, uint64(20), s.Quota().Used)
			assert.Equal(t, int64(2), s.TotalBlocks())
			for i, h := range hs {
				has, err := s.HasBlock(ctx, h)
				require.NoError(t, err)
				assert.Equal(t, i >= 3, has, "block %d", i)
			}
		})
	})
}

// Reference: SPEC.md §8.6 items 21-24.
func TestEmptyBlocks(t *testing.T) {
	eachBackend(t, func(t *testing.T, s *repostore.Store, _ *int64) {
		p, err := s.PutBlock(ctx, nil, 0)
		require.NoError(t, err)
		assert.Equal(t, uint64(0), s.Quota().Used, "empty blocks are free")
		has, err := s.HasBlock(ctx, p.Hash)
		require.NoError(t, err)
		assert.True(t, has)
		got, err := s.GetBlock(ctx, p.Hash)
		require.NoError(t, err)
		assert.Empty(t, got)
		require.NoError(t, s.DeleteBlock(ctx, p.Hash))
		has, err = s.HasBlock(ctx, p.Hash)
		require.NoError(t, err)
		assert.False(t, has)
	})
}

func TestBlockGetRoundTrip(t *testing.T) {
	eachBackend(t, func(t *testing.T, s *repostore.Store, _ *int64) {
		d := data(50, 7)
		p, err := s.PutBlock(ctx, d, 0)
		require.NoError(t, err)
		assert.Equal(t, repostore.HashOf(d), p.Hash)
		got, err := s.GetBlock(ctx, p.Hash)
		require.NoError(t, err)
		assert.Equal(t, d, got)
		_, err = s.GetBlock(ctx, repostore.HashOf([]byte("other")))
		assert.ErrorIs(t, err, repostore.ErrBlockNotFound)
		assert.ErrorIs(t, s.DeleteBlock(ctx, repostore.HashOf([]byte("other"))), repostore.ErrBlockNotFound)
	})
}

// putTagged stores data held by tag in one op.
func putTagged(t *testing.T, s *repostore.Store, d []byte, tag string) repostore.BlockPut {
	t.Helper()
	var p repostore.BlockPut
	require.NoError(t, s.Do(ctx, func(tx *repostore.Txn) (err error) {
		p, err = tx.PutBlock(d, tx.Now()+100, tag)
		return err
	}))
	return p
}

func dropTag(t *testing.T, s *repostore.Store, tag string) uint64 {
	t.Helper()
	var freed uint64
	require.NoError(t, s.Do(ctx, func(tx *repostore.Txn) (err error) {
		freed, _, err = tx.DropTag(tag, 0)
		return err
	}))
	return freed
}

// Tags are the Go form of the reference's dataset reference counts.
func TestBlockTags(t *testing.T) {
	// Reference: SPEC.md §8.6 item 25.
	t.Run("an untagged block has no holders", func(t *testing.T) {
		eachBackend(t, func(t *testing.T, s *repostore.Store, _ *int64) {
			p, err := s.PutBlock(ctx, data(10, 1), 0)
			require.NoError(t, err)
			info, err := s.BlockInfo(ctx, p.Hash)
			require.NoError(t, err)
			assert.Empty(t, info.Tags)
			assert.True(t, info.Pinned)
		})
	})
	// Reference: SPEC.md §8.6 item 26.
	t.Run("a held block cannot be deleted directly", func(t *testing.T) {
		eachBackend(t, func(t *testing.T, s *repostore.Store, _ *int64) {
			p := putTagged(t, s, data(10, 1), "r1")
			require.ErrorIs(t, s.DeleteBlock(ctx, p.Hash), repostore.ErrBlockTagged)
			has, err := s.HasBlock(ctx, p.Hash)
			require.NoError(t, err)
			assert.True(t, has)
		})
	})
	// Reference: SPEC.md §8.6 items 27-29.
	t.Run("a block goes when its last holder drops it", func(t *testing.T) {
		eachBackend(t, func(t *testing.T, s *repostore.Store, _ *int64) {
			d := data(10, 1)
			p := putTagged(t, s, d, "r1")
			putTagged(t, s, d, "r2")
			info, err := s.BlockInfo(ctx, p.Hash)
			require.NoError(t, err)
			assert.Equal(t, []string{"r1", "r2"}, info.Tags)
			assert.Equal(t, uint64(20), s.Quota().Used, "counted once per holder, stored once")
			assert.Equal(t, int64(1), s.TotalBlocks())

			assert.Equal(t, uint64(10), dropTag(t, s, "r1"), "a holder gets back what it was counted for")
			assert.Equal(t, uint64(10), s.Quota().Used)
			info, err = s.BlockInfo(ctx, p.Hash)
			require.NoError(t, err)
			assert.Equal(t, []string{"r2"}, info.Tags)

			assert.Equal(t, uint64(10), dropTag(t, s, "r2"))
			has, err := s.HasBlock(ctx, p.Hash)
			require.NoError(t, err)
			assert.False(t, has)
			assert.Equal(t, uint64(0), s.Quota().Used)
			exp, err := s.Expiries(ctx, 0, 0)
			require.NoError(t, err)
			assert.Empty(t, exp, "no expiry metadata left")
			require.NoError(t, s.Do(ctx, func(tx *repostore.Txn) error {
				hs, err := tx.TaggedBlocks("r2", 0, 0)
				assert.Empty(t, hs, "no tag index left")
				return err
			}))
		})
	})
	t.Run("a pinned block stays when its holders drop it", func(t *testing.T) {
		eachBackend(t, func(t *testing.T, s *repostore.Store, _ *int64) {
			d := data(10, 1)
			p := putTagged(t, s, d, "r1")
			_, err := s.PutBlock(ctx, d, 0)
			require.NoError(t, err)
			assert.Equal(t, uint64(20), s.Quota().Used, "the tag and the pin")
			assert.Equal(t, uint64(10), dropTag(t, s, "r1"))
			has, err := s.HasBlock(ctx, p.Hash)
			require.NoError(t, err)
			assert.True(t, has)
			require.NoError(t, s.DeleteBlock(ctx, p.Hash))
			assert.Equal(t, uint64(0), s.Quota().Used)
		})
	})
	// Reference: SPEC.md §8.6 item 30.
	t.Run("reinserting and deleting a deleted block", func(t *testing.T) {
		eachBackend(t, func(t *testing.T, s *repostore.Store, _ *int64) {
			d := data(10, 1)
			putTagged(t, s, d, "r1")
			dropTag(t, s, "r1")
			p := putTagged(t, s, d, "r1")
			assert.True(t, p.New)
			assert.Equal(t, uint64(10), dropTag(t, s, "r1"))
			assert.Equal(t, uint64(0), s.Quota().Used)
		})
	})
	t.Run("expired held blocks stay until their holder drops them", func(t *testing.T) {
		eachBackend(t, func(t *testing.T, s *repostore.Store, now *int64) {
			held := putTagged(t, s, data(10, 1), "r1")
			pinned, err := s.PutBlock(ctx, data(10, 2), 1)
			require.NoError(t, err)
			*now += 1000
			n, freed, err := s.DeleteExpired(ctx, 0)
			require.NoError(t, err)
			assert.Equal(t, 1, n, "only the unheld one")
			assert.Equal(t, uint64(10), freed)
			has, err := s.HasBlock(ctx, held.Hash)
			require.NoError(t, err)
			assert.True(t, has, "its holder owns its bytes")
			has, err = s.HasBlock(ctx, pinned.Hash)
			require.NoError(t, err)
			assert.False(t, has)
			assert.Equal(t, uint64(10), dropTag(t, s, "r1"))
			assert.Equal(t, uint64(0), s.Quota().Used)
		})
	})
	t.Run("a tag is dropped in parts", func(t *testing.T) {
		eachBackend(t, func(t *testing.T, s *repostore.Store, _ *int64) {
			for i := range 5 {
				putTagged(t, s, data(10, byte(i)), "r1")
			}
			var total uint64
			for part := 0; ; part++ {
				var freed uint64
				var n int
				require.NoError(t, s.Do(ctx, func(tx *repostore.Txn) (err error) {
					freed, n, err = tx.DropTag("r1", 2)
					return err
				}))
				total += freed
				if n < 2 {
					break
				}
				require.Less(t, part, 5)
			}
			assert.Equal(t, uint64(50), total)
			assert.Equal(t, uint64(0), s.Quota().Used)
			assert.Equal(t, int64(0), s.TotalBlocks())
		})
	})
}

// An op that mixes records, quota and blocks commits all or nothing.
func TestOpIsAtomic(t *testing.T) {
	eachBackend(t, func(t *testing.T, s *repostore.Store, _ *int64) {
		k := ds.NewKey("/meta/test/a")
		boom := errors.New("boom")
		err := s.Do(ctx, func(tx *repostore.Txn) error {
			require.NoError(t, tx.Put(k, []byte("v")))
			require.NoError(t, tx.Reserve(50))
			_, err := tx.PutBlock(data(20, 1), 1000, "r1")
			require.NoError(t, err)
			return boom
		})
		require.ErrorIs(t, err, boom)
		assert.Equal(t, repostore.Quota{Max: 200}, s.Quota())
		assert.Equal(t, int64(0), s.TotalBlocks())
		_, err = s.Get(ctx, k)
		assert.ErrorIs(t, err, ds.ErrNotFound)
		has, err := s.HasBlock(ctx, repostore.HashOf(data(20, 1)))
		require.NoError(t, err)
		assert.False(t, has)
	})
}

func TestOpPanicIsAnError(t *testing.T) {
	eachBackend(t, func(t *testing.T, s *repostore.Store, _ *int64) {
		err := s.Do(ctx, func(tx *repostore.Txn) error {
			_ = tx.Reserve(10)
			panic("bad op")
		})
		require.Error(t, err)
		assert.Contains(t, err.Error(), "bad op")
		assert.Equal(t, uint64(0), s.Quota().Reserved)
		require.NoError(t, s.Reserve(ctx, 1), "the writer survives")
	})
}

// Many callers, each with its own result; increments through the pipeline
// are never lost, and failing ops among them leave no trace.
func TestConcurrentCallers(t *testing.T) {
	eachBackend(t, func(t *testing.T, s *repostore.Store, _ *int64) {
		counter := ds.NewKey("/meta/test/counter")
		const callers, each = 10, 40 // 200 reservations: the quota
		errOdd := errors.New("odd")
		var wg sync.WaitGroup
		results := make([][]int, callers)
		for c := range callers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := range each {
					var seen int
					err := s.Do(ctx, func(tx *repostore.Txn) error {
						v := 0
						if b, err := tx.Get(counter); err == nil {
							fmt.Sscan(string(b), &v)
						} else if !errors.Is(err, ds.ErrNotFound) {
							return err
						}
						if err := tx.Put(counter, []byte(fmt.Sprint(v+1))); err != nil {
							return err
						}
						seen = v + 1
						if i%2 == 1 {
							return errOdd
						}
						return tx.Reserve(1)
					})
					if i%2 == 1 {
						assert.ErrorIs(t, err, errOdd)
						continue
					}
					if assert.NoError(t, err) {
						results[c] = append(results[c], seen)
					}
				}
			}()
		}
		wg.Wait()
		b, err := s.Get(ctx, counter)
		require.NoError(t, err)
		assert.Equal(t, fmt.Sprint(callers*each/2), string(b))
		assert.Equal(t, uint64(callers*each/2), s.Quota().Reserved)
		all := map[int]bool{}
		for _, r := range results {
			for i, v := range r {
				assert.False(t, all[v], "value %d seen twice", v)
				all[v] = true
				if i > 0 {
					assert.Greater(t, v, r[i-1], "one caller's ops apply in order")
				}
			}
		}
		assert.Len(t, all, callers*each/2)
	})
}

func TestCancelledBeforeSubmit(t *testing.T) {
	eachBackend(t, func(t *testing.T, s *repostore.Store, _ *int64) {
		cctx, cancel := context.WithCancel(ctx)
		cancel()
		ran := false
		err := s.Do(cctx, func(tx *repostore.Txn) error { ran = true; return nil })
		assert.ErrorIs(t, err, context.Canceled)
		assert.False(t, ran)
	})
}

// The quota record says the maximum the store ran with, so that an
// offline check of a stopped node knows its quota.
func TestRecordedQuotaMax(t *testing.T) {
	dir := t.TempDir()
	s, err := repostore.Open(dir, &repostore.Options{QuotaMaxBytes: 5 << 20, NoSync: true})
	require.NoError(t, err)
	assert.Equal(t, uint64(0), s.RecordedQuotaMax(), "a new store has none")
	require.NoError(t, s.Reserve(context.Background(), 10))
	require.NoError(t, s.Close())
	s, err = repostore.Open(dir, &repostore.Options{QuotaMaxBytes: 1 << 40, NoSync: true})
	require.NoError(t, err)
	assert.Equal(t, uint64(5<<20), s.RecordedQuotaMax())
	assert.Equal(t, uint64(1<<40), s.Quota().Max, "the maximum in force is Open's")
	require.NoError(t, s.Close())
}
