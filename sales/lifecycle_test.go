package sales_test

import (
	"testing"
	"testing/synctest"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hostsales/hostsales/market"
)

// A request whose every slot we take runs to the end: every slot is
// reserved, downloaded, proven, filled, proven each period, paid out, and
// the availability gets all its bytes and collateral back.
func TestFullLifecycle(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := newHarness(t, nil, nil)
		defer h.stop()
		a := h.availability(10_000)
		id := h.request(2, 1000)
		h.run(func() bool { return h.requestState(id) == market.RequestStateStarted })
		h.checkInvariants()
		got, err := h.res.Availability(a.ID)
		require.NoError(t, err)
		assert.Equal(t, uint64(8000), got.FreeSize, "two slots reserved")
		assert.Equal(t, uint64(2000), h.repo.Quota().Used, "their data stored")

		h.run(func() bool { return len(h.s.Agents()) == 0 })
		assert.Equal(t, market.RequestStateFinished, h.requestState(id))
		got, err = h.res.Availability(a.ID)
		require.NoError(t, err)
		assert.Equal(t, a, got, "bytes and collateral all back")
		all, err := h.res.Reservations(h.ctx)
		require.NoError(t, err)
		assert.Empty(t, all)
		assert.Equal(t, uint64(0), h.repo.Quota().Used, "the sale's blocks dropped")
		h.checkInvariants()
		assert.ElementsMatch(t, []uint64{0, 1}, h.sold)
		assert.Contains(t, h.transitions, "SalePayout")
		assert.Contains(t, h.transitions, "SaleFinished")
		t.Log(h.transitions, h.clock.Now()-start)
	})
}
