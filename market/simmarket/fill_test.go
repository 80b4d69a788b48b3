package simmarket

import (
	"testing"

	"github.com/holiman/uint256"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hostsales/hostsales/market"
)

// Reference: MARKET.md §3.3, §10.8: UnknownRequest → InvalidSlot →
// ReservationRequired → SlotNotFree → proof errors → StartNotBeforeExpiry →
// token errors.
func TestFillSlotChecks(t *testing.T) {
	type fixture struct {
		m  *Market
		id market.RequestID
	}
	tests := []struct {
		name  string
		setup func(t *testing.T, f fixture) (host market.Address, id market.RequestID, idx uint64, pr market.Proof, coll uint256.Int)
		want  error
	}{
		{"UnknownRequest", func(t *testing.T, f fixture) (market.Address, market.RequestID, uint64, market.Proof, uint256.Int) {
			return host1, market.RequestID{1}, 99, nil, uint256.Int{}
		}, market.ErrUnknownRequest},
		{"InvalidSlot", func(t *testing.T, f fixture) (market.Address, market.RequestID, uint64, market.Proof, uint256.Int) {
			return host1, f.id, 4, nil, uint256.Int{}
		}, market.ErrInvalidSlot},
		{"ReservationRequired", func(t *testing.T, f fixture) (market.Address, market.RequestID, uint64, market.Proof, uint256.Int) {
			return host1, f.id, 0, nil, uint256.Int{}
		}, market.ErrReservationRequired},
		{"SlotNotFree when filled", func(t *testing.T, f fixture) (market.Address, market.RequestID, uint64, market.Proof, uint256.Int) {
			require.NoError(t, f.m.As(host2).ReserveSlot(bg, f.id, 0))
			fill(t, f.m, host1, f.id, 0)
			return host2, f.id, 0, nil, uint256.Int{}
		}, market.ErrSlotNotFree},
		{"SlotNotFree is a SlotStateMismatch", func(t *testing.T, f fixture) (market.Address, market.RequestID, uint64, market.Proof, uint256.Int) {
			require.NoError(t, f.m.As(host2).ReserveSlot(bg, f.id, 0))
			fill(t, f.m, host1, f.id, 0)
			return host2, f.id, 0, nil, uint256.Int{}
		}, market.ErrSlotStateMismatch},
		{"InvalidProof", func(t *testing.T, f fixture) (market.Address, market.RequestID, uint64, market.Proof, uint256.Int) {
			require.NoError(t, f.m.As(host1).ReserveSlot(bg, f.id, 0))
			return host1, f.id, 0, market.Proof{0, 0, 0}, uint256.Int{}
		}, market.ErrInvalidProof},
		{"InvalidProof is a ProofInvalid", func(t *testing.T, f fixture) (market.Address, market.RequestID, uint64, market.Proof, uint256.Int) {
			require.NoError(t, f.m.As(host1).ReserveSlot(bg, f.id, 0))
			return host1, f.id, 0, nil, uint256.Int{}
		}, market.ErrProofInvalid},
		{"InsufficientAllowance", func(t *testing.T, f fixture) (market.Address, market.RequestID, uint64, market.Proof, uint256.Int) {
			require.NoError(t, f.m.As(host1).ReserveSlot(bg, f.id, 0))
			return host1, f.id, 0, proof, u(p - 1)
		}, market.ErrInsufficientAllowance},
		{"InsufficientBalance", func(t *testing.T, f fixture) (market.Address, market.RequestID, uint64, market.Proof, uint256.Int) {
			poor := market.Address{0x55}
			f.m.Mint(poor, u(p-1))
			require.NoError(t, f.m.As(poor).ReserveSlot(bg, f.id, 0))
			return poor, f.id, 0, proof, u(p)
		}, market.ErrInsufficientBalance},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := newMarket(t, quiet())
			f := fixture{m: m, id: submit(t, m)}
			host, id, idx, pr, coll := tt.setup(t, f)
			rec := record(m)
			before := m.BalanceOf(host)
			err := m.As(host).FillSlot(bg, id, idx, pr, coll)
			require.ErrorIs(t, err, tt.want)
			assert.Empty(t, rec.events(true), "a revert emits nothing")
			assert.Equal(t, before, m.BalanceOf(host), "a revert moves no tokens")
			require.NoError(t, m.CheckInvariants())
		})
	}
}

