package reservations_test

import (
	"context"
	"encoding/json"

	"sync"
	"testing"

	"github.com/holiman/uint256"
	ds "github.com/ipfs/go-datastore"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hostsales/hostsales/repostore"
	"github.com/hostsales/hostsales/reservations"
)

func u(v uint64) *uint256.Int { return uint256.NewInt(v) }

func ptr[T any](v T) *T { return &v }

// Reference: SPEC.md §8.1 items 1-52, one subtest each (numbered), plus
// the behaviours hostsales adds.
func TestReservationsModule(t *testing.T) {
	t.Run("01 availability can be serialised and deserialised", func(t *testing.T) {
		e := newEnv(t, 1<<30)
		a, _ := e.helperAvailability(t)
		b, err := json.Marshal(a)
		require.NoError(t, err)
		var back reservations.Availability
		require.NoError(t, json.Unmarshal(b, &back))
		assert.Equal(t, a, back, "every field survives, not only the id")
	})
	t.Run("02 has no availability initially", func(t *testing.T) {
		e := newEnv(t, 1<<30)
		assert.Empty(t, e.res.Availabilities())
	})
	t.Run("03 generates unique ids", func(t *testing.T) {
		e := newEnv(t, 1<<30)
		p := reservations.Availability{TotalSize: 10, Duration: 1, Enabled: true}
		a1, err := e.res.CreateAvailability(ctx, p)
		require.NoError(t, err)
		a2, err := e.res.CreateAvailability(ctx, p)
		require.NoError(t, err)
		assert.NotEqual(t, a1.ID, a2.ID)
	})
	t.Run("04 can reserve available storage", func(t *testing.T) {
		e := newEnv(t, 1<<30)
		a, _ := e.helperAvailability(t)
		assert.False(t, a.ID.IsZero())
	})
	t.Run("05 creating availability reserves bytes in repo", func(t *testing.T) {
		e := newEnv(t, 1<<30)
		before := e.res.Available()
		a, _ := e.helperAvailability(t)
		assert.Equal(t, before-a.FreeSize, e.res.Available())
	})
	t.Run("06 can get all availabilities", func(t *testing.T) {
		e := newEnv(t, 1<<30)
		a1, _ := e.helperAvailability(t)
		a2, _ := e.helperAvailability(t)
		assert.ElementsMatch(t, []reservations.Availability{a1, a2}, e.res.Availabilities())
	})
	t.Run("07 reserved availability exists", func(t *testing.T) {
		e := newEnv(t, 1<<30)
		a, _ := e.helperAvailability(t)
		assert.True(t, e.res.AvailabilityExists(a.ID))
		has, err := e.repo.Has(ctx, reservations.AvailabilityKey(a.ID))
		require.NoError(t, err)
		assert.True(t, has, "and is stored under its key")
	})
	t.Run("08 reservation can be created", func(t *testing.T) {
		e := newEnv(t, 1<<30)
		a, cpb := e.helperAvailability(t)
		r := e.reserve(t, a, 100, cpb)
		assert.False(t, r.ID.IsZero())
		assert.Equal(t, a.ID, r.AvailabilityID)
	})
	t.Run("09 can get all reservations", func(t *testing.T) {
		e := newEnv(t, 1<<30)
		a1, c1 := e.helperAvailability(t)
		a2, c2 := e.helperAvailability(t)
		r1 := e.reserve(t, a1, 100, c1)
		r2 := e.reserve(t, a2, 100, c2)
		all, err := e.res.Reservations(ctx)
		require.NoError(t, err)
		assert.ElementsMatch(t, []reservations.Reservation{r1, r2}, all)
		assert.Len(t, e.res.Availabilities(), 2, "the listing tells records apart by key depth")
	})
	t.Run("10 can get reservations of specific availability", func(t *testing.T) {
		e := newEnv(t, 1<<30)
		a1, c1 := e.helperAvailability(t)
		a2, c2 := e.helperAvailability(t)
		r1 := e.reserve(t, a1, 100, c1)
		e.reserve(t, a2, 100, c2)
		got, err := e.res.ReservationsOf(ctx, a1.ID)
		require.NoError(t, err)
		assert.Equal(t, []reservations.Reservation{r1}, got)
	})
	t.Run("11 cannot create reservation with non-existent availability", func(t *testing.T) {
		e := newEnv(t, 1<<30)
		_, err := e.res.CreateReservation(ctx, reservations.ID{1}, 100, e.requestID(), 0, u(1), 100)
		assert.ErrorIs(t, err, reservations.ErrNotExists)
	})
	t.Run("12 cannot create reservation larger than availability size", func(t *testing.T) {
		e := newEnv(t, 1<<30)
		a, cpb := e.helperAvailability(t)
		_, err := e.res.CreateReservation(ctx, a.ID, a.TotalSize+1, e.requestID(), 0, cpb, 100)
		assert.ErrorIs(t, err, reservations.ErrBytesOutOfBounds)
		got, err := e.res.Availability(a.ID)
		require.NoError(t, err)
		assert.Equal(t, a, got, "nothing changed")
	})
	t.Run("13 cannot create reservation larger than availability size - concurrency", func(t *testing.T) {
		e := newEnv(t, 1<<40)
		for round := range 200 {
			a, cpb := e.helperAvailability(t)
			var wg sync.WaitGroup
			errs := make([]error, 2)
			for i, size := range []uint64{a.TotalSize - 1, a.TotalSize} {
				wg.Add(1)
				go func() {
					defer wg.Done()
					_, errs[i] = e.res.CreateReservation(ctx, a.ID, size, e.requestIDLocked(), uint64(i), cpb, 100)
				}()
			}
			wg.Wait()
			failed := 0
			for _, err := range errs {
				if err != nil {
					failed++
					require.ErrorIs(t, err, reservations.ErrBytesOutOfBounds, "round %d", round)
				}
			}
			require.Equal(t, 1, failed, "round %d: exactly one fits", round)
		}
	})
	t.Run("14 creating reservation reduces availability size", func(t *testing.T) {
		e := newEnv(t, 1<<30)
		a, cpb := e.helperAvailability(t)
		r := e.reserve(t, a, 100, cpb)
		got, err := e.res.Availability(a.ID)
		require.NoError(t, err)
		assert.Equal(t, a.FreeSize-r.Size, got.FreeSize)
		var want uint256.Int
		want.Sub(&a.TotalRemainingCollateral, &r.Collateral)
		assert.Equal(t, want, got.TotalRemainingCollateral, "and the collateral it takes")
		assert.Equal(t, *new(uint256.Int).Mul(cpb, u(100)), r.Collateral)
	})
	t.Run("15 can check if reservation exists", func(t *testing.T) {
		e := newEnv(t, 1<<30)
		a, cpb := e.helperAvailability(t)
		r := e.reserve(t, a, 100, cpb)
		ok, err := e.res.ReservationExists(ctx, a.ID, r.ID)
		require.NoError(t, err)
		assert.True(t, ok)
	})
	t.Run("16 non-existent availability does not exist", func(t *testing.T) {
		e := newEnv(t, 1<<30)
		assert.False(t, e.res.AvailabilityExists(reservations.ID{9}))
	})
	t.Run("17 non-existent reservation does not exist", func(t *testing.T) {
		e := newEnv(t, 1<<30)
		ok, err := e.res.ReservationExists(ctx, reservations.ID{9}, reservations.ID{8})
		require.NoError(t, err)
		assert.False(t, ok)
	})
	t.Run("18 can check if availability exists", func(t *testing.T) {
		e := newEnv(t, 1<<30)
		a, _ := e.helperAvailability(t)
		assert.True(t, e.res.AvailabilityExists(a.ID))
	})
	t.Run("19 can delete reservation", func(t *testing.T) {
		e := newEnv(t, 1<<30)
		a, cpb := e.helperAvailability(t)
		r := e.reserve(t, a, 100, cpb)
		end, err := e.res.EndReservation(ctx, a.ID, r.ID, nil)
		require.NoError(t, err)
		assert.True(t, end.Found)
		ok, err := e.res.ReservationExists(ctx, a.ID, r.ID)
		require.NoError(t, err)
		assert.False(t, ok)
		_, err = e.res.ReservationForSlot(ctx, r.RequestID, r.SlotIndex)
		assert.ErrorIs(t, err, reservations.ErrNotExists, "the slot index is gone too")
	})
	t.Run("20 deleting reservation returns bytes back to availability", func(t *testing.T) {
		e := newEnv(t, 1<<30)
		a, cpb := e.helperAvailability(t)
		r := e.reserve(t, a, 100, cpb)
		_, err := e.res.EndReservation(ctx, a.ID, r.ID, nil)
		require.NoError(t, err)
		got, err := e.res.Availability(a.ID)
		require.NoError(t, err)
		assert.Equal(t, a.FreeSize, got.FreeSize)
	})
	t.Run("21 ending returns written bytes to availability and repo reserved", func(t *testing.T) {
		e := newEnv(t, 1<<30)
		a, cpb := e.helperAvailability(t)
		r := e.reserve(t, a, 1000, cpb)
		_, err := e.res.StoreBlocks(ctx, a.ID, r.ID, [][]byte{make([]byte, 200)}, 5000)
		require.NoError(t, err)
		before := e.repo.Quota()
		end, err := e.res.EndReservation(ctx, a.ID, r.ID, nil)
		require.NoError(t, err)
		assert.Equal(t, uint64(1000), end.BytesReturned)
		assert.Equal(t, uint64(200), end.BytesFreed)
		got, err := e.res.Availability(a.ID)
		require.NoError(t, err)
		assert.Equal(t, a.FreeSize, got.FreeSize, "written and unwritten bytes are back")
		after := e.repo.Quota()
		assert.Equal(t, before.Reserved+200, after.Reserved, "the written bytes are reserved again")
		assert.Equal(t, before.Used-200, after.Used, "and the blocks only it held are gone")
	})
	t.Run("22 update releases quota when lowering size", func(t *testing.T) {
		e := newEnv(t, 1<<30)
		a, _ := e.helperAvailability(t)
		before := e.repo.Quota().Reserved
		got, err := e.res.Update(ctx, a.ID, reservations.Patch{TotalSize: ptr(a.TotalSize - 100)})
		require.NoError(t, err)
		assert.Equal(t, before-100, e.repo.Quota().Reserved)
		assert.Equal(t, a.FreeSize-100, got.FreeSize)
	})
	t.Run("23 update reserves quota when growing size", func(t *testing.T) {
		e := newEnv(t, 1<<30)
		a, _ := e.helperAvailability(t)
		before := e.repo.Quota().Reserved
		got, err := e.res.Update(ctx, a.ID, reservations.Patch{TotalSize: ptr(a.TotalSize + 100)})
		require.NoError(t, err)
		assert.Equal(t, before+100, e.repo.Quota().Reserved)
		assert.Equal(t, a.FreeSize+100, got.FreeSize)
	})
	t.Run("24 enabled defaults to true", func(t *testing.T) {
		var a reservations.Availability
		require.NoError(t, json.Unmarshal([]byte(`{"totalSize":1,"duration":1,"minPricePerBytePerSecond":"1","totalCollateral":"1"}`), &a))
		assert.True(t, a.Enabled)
	})
	t.Run("25 until defaults to 0", func(t *testing.T) {
		e := newEnv(t, 1<<30)
		a, _ := e.helperAvailability(t)
		assert.Equal(t, int64(0), a.Until)
	})
	t.Run("26 create availability with given values", func(t *testing.T) {
		e := newEnv(t, 1<<30)
		a, err := e.res.CreateAvailability(ctx, reservations.Availability{TotalSize: 10, Duration: 5,
			MinPricePerBytePerSecond: *u(2), TotalCollateral: *u(30), Enabled: false, Until: 1234})
		require.NoError(t, err)
		got, err := e.res.Availability(a.ID)
		require.NoError(t, err)
		assert.False(t, got.Enabled)
		assert.Equal(t, int64(1234), got.Until)
		assert.Equal(t, *u(30), got.TotalRemainingCollateral)
	})
	t.Run("27 create fails with negative until", func(t *testing.T) {
		e := newEnv(t, 1<<30)
		_, err := e.res.CreateAvailability(ctx, reservations.Availability{TotalSize: 10, Until: -1})
		assert.ErrorIs(t, err, reservations.ErrUntilOutOfBounds)
		assert.EqualError(t, err, "Cannot set until to a negative value")
		assert.Equal(t, uint64(0), e.repo.Quota().Reserved, "nothing was reserved")
	})
	t.Run("28 update fails with negative until", func(t *testing.T) {
		e := newEnv(t, 1<<30)
		a, _ := e.helperAvailability(t)
		_, err := e.res.Update(ctx, a.ID, reservations.Patch{Until: ptr(int64(-1))})
		assert.ErrorIs(t, err, reservations.ErrUntilOutOfBounds)
	})
	t.Run("29 reservation can be partially released", func(t *testing.T) {
		e := newEnv(t, 1<<30)
		a, cpb := e.helperAvailability(t)
		r := e.reserve(t, a, 100, cpb)
		got, err := e.res.StoreBlocks(ctx, a.ID, r.ID, [][]byte{{7}}, 5000)
		require.NoError(t, err)
		assert.Equal(t, uint64(99), got.Size)
		stored, err := e.res.Reservation(ctx, a.ID, r.ID)
		require.NoError(t, err)
		assert.Equal(t, uint64(99), stored.Size)
		assert.Equal(t, uint64(100), stored.SlotSize)
	})
	t.Run("30 cannot release more bytes than size of reservation", func(t *testing.T) {
		e := newEnv(t, 1<<30)
		a, cpb := e.helperAvailability(t)
		r := e.reserve(t, a, 100, cpb)
		before := e.repo.Quota()
		_, err := e.res.StoreBlocks(ctx, a.ID, r.ID, [][]byte{make([]byte, 101)}, 5000)
		assert.ErrorIs(t, err, reservations.ErrBytesOutOfBounds)
		assert.Equal(t, before, e.repo.Quota())
		assert.Equal(t, int64(0), e.repo.TotalBlocks(), "no block was written")
	})
	t.Run("31 cannot release bytes from non-existent reservation", func(t *testing.T) {
		e := newEnv(t, 1<<30)
		a, _ := e.helperAvailability(t)
		_, err := e.res.StoreBlocks(ctx, a.ID, reservations.ID{3}, [][]byte{{1}}, 5000)
		assert.ErrorIs(t, err, reservations.ErrNotExists)
	})

	// OnAvailabilitySaved (SPEC §2.2 step 7, §2.3).
	saved := func(t *testing.T, change func(e *env, a reservations.Availability, cpb *uint256.Int), fires bool) {
		e := newEnv(t, 1<<30)
		a, cpb := e.helperAvailability(t)
		e.saved = nil
		change(e, a, cpb)
		if fires {
			require.Len(t, e.saved, 1)
			got, err := e.res.Availability(a.ID)
			require.NoError(t, err)
			assert.Equal(t, got, e.saved[0], "called with the committed availability")
		} else {
			assert.Empty(t, e.saved)
		}
	}
	t.Run("32 OnAvailabilitySaved called when created", func(t *testing.T) {
		e := newEnv(t, 1<<30)
		a, _ := e.helperAvailability(t)
		assert.Equal(t, []reservations.Availability{a}, e.saved)
	})
	t.Run("33 OnAvailabilitySaved called when size is increased", func(t *testing.T) {
		saved(t, func(e *env, a reservations.Availability, _ *uint256.Int) {
			_, err := e.res.Update(ctx, a.ID, reservations.Patch{TotalSize: ptr(a.TotalSize + 1)})
			require.NoError(t, err)
		}, true)
	})
	t.Run("33b OnAvailabilitySaved called when a reservation ends", func(t *testing.T) {
		saved(t, func(e *env, a reservations.Availability, cpb *uint256.Int) {
			r := e.reserve(t, a, 10, cpb)
			_, err := e.res.EndReservation(ctx, a.ID, r.ID, nil)
			require.NoError(t, err)
		}, true)
	})
	t.Run("34 not called when size is decreased", func(t *testing.T) {
		saved(t, func(e *env, a reservations.Availability, cpb *uint256.Int) {
			e.reserve(t, a, 10, cpb)
			_, err := e.res.Update(ctx, a.ID, reservations.Patch{TotalSize: ptr(a.TotalSize - 20)})
			require.NoError(t, err)
		}, false)
	})
	t.Run("35 not called when disabled and size decreased", func(t *testing.T) {
		saved(t, func(e *env, a reservations.Availability, _ *uint256.Int) {
			_, err := e.res.Update(ctx, a.ID, reservations.Patch{Enabled: ptr(false), TotalSize: ptr(a.TotalSize - 1)})
			require.NoError(t, err)
		}, false)
	})
	t.Run("36 called when duration is increased", func(t *testing.T) {
		saved(t, func(e *env, a reservations.Availability, _ *uint256.Int) {
			_, err := e.res.Update(ctx, a.ID, reservations.Patch{Duration: ptr(a.Duration + 1)})
			require.NoError(t, err)
		}, true)
	})
	t.Run("37 not called when duration is decreased", func(t *testing.T) {
		saved(t, func(e *env, a reservations.Availability, _ *uint256.Int) {
			_, err := e.res.Update(ctx, a.ID, reservations.Patch{Duration: ptr(a.Duration - 1)})
			require.NoError(t, err)
		}, false)
	})
	t.Run("38 called when minPricePerBytePerSecond is increased", func(t *testing.T) {
		saved(t, func(e *env, a reservations.Availability, _ *uint256.Int) {
			_, err := e.res.Update(ctx, a.ID, reservations.Patch{MinPricePerBytePerSecond: u(2)})
			require.NoError(t, err)
		}, true)
	})
	t.Run("39 not called when minPricePerBytePerSecond is decreased", func(t *testing.T) {
		saved(t, func(e *env, a reservations.Availability, _ *uint256.Int) {
			_, err := e.res.Update(ctx, a.ID, reservations.Patch{MinPricePerBytePerSecond: u(0)})
			require.NoError(t, err)
		}, false)
	})
	t.Run("40 called when totalRemainingCollateral is increased", func(t *testing.T) {
		saved(t, func(e *env, a reservations.Availability, _ *uint256.Int) {
			var more uint256.Int
			more.AddUint64(&a.TotalCollateral, 1)
			_, err := e.res.Update(ctx, a.ID, reservations.Patch{TotalCollateral: &more})
			require.NoError(t, err)
		}, true)
	})
	t.Run("41 not called when totalRemainingCollateral is decreased", func(t *testing.T) {
		saved(t, func(e *env, a reservations.Availability, _ *uint256.Int) {
			var less uint256.Int
			less.SubUint64(&a.TotalCollateral, 1)
			_, err := e.res.Update(ctx, a.ID, reservations.Patch{TotalCollateral: &less})
			require.NoError(t, err)
		}, false)
	})
	t.Run("41b not called when only enabled or until change", func(t *testing.T) {
		saved(t, func(e *env, a reservations.Availability, _ *uint256.Int) {
			_, err := e.res.Update(ctx, a.ID, reservations.Patch{Enabled: ptr(false), Until: ptr(int64(99))})
			require.NoError(t, err)
		}, false)
	})

	// FindAvailability (SPEC §2.2).
	const now = 1_000_000
	t.Run("42 availabilities can be found at the exact boundary", func(t *testing.T) {
		e := newEnv(t, 1<<30)
		a, cpb := e.helperAvailability(t)
		maxC := a.MaxCollateralPerByte()
		require.Equal(t, *cpb, maxC)
		got, ok := e.res.FindAvailability(a.FreeSize, a.Duration, &a.MinPricePerBytePerSecond, cpb, now+30)
		require.True(t, ok)
		assert.Equal(t, a, got)
		var over uint256.Int
		over.AddUint64(cpb, 1)
		_, ok = e.res.FindAvailability(a.FreeSize, a.Duration, &a.MinPricePerBytePerSecond, &over, now+30)
		assert.False(t, ok, "one more collateral per byte does not match")
		_, ok = e.res.FindAvailability(a.FreeSize, a.Duration+1, &a.MinPricePerBytePerSecond, cpb, now+30)
		assert.False(t, ok, "one more second does not match")
		_, ok = e.res.FindAvailability(a.FreeSize, a.Duration, u(0), cpb, now+30)
		assert.False(t, ok, "a lower price does not match")
	})
	t.Run("43 does not find a disabled availability", func(t *testing.T) {
		e := newEnv(t, 1<<30)
		a, cpb := e.helperAvailability(t)
		_, err := e.res.Update(ctx, a.ID, reservations.Patch{Enabled: ptr(false)})
		require.NoError(t, err)
		_, ok := e.res.FindAvailability(1, 1, u(1), cpb, now+30)
		assert.False(t, ok)
	})
	t.Run("44 finds when until is after the request end", func(t *testing.T) {
		e := newEnv(t, 1<<30)
		a, cpb := e.helperAvailability(t)
		_, err := e.res.Update(ctx, a.ID, reservations.Patch{Until: ptr(int64(now + a.Duration))})
		require.NoError(t, err)
		_, ok := e.res.FindAvailability(1, 1, u(1), cpb, now+30)
		assert.True(t, ok)
	})
	t.Run("45 does not find when until is before the request end", func(t *testing.T) {
		e := newEnv(t, 1<<30)
		a, cpb := e.helperAvailability(t)
		_, err := e.res.Update(ctx, a.ID, reservations.Patch{Until: ptr(int64(now + 1))})
		require.NoError(t, err)
		_, ok := e.res.FindAvailability(1, 1, u(1), cpb, now+30)
		assert.False(t, ok)
	})
	t.Run("46 non-matching availabilities are not found", func(t *testing.T) {
		e := newEnv(t, 1<<30)
		a, cpb := e.helperAvailability(t)
		_, ok := e.res.FindAvailability(a.FreeSize+1, 1, u(1), cpb, now+30)
		assert.False(t, ok)
	})
	t.Run("47 nothing is found when nothing is stored", func(t *testing.T) {
		e := newEnv(t, 1<<30)
		_, ok := e.res.FindAvailability(1, 1, u(1), u(0), now)
		assert.False(t, ok)
	})
	t.Run("48 non-existent availability cannot be retrieved", func(t *testing.T) {
		e := newEnv(t, 1<<30)
		_, err := e.res.Availability(reservations.ID{5})
		assert.ErrorIs(t, err, reservations.ErrNotExists)
		_, err = e.res.Reservation(ctx, reservations.ID{5}, reservations.ID{6})
		assert.ErrorIs(t, err, reservations.ErrNotExists)
	})
	t.Run("49-51 available bytes in repo and hasAvailable", func(t *testing.T) {
		repo, err := repostore.Open("", &repostore.Options{Datastore: syncMap()})
		require.NoError(t, err)
		defer repo.Close()
		res, err := reservations.New(ctx, repo, nil)
		require.NoError(t, err)
		assert.Equal(t, repostore.DefaultQuotaMaxBytes, res.Available())
		assert.True(t, res.HasAvailable(repostore.DefaultQuotaMaxBytes-1))
		assert.False(t, res.HasAvailable(repostore.DefaultQuotaMaxBytes), "strictly less")
		assert.False(t, res.HasAvailable(repostore.DefaultQuotaMaxBytes+1))
	})
	t.Run("52 fails to create availability larger than the quota", func(t *testing.T) {
		e := newEnv(t, 1000)
		_, err := e.res.CreateAvailability(ctx, reservations.Availability{TotalSize: 1001, Enabled: true})
		require.ErrorIs(t, err, reservations.ErrReserveFailed)
		require.ErrorIs(t, err, repostore.ErrQuotaExceeded)
		var qe *repostore.QuotaError
		require.ErrorAs(t, err, &qe)
		assert.Empty(t, e.res.Availabilities())
		assert.Equal(t, uint64(0), e.repo.Quota().Reserved)
	})
}

