package simmarket

import (
	"fmt"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hostsales/hostsales/market"
)

// Reference: MARKET.md §2.2, §10.21: never filled → Free; Paid; then the
// request's Cancelled/Finished/Failed; then the stored Filled/Repair.
func TestSlotStatePrecedence(t *testing.T) {
	m := newMarket(t, quiet())
	id := submit(t, m)
	state := func(i uint64) market.SlotState {
		s, err := m.As(anyone).SlotState(bg, market.SlotIDFor(id, i))
		require.NoError(t, err)
		return s
	}
	fill(t, m, host1, id, 0)
	fill(t, m, host1, id, 1)
	require.NoError(t, m.As(host1).FreeSlot(bg, market.SlotIDFor(id, 1)))
	assert.Equal(t, market.SlotStateFilled, state(0))
	assert.Equal(t, market.SlotStateRepair, state(1))
	assert.Equal(t, market.SlotStateFree, state(2))
	assert.Equal(t, market.SlotStateFree, state(99), "index out of range")
	s, err := m.As(anyone).SlotState(bg, market.SlotID{1})
	require.NoError(t, err)
	assert.Equal(t, market.SlotStateFree, s, "unknown slot")

	setTime(t, m, t0+3601)
	assert.Equal(t, market.SlotStateCancelled, state(0))
	assert.Equal(t, market.SlotStateCancelled, state(1), "a Repair slot shows its request's end")
	assert.Equal(t, market.SlotStateFree, state(2), "never filled stays Free")
	require.NoError(t, m.As(host1).FreeSlot(bg, market.SlotIDFor(id, 0)))
	assert.Equal(t, market.SlotStatePaid, state(0), "Paid wins over Cancelled")

	m = newMarket(t, quiet())
	id = submit(t, m)
	for i := uint64(0); i < 4; i++ {
		fill(t, m, host1, id, i)
	}
	setTime(t, m, t0+36001)
	assert.Equal(t, market.SlotStateFinished, state(0))
	m2 := newMarket(t, quiet())
	id2 := submit(t, m2)
	for i := uint64(0); i < 4; i++ {
		fill(t, m2, host1, id2, i)
	}
	require.NoError(t, m2.FailRequest(bg, id2))
	st, _ := m2.As(anyone).SlotState(bg, market.SlotIDFor(id2, 3))
	assert.Equal(t, market.SlotStateFailed, st)
	st, _ = m2.As(anyone).SlotState(bg, market.SlotIDFor(id2, 0))
	assert.Equal(t, market.SlotStateFailed, st, "a freed slot shows Failed too")
}

// Reference: MARKET.md §3.9, §10.32.
func TestSlotViews(t *testing.T) {
	m := newMarket(t, quiet())
	id := submit(t, m)
	v := m.As(anyone)
	sid := market.SlotIDFor(id, 0)

	_, err := v.GetActiveSlot(bg, sid)
	assert.ErrorIs(t, err, market.ErrSlotIsFree)
	assert.ErrorIs(t, err, market.ErrSlotStateMismatch)
	h, err := v.GetHost(bg, id, 0)
	require.NoError(t, err)
	assert.True(t, h.IsZero())

	fill(t, m, host1, id, 0)
	slot, err := v.GetActiveSlot(bg, sid)
	require.NoError(t, err)
	assert.Equal(t, market.Slot{Request: exampleRequest(), SlotIndex: 0}, slot)
	h, _ = v.GetHost(bg, id, 0)
	assert.Equal(t, host1, h)
	cc, _ := v.CurrentCollateral(bg, sid)
	assert.Equal(t, u(p), cc)

	require.NoError(t, m.As(host1).FreeSlot(bg, sid))
	_, err = v.GetActiveSlot(bg, sid)
	assert.NoError(t, err, "Repair still has data")
	h, _ = v.GetHost(bg, id, 0)
	assert.True(t, h.IsZero(), "zero host after a forced release")
	cc, _ = v.CurrentCollateral(bg, sid)
	assert.True(t, cc.IsZero())

	signer, err := m.As(host2).GetSigner(bg)
	require.NoError(t, err)
	assert.Equal(t, host2, signer)
	cfg, err := v.Configuration(bg)
	require.NoError(t, err)
	assert.Equal(t, market.DefaultConfig(), cfg)
	pd, _ := v.Periodicity(bg)
	assert.Equal(t, uint64(120), pd.Seconds)
	dt, _ := v.ProofDowntime(bg)
	assert.Equal(t, uint8(64), dt)
}

