package sales_test

import (
	"context"
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/hostsales/hostsales/market"
	"github.com/hostsales/hostsales/market/simmarket"
	"github.com/hostsales/hostsales/repostore"
	"github.com/hostsales/hostsales/reservations"
	"github.com/hostsales/hostsales/sales"
	"github.com/hostsales/hostsales/sim"
	"github.com/hostsales/hostsales/statemachine"
)

// BenchmarkSaleLifecycle measures complete sales (SalePreparing through
// SaleFinished: reserve, store, prove, fill, prove each period, payout,
// end) per second through simmarket, with zero-cost store and prove
// callbacks, on a badger repo on disk. Market time is simulated; all sales
// run concurrently (as in production), so commits group.
func BenchmarkSaleLifecycle(b *testing.B) {
	for _, durable := range []bool{true, false} {
		b.Run(fmt.Sprintf("durable=%v", durable), func(b *testing.B) {
			ctx := context.Background()
			m, err := simmarket.New(&simmarket.Options{Seed: 1, Start: start, NoValidator: true})
			require.NoError(b, err)
			m.Mint(client, *u(1 << 62))
			m.Mint(me, *u(1 << 62))
			clock := m.Clock()
			exec := sim.NewConcurrentExecutor()
			repo, err := repostore.Open(b.TempDir(), &repostore.Options{NoSync: !durable, QuotaMaxBytes: 1 << 40, Now: clock.Now})
			require.NoError(b, err)
			defer repo.Close()
			res, err := reservations.New(ctx, repo, nil)
			require.NoError(b, err)
			ok := func(context.Context, string, int64) error { return nil }
			var finished atomic.Int64
			var endsMu sync.Mutex
			ends := map[string]int{}
			defer func() { b.Log(ends) }()
			s, err := sales.New(sales.Deps{Market: m.As(me), Clock: sim.NewClock(clock, exec), Reservations: res}, &sales.Options{
				Callbacks: sales.Callbacks{
					OnStore: func(ctx context.Context, req market.StorageRequest, _ int64, slot uint64, store sales.StoreFunc, _ bool) error {
						blk := make([]byte, req.Ask.SlotSize)
						copy(blk, req.Content.CID)
						return store(ctx, [][]byte{blk})
					},
					OnProve: func(context.Context, market.Slot, market.Challenge) (market.Proof, error) {
						return market.Proof("proof"), nil
					},
					OnExpiryUpdate: ok,
					OnClear:        func(market.StorageRequest, uint64) {},
				},
				MaxWorkers: 4096, QueueSize: 65535, Executor: exec, Rand: rand.New(rand.NewPCG(1, 2)),
				ReconcilePeriod: -1,
				OnTransition: func(_ market.RequestID, _ uint64, _, to statemachine.State, _ statemachine.Event) {
					if to == sales.StateFinished {
						finished.Add(1)
					}
					endsMu.Lock()
					ends[string(to)]++
					endsMu.Unlock()
				},
			})
			require.NoError(b, err)
			_, err = res.CreateAvailability(ctx, reservations.Availability{TotalSize: 1 << 39, Duration: 1 << 20,
				MinPricePerBytePerSecond: *u(1), TotalCollateral: *u(1 << 60), Enabled: true})
			require.NoError(b, err)
			require.NoError(b, s.Start(ctx))
			b.ResetTimer()
			for done := 0; done < b.N; {
				wave := min(b.N-done, 4096)
				for i := range wave {
					var nonce [32]byte
					binary.BigEndian.PutUint64(nonce[:], uint64(done+i))
					req := market.StorageRequest{Client: client, Ask: market.StorageAsk{ProofProbability: *u(1),
						PricePerBytePerSecond: *u(1), CollateralPerByte: *u(1), Slots: 1, SlotSize: 1024, Duration: 1200},
						Content: market.StorageContent{CID: fmt.Sprintf("zBench%d", done+i)}, Expiry: 600, Nonce: nonce}
					if _, err := m.RequestStorage(ctx, client, req); err != nil {
						b.Fatal(err)
					}
				}
				for {
					exec.Quiesce()
					if len(s.Agents()) == 0 && s.Queue().Stats().Len == 0 {
						break
					}
					if !clock.Step() {
						b.Fatal("stuck")
					}
				}
				done += wave
			}
			b.StopTimer()
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "sales/s")
			require.NoError(b, s.Stop(ctx))
			exec.Quiesce()
			all, err := res.Reservations(ctx)
			require.NoError(b, err)
			require.Empty(b, all, "every sale ended")
			require.Equal(b, int64(b.N), finished.Load(), "every sale ran to SaleFinished")
		})
	}
}

// BenchmarkRestore measures Sales.Start on a repo holding n leftover
// reservations whose slots the market does not list as ours: restore ends
// every one of them (bytes and collateral back) before the node sells.
func BenchmarkRestore(b *testing.B) {
	for _, n := range benchRestoreSizes {
		b.Run(fmt.Sprintf("reservations=%d", n), func(b *testing.B) {
			ctx := context.Background()
			for range b.N {
				b.StopTimer()
				m, err := simmarket.New(&simmarket.Options{Seed: 1, Start: start, NoValidator: true})
				require.NoError(b, err)
				repo, err := repostore.Open(b.TempDir(), &repostore.Options{NoSync: true, QuotaMaxBytes: 1 << 50})
				require.NoError(b, err)
				res, err := reservations.New(ctx, repo, nil)
				require.NoError(b, err)
				var aids []reservations.AvailabilityID
				for range 8 {
					a, err := res.CreateAvailability(ctx, reservations.Availability{TotalSize: 1 << 45, Duration: 1 << 20,
						MinPricePerBytePerSecond: *u(1), TotalCollateral: *u(1 << 60), Enabled: true})
					require.NoError(b, err)
					aids = append(aids, a.ID)
				}
				var wg sync.WaitGroup
				var next atomic.Int64
				for w := range 64 {
					wg.Add(1)
					go func() {
						defer wg.Done()
						for {
							i := next.Add(1) - 1
							if i >= int64(n) {
								return
							}
							var req market.RequestID
							binary.BigEndian.PutUint64(req[:], uint64(i))
							if _, err := res.CreateReservation(ctx, aids[w%len(aids)], 1024, req, 0, u(1), start+1000); err != nil {
								b.Error(err)
								return
							}
						}
					}()
				}
				wg.Wait()
				s, err := sales.New(sales.Deps{Market: m.As(me), Clock: m.Clock(), Reservations: res}, &sales.Options{
					Callbacks: sales.Callbacks{
						OnStore: func(context.Context, market.StorageRequest, int64, uint64, sales.StoreFunc, bool) error {
							return nil
						},
						OnProve: func(context.Context, market.Slot, market.Challenge) (market.Proof, error) {
							return nil, nil
						},
						OnExpiryUpdate: func(context.Context, string, int64) error { return nil },
					},
					ReconcilePeriod: -1,
				})
				require.NoError(b, err)
				b.StartTimer()
				require.NoError(b, s.Start(ctx))
				b.StopTimer()
				all, err := res.Reservations(ctx)
				require.NoError(b, err)
				require.Empty(b, all)
				for _, a := range res.Availabilities() {
					require.Equal(b, a.TotalSize, a.FreeSize)
				}
				require.NoError(b, s.Stop(ctx))
				require.NoError(b, repo.Close())
			}
		})
	}
}

// benchRestoreSizes are BenchmarkRestore's leftover counts; the target
// (DESIGN.md) is for one million.
var benchRestoreSizes = []int{100000, 1000000}
