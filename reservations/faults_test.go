package reservations_test

import (
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"

	ds "github.com/ipfs/go-datastore"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hostsales/hostsales/repostore"
	"github.com/hostsales/hostsales/repostore/badgerds"
	"github.com/hostsales/hostsales/reservations"
)

// state is everything the reservations and the quota hold, for comparing
// before and after a failed operation.
type state struct {
	avails []reservations.Availability
	res    []reservations.Reservation
	quota  repostore.Quota
	blocks int64
}

func snapshot(t *testing.T, repo *repostore.Store, res *reservations.Reservations) state {
	t.Helper()
	all, err := res.Reservations(ctx)
	require.NoError(t, err)
	return state{avails: res.Availabilities(), res: all, quota: repo.Quota(), blocks: repo.TotalBlocks()}
}

// checkInvariants asserts DESIGN.md I1-I3 on committed state.
func checkInvariants(t *testing.T, repo *repostore.Store, res *reservations.Reservations) {
	t.Helper()
	s := snapshot(t, repo, res)
	var sumFree, sumSize uint64
	slot := map[reservations.AvailabilityID]uint64{}
	for _, r := range s.res {
		require.LessOrEqual(t, r.Size, r.SlotSize)
		slot[r.AvailabilityID] += r.SlotSize
		sumSize += r.Size
		require.True(t, res.AvailabilityExists(r.AvailabilityID), "I4: reservation %s has its availability", r.ID)
	}
	for _, a := range s.avails {
		require.LessOrEqual(t, a.FreeSize, a.TotalSize, "I1 freeSize")
		require.False(t, a.TotalRemainingCollateral.Gt(&a.TotalCollateral), "I1 collateral")
		require.Equal(t, a.TotalSize-a.FreeSize, slot[a.ID], "I2 for %s", a.ID)
		sumFree += a.FreeSize
	}
	require.Equal(t, sumFree+sumSize, s.quota.Reserved, "I3 reserved")
	require.LessOrEqual(t, s.quota.Used+s.quota.Reserved, s.quota.Max, "I3 max")
}

// The over-commit race: an availability with room for exactly k slots,
// many concurrent reservers; exactly k win, every loser gets the typed
// out-of-bounds error, and the accounting holds, round after round.
func TestOverCommitRace(t *testing.T) {
	e := newEnv(t, 1<<40)
	const k, callers, slot = 5, 24, 1000
	for round := range 40 {
		a, err := e.res.CreateAvailability(ctx, reservations.Availability{TotalSize: k*slot + slot - 1,
			Duration: 10, MinPricePerBytePerSecond: *u(1), TotalCollateral: *u(1 << 40), Enabled: true})
		require.NoError(t, err)
		var wins atomic.Int32
		var wg sync.WaitGroup
		start := make(chan struct{})
		for c := range callers {
			req := e.requestID()
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-start
				_, err := e.res.CreateReservation(ctx, a.ID, slot, req, uint64(c), u(1), 100)
				if err == nil {
					wins.Add(1)
					return
				}
				assert.ErrorIs(t, err, reservations.ErrBytesOutOfBounds, "round %d", round)
			}()
		}
		close(start)
		wg.Wait()
		require.Equal(t, int32(k), wins.Load(), "round %d", round)
		got, err := e.res.Availability(a.ID)
		require.NoError(t, err)
		require.Equal(t, uint64(slot-1), got.FreeSize)
	}
	checkInvariants(t, e.repo, e.res)
}

// faultEnv opens a repo whose i-th datastore call (counted from arm) fails.
type faultEnv struct {
	repo  *repostore.Store
	res   *reservations.Reservations
	fail  atomic.Int64 // index of the call to fail; -1: none
	calls atomic.Int64
}

var errInjected = errors.New("injected fault")