// Reference: MARKET.md §3.3, §10.9, §10.11: ProofSubmitted, collateral,
// SlotFilled, and RequestFulfilled once; the fill counts as the period's
// proof.
func TestFillSlotEffects(t *testing.T) {
	m := newMarket(t, quiet())
	rec := record(m)
	id := submit(t, m)
	rec.reset()
	fill(t, m, host1, id, 0)
	assert.Equal(t, []string{"ProofSubmitted", "Transfer", "SlotFilled"}, rec.events(true))
	sid := market.SlotIDFor(id, 0)
	assert.Equal(t, market.ProofSubmitted{SlotID: sid}, rec.recs[0].Event)
	assert.ErrorIs(t, m.As(host1).SubmitProof(bg, sid, proof), market.ErrProofAlreadySubmitted,
		"the fill recorded this period's proof")

	info := m.SlotInfo(sid)
	assert.Equal(t, market.SlotStateFilled, info.State)
	assert.Equal(t, host1, info.Host)
	assert.Equal(t, int64(t0), info.FilledAt)
	assert.Equal(t, u(p), info.CurrentCollateral)
	mine, err := m.As(host1).MySlots(bg)
	require.NoError(t, err)
	assert.Equal(t, []market.SlotID{sid}, mine)

	rec.reset()
	for i := uint64(1); i < 4; i++ {
		fill(t, m, host1, id, i) // one host may fill several slots (§10.12)
	}
	assert.Equal(t, []string{
		"ProofSubmitted", "SlotFilled", "ProofSubmitted", "SlotFilled",
		"ProofSubmitted", "SlotFilled", "RequestFulfilled",
	}, rec.events(false))
	ri, err := m.RequestInfo(id)
	require.NoError(t, err)
	assert.Equal(t, market.RequestStateStarted, ri.StoredState)
	assert.Equal(t, int64(t0), ri.StartedAt)

	// Refilling a slot of a started request emits no second RequestFulfilled.
	setTime(t, m, t0+1000)
	require.NoError(t, m.As(host1).FreeSlot(bg, sid))
	rec.reset()
	fill(t, m, host2, id, 0)
	assert.Equal(t, []string{"ProofSubmitted", "SlotFilled"}, rec.events(false))
}

// Reference: MARKET.md §3.3, §10.10, §4.3: the repair discount.
func TestFillSlotCollateral(t *testing.T) {
	m := newMarket(t, quiet())
	id := submit(t, m)
	fill(t, m, host1, id, 0)
	assert.Equal(t, uint64(1<<62)-p, balance(m, host1), "a free slot costs C")

	setTime(t, m, t0+500)
	require.NoError(t, m.As(host1).FreeSlot(bg, market.SlotIDFor(id, 0)))
	coll, err := m.As(host2).SlotCollateral(bg, id, 0)
	require.NoError(t, err)
	assert.Equal(t, uint64(966_367_642), coll.Uint64(), "C − floor(C/10)")
	require.NoError(t, m.As(host2).ReserveSlot(bg, id, 0))
	assert.ErrorIs(t, m.As(host2).FillSlot(bg, id, 0, proof, u(966_367_641)), market.ErrInsufficientAllowance)
	require.NoError(t, m.As(host2).FillSlot(bg, id, 0, proof, u(p)), "approving more than due is fine")
	assert.Equal(t, uint64(1<<62)-966_367_642, balance(m, host2), "the repair discount applies while New too")
	assert.Equal(t, u(p), m.SlotInfo(market.SlotIDFor(id, 0)).CurrentCollateral, "currentCollateral is the full C")
}

// Reference: MARKET.md §3.3 QUIRK, §10.9: a repair fill in the period of
// the previous host's proof reverts with ProofAlreadySubmitted.
func TestRepairFillSamePeriodQuirk(t *testing.T) {
	m := newMarket(t, quiet())
	id := submit(t, m)
	fill(t, m, host1, id, 0)
	require.NoError(t, m.As(host1).FreeSlot(bg, market.SlotIDFor(id, 0)))
	require.NoError(t, m.As(host2).ReserveSlot(bg, id, 0))
	err := m.As(host2).FillSlot(bg, id, 0, proof, u(p))
	assert.ErrorIs(t, err, market.ErrProofAlreadySubmitted)
	setTime(t, m, t0+120) // the next period
	assert.NoError(t, m.As(host2).FillSlot(bg, id, 0, proof, u(p)))
}