func syncMap() ds.Datastore { return dssyncMutexWrap() }

func TestDeleteAvailability(t *testing.T) {
	e := newEnv(t, 1<<30)
	a, cpb := e.helperAvailability(t)
	r := e.reserve(t, a, 100, cpb)
	err := e.res.DeleteAvailability(ctx, a.ID)
	require.ErrorIs(t, err, reservations.ErrHasReservations)
	assert.True(t, e.res.AvailabilityExists(a.ID))
	_, err = e.res.EndReservation(ctx, a.ID, r.ID, nil)
	require.NoError(t, err)
	require.NoError(t, e.res.DeleteAvailability(ctx, a.ID))
	assert.False(t, e.res.AvailabilityExists(a.ID))
	assert.Equal(t, uint64(0), e.repo.Quota().Reserved, "its quota is released")
	assert.ErrorIs(t, e.res.DeleteAvailability(ctx, a.ID), reservations.ErrNotExists)
}

func TestEndReservation(t *testing.T) {
	t.Run("idempotent", func(t *testing.T) {
		e := newEnv(t, 1<<30)
		a, cpb := e.helperAvailability(t)
		r := e.reserve(t, a, 100, cpb)
		_, err := e.res.EndReservation(ctx, a.ID, r.ID, nil)
		require.NoError(t, err)
		before := e.repo.Quota()
		end, err := e.res.EndReservation(ctx, a.ID, r.ID, nil)
		require.NoError(t, err)
		assert.False(t, end.Found)
		assert.Equal(t, before, e.repo.Quota())
	})
	t.Run("collateral returned is capped at what the reservation took", func(t *testing.T) {
		e := newEnv(t, 1<<30)
		a, cpb := e.helperAvailability(t)
		r := e.reserve(t, a, 100, cpb)
		var more uint256.Int
		more.AddUint64(&r.Collateral, 1000)
		end, err := e.res.EndReservation(ctx, a.ID, r.ID, &more)
		require.NoError(t, err)
		assert.Equal(t, r.Collateral, end.CollateralReturned)
		assert.Equal(t, a.TotalCollateral, end.Availability.TotalRemainingCollateral)
	})
	t.Run("collateral kept by the market is not returned", func(t *testing.T) {
		e := newEnv(t, 1<<30)
		a, cpb := e.helperAvailability(t)
		r := e.reserve(t, a, 100, cpb)
		end, err := e.res.EndReservation(ctx, a.ID, r.ID, u(0))
		require.NoError(t, err)
		var want uint256.Int
		want.Sub(&a.TotalCollateral, &r.Collateral)
		assert.Equal(t, want, end.Availability.TotalRemainingCollateral)
		assert.Equal(t, a.TotalSize, end.Availability.FreeSize, "the bytes come back regardless")
	})
	t.Run("a shared block counts for each holder and stays until the last ends", func(t *testing.T) {
		e := newEnv(t, 1<<30)
		a, cpb := e.helperAvailability(t)
		r1 := e.reserve(t, a, 100, cpb)
		r2 := e.reserve(t, a, 100, cpb)
		blk := []byte("the same block, twice")
		_, err := e.res.StoreBlocks(ctx, a.ID, r1.ID, [][]byte{blk, blk}, 5000)
		require.NoError(t, err)
		got, err := e.res.StoreBlocks(ctx, a.ID, r2.ID, [][]byte{blk}, 5000)
		require.NoError(t, err)
		assert.Equal(t, uint64(100-len(blk)), got.Size, "sent twice, counted once per holder")
		assert.Equal(t, uint64(2*len(blk)), e.repo.Quota().Used)
		assert.Equal(t, int64(1), e.repo.TotalBlocks(), "stored once")
		end1, err := e.res.EndReservation(ctx, a.ID, r1.ID, nil)
		require.NoError(t, err)
		assert.Equal(t, uint64(len(blk)), end1.BytesFreed)
		has, err := e.repo.HasBlock(ctx, repostore.HashOf(blk))
		require.NoError(t, err)
		assert.True(t, has, "still held by r2")
		end2, err := e.res.EndReservation(ctx, a.ID, r2.ID, nil)
		require.NoError(t, err)
		assert.Equal(t, uint64(len(blk)), end2.BytesFreed)
		assert.Equal(t, repostore.Quota{Max: 1 << 30, Reserved: a.TotalSize}, e.repo.Quota())
		checkInvariants(t, e.repo, e.res)
	})
	// The review's case: with the quota taken up in between, ending a
	// reservation whose block another one shares must still succeed.
	t.Run("ending never needs quota another holder uses", func(t *testing.T) {
		e := newEnv(t, 100)
		a, err := e.res.CreateAvailability(ctx, reservations.Availability{TotalSize: 60, Duration: 1,
			TotalCollateral: *u(60), Enabled: true})
		require.NoError(t, err)
		r1, err := e.res.CreateReservation(ctx, a.ID, 20, [32]byte{1}, 0, u(1), 10)
		require.NoError(t, err)
		r2, err := e.res.CreateReservation(ctx, a.ID, 20, [32]byte{2}, 0, u(1), 10)
		require.NoError(t, err)
		blk := make([]byte, 10)
		_, err = e.res.StoreBlocks(ctx, a.ID, r1.ID, [][]byte{blk}, 5000)
		require.NoError(t, err)
		_, err = e.res.StoreBlocks(ctx, a.ID, r2.ID, [][]byte{blk}, 5000)
		require.NoError(t, err)
		_, err = e.res.CreateAvailability(ctx, reservations.Availability{TotalSize: e.res.Available(), Duration: 1, Enabled: true})
		require.NoError(t, err, "take whatever the repo reports free")
		_, err = e.res.EndReservation(ctx, a.ID, r1.ID, nil)
		require.NoError(t, err)
		_, err = e.res.EndReservation(ctx, a.ID, r2.ID, nil)
		require.NoError(t, err)
		checkInvariants(t, e.repo, e.res)
	})
}