func newFaultEnv(t *testing.T) *faultEnv {
	f := &faultEnv{}
	f.fail.Store(-1)
	repo, err := repostore.Open("", &repostore.Options{QuotaMaxBytes: 1 << 30, NoSync: true,
		Badger: &badgerds.Options{InMemory: true},
		FaultHook: func(call string, key ds.Key) error {
			if f.calls.Add(1)-1 == f.fail.Load() {
				return fmt.Errorf("%w at %s %s", errInjected, call, key)
			}
			return nil
		}})
	require.NoError(t, err)
	t.Cleanup(func() { assert.NoError(t, repo.Close()) })
	f.repo = repo
	f.res, err = reservations.New(ctx, repo, nil)
	require.NoError(t, err)
	return f
}

func (f *faultEnv) arm(i int64) { f.calls.Store(0); f.fail.Store(i) }

// Fault injection: every composite operation is run with its i-th
// datastore call (commit included) failing, for i = 0, 1, ... until it
// succeeds; after each failure nothing changed and I1-I3 hold.
func TestFaultInjectionEveryCall(t *testing.T) {
	type setup struct {
		a reservations.Availability
		r reservations.Reservation
	}
	ops := []struct {
		name string
		op   func(f *faultEnv, s setup) error
	}{
		{"CreateAvailability", func(f *faultEnv, s setup) error {
			_, err := f.res.CreateAvailability(ctx, reservations.Availability{TotalSize: 100, Duration: 1, Enabled: true})
			return err
		}},
		{"Update", func(f *faultEnv, s setup) error {
			_, err := f.res.Update(ctx, s.a.ID, reservations.Patch{TotalSize: ptr(s.a.TotalSize + 10),
				TotalCollateral: u(1 << 20), Until: ptr(int64(1 << 40)), Duration: ptr(uint64(9))})
			return err
		}},
		{"CreateReservation", func(f *faultEnv, s setup) error {
			_, err := f.res.CreateReservation(ctx, s.a.ID, 50, [32]byte{9}, 1, u(1), 100)
			return err
		}},
		{"StoreBlocks", func(f *faultEnv, s setup) error {
			_, err := f.res.StoreBlocks(ctx, s.a.ID, s.r.ID, [][]byte{[]byte("a"), []byte("bb"), []byte("a")}, 5000)
			return err
		}},
		{"EndReservation", func(f *faultEnv, s setup) error {
			_, err := f.res.EndReservation(ctx, s.a.ID, s.r.ID, &s.r.Collateral)
			return err
		}},
		{"DeleteAvailability", func(f *faultEnv, s setup) error {
			if _, err := f.res.EndReservation(ctx, s.a.ID, s.r.ID, nil); err != nil {
				return err
			}
			return f.res.DeleteAvailability(ctx, s.a.ID)
		}},
	}
	for _, tt := range ops {
		t.Run(tt.name, func(t *testing.T) {
			f := newFaultEnv(t)
			a, err := f.res.CreateAvailability(ctx, reservations.Availability{TotalSize: 10000, Duration: 10,
				MinPricePerBytePerSecond: *u(1), TotalCollateral: *u(1 << 20), Enabled: true})
			require.NoError(t, err)
			r, err := f.res.CreateReservation(ctx, a.ID, 1000, [32]byte{1}, 0, u(2), 100)
			require.NoError(t, err)
			_, err = f.res.StoreBlocks(ctx, a.ID, r.ID, [][]byte{[]byte("first")}, 5000)
			require.NoError(t, err)
			s := setup{a: a, r: r}
			s.a, _ = f.res.Availability(a.ID)
			for i := int64(0); ; i++ {
				require.Less(t, i, int64(200), "the operation never succeeded")
				before := snapshot(t, f.repo, f.res)
				f.arm(i)
				err := tt.op(f, s)
				f.arm(-1)
				checkInvariants(t, f.repo, f.res)
				if err == nil {
					t.Logf("%s succeeded once call %d no longer failed", tt.name, i)
					return
				}
				require.ErrorIs(t, err, errInjected, "call %d", i)
				if tt.name != "DeleteAvailability" { // its first step may have committed
					require.Equal(t, before, snapshot(t, f.repo, f.res), "call %d failed: nothing changed", i)
				}
			}
		})
	}
}