// Reference: MARKET.md §10.14: no fill once the request is cancelled or
// finished; a repair fill at exactly endsAt has an empty payout interval.
func TestFillSlotAfterTheEnd(t *testing.T) {
	m := newMarket(t, quiet())
	cancelled := submit(t, m)
	require.NoError(t, m.As(host1).ReserveSlot(bg, cancelled, 0))
	setTime(t, m, t0+3601)
	assert.ErrorIs(t, m.As(host1).FillSlot(bg, cancelled, 0, proof, u(p)), market.ErrSlotNotFree)

	m = newMarket(t, quiet())
	id := submit(t, m)
	for i := uint64(0); i < 4; i++ {
		fill(t, m, host1, id, i)
	}
	setTime(t, m, t0+35000)
	require.NoError(t, m.As(host1).FreeSlot(bg, market.SlotIDFor(id, 0)))
	require.NoError(t, m.As(host2).ReserveSlot(bg, id, 0))
	setTime(t, m, t0+36000)
	assert.ErrorIs(t, m.As(host2).FillSlot(bg, id, 0, proof, u(p)), market.ErrStartNotBeforeExpiry)
	setTime(t, m, t0+36001)
	assert.ErrorIs(t, m.As(host2).FillSlot(bg, id, 0, proof, u(p)), market.ErrSlotNotFree)
}

// Reference: MARKET.md §5.5 sim note: a binding verifier rejects a proof
// made for a stale challenge.
func TestBindingVerifier(t *testing.T) {
	o := quiet()
	o.Verifier = BindingVerifier
	m := newMarket(t, o)
	id := submit(t, m)
	c := m.As(host1)
	require.NoError(t, c.ReserveSlot(bg, id, 0))
	sid := market.SlotIDFor(id, 0)
	ch, err := c.GetChallenge(bg, sid)
	require.NoError(t, err)
	req := exampleRequest()
	good := MakeProof(ProofInputs{Challenge: ch, MerkleRoot: req.Content.MerkleRoot, SlotIndex: 0})
	wrongSlot := MakeProof(ProofInputs{Challenge: ch, MerkleRoot: req.Content.MerkleRoot, SlotIndex: 1})
	assert.ErrorIs(t, c.FillSlot(bg, id, 0, wrongSlot, u(p)), market.ErrInvalidProof)
	assert.ErrorIs(t, c.FillSlot(bg, id, 0, proof, u(p)), market.ErrInvalidProof)
	require.NoError(t, c.FillSlot(bg, id, 0, good, u(p)))

	setTime(t, m, t0+7*120)
	assert.ErrorIs(t, c.SubmitProof(bg, sid, good), market.ErrInvalidProof, "stale challenge")
	in, err := c.ProofInputs(bg, sid)
	require.NoError(t, err)
	assert.NoError(t, c.SubmitProof(bg, sid, MakeProof(in)))
}

// FilledSince answers from the slot's fill history: who filled it and
// when, also after the slot was freed (its host gone).
func TestFilledSince(t *testing.T) {
	m := newMarket(t, quiet())
	id := submit(t, m)
	sid := market.SlotIDFor(id, 0)
	at := m.clock.Now()
	fill(t, m, host1, id, 0)
	a := m.As(host1)
	for _, c := range []struct {
		host  market.Address
		since int64
		want  bool
	}{{host1, at, true}, {host1, 0, true}, {host1, at + 1, false}, {host2, 0, false}} {
		got, err := a.FilledSince(bg, sid, c.host, c.since)
		require.NoError(t, err)
		assert.Equal(t, c.want, got, "%v since %d", c.host, c.since)
	}
	require.NoError(t, a.FreeSlot(bg, sid)) // a forced release: the host is gone
	host, err := a.GetHost(bg, id, 0)
	require.NoError(t, err)
	require.True(t, host.IsZero())
	got, err := a.FilledSince(bg, sid, host1, at)
	require.NoError(t, err)
	assert.True(t, got, "the history outlives the host")
	got, err = a.FilledSince(bg, market.SlotIDFor(id, 1), host1, 0)
	require.NoError(t, err)
	assert.False(t, got, "a slot never filled")
}