func TestCreateReservationChecks(t *testing.T) {
	e := newEnv(t, 1<<30)
	a, cpb := e.helperAvailability(t)
	req := e.requestID()
	_, err := e.res.CreateReservation(ctx, a.ID, 10, req, 3, cpb, 100)
	require.NoError(t, err)
	_, err = e.res.CreateReservation(ctx, a.ID, 10, req, 3, cpb, 100)
	assert.ErrorIs(t, err, reservations.ErrSlotReserved, "one reservation per slot")
	got, err := e.res.ReservationForSlot(ctx, req, 3)
	require.NoError(t, err)
	assert.Equal(t, uint64(3), got.SlotIndex)

	var big uint256.Int
	big.AddUint64(&a.TotalCollateral, 1)
	_, err = e.res.CreateReservation(ctx, a.ID, 1, e.requestID(), 0, &big, 100)
	assert.ErrorIs(t, err, reservations.ErrCollateralOutOfBounds)

	_, err = e.res.Update(ctx, a.ID, reservations.Patch{Until: ptr(int64(500))})
	require.NoError(t, err)
	_, err = e.res.CreateReservation(ctx, a.ID, 1, e.requestID(), 0, cpb, 501)
	assert.ErrorIs(t, err, reservations.ErrUntilOutOfBounds)
	_, err = e.res.Update(ctx, a.ID, reservations.Patch{Until: ptr(int64(99))})
	assert.ErrorIs(t, err, reservations.ErrUntilOutOfBounds, "shorter than a hosted slot's end")
}

