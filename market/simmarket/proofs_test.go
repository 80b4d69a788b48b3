package simmarket

import (
	"testing"

	"github.com/holiman/uint256"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hostsales/hostsales/market"
)

// everyPeriod is the example request with proofProbability 1, which with
// downtime 64 gives slotProbability 0: a proof is required every period.
func everyPeriod() market.StorageRequest {
	r := exampleRequest()
	r.Ask.ProofProbability = u(1)
	return r
}

var per = market.DefaultConfig().Periodicity()

// Reference: MARKET.md §3.4, §10.28.
func TestSubmitProofChecks(t *testing.T) {
	m := newMarket(t, quiet())
	id := submit(t, m)
	fill(t, m, host1, id, 0)
	sid := market.SlotIDFor(id, 0)
	setTime(t, m, t0+120)

	assert.ErrorIs(t, m.As(host1).SubmitProof(bg, market.SlotIDFor(id, 1), proof), market.ErrUnknownRequest, "never filled")
	assert.ErrorIs(t, m.As(host2).SubmitProof(bg, sid, proof), market.ErrProofNotSubmittedByHost)
	assert.ErrorIs(t, m.As(host1).SubmitProof(bg, sid, market.Proof{0}), market.ErrInvalidProof)
	assert.ErrorIs(t, m.As(host1).SubmitProof(bg, sid, market.Proof{0}), market.ErrProofInvalid, "SPEC kind")
	rec := record(m)
	require.NoError(t, m.As(host1).SubmitProof(bg, sid, proof), "no check that a proof is required")
	assert.Equal(t, []string{"ProofSubmitted"}, rec.events(true))
	assert.ErrorIs(t, m.As(host1).SubmitProof(bg, sid, proof), market.ErrProofAlreadySubmitted)

	// QUIRK: the host of a paid slot can still submit proofs.
	setTime(t, m, t0+3601)
	require.NoError(t, m.As(host1).FreeSlot(bg, sid))
	require.Equal(t, market.SlotStatePaid, m.SlotInfo(sid).State)
	assert.NoError(t, m.As(host1).SubmitProof(bg, sid, proof))
}

// Reference: MARKET.md §5.3, §10.25, §10.26: no proof in the fill period;
// proofs only while Filled (also before the start); isProofRequired and
// willProofBeRequired never both true.
func TestProofRequirementRules(t *testing.T) {
	m := newMarket(t, quiet())
	id := submit(t, m, everyPeriod())
	sid := market.SlotIDFor(id, 0)
	c := m.As(host1)
	req := func() (bool, bool) {
		is, err := c.IsProofRequired(bg, sid)
		require.NoError(t, err)
		will, err := c.WillProofBeRequired(bg, sid)
		require.NoError(t, err)
		require.False(t, is && will, "never both")
		return is, will
	}
	is, will := req()
	assert.False(t, is || will, "Free")
	fill(t, m, host1, id, 0)
	is, will = req()
	assert.False(t, is || will, "not in the fill period")

	fillPeriod := per.PeriodOf(t0)
	for p := fillPeriod + 1; p < fillPeriod+20; p++ {
		for _, at := range []int64{per.PeriodStart(p), per.PeriodStart(p) + 60, per.PeriodEnd(p) - 1} {
			setTime(t, m, at)
			is, will = req()
			assert.True(t, is || will, "period %d: required every period while Filled, even while New", p)
		}
	}
	require.NoError(t, c.FreeSlot(bg, sid))
	is, will = req()
	assert.False(t, is || will, "Repair")

	// Terminal states: cancelled (expired while New).
	m2 := newMarket(t, quiet())
	id2 := submit(t, m2, everyPeriod())
	fill(t, m2, host1, id2, 0)
	setTime(t, m2, t0+3601)
	is, err := m2.As(host1).IsProofRequired(bg, market.SlotIDFor(id2, 0))
	require.NoError(t, err)
	will, err = m2.As(host1).WillProofBeRequired(bg, market.SlotIDFor(id2, 0))
	require.NoError(t, err)
	assert.False(t, is || will, "Cancelled")
}

