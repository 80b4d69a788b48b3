package sales_test

import (
	"testing"

	"github.com/stretchr/testify/require"
)

// A fill cut off from its record: the node stopped after its FillSlot
// went out and before the fill was recorded (MarkFilled), and the slot
// was lost while it was down, so at restart the reservation says only
// "fill under way since T" (fillingSince) and GetHost cannot tell whose
// fill it was. Restore settles it by asking the market's fill history
// (market.FillHistory): a fill that landed gets back what the market paid
// (here nothing: the request failed), one that did not gets everything
// back. A market without a history is answered on the safe side: the fill
// is taken to have landed (collateral the market may hold is never
// promised again).
func TestFillCutOffFromItsRecord(t *testing.T) {
	for _, c := range []struct {
		name            string
		history, landed bool
		kept            uint64
	}{
		{"landed, the market's history says so", true, true, 1000},
		{"did not land, the market's history says so", true, false, 0},
		{"landed, no history: taken as landed", false, true, 1000},
		{"did not land, no history: taken as landed (the safe side)", false, false, 1000},
	} {
		specRun(t, c.name, func(t *testing.T) {
			sh := newSpec(t, specCfg{history: c.history})
			defer sh.stop()
			require.NoError(t, sh.s.Stop(sh.ctx)) // the node is down
			a := sh.avail(1000)
			id := sh.submit(sh.newRequest(1, 1000))
			end, err := sh.obs.GetRequestEnd(sh.ctx, id)
			require.NoError(t, err)
			r, err := sh.res.CreateReservation(sh.ctx, a.ID, 1000, id, 0, u(1), end)
			require.NoError(t, err)
			r, err = sh.res.MarkFilling(sh.ctx, a.ID, r.ID, sh.clock.Now())
			require.NoError(t, err)
			require.False(t, r.Filled)
			require.Equal(t, sh.clock.Now(), r.FillingSince)
			if c.landed {
				// Our fill landed; the request then failed, freeing the slot
				// (the market keeps the collateral).
				require.NoError(t, sh.m.TakeSlot(sh.ctx, me, id, 0))
				require.NoError(t, sh.m.FailRequest(sh.ctx, id))
				host, err := sh.obs.GetHost(sh.ctx, id, 0)
				require.NoError(t, err)
				require.NotEqual(t, me, host, "the slot is no longer ours")
			} else {
				require.NoError(t, sh.m.TakeSlot(sh.ctx, other, id, 0))
			}
			sh.startSales() // restore settles the reservation
			sh.within(10, "the leftover is settled", func() bool { return len(sh.reservationsNow()) == 0 })
			if c.landed {
				sh.settle(c.kept, id)
			} else {
				sh.checkAccounting(c.kept)
			}
		})
	}
}

// A sale records the fill under way before FillSlot and replaces it with
// the fill's record once the fill landed.
func TestFillingRecordedBeforeTheFill(t *testing.T) {
	specRun(t, "marked, then recorded", func(t *testing.T) { fillingRecordedBeforeTheFill(t) })
}

func fillingRecordedBeforeTheFill(t *testing.T) {
	sh := newSpec(t, specCfg{})
	defer sh.stop()
	a := sh.avail(1000)
	release := sh.mk.hold("FillSlot")
	id := sh.submitNew(1, 1000)
	sh.run(sh.in(id, 0, sFil))
	rs := sh.reservationsNow()
	require.Len(t, rs, 1)
	require.Equal(t, a.ID, rs[0].AvailabilityID)
	require.NotZero(t, rs[0].FillingSince, "marked before the fill")
	require.False(t, rs[0].Filled)
	release()
	sh.run(sh.in(id, 0, sPro))
	rs = sh.reservationsNow()
	require.Len(t, rs, 1)
	require.True(t, rs[0].Filled)
	require.Zero(t, rs[0].FillingSince, "the fill's record replaces the mark")
	sh.settle(0, id)
}