func TestUpdateTotalSizeAndCollateral(t *testing.T) {
	e := newEnv(t, 1<<30)
	a, cpb := e.helperAvailability(t)
	r := e.reserve(t, a, 1000, cpb)
	_, err := e.res.Update(ctx, a.ID, reservations.Patch{TotalSize: ptr(uint64(999))})
	assert.ErrorIs(t, err, reservations.ErrBytesOutOfBounds)
	assert.Contains(t, err.Error(), "which is currently: 1000")
	_, err = e.res.Update(ctx, a.ID, reservations.Patch{TotalSize: ptr(uint64(0))})
	assert.ErrorIs(t, err, reservations.ErrBytesOutOfBounds)
	got, err := e.res.Update(ctx, a.ID, reservations.Patch{TotalSize: ptr(uint64(1000))})
	require.NoError(t, err)
	assert.Equal(t, uint64(0), got.FreeSize)
	_, err = e.res.Update(ctx, a.ID, reservations.Patch{TotalSize: ptr(uint64(1) << 31)})
	assert.ErrorIs(t, err, reservations.ErrReserveFailed)

	require.True(t, r.Collateral.Gt(u(5)))
	_, err = e.res.Update(ctx, a.ID, reservations.Patch{TotalCollateral: u(5)})
	assert.ErrorIs(t, err, reservations.ErrCollateralOutOfBounds, "the live reservation holds more than the new budget (I1c)")
	assert.Contains(t, err.Error(), "which is currently: "+r.Collateral.Dec())
	got, err = e.res.Update(ctx, a.ID, reservations.Patch{TotalCollateral: &r.Collateral})
	require.NoError(t, err)
	assert.True(t, got.TotalRemainingCollateral.IsZero(), "a budget of exactly what is held leaves nothing")
	var total uint256.Int
	total.AddUint64(&r.Collateral, 7)
	got, err = e.res.Update(ctx, a.ID, reservations.Patch{TotalCollateral: &total})
	require.NoError(t, err)
	assert.Equal(t, *u(7), got.TotalRemainingCollateral, "new budget less what is committed")
	_, err = e.res.Update(ctx, reservations.ID{1}, reservations.Patch{Duration: ptr(uint64(1))})
	assert.ErrorIs(t, err, reservations.ErrNotExists)
}