// Reference: MARKET.md §5.3, §10.27: slotProbability and the long-run rate.
func TestProofProbability(t *testing.T) {
	m := newMarket(t, quiet())
	tests := []struct{ proofProbability, want uint64 }{{1, 0}, {2, 1}, {4, 3}, {100, 75}}
	for _, tt := range tests {
		r := &request{req: market.StorageRequest{Ask: market.StorageAsk{ProofProbability: u(tt.proofProbability)}}}
		got, err := m.slotProbability(r)
		require.NoError(t, err)
		assert.Equal(t, tt.want, got.Uint64(), "proofProbability %d", tt.proofProbability)
	}
	r := &request{req: market.StorageRequest{Ask: market.StorageAsk{ProofProbability: market.MaxUint256}}}
	_, err := m.slotProbability(r)
	assert.ErrorIs(t, err, market.ErrArithmetic)

	// Sampled once per period, isProofRequired is true about 1 time in 4.
	req := exampleRequest()
	req.Ask.Duration = 30 * 86400
	id := submit(t, m, req)
	for i := uint64(0); i < 4; i++ {
		fill(t, m, host1, id, i)
	}
	sid := market.SlotIDFor(id, 0)
	const periods = 4000
	hits := 0
	for i := int64(1); i <= periods; i++ {
		setTime(t, m, t0+i*120)
		is, err := m.As(host1).IsProofRequired(bg, sid)
		require.NoError(t, err)
		if is {
			hits++
		}
	}
	rate := float64(hits) / periods
	assert.InDelta(t, 0.25, rate, 0.04, "rate %v", rate)
}

// Reference: MARKET.md §5.3, §10.26: willProofBeRequired turns into
// isProofRequired with the same challenge when the pointer leaves downtime.
func TestWillProofBeRequiredBecomesRequired(t *testing.T) {
	o := quiet()
	o.BlockTime = 2 // the pointer moves 60 positions per period
	m := newMarket(t, o)
	req := everyPeriod()
	req.Ask.Duration = 30 * 86400
	id := submit(t, m, req)
	fill(t, m, host1, id, 0)
	sid := market.SlotIDFor(id, 0)
	c := m.As(host1)
	found := false
	for p := per.PeriodOf(t0) + 1; p < per.PeriodOf(t0)+500 && !found; p++ {
		setTime(t, m, per.PeriodStart(p))
		will, err := c.WillProofBeRequired(bg, sid)
		require.NoError(t, err)
		if !will {
			continue
		}
		ptr0, _ := c.GetPointer(bg, sid)
		if ptr0 < 10 { // the challenge changed at the wrap; look for a stable one
			continue
		}
		ch0, _ := c.GetChallenge(bg, sid)
		for at := per.PeriodStart(p); at < per.PeriodEnd(p); at++ {
			setTime(t, m, at)
			if is, _ := c.IsProofRequired(bg, sid); is {
				ch, _ := c.GetChallenge(bg, sid)
				assert.Equal(t, ch0, ch, "same challenge")
				found = true
				break
			}
		}
	}
	assert.True(t, found, "no period where will turned into is")
}

// Reference: MARKET.md §3.6, §10.29: the checks of markProofAsMissing, in
// order.
func TestMarkProofAsMissingChecks(t *testing.T) {
	m := newMarket(t, quiet())
	id := submit(t, m, everyPeriod())
	fp := per.PeriodOf(t0)
	setTime(t, m, per.PeriodStart(fp)+60) // t0 is 40 s into its period
	fill(t, m, host1, id, 0)
	sid := market.SlotIDFor(id, 0)
	v := m.As(anyone)
	mark := func(period uint64) error { return v.MarkProofAsMissing(bg, sid, period) }

	assert.ErrorIs(t, v.MarkProofAsMissing(bg, market.SlotIDFor(id, 1), fp-1), market.ErrSlotNotAcceptingProofs, "never filled")
	assert.ErrorIs(t, mark(fp), market.ErrPeriodNotEnded, "the current period")
	setTime(t, m, per.PeriodEnd(fp))
	assert.ErrorIs(t, mark(fp), market.ErrPeriodNotEnded, "end == now")
	setTime(t, m, per.PeriodEnd(fp)+1)
	assert.ErrorIs(t, mark(fp), market.ErrProofNotMissing, "the fill period has the fill's proof")
	assert.ErrorIs(t, mark(fp-1), market.ErrValidationTimedOut, "the window of an older period is over")

	// Find a later period the host missed that is markable.
	var missed uint64
	for p := fp + 1; ; p++ {
		require.Less(t, p, fp+50, "no markable period")
		setTime(t, m, per.PeriodEnd(p)+1)
		if v.CanMarkProofAsMissing(bg, sid, p) == nil {
			missed = p
			break
		}
		assert.ErrorIs(t, v.CanMarkProofAsMissing(bg, sid, p), market.ErrProofNotRequired, "pointer in downtime")
	}
	timeout := int64(market.DefaultConfig().Proofs.Timeout)
	setTime(t, m, per.PeriodEnd(missed)+timeout-1)
	if err := mark(missed); err != nil {
		// The pointer may have wrapped into downtime by the end of the window.
		require.ErrorIs(t, err, market.ErrProofNotRequired)
		setTime(t, m, per.PeriodEnd(missed)+timeout)
		assert.ErrorIs(t, mark(missed), market.ErrValidationTimedOut)
		return
	}
	assert.ErrorIs(t, mark(missed), market.ErrProofAlreadyMarkedMissing)
	setTime(t, m, per.PeriodEnd(missed)+timeout)
	assert.ErrorIs(t, mark(missed), market.ErrValidationTimedOut, "now == end + timeout, checked before the marks")

	t.Run("ProofNotRequired for the periods before the fill", func(t *testing.T) {
		m := newMarket(t, quiet())
		id := submit(t, m, everyPeriod())
		start := per.PeriodStart(per.PeriodOf(t0) + 1)
		setTime(t, m, start+5)
		fill(t, m, host1, id, 0)
		setTime(t, m, start+6)
		err := m.As(anyone).MarkProofAsMissing(bg, market.SlotIDFor(id, 0), per.PeriodOf(start)-1)
		assert.ErrorIs(t, err, market.ErrProofNotRequired)
	})
}

