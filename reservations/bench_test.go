package reservations_test

import (
	"context"
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/holiman/uint256"

	"github.com/hostsales/hostsales/market"
	"github.com/hostsales/hostsales/repostore"
	"github.com/hostsales/hostsales/repostore/badgerds"
	"github.com/hostsales/hostsales/reservations"
)

// Benchmarks of the reservation operations (issue 3, DESIGN.md
// "Performance targets"). Every identifier here starts with bench so the
// file can sit beside the package's tests. Run them all with
//
//	go test -run '^$' -bench . ./reservations/
//
// The PostgreSQL peer is in pg_bench_test.go (scripts/bench-postgres.sh).

var benchCtx = context.Background()

const (
	// benchAvailabilities is how many availabilities the callers share, as
	// sales on one node do (the same 8 as repostore's pipeline benchmarks
	// and the PostgreSQL peer).
	benchAvailabilities = 8
	// benchSlotSize is the size of every reservation: 1 MiB.
	benchSlotSize = 1 << 20
	// benchAvailSize is every availability's size: room for 2^30 slots, so
	// no benchmark runs out.
	benchAvailSize = 1 << 50
	// benchQuota holds every availability a benchmark creates.
	benchQuota = 1 << 62
	// benchValidUntil is the validUntil of every reservation.
	benchValidUntil = 1 << 40
)

// benchCollateralPerByte is the collateral per byte of every reservation.
var benchCollateralPerByte = uint256.NewInt(1)

// benchEnv is a repo with Reservations over it.
type benchEnv struct {
	repo   *repostore.Store
	res    *reservations.Reservations
	avails []reservations.AvailabilityID
	// reqPrefix makes request ids unique across the benchmark's runs.
	reqPrefix [24]byte
	nextReq   atomic.Uint64
}

// benchOpen opens an on-disk repo in a fresh b.TempDir (durable: every
// commit fsynced) or an in-memory one, with Reservations over it (ids from
// crypto/rand, as in production), closed when the benchmark ends.
func benchOpen(b *testing.B, durable, inMemory bool) *benchEnv {
	b.Helper()
	opts := &repostore.Options{NoSync: !durable, QuotaMaxBytes: benchQuota}
	path := ""
	if inMemory {
		opts.Badger = &badgerds.Options{InMemory: true}
	} else {
		path = b.TempDir()
	}
	repo, err := repostore.Open(path, opts)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() {
		if err := repo.Close(); err != nil {
			b.Error(err)
		}
	})
	res, err := reservations.New(benchCtx, repo, nil)
	if err != nil {
		b.Fatal(err)
	}
	e := &benchEnv{repo: repo, res: res}
	for i := range e.reqPrefix {
		e.reqPrefix[i] = byte(rand.Uint32())
	}
	return e
}

// benchAddAvailabilities creates n availabilities big enough for any
// benchmark.
func (e *benchEnv) benchAddAvailabilities(b *testing.B, n int) {
	b.Helper()
	var coll uint256.Int
	coll.Mul(uint256.NewInt(benchAvailSize), benchCollateralPerByte)
	for range n {
		a, err := e.res.CreateAvailability(benchCtx, reservations.Availability{TotalSize: benchAvailSize,
			Duration: 30 * 24 * 3600, MinPricePerBytePerSecond: *uint256.NewInt(1), TotalCollateral: coll,
			Enabled: true})
		if err != nil {
			b.Fatal(err)
		}
		e.avails = append(e.avails, a.ID)
	}
}

// benchRequest returns a request id never used before in e.
func (e *benchEnv) benchRequest() market.RequestID {
	var id market.RequestID
	copy(id[:], e.reqPrefix[:])
	binary.BigEndian.PutUint64(id[24:], e.nextReq.Add(1))
	return id
}

// benchReserve creates a reservation of benchSlotSize on availability aid.
func (e *benchEnv) benchReserve(aid reservations.AvailabilityID) (reservations.Reservation, error) {
	return e.res.CreateReservation(benchCtx, aid, benchSlotSize, e.benchRequest(), 0,
		benchCollateralPerByte, benchValidUntil)
}

// benchReserveEnd creates a reservation on aid and ends it, giving all its
// collateral back: the full cycle of a sale that never fills.
func (e *benchEnv) benchReserveEnd(aid reservations.AvailabilityID) error {
	r, err := e.benchReserve(aid)
	if err != nil {
		return err
	}
	end, err := e.res.EndReservation(benchCtx, aid, r.ID, &r.Collateral)
	if err != nil {
		return err
	}
	if !end.Found {
		return fmt.Errorf("reservation %s not found at its end", r.ID)
	}
	return nil
}