func TestFindAvailabilityBestFit(t *testing.T) {
	e := newEnv(t, 1<<30)
	mk := func(size uint64) reservations.Availability {
		a, err := e.res.CreateAvailability(ctx, reservations.Availability{TotalSize: size, Duration: 100,
			MinPricePerBytePerSecond: *u(1), TotalCollateral: *u(size * 10), Enabled: true})
		require.NoError(t, err)
		return a
	}
	mk(5000)
	small := mk(1000)
	mk(3000)
	got, ok := e.res.FindAvailability(900, 10, u(1), u(1), 0)
	require.True(t, ok)
	assert.Equal(t, small.ID, got.ID, "the smallest that fits")
	got, ok = e.res.FindAvailability(2000, 10, u(1), u(1), 0)
	require.True(t, ok)
	assert.Equal(t, uint64(3000), got.TotalSize)
}

func TestReopenReloads(t *testing.T) {
	dir := t.TempDir()
	repo, err := repostore.Open(dir, &repostore.Options{QuotaMaxBytes: 1 << 30})
	require.NoError(t, err)
	res, err := reservations.New(ctx, repo, nil)
	require.NoError(t, err)
	a, err := res.CreateAvailability(ctx, reservations.Availability{TotalSize: 500, Duration: 1,
		MinPricePerBytePerSecond: *u(1), TotalCollateral: *u(500), Enabled: true})
	require.NoError(t, err)
	r, err := res.CreateReservation(ctx, a.ID, 100, [32]byte{1}, 2, u(1), 50)
	require.NoError(t, err)
	require.NoError(t, repo.Close())

	repo, err = repostore.Open(dir, &repostore.Options{QuotaMaxBytes: 1 << 30})
	require.NoError(t, err)
	defer repo.Close()
	res, err = reservations.New(ctx, repo, nil)
	require.NoError(t, err)
	got, err := res.Availability(a.ID)
	require.NoError(t, err)
	assert.Equal(t, uint64(400), got.FreeSize)
	gotR, err := res.ReservationForSlot(ctx, [32]byte{1}, 2)
	require.NoError(t, err)
	assert.Equal(t, r, gotR)
}