// missPeriods lets the host of sid miss proofs and marks each markable
// period as anyone, until n marks succeeded.
func missPeriods(t *testing.T, m *Market, sid market.SlotID, from uint64, n int) {
	t.Helper()
	for p := from; n > 0; p++ {
		require.Less(t, p, from+100, "not enough markable periods")
		setTime(t, m, per.PeriodEnd(p)+1)
		if m.As(anyone).MarkProofAsMissing(bg, sid, p) == nil {
			n--
		}
	}
}

// Reference: MARKET.md §3.6, §3.7, §4.3, §10.30, §10.31: slashing amounts
// and the release at maxNumberOfSlashes.
func TestSlashingAndRelease(t *testing.T) {
	m := newMarket(t, quiet())
	rec := record(m)
	id := submit(t, m, everyPeriod())
	require.NoError(t, m.As(host2).ReserveSlot(bg, id, 0))
	fill(t, m, host1, id, 0)
	sid := market.SlotIDFor(id, 0)
	fp := per.PeriodOf(t0)
	rec.reset()

	missPeriods(t, m, sid, fp+1, 1)
	assert.Equal(t, uint64(42_949_672), balance(m, anyone), "validator reward floor(floor(C/5)/5)")
	info := m.SlotInfo(sid)
	assert.Equal(t, uint64(858_993_460), info.CurrentCollateral.Uint64(), "C − floor(C × 20%)")
	assert.Equal(t, uint64(1), info.MissingProofs)
	assert.Equal(t, market.SlotStateFilled, info.State)
	assert.Equal(t, []string{"Transfer"}, rec.events(true), "no event for a slash")

	rec.reset()
	missPeriods(t, m, sid, per.PeriodOf(m.Clock().Now()), 1)
	assert.Equal(t, uint64(2*42_949_672), balance(m, anyone))
	assert.Equal(t, []string{"Transfer", "SlotFreed"}, rec.events(true))
	info = m.SlotInfo(sid)
	assert.Equal(t, market.SlotStateRepair, info.State)
	assert.True(t, info.CurrentCollateral.IsZero())
	assert.Zero(t, info.MissingProofs)
	assert.Empty(t, info.Reservations)
	assert.True(t, info.Host.IsZero())
	require.NoError(t, m.CheckInvariants())

	// The marker may be the host itself.
	m2 := newMarket(t, quiet())
	id2 := submit(t, m2, everyPeriod())
	fill(t, m2, host1, id2, 0)
	for p := fp + 1; ; p++ {
		require.Less(t, p, fp+100)
		setTime(t, m2, per.PeriodEnd(p)+1)
		if m2.As(host1).MarkProofAsMissing(bg, market.SlotIDFor(id2, 0), p) == nil {
			break
		}
	}
	assert.Equal(t, uint64(1<<62)-p+42_949_672, balance(m2, host1))
	_ = uint256.Int{}
}
