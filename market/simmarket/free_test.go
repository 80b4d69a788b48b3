package simmarket

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hostsales/hostsales/market"
)

// Reference: MARKET.md §3.5, §10.15: SlotIsFree → InvalidSlotHost →
// AlreadyPaid.
func TestFreeSlotChecks(t *testing.T) {
	m := newMarket(t, quiet())
	id := submit(t, m)
	sid := func(i uint64) market.SlotID { return market.SlotIDFor(id, i) }
	require.NoError(t, m.As(host1).ReserveSlot(bg, id, 3)) // reserved, never filled
	fill(t, m, host1, id, 0)
	fill(t, m, host1, id, 1)
	require.NoError(t, m.As(host1).FreeSlot(bg, sid(1))) // now Repair

	tests := []struct {
		name   string
		caller market.Address
		slot   market.SlotID
		want   error
	}{
		{"SlotIsFree for an unknown slot", host1, market.SlotID{7}, market.ErrSlotIsFree},
		{"SlotIsFree for a reserved, never-filled slot", host1, sid(3), market.ErrSlotIsFree},
		{"SlotIsFree is a SlotStateMismatch", host1, sid(2), market.ErrSlotStateMismatch},
		{"InvalidSlotHost for another host", host2, sid(0), market.ErrInvalidSlotHost},
		{"InvalidSlotHost for a Repair slot", host1, sid(1), market.ErrInvalidSlotHost},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			assert.ErrorIs(t, m.As(tt.caller).FreeSlot(bg, tt.slot), tt.want)
		})
	}

	setTime(t, m, t0+3601) // cancelled
	require.NoError(t, m.As(host1).FreeSlot(bg, sid(0)))
	assert.ErrorIs(t, m.As(host1).FreeSlot(bg, sid(0)), market.ErrAlreadyPaid)
}

// Reference: MARKET.md §3.5, §3.7, §10.16: freeSlot on a Filled slot is a
// forced release.
func TestFreeSlotFilledIsForcedRelease(t *testing.T) {
	m := newMarket(t, quiet())
	rec := record(m)
	id := submit(t, m)
	require.NoError(t, m.As(host2).ReserveSlot(bg, id, 0))
	fill(t, m, host1, id, 0)
	sid := market.SlotIDFor(id, 0)
	before, _ := m.RequestInfo(id)
	hostBefore := balance(m, host1)

	setTime(t, m, t0+500)
	rec.reset()
	require.NoError(t, m.As(host1).FreeSlot(bg, sid))
	assert.Equal(t, []string{"SlotFreed"}, rec.events(true), "no payout, no RequestFailed while New")
	assert.Equal(t, hostBefore, balance(m, host1), "collateral forfeited")
	info := m.SlotInfo(sid)
	assert.Equal(t, market.SlotStateRepair, info.State)
	assert.True(t, info.Host.IsZero())
	assert.Zero(t, info.FilledAt)
	assert.True(t, info.CurrentCollateral.IsZero())
	assert.Empty(t, info.Reservations)
	mine, _ := m.As(host1).MySlots(bg)
	assert.Empty(t, mine)
	after, _ := m.RequestInfo(id)
	refund := after.FundsToReturnToClient
	refund.Sub(&refund, &before.FundsToReturnToClient)
	assert.Equal(t, 36000*p, refund.Uint64(), "the client is credited (endsAt − filledAt) × p")
	assert.Equal(t, uint64(0), after.SlotsFilled)
	require.NoError(t, m.CheckInvariants())
}

// Reference: MARKET.md §3.5, §10.17: a finished slot pays
// (endsAt − filledAt) × p and currentCollateral, silently.
func TestFreeSlotFinished(t *testing.T) {
	m := newMarket(t, quiet())
	rec := record(m)
	id := submit(t, m)
	for i := uint64(0); i < 4; i++ {
		setTime(t, m, t0+100*int64(i+1))
		fill(t, m, host1, id, i)
	}
	setTime(t, m, t0+36001)
	rec.reset()
	sid := market.SlotIDFor(id, 2)
	reward, coll := market.Address{0xa1}, market.Address{0xa2}
	require.NoError(t, m.As(host1).FreeSlotTo(bg, sid, reward, coll))
	assert.Equal(t, []string{"Transfer", "Transfer"}, rec.events(true), "no event besides the transfers")
	assert.Equal(t, (36000-300)*p, balance(m, reward))
	assert.Equal(t, p, balance(m, coll))
	assert.Equal(t, market.SlotStatePaid, m.SlotInfo(sid).State)
	assert.Equal(t, host1, m.SlotInfo(sid).Host, "host kept after payout")
	assert.Equal(t, u(p), m.SlotInfo(sid).CurrentCollateral, "collateral kept after payout")
	ri, _ := m.RequestInfo(id)
	assert.Equal(t, market.RequestStateFinished, ri.StoredState, "stored on the first payout")
	mine, _ := m.As(client).MyRequests(bg)
	assert.Empty(t, mine, "the request leaves myRequests at the first payout")
	slots, _ := m.As(host1).MySlots(bg)
	assert.NotContains(t, slots, sid)
	assert.Len(t, slots, 3)
}