func TestCorruptRecordsAreReported(t *testing.T) {
	e := newEnv(t, 1<<30)
	a, cpb := e.helperAvailability(t)
	r := e.reserve(t, a, 100, cpb)
	key := reservations.ReservationKey(a.ID, r.ID)
	require.NoError(t, e.repo.Do(ctx, func(tx *repostore.Txn) error {
		return tx.Put(key, []byte(`{"v":1,"size":"-1"}`))
	}))
	_, err := e.res.Reservations(ctx)
	require.ErrorIs(t, err, reservations.ErrSerialization)
	var de *reservations.DecodeError
	require.ErrorAs(t, err, &de)
	assert.Equal(t, key.String(), de.Key)
	assert.Contains(t, err.Error(), "Parsed integer outside of valid range")
	_, err = e.res.EndReservation(ctx, a.ID, r.ID, nil)
	assert.ErrorIs(t, err, reservations.ErrSerialization, "an op refuses to act on a corrupt record")

	require.NoError(t, e.repo.Do(ctx, func(tx *repostore.Txn) error {
		return tx.Put(key, []byte(`{"v":2,"size":1}`))
	}))
	_, err = e.res.Reservation(ctx, a.ID, r.ID)
	assert.ErrorIs(t, err, reservations.ErrNewerSchema)
	assert.ErrorIs(t, err, reservations.ErrSerialization)

	// A corrupt availability stops New with an error naming it.
	require.NoError(t, e.repo.Do(ctx, func(tx *repostore.Txn) error {
		return tx.Put(reservations.AvailabilityKey(a.ID), []byte(`{"totalSize":true}`))
	}))
	_, err = reservations.New(ctx, e.repo, nil)
	require.ErrorAs(t, err, &de)
	assert.Equal(t, reservations.AvailabilityKey(a.ID).String(), de.Key)
}

