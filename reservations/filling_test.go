package reservations_test

import (
	"encoding/json"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hostsales/hostsales/reservations"
)

// MarkFilling records a fill under way, durably; MarkFilled replaces it
// with the fill's record; a filled reservation keeps no mark.
func TestMarkFilling(t *testing.T) {
	e := newEnv(t, 1<<30)
	a, cpb := e.helperAvailability(t)
	r := e.reserve(t, a, 1000, cpb)

	_, err := e.res.MarkFilling(ctx, a.ID, r.ID, 0)
	assert.ErrorIs(t, err, reservations.ErrInvalid)
	_, err = e.res.MarkFilling(ctx, a.ID, reservations.ReservationID{1}, 5)
	assert.ErrorIs(t, err, reservations.ErrNotExists)

	got, err := e.res.MarkFilling(ctx, a.ID, r.ID, 42)
	require.NoError(t, err)
	assert.Equal(t, int64(42), got.FillingSince)
	assert.False(t, got.Filled)
	stored, err := e.res.Reservation(ctx, a.ID, r.ID)
	require.NoError(t, err)
	assert.Equal(t, got, stored, "the mark is committed")

	got, err = e.res.MarkFilled(ctx, a.ID, r.ID)
	require.NoError(t, err)
	assert.True(t, got.Filled)
	assert.Zero(t, got.FillingSince, "the fill's record replaces the mark")
	got, err = e.res.MarkFilling(ctx, a.ID, r.ID, 50)
	require.NoError(t, err)
	assert.Zero(t, got.FillingSince, "a filled reservation is not marked again")
	stored, err = e.res.Reservation(ctx, a.ID, r.ID)
	require.NoError(t, err)
	assert.Equal(t, got, stored)
}

// fillingSince survives both decoders (the fast one for our own records
// and the lenient one) and is written only when set.
func TestFillingSinceJSON(t *testing.T) {
	r := reservations.Reservation{ID: reservations.ID{1}, AvailabilityID: reservations.ID{2}, Size: 10,
		SlotSize: 10, SlotIndex: 3, ValidUntil: 99, FillingSince: 77}
	b, err := json.Marshal(r)
	require.NoError(t, err)
	assert.Contains(t, string(b), `"fillingSince":77`)
	var back reservations.Reservation
	require.NoError(t, json.Unmarshal(b, &back))
	assert.Equal(t, r, back)

	r.FillingSince = 0
	b, err = json.Marshal(r)
	require.NoError(t, err)
	assert.NotContains(t, string(b), "fillingSince")
}