// benchCallers runs b.N ops split over callers goroutines (caller c is
// numbered c) and reports ops/s, as repostore's runCallers.
func benchCallers(b *testing.B, callers int, op func(c int, rng *rand.Rand) error) {
	var next atomic.Uint64
	var wg sync.WaitGroup
	b.ResetTimer()
	for c := range callers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(uint64(c), 7))
			for next.Add(1) <= uint64(b.N) {
				if err := op(c, rng); err != nil {
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

// benchParallel runs f(i) for i in [0, n) on workers goroutines.
func benchParallel(b *testing.B, n, workers int, f func(i int) error) {
	b.Helper()
	var next atomic.Int64
	var wg sync.WaitGroup
	var failed atomic.Bool
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for !failed.Load() {
				i := next.Add(1) - 1
				if i >= int64(n) {
					return
				}
				if err := f(int(i)); err != nil {
					failed.Store(true)
					b.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	if failed.Load() {
		b.FailNow()
	}
}

var benchDurableMatrix = []struct {
	durable bool
	callers int
}{{true, 32}, {false, 1}}

// BenchmarkCreateReservation measures CreateReservation on an on-disk repo,
// durable (every commit fsynced, 32 concurrent callers, grouped into
// shared commits) and not durable (one caller). Callers reserve on
// benchAvailabilities shared availabilities, each op on a random one.
func BenchmarkCreateReservation(b *testing.B) {
	for _, m := range benchDurableMatrix {
		b.Run(fmt.Sprintf("durable=%v/callers=%d", m.durable, m.callers), func(b *testing.B) {
			e := benchOpen(b, m.durable, false)
			e.benchAddAvailabilities(b, benchAvailabilities)
			benchCallers(b, m.callers, func(_ int, rng *rand.Rand) error {
				_, err := e.benchReserve(e.avails[rng.IntN(len(e.avails))])
				return err
			})
		})
	}
}

// BenchmarkCreateEndReservation is BenchmarkCreateReservation with the full
// cycle as one op: create a reservation, then end it (two commits).
func BenchmarkCreateEndReservation(b *testing.B) {
	for _, m := range benchDurableMatrix {
		b.Run(fmt.Sprintf("durable=%v/callers=%d", m.durable, m.callers), func(b *testing.B) {
			e := benchOpen(b, m.durable, false)
			e.benchAddAvailabilities(b, benchAvailabilities)
			benchCallers(b, m.callers, func(_ int, rng *rand.Rand) error {
				return e.benchReserveEnd(e.avails[rng.IntN(len(e.avails))])
			})
		})
	}
}

// benchPrefillWorkers is how many goroutines fill a repo: enough for the
// pipeline to group a few hundred ops per commit.
const benchPrefillWorkers = 256

// BenchmarkCreateReservationScale measures one caller's CreateReservation
// (on-disk repo, not durable) with existing reservations already stored on
// benchAvailabilities availabilities. The existing reservations are made
// through CreateReservation from many goroutines, then the repo is closed
// and reopened (a node restarting with them), all outside the timing.
// To keep the count at existing, the timed reservations are ended every
// benchScaleBatch ops with the timer stopped. Reported: ns/op, and the
// setup time as fill-s.
func BenchmarkCreateReservationScale(b *testing.B) {
	for _, existing := range []int{1000, 1000000} {
		b.Run(fmt.Sprintf("existing=%d", existing), func(b *testing.B) {
			benchScale(b, existing)
		})
	}
}

const benchScaleBatch = 1000

func benchScale(b *testing.B, existing int) {
	dir := b.TempDir()
	open := func() *benchEnv {
		repo, err := repostore.Open(dir, &repostore.Options{NoSync: true, QuotaMaxBytes: benchQuota})
		if err != nil {
			b.Fatal(err)
		}
		res, err := reservations.New(benchCtx, repo, nil)
		if err != nil {
			b.Fatal(err)
		}
		e := &benchEnv{repo: repo, res: res}
		for i := range e.reqPrefix {
			e.reqPrefix[i] = byte(rand.Uint32())
		}
		return e
	}
	var e *benchEnv
	b.Cleanup(func() {
		if err := e.repo.Close(); err != nil {
			b.Error(err)
		}
	})
	start := time.Now()
	e = open()
	e.benchAddAvailabilities(b, benchAvailabilities)
	benchParallel(b, existing, benchPrefillWorkers, func(i int) error {
		_, err := e.benchReserve(e.avails[i%len(e.avails)])
		return err
	})
	avails := e.avails
	if err := e.repo.Close(); err != nil {
		b.Fatal(err)
	}
	e = open()
	e.avails = avails
	fill := time.Since(start)

	rng := rand.New(rand.NewPCG(1, 2))
	made := make([]reservations.Reservation, 0, benchScaleBatch)
	endMade := func() {
		benchParallel(b, len(made), 16, func(i int) error {
			_, err := e.res.EndReservation(benchCtx, made[i].AvailabilityID, made[i].ID, &made[i].Collateral)
			return err
		})
		made = made[:0]
	}
	for b.Loop() {
		r, err := e.benchReserve(e.avails[rng.IntN(len(e.avails))])
		if err != nil {
			b.Fatal(err)
		}
		made = append(made, r)
		if len(made) == benchScaleBatch {
			b.StopTimer()
			endMade()
			b.StartTimer()
		}
	}
	endMade()
	b.ReportMetric(fill.Seconds(), "fill-s")
}

// benchFindQueries is how many distinct random queries a FindAvailability
// benchmark cycles through (so that the answers are not all in cache).
const benchFindQueries = 1 << 16

type benchFindQuery struct {
	size, duration    uint64
	price, collateral uint256.Int
	validUntil        int64
}

// BenchmarkFindAvailability measures FindAvailability over availabilities
// availabilities of varied terms (in-memory repo; FindAvailability reads
// only the in-memory index). Availabilities: total size 1 GiB..1 TiB,
// duration 1..90 days, minimum price 1..100 per byte-second, collateral
// 1..100 per byte, 90% enabled, no until. Queries (65536 of them, cycled):
// slot size 1 MiB..64 GiB, duration 1 hour..30 days, price 50..1000,
// collateral per byte 1..50, so that a typical query is matched by a fair
// share of the availabilities. Reported: ns/op and the fraction of queries
// that found an availability (found/op).
func BenchmarkFindAvailability(b *testing.B) {
	for _, n := range []int{100, 100000} {
		b.Run(fmt.Sprintf("availabilities=%d", n), func(b *testing.B) {
			e := benchOpen(b, false, true)
			rng := rand.New(rand.NewPCG(uint64(n), 3))
			terms := make([]reservations.Availability, n)
			for i := range terms {
				size := 1<<30 + rng.Uint64N(1<<40-1<<30)
				var coll uint256.Int
				coll.Mul(uint256.NewInt(size), uint256.NewInt(1+rng.Uint64N(100)))
				terms[i] = reservations.Availability{TotalSize: size,
					Duration:                 24*3600 + rng.Uint64N(89*24*3600),
					MinPricePerBytePerSecond: *uint256.NewInt(1 + rng.Uint64N(100)),
					TotalCollateral:          coll, Enabled: rng.IntN(10) != 0}
			}
			benchParallel(b, n, 16, func(i int) error {
				_, err := e.res.CreateAvailability(benchCtx, terms[i])
				return err
			})
			qs := make([]benchFindQuery, benchFindQueries)
			for i := range qs {
				qs[i] = benchFindQuery{size: 1<<20 + rng.Uint64N(1<<36-1<<20),
					duration: 3600 + rng.Uint64N(30*24*3600-3600), validUntil: 1 << 40}
				qs[i].price.SetUint64(50 + rng.Uint64N(951))
				qs[i].collateral.SetUint64(1 + rng.Uint64N(50))
			}
			found, i := 0, 0
			for b.Loop() {
				q := &qs[i%len(qs)]
				i++
				if _, ok := e.res.FindAvailability(q.size, q.duration, &q.price, &q.collateral, q.validUntil); ok {
					found++
				}
			}
			b.ReportMetric(float64(found)/float64(b.N), "found/op")
		})
	}
}

// BenchmarkDistinctAvailabilities measures create+end cycles (on-disk
// repo, not durable) where each caller has its own availability, so no
// two callers touch the same records: with no global lock the throughput
// should grow with the callers (target: 8 callers >= 1.6x 1 caller).
func BenchmarkDistinctAvailabilities(b *testing.B) {
	for _, callers := range []int{1, 8} {
		b.Run(fmt.Sprintf("callers=%d", callers), func(b *testing.B) {
			e := benchOpen(b, false, false)
			e.benchAddAvailabilities(b, callers)
			benchCallers(b, callers, func(c int, _ *rand.Rand) error {
				return e.benchReserveEnd(e.avails[c])
			})
		})
	}
}