func TestJSONNumbers(t *testing.T) {
	tests := []struct {
		name, in string
		want     uint64
		err      string
	}{
		{"number", `{"size":5,"slotSize":5}`, 5, ""},
		{"decimal string", `{"size":"5","slotSize":"5"}`, 5, ""},
		{"empty string is zero", `{"size":"","slotSize":1}`, 0, ""},
		{"negative", `{"size":"-1"}`, 0, "Parsed integer outside of valid range"},
		{"negative number", `{"size":-1}`, 0, "Parsed integer outside of valid range"},
		{"overflow", `{"size":18446744073709551616}`, 0, "Parsed integer outside of valid range"},
		{"fraction", `{"size":1.5}`, 0, "invalid unsigned integer"},
		{"bool", `{"size":true}`, 0, "expected a number"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var r reservations.Reservation
			err := json.Unmarshal([]byte(tt.in), &r)
			if tt.err != "" {
				require.Error(t, err)
				assert.Contains(t, err.Error(), tt.err)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tt.want, r.Size)
		})
	}
	big := []struct{ in, want string }{
		{`"12345678901234567890123456789"`, "12345678901234567890123456789"},
		{`123`, "123"},
		{`"0x10"`, "16"},
		{`"0o10"`, "8"},
		{`"0b101"`, "5"},
	}
	for _, tt := range big {
		var v reservations.U256
		require.NoError(t, json.Unmarshal([]byte(tt.in), &v), tt.in)
		assert.Equal(t, tt.want, v.Dec())
	}
	for _, bad := range []string{`"-1"`, `"0x1` + string(make([]byte, 0)) + `g"`, `"1` + zeros(80) + `"`, `null`, `"0x"`} {
		var v reservations.U256
		assert.Error(t, json.Unmarshal([]byte(bad), &v), bad)
	}
	s := reservations.U64(1 << 63)
	b, err := json.Marshal(s)
	require.NoError(t, err)
	assert.Equal(t, `"9223372036854775808"`, string(b), "above int64: a decimal string")
}

func zeros(n int) string {
	b := make([]byte, n)
	for i := range b {
		b[i] = '0'
	}
	return string(b)
}

func TestEndReservationsInBulk(t *testing.T) {
	e := newEnv(t, 1<<40)
	a1, c1 := e.helperAvailability(t)
	a2, c2 := e.helperAvailability(t)
	var reqs []reservations.EndRequest
	for i := range 30 {
		a, c := a1, c1
		if i%2 == 1 {
			a, c = a2, c2
		}
		r := e.reserve(t, a, 100, c)
		if i%3 == 0 {
			_, err := e.res.StoreBlocks(ctx, a.ID, r.ID, [][]byte{{byte(i), 1, 2}}, 5000)
			require.NoError(t, err)
		}
		reqs = append(reqs, reservations.EndRequest{AvailabilityID: a.ID, ReservationID: r.ID})
	}
	reqs = append(reqs, reservations.EndRequest{AvailabilityID: a1.ID, ReservationID: reservations.ID{7}})
	n, err := e.res.EndReservations(ctx, reqs, 7)
	require.NoError(t, err)
	assert.Equal(t, 30, n, "the missing one is skipped")
	for _, a := range []reservations.Availability{a1, a2} {
		got, err := e.res.Availability(a.ID)
		require.NoError(t, err)
		assert.Equal(t, a, got, "all bytes and collateral back")
	}
	assert.Equal(t, uint64(0), e.repo.Quota().Used)
	assert.Equal(t, a1.TotalSize+a2.TotalSize, e.repo.Quota().Reserved)
	checkInvariants(t, e.repo, e.res)
}

// repeatReader yields the same id twice in a row, then moves on: the
// reservation and availability ids it gives collide with earlier ones.
type repeatReader struct{ n byte }

func (r *repeatReader) Read(p []byte) (int, error) {
	for i := range p {
		p[i] = r.n / 2
	}
	r.n++
	return len(p), nil
}

// A repeated id (a seeded source replayed after a restart, as the
// simulation does) never overwrites an existing record: a fresh one is
// drawn.
func TestRepeatedIDsNeverOverwrite(t *testing.T) {
	repo, err := repostore.Open("", &repostore.Options{Datastore: dssyncMutexWrap(), QuotaMaxBytes: 1 << 30})
	require.NoError(t, err)
	defer repo.Close()
	res, err := reservations.New(ctx, repo, &reservations.Options{Rand: &repeatReader{}})
	require.NoError(t, err)
	a1, err := res.CreateAvailability(ctx, reservations.Availability{TotalSize: 1000, Duration: 1, TotalCollateral: *u(1000), Enabled: true})
	require.NoError(t, err)
	a2, err := res.CreateAvailability(ctx, reservations.Availability{TotalSize: 1000, Duration: 1, TotalCollateral: *u(1000), Enabled: true})
	require.NoError(t, err)
	assert.NotEqual(t, a1.ID, a2.ID)
	r1, err := res.CreateReservation(ctx, a1.ID, 100, [32]byte{1}, 0, u(1), 10)
	require.NoError(t, err)
	r2, err := res.CreateReservation(ctx, a1.ID, 200, [32]byte{2}, 0, u(1), 10)
	require.NoError(t, err)
	assert.NotEqual(t, r1.ID, r2.ID)
	all, err := res.ReservationsOf(ctx, a1.ID)
	require.NoError(t, err)
	assert.ElementsMatch(t, []reservations.Reservation{r1, r2}, all)
	assert.Equal(t, uint64(2000), repo.Quota().Reserved, "both availabilities reserved their quota once")
}