// Reference: MARKET.md §3.9, §10.33: myRequests and mySlots.
func TestMyRequestsAndMySlots(t *testing.T) {
	m := newMarket(t, quiet())
	c := m.As(client)
	cancelled := submit(t, m)
	finished := submit(t, m, withNonce(2))
	failed := submit(t, m, withNonce(3))
	for i := uint64(0); i < 4; i++ {
		fill(t, m, host1, finished, i)
		fill(t, m, host2, failed, i)
	}
	fill(t, m, host3, cancelled, 0)
	require.NoError(t, m.FailRequest(bg, failed, host2))

	reqs, _ := c.MyRequests(bg)
	assert.ElementsMatch(t, []market.RequestID{cancelled, finished, failed}, reqs, "terminal requests stay until withdrawal")
	slots2, _ := m.As(host2).MySlots(bg)
	assert.Len(t, slots2, 1, "forced releases leave mySlots")

	setTime(t, m, t0+36001)
	slots1, _ := m.As(host1).MySlots(bg)
	assert.Len(t, slots1, 4, "finished slots stay until freed")
	require.NoError(t, m.As(host1).FreeSlot(bg, market.SlotIDFor(finished, 1)))
	reqs, _ = c.MyRequests(bg)
	assert.ElementsMatch(t, []market.RequestID{cancelled, failed}, reqs, "a finished request leaves at the first payout")
	slots1, _ = m.As(host1).MySlots(bg)
	want := []market.SlotID{market.SlotIDFor(finished, 0), market.SlotIDFor(finished, 3), market.SlotIDFor(finished, 2)}
	assert.Equal(t, want, slots1, "removal moves the last element into the gap")

	require.NoError(t, c.WithdrawFunds(bg, failed))
	require.NoError(t, c.WithdrawFunds(bg, cancelled))
	reqs, _ = c.MyRequests(bg)
	assert.Empty(t, reqs)
	require.NoError(t, m.As(host3).FreeSlot(bg, market.SlotIDFor(cancelled, 0)))
	slots3, _ := m.As(host3).MySlots(bg)
	assert.Empty(t, slots3)
}

// snapshot captures everything observable about a market.
func snapshot(m *Market, ids []market.RequestID, addrs []market.Address) string {
	s := fmt.Sprintf("now=%d pending=%d\n", m.Clock().Now(), m.Pending())
	for _, a := range addrs {
		b := m.BalanceOf(a)
		mine, _ := m.As(a).MySlots(bg)
		reqs, _ := m.As(a).MyRequests(bg)
		s += fmt.Sprintf("%s %s %v %v\n", a, b.Dec(), mine, reqs)
	}
	for _, id := range ids {
		ri, _ := m.RequestInfo(id)
		s += fmt.Sprintf("%+v\n", ri)
		for i := uint64(0); i < 4; i++ {
			s += fmt.Sprintf("%+v\n", m.SlotInfo(market.SlotIDFor(id, i)))
		}
	}
	return s
}

// Reference: MARKET.md §10.34: a failed operation leaves balances, states,
// reservations, proof records and the event stream unchanged.
func TestFailedOperationsLeaveNoTrace(t *testing.T) {
	m := newMarket(t, quiet())
	rec := record(m)
	id := submit(t, m)
	fill(t, m, host1, id, 0)
	fill(t, m, host2, id, 1)
	require.NoError(t, m.As(host3).ReserveSlot(bg, id, 2))
	addrs := []market.Address{client, host1, host2, host3, anyone, MarketAddress}
	before := snapshot(m, []market.RequestID{id}, addrs)
	n := len(rec.events(true))

	sid := market.SlotIDFor(id, 0)
	failing := []func() error{
		func() error { return m.As(host1).ReserveSlot(bg, id, 0) },
		func() error { return m.As(host3).FillSlot(bg, id, 2, proof, u(p-1)) },
		func() error { return m.As(host3).FillSlot(bg, id, 2, market.Proof{}, u(p)) },
		func() error { return m.As(host2).FreeSlot(bg, sid) },
		func() error { return m.As(host2).SubmitProof(bg, sid, proof) },
		func() error { return m.As(host1).SubmitProof(bg, sid, proof) },
		func() error { return m.As(anyone).MarkProofAsMissing(bg, sid, per.PeriodOf(t0)) },
		func() error { return m.As(client).WithdrawFunds(bg, id) },
		func() error { _, err := m.As(client).RequestStorage(bg, exampleRequest()); return err },
		func() error { return m.As(market.Address{}).ReserveSlot(bg, id, 3) },
	}
	for i, f := range failing {
		require.Error(t, f(), "operation %d", i)
	}
	assert.Equal(t, before, snapshot(m, []market.RequestID{id}, addrs))
	assert.Len(t, rec.events(true), n, "no event")
}

// Reference: MARKET.md §7, §10.35.
func TestNewValidatesConfig(t *testing.T) {
	bad := market.DefaultConfig()
	bad.Collateral.SlashPercentage = 101
	_, err := New(&Options{Config: &bad})
	assert.ErrorIs(t, err, market.ErrSlashPercentageTooHigh)
	bad = market.DefaultConfig()
	bad.Proofs.Period = 0
	_, err = New(&Options{Config: &bad})
	assert.ErrorIs(t, err, market.ErrInvalidSecondsPerPeriod)

	_, err = New(&Options{Competitors: []Competitor{{Address: host1, TakeProbability: 2}}})
	assert.ErrorIs(t, err, ErrInvalidOptions)
	_, err = New(&Options{Competitors: []Competitor{{TakeProbability: 1}}})
	assert.ErrorIs(t, err, ErrInvalidOptions)
	_, err = New(&Options{Faults: []Fault{{Method: "FillSlot"}}})
	assert.ErrorIs(t, err, ErrInvalidOptions)
	_, err = New(&Options{Start: -1})
	assert.ErrorIs(t, err, ErrInvalidOptions)

	m, err := New(nil)
	require.NoError(t, err)
	assert.Equal(t, market.DefaultConfig(), m.Config())
	assert.Equal(t, int64(0), m.Clock().Now())
}
