package repostore_test

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/dgraph-io/badger/v4"
	ds "github.com/ipfs/go-datastore"

	"github.com/hostsales/hostsales/repostore"
	"github.com/hostsales/hostsales/repostore/badgerds"
)

// The shape of a reservation: read an availability, write a new
// reservation record and the availability back. Callers share a few
// availabilities, as sales on one node do.
const benchAvailabilities = 8

var (
	benchResValue   = make([]byte, 220)
	benchAvailValue = make([]byte, 260)
)

func benchAvailKey(i int) ds.Key { return ds.NewKey(fmt.Sprintf("/meta/sales/reservations/%064x", i)) }

func benchResKey(avail int, n uint64) ds.Key {
	return benchAvailKey(avail).ChildString(fmt.Sprintf("%064x", n))
}

// runCallers runs b.N ops split over callers goroutines and reports ops/s.
func runCallers(b *testing.B, callers int, op func(rng *rand.Rand, n uint64) error) {
	var next atomic.Uint64
	var wg sync.WaitGroup
	b.ResetTimer()
	for c := range callers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(uint64(c), 7))
			for {
				n := next.Add(1)
				if n > uint64(b.N) {
					return
				}
				if err := op(rng, n); err != nil {
					b.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	b.StopTimer()
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "ops/s")
}

func benchMatrix(b *testing.B, f func(b *testing.B, durable bool, callers int)) {
	for _, durable := range []bool{true, false} {
		for _, callers := range []int{1, 32} {
			b.Run(fmt.Sprintf("durable=%v/callers=%d", durable, callers), func(b *testing.B) {
				f(b, durable, callers)
			})
		}
	}
}

// BenchmarkRawBadgerTxn is the baseline: each op is one badger read-write
// transaction (get the availability, set the reservation and the
// availability), retried on conflict, on the same badger options the repo
// uses.
func BenchmarkRawBadgerTxn(b *testing.B) {
	benchMatrix(b, func(b *testing.B, durable bool, callers int) {
		d, err := badgerds.Open(b.TempDir(), &badgerds.Options{NoSync: !durable})
		if err != nil {
			b.Fatal(err)
		}
		defer d.Close()
		db := d.DB()
		for i := range benchAvailabilities {
			if err := db.Update(func(txn *badger.Txn) error {
				return txn.Set(benchAvailKey(i).Bytes(), benchAvailValue)
			}); err != nil {
				b.Fatal(err)
			}
		}
		var conflicts atomic.Int64
		runCallers(b, callers, func(rng *rand.Rand, n uint64) error {
			a := rng.IntN(benchAvailabilities)
			for {
				err := db.Update(func(txn *badger.Txn) error {
					item, err := txn.Get(benchAvailKey(a).Bytes())
					if err != nil {
						return err
					}
					if _, err := item.ValueCopy(nil); err != nil {
						return err
					}
					if err := txn.Set(benchResKey(a, n).Bytes(), benchResValue); err != nil {
						return err
					}
					return txn.Set(benchAvailKey(a).Bytes(), benchAvailValue)
				})
				if errors.Is(err, badger.ErrConflict) {
					conflicts.Add(1)
					continue
				}
				return err
			}
		})
		b.ReportMetric(float64(conflicts.Load())/float64(b.N), "conflicts/op")
	})
}

// BenchmarkPipeline is the same work as ops through the commit pipeline.
func BenchmarkPipeline(b *testing.B) {
	benchMatrix(b, func(b *testing.B, durable bool, callers int) {
		s, err := repostore.Open(b.TempDir(), &repostore.Options{NoSync: !durable})
		if err != nil {
			b.Fatal(err)
		}
		defer s.Close()
		for i := range benchAvailabilities {
			if err := s.Do(ctx, func(tx *repostore.Txn) error {
				return tx.Put(benchAvailKey(i), benchAvailValue)
			}); err != nil {
				b.Fatal(err)
			}
		}
		runCallers(b, callers, func(rng *rand.Rand, n uint64) error {
			a := rng.IntN(benchAvailabilities)
			return s.Do(ctx, func(tx *repostore.Txn) error {
				if _, err := tx.Get(benchAvailKey(a)); err != nil {
					return err
				}
				if err := tx.Put(benchResKey(a, n), benchResValue); err != nil {
					return err
				}
				return tx.Put(benchAvailKey(a), benchAvailValue)
			})
		})
	})
}
