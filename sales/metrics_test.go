package sales_test

import (
	"testing"
	"testing/synctest"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hostsales/hostsales/market"
)

// The metrics read Sales' state at scrape time: sales by state, the
// availability's bytes, the repo quota, the queue.
func TestMetrics(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		reg := prometheus.NewPedanticRegistry()
		h := newHarness(t, nil, func(h *harness) { h.opts.Registerer = reg })
		defer h.stop()
		a := h.availability(10_000)
		id := h.request(2, 1000)
		h.run(func() bool { return h.requestState(id) == market.RequestStateStarted })
		h.run(func() bool {
			for _, ag := range h.s.Agents() {
				if ag.State() != "SaleProving" {
					return false
				}
			}
			return true
		})
		n, err := testutil.GatherAndCount(reg, "hostsales_sales")
		require.NoError(t, err)
		assert.Equal(t, 14, n, "one series per state")
		mfs, err := reg.Gather()
		require.NoError(t, err)
		values := map[string]float64{}
		for _, mf := range mfs {
			for _, m := range mf.GetMetric() {
				key := mf.GetName()
				for _, l := range m.GetLabel() {
					if l.GetName() == "availability" {
						continue
					}
					key += "/" + l.GetValue()
				}
				if m.Gauge != nil {
					values[key] = m.GetGauge().GetValue()
				} else if m.Counter != nil {
					values[key] = m.GetCounter().GetValue()
				}
			}
		}
		assert.Equal(t, 2.0, values["hostsales_sales/SaleProving"])
		assert.Equal(t, float64(a.TotalSize-2000), values["hostsales_availability_bytes/free"])
		assert.Equal(t, 2000.0, values["hostsales_repo_bytes/used"])
		assert.Equal(t, 0.0, values["hostsales_queue_workers_busy"], "filled sales hold no worker")
	})
}