// A bulk end larger than one transaction holds is split, not dropped.
func TestEndReservationsSplitsWhatOneCommitCannotHold(t *testing.T) {
	e := newEnv(t, 1<<50)
	a, err := e.res.CreateAvailability(ctx, reservations.Availability{TotalSize: 1 << 40, Duration: 1,
		TotalCollateral: *u(1 << 40), Enabled: true})
	require.NoError(t, err)
	var reqs []reservations.EndRequest
	for i := range 10000 {
		var req [32]byte
		req[0], req[1], req[2] = byte(i), byte(i>>8), byte(i>>16)
		r, err := e.res.CreateReservation(ctx, a.ID, 10, req, 0, u(1), 10)
		require.NoError(t, err)
		reqs = append(reqs, reservations.EndRequest{AvailabilityID: a.ID, ReservationID: r.ID})
	}
	n, err := e.res.EndReservations(ctx, reqs, len(reqs)) // one chunk: far beyond badger's limit
	require.NoError(t, err)
	assert.Equal(t, len(reqs), n)
	got, err := e.res.Availability(a.ID)
	require.NoError(t, err)
	assert.Equal(t, a.TotalSize, got.FreeSize)
	checkInvariants(t, e.repo, e.res)
}

// A reservation holding more blocks than one transaction can drop is
// extended and ended in parts, each part keeping the accounting whole.
func TestLargeReservationEndsInParts(t *testing.T) {
	e := newEnv(t, 1<<30)
	a, err := e.res.CreateAvailability(ctx, reservations.Availability{TotalSize: 1 << 20, Duration: 1,
		TotalCollateral: *u(1 << 20), Enabled: true})
	require.NoError(t, err)
	const n = 5000
	r, err := e.res.CreateReservation(ctx, a.ID, n*64, [32]byte{1}, 0, u(1), 10)
	require.NoError(t, err)
	for start := 0; start < n; start += 500 {
		var batch [][]byte
		for i := start; i < start+500; i++ {
			b := make([]byte, 64)
			b[0], b[1] = byte(i), byte(i>>8)
			batch = append(batch, b)
		}
		_, err := e.res.StoreBlocks(ctx, a.ID, r.ID, batch, 5000)
		require.NoError(t, err)
	}
	require.Equal(t, int64(n), e.repo.TotalBlocks())
	require.NoError(t, e.res.ExtendBlocks(ctx, a.ID, r.ID, 9000))
	exp, err := e.repo.Expiries(ctx, 0, 0)
	require.NoError(t, err)
	for _, x := range exp {
		require.Equal(t, int64(9000), x.Expiry)
	}
	end, err := e.res.EndReservation(ctx, a.ID, r.ID, nil)
	require.NoError(t, err)
	assert.True(t, end.Found)
	assert.Equal(t, int64(0), e.repo.TotalBlocks())
	assert.Equal(t, repostore.Quota{Max: 1 << 30, Reserved: a.TotalSize}, e.repo.Quota())
	got, err := e.res.Availability(a.ID)
	require.NoError(t, err)
	assert.Equal(t, a, got)
	checkInvariants(t, e.repo, e.res)
}

// One reservation that cannot end does not keep the others of its bulk
// commit from ending.
func TestEndReservationsIsolatesABadRecord(t *testing.T) {
	e := newEnv(t, 1<<30)
	a, cpb := e.helperAvailability(t)
	var reqs []reservations.EndRequest
	for i := range 10 {
		r := e.reserve(t, a, 10, cpb)
		_ = i
		reqs = append(reqs, reservations.EndRequest{AvailabilityID: a.ID, ReservationID: r.ID})
	}
	// An orphan: its availability does not exist.
	orphan := reservations.ID{0xee}
	ghost := reservations.ID{0xdd}
	require.NoError(t, e.repo.Do(ctx, func(tx *repostore.Txn) error {
		rec := reservations.Reservation{ID: orphan, AvailabilityID: ghost, Size: 5, SlotSize: 5}
		b, err := json.Marshal(rec)
		if err != nil {
			return err
		}
		return tx.Put(reservations.ReservationKey(ghost, orphan), b)
	}))
	reqs = append(reqs[:5], append([]reservations.EndRequest{{AvailabilityID: ghost, ReservationID: orphan}}, reqs[5:]...)...)
	n, err := e.res.EndReservations(ctx, reqs, 0)
	require.Error(t, err)
	assert.ErrorIs(t, err, reservations.ErrNotExists)
	assert.Equal(t, 10, n, "every healthy reservation ended")
}

// Every error matches one of the package's kinds, whatever its cause.
func TestErrorsMatchAKind(t *testing.T) {
	e := newEnv(t, 1<<30)
	a, cpb := e.helperAvailability(t)
	r := e.reserve(t, a, 10, cpb)
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	_, err := e.res.EndReservation(cctx, a.ID, r.ID, nil)
	assert.ErrorIs(t, err, reservations.ErrUpdateFailed)
	assert.ErrorIs(t, err, context.Canceled, "the cause stays reachable")
	require.NoError(t, e.repo.Close())
	_, err = e.res.CreateReservation(ctx, a.ID, 10, [32]byte{9}, 0, cpb, 10)
	assert.ErrorIs(t, err, reservations.ErrUpdateFailed)
	assert.ErrorIs(t, err, repostore.ErrClosed)
}
