package simmarket

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hostsales/hostsales/market"
)

// Reference: MARKET.md §3.2, §10.6: up to maxReservations distinct hosts;
// SlotReservationsFull exactly when the count reaches the limit.
func TestReserveSlotLimit(t *testing.T) {
	m := newMarket(t, quiet())
	rec := record(m)
	id := submit(t, m)
	rec.reset()

	require.NoError(t, m.As(host1).ReserveSlot(bg, id, 0))
	assert.ErrorIs(t, m.As(host1).ReserveSlot(bg, id, 0), market.ErrReservationNotAllowed, "same host twice")
	assert.ErrorIs(t, m.As(host1).ReserveSlot(bg, id, 0), market.ErrSlotReservationNotAllowed, "SPEC kind")
	require.NoError(t, m.As(host2).ReserveSlot(bg, id, 0))
	assert.Empty(t, rec.events(true))
	require.NoError(t, m.As(host3).ReserveSlot(bg, id, 0))
	assert.Equal(t, []string{"SlotReservationsFull"}, rec.events(true))
	assert.Equal(t, market.SlotReservationsFull{RequestID: id, SlotIndex: 0}, rec.recs[0].Event)

	ok, err := m.As(host4).CanReserveSlot(bg, id, 0)
	require.NoError(t, err)
	assert.False(t, ok)
	assert.ErrorIs(t, m.As(host4).ReserveSlot(bg, id, 0), market.ErrReservationNotAllowed, "beyond the limit")
	ok, err = m.As(host4).CanReserveSlot(bg, id, 1)
	require.NoError(t, err)
	assert.True(t, ok, "other slots are independent")
	assert.Len(t, rec.events(true), 1, "emitted once")
}

// Reference: MARKET.md §3.2 QUIRK, §10.7: a never-filled slot is Free, so
// reserving succeeds for an unknown request, an index out of range and a
// cancelled request; the fill then fails.
func TestReserveSlotOnlyFreeOrRepair(t *testing.T) {
	m := newMarket(t, quiet())
	id := submit(t, m)
	unknown := market.RequestID{0xde, 0xad}

	tests := []struct {
		name    string
		id      market.RequestID
		idx     uint64
		at      int64
		fillErr error
	}{
		{"unknown request", unknown, 0, t0, market.ErrUnknownRequest},
		{"index out of range", id, 9, t0, market.ErrInvalidSlot},
		{"never-filled slot of a cancelled request", id, 1, t0 + 3601, market.ErrSlotNotFree},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			setTime(t, m, tt.at)
			require.NoError(t, m.As(host1).ReserveSlot(bg, tt.id, tt.idx))
			err := m.As(host1).FillSlot(bg, tt.id, tt.idx, proof, u(p))
			assert.ErrorIs(t, err, tt.fillErr)
		})
	}

	m = newMarket(t, quiet())
	id = submit(t, m)
	fill(t, m, host1, id, 0)
	assert.ErrorIs(t, m.As(host2).ReserveSlot(bg, id, 0), market.ErrReservationNotAllowed, "Filled")
	require.NoError(t, m.As(host1).FreeSlot(bg, market.SlotIDFor(id, 0)))
	assert.NoError(t, m.As(host2).ReserveSlot(bg, id, 0), "Repair")
	setTime(t, m, t0+3601)
	assert.ErrorIs(t, m.As(host3).ReserveSlot(bg, id, 0), market.ErrReservationNotAllowed, "Cancelled")
}

// Reference: MARKET.md §3.2, §10.13: reservations survive a fill and are
// cleared by a forced release; a former reserver must reserve again.
func TestReservationsClearedByForcedReleaseOnly(t *testing.T) {
	m := newMarket(t, quiet())
	rec := record(m)
	id := submit(t, m)
	sid := market.SlotIDFor(id, 0)
	require.NoError(t, m.As(host2).ReserveSlot(bg, id, 0))
	require.NoError(t, m.As(host3).ReserveSlot(bg, id, 0))
	fill(t, m, host1, id, 0) // the third reservation: full
	assert.Contains(t, rec.events(false), "SlotReservationsFull")
	assert.Equal(t, []market.Address{host2, host3, host1}, m.SlotInfo(sid).Reservations, "kept after the fill")

	require.NoError(t, m.As(host1).FreeSlot(bg, sid))
	assert.Empty(t, m.SlotInfo(sid).Reservations, "cleared by the forced release")
	setTime(t, m, t0+300) // a new period: no proof recorded yet
	err := m.As(host2).FillSlot(bg, id, 0, proof, u(p))
	assert.ErrorIs(t, err, market.ErrReservationRequired, "must reserve again")
	rec.reset()
	for _, h := range []market.Address{host2, host3, host1} {
		require.NoError(t, m.As(h).ReserveSlot(bg, id, 0))
	}
	assert.Equal(t, []string{"SlotReservationsFull"}, rec.events(false), "can be emitted again after a repair")
}
