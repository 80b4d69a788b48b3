package reservations_test

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hostsales/hostsales/reservations"
)

// A snapshot of a sound store has no violation, and holds exactly what
// the store holds.
func TestSnapshotOfSoundStore(t *testing.T) {
	e := newEnv(t, 1<<30)
	a, cpb := e.helperAvailability(t)
	r, err := e.res.CreateReservation(ctx, a.ID, 1000, e.requestID(), 0, cpb, 100)
	require.NoError(t, err)
	_, err = e.res.StoreBlocks(ctx, a.ID, r.ID, [][]byte{make([]byte, 300)}, 100)
	require.NoError(t, err)

	st, err := e.res.Snapshot(ctx)
	require.NoError(t, err)
	require.Len(t, st.Availabilities, 1)
	require.Len(t, st.Reservations, 1)
	assert.Equal(t, uint64(700), st.Reservations[0].Size)
	assert.Equal(t, e.repo.Quota(), st.Quota)
	assert.Empty(t, st.Check())
}

// Each invariant Check claims to check is caught, with the record's key.
func TestCheckFindsEachViolation(t *testing.T) {
	e := newEnv(t, 1<<30)
	a, cpb := e.helperAvailability(t)
	_, err := e.res.CreateReservation(ctx, a.ID, 1000, e.requestID(), 0, cpb, 100)
	require.NoError(t, err)
	sound, err := e.res.Snapshot(ctx)
	require.NoError(t, err)
	require.Empty(t, sound.Check())
	akey := reservations.AvailabilityKey(a.ID).String()
	rkey := reservations.ReservationKey(a.ID, sound.Reservations[0].ID).String()

	cases := []struct {
		name   string
		break_ func(st *reservations.State)
		want   []string // invariant and key of each violation
	}{
		{"free above total", func(st *reservations.State) { st.Availabilities[0].FreeSize = st.Availabilities[0].TotalSize + 1 },
			[]string{"I1", akey, "I3", ""}},
		{"bytes leaked", func(st *reservations.State) { st.Availabilities[0].FreeSize -= 10; st.Quota.Reserved -= 10 },
			[]string{"I2", akey}},
		{"collateral above total", func(st *reservations.State) {
			st.Availabilities[0].TotalRemainingCollateral.AddUint64(&st.Availabilities[0].TotalCollateral, 1)
		}, []string{"I1", akey, "I1c", akey}},
		{"collateral double counted", func(st *reservations.State) {
			st.Reservations[0].Collateral.Add(&st.Reservations[0].Collateral, &st.Availabilities[0].TotalRemainingCollateral)
		}, []string{"I1c", akey}},
		{"reserved counter off", func(st *reservations.State) { st.Quota.Reserved++ }, []string{"I3", ""}},
		{"over max", func(st *reservations.State) { st.Quota.Used = st.Quota.Max }, []string{"I3", ""}},
		{"orphan reservation", func(st *reservations.State) { st.Reservations[0].AvailabilityID[0] ^= 0xff },
			[]string{"I4", "", "I2", akey}},
		{"unwritten above slot", func(st *reservations.State) {
			st.Reservations[0].Size = st.Reservations[0].SlotSize + 1
			st.Quota.Reserved++
		}, []string{"I2", rkey}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			st := sound
			st.Availabilities = append([]reservations.Availability(nil), sound.Availabilities...)
			st.Reservations = append([]reservations.Reservation(nil), sound.Reservations...)
			c.break_(&st)
			var got []string
			for _, v := range st.Check() {
				assert.NotEmpty(t, v.Msg)
				k := v.Key
				if v.Invariant == "I4" {
					k = "" // the orphan's key names the broken id
				}
				got = append(got, v.Invariant, k)
			}
			assert.Equal(t, c.want, got)
		})
	}
}