// Reference: MARKET.md §3.5, §10.18: a cancelled slot pays
// (expiresAt − filledAt) × p; a fill at exactly expiresAt can never be freed.
func TestFreeSlotCancelled(t *testing.T) {
	m := newMarket(t, quiet())
	id := submit(t, m)
	setTime(t, m, t0+100)
	fill(t, m, host1, id, 0)
	setTime(t, m, t0+3600)
	fill(t, m, host2, id, 1)
	setTime(t, m, t0+3601)
	before := balance(m, host1)
	require.NoError(t, m.As(host1).FreeSlot(bg, market.SlotIDFor(id, 0)))
	assert.Equal(t, before+3500*p+p, balance(m, host1))
	assert.Equal(t, market.SlotStatePaid, m.SlotInfo(market.SlotIDFor(id, 0)).State)
	ri, _ := m.RequestInfo(id)
	assert.Equal(t, market.RequestStateNew, ri.StoredState, "a cancelled payout does not store the state")

	err := m.As(host2).FreeSlot(bg, market.SlotIDFor(id, 1))
	assert.ErrorIs(t, err, market.ErrStartNotBeforeExpiry, "QUIRK: filled at expiresAt")
}

// Reference: MARKET.md §3.5 QUIRK, §10.19: freeing a failed slot pays
// nothing and can be repeated.
func TestFreeSlotFailed(t *testing.T) {
	m := newMarket(t, quiet())
	id := submit(t, m)
	for i := uint64(0); i < 4; i++ {
		fill(t, m, host1, id, i)
	}
	require.NoError(t, m.FailRequest(bg, id, host1))
	ri, _ := m.RequestInfo(id)
	require.Equal(t, market.RequestStateFailed, ri.State)
	sid := market.SlotIDFor(id, 3)
	before := balance(m, host1)
	require.NoError(t, m.As(host1).FreeSlot(bg, sid))
	require.NoError(t, m.As(host1).FreeSlot(bg, sid), "repeatable")
	assert.Equal(t, before, balance(m, host1), "nothing paid")
	slots, _ := m.As(host1).MySlots(bg)
	assert.NotContains(t, slots, sid)
	assert.Equal(t, market.SlotStateFailed, m.SlotInfo(sid).State)
}

// Reference: MARKET.md §3.7, §10.20: a started request fails on the forced
// release that leaves more than maxSlotLoss slots empty.
func TestRequestFailsAfterMaxSlotLoss(t *testing.T) {
	m := newMarket(t, quiet())
	rec := record(m)
	id := submit(t, m)
	for i := uint64(0); i < 4; i++ {
		fill(t, m, host1, id, i)
	}
	setTime(t, m, t0+1000)
	rec.reset()
	require.NoError(t, m.As(host1).FreeSlot(bg, market.SlotIDFor(id, 0)))
	require.NoError(t, m.As(host1).FreeSlot(bg, market.SlotIDFor(id, 1)))
	assert.Equal(t, []string{"SlotFreed", "SlotFreed"}, rec.events(false), "two empty slots: maxSlotLoss 2 not exceeded")
	require.NoError(t, m.As(host1).FreeSlot(bg, market.SlotIDFor(id, 2)))
	assert.Equal(t, []string{"SlotFreed", "SlotFreed", "SlotFreed", "RequestFailed"}, rec.events(false))
	ri, _ := m.RequestInfo(id)
	assert.Equal(t, market.RequestStateFailed, ri.StoredState)
	assert.Equal(t, int64(t0+999), ri.EndsAt, "endsAt := now − 1")

	t.Run("a New request never fails", func(t *testing.T) {
		m := newMarket(t, quiet())
		rec := record(m)
		id := submit(t, m)
		for i := uint64(0); i < 3; i++ {
			fill(t, m, host1, id, i)
			require.NoError(t, m.As(host1).FreeSlot(bg, market.SlotIDFor(id, i)))
		}
		assert.NotContains(t, rec.events(false), "RequestFailed")
		st, _ := m.As(client).RequestState(bg, id)
		assert.Equal(t, market.RequestStateNew, st)
	})
	t.Run("maxSlotLoss == slots never fails", func(t *testing.T) {
		m := newMarket(t, quiet())
		req := exampleRequest()
		req.Ask.MaxSlotLoss = 4
		id := submit(t, m, req)
		for i := uint64(0); i < 4; i++ {
			fill(t, m, host1, id, i)
		}
		for i := uint64(0); i < 4; i++ {
			require.NoError(t, m.As(host1).FreeSlot(bg, market.SlotIDFor(id, i)))
		}
		st, _ := m.As(client).RequestState(bg, id)
		assert.Equal(t, market.RequestStateStarted, st)
		assert.ErrorIs(t, m.FailRequest(bg, id), ErrCannotForce)
	})
}
