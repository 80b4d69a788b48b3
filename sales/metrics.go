package sales

import (
	"errors"
	"sync"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/hostsales/hostsales/market"
	"github.com/hostsales/hostsales/reservations"
	"github.com/hostsales/hostsales/statemachine"
)

// errorKind names the kind of error a sale ended with, for the
// hostsales_sales_errors_total metric.
func errorKind(err error) string {
	switch {
	case err == nil:
		return "none"
	case errors.Is(err, ErrHostMismatch):
		return "host_mismatch"
	case errors.Is(err, ErrSlotFreed):
		return "slot_freed"
	case errors.Is(err, ErrSlotNotFilled), errors.Is(err, ErrUnexpectedSlotState):
		return "slot_state"
	case errors.Is(err, ErrSaleFailed):
		return "request_failed"
	case errors.Is(err, ErrRequestUnknown):
		return "request_unknown"
	case errors.Is(err, market.ErrMarket):
		return "market"
	case errors.Is(err, reservations.ErrBytesOutOfBounds), errors.Is(err, reservations.ErrUpdateFailed),
		errors.Is(err, reservations.ErrReserveFailed), errors.Is(err, reservations.ErrReleaseFailed):
		return "storage"
	default:
		return "other"
	}
}

// errorCounts counts errored sales by kind.
type errorCounts struct {
	mu sync.Mutex
	n  map[string]uint64
}

func (c *errorCounts) add(kind string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.n == nil {
		c.n = map[string]uint64{}
	}
	c.n[kind]++
}

func (c *errorCounts) each(f func(kind string, n uint64)) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for k, v := range c.n {
		f(k, v)
	}
}

var (
	descQueueLen     = prometheus.NewDesc("hostsales_queue_length", "Slots waiting in the queue.", nil, nil)
	descQueuePaused  = prometheus.NewDesc("hostsales_queue_paused", "1 when the queue is paused.", nil, nil)
	descWorkersBusy  = prometheus.NewDesc("hostsales_queue_workers_busy", "Queue workers holding a sale.", nil, nil)
	descQueueDropped = prometheus.NewDesc("hostsales_queue_dropped_total", "Slots dropped from a full queue.", nil, nil)
	descSales        = prometheus.NewDesc("hostsales_sales", "Live sales by state.", []string{"state"}, nil)
	descAvailBytes   = prometheus.NewDesc("hostsales_availability_bytes", "Bytes of an availability.", []string{"availability", "kind"}, nil)
	descAvailColl    = prometheus.NewDesc("hostsales_availability_collateral", "Collateral of an availability.", []string{"availability", "kind"}, nil)
	descRepoBytes    = prometheus.NewDesc("hostsales_repo_bytes", "The repo quota.", []string{"kind"}, nil)
	descErrors       = prometheus.NewDesc("hostsales_sales_errors_total", "Sales that ended in SaleErrored, by kind.", []string{"kind"}, nil)
	descCounters     = prometheus.NewDesc("hostsales_sales_events_total", "Sale events.", []string{"event"}, nil)
)

// collector exports Sales' state at scrape time, so nothing is counted
// twice and nothing goes stale.
type collector struct{ s *Sales }

func (c collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descQueueLen, descQueuePaused, descWorkersBusy, descQueueDropped, descSales,
		descAvailBytes, descAvailColl, descRepoBytes, descErrors, descCounters} {
		ch <- d
	}
}

func (c collector) Collect(ch chan<- prometheus.Metric) {
	s := c.s
	st := s.queue.Stats()
	paused := 0.0
	if st.Paused {
		paused = 1
	}
	ch <- prometheus.MustNewConstMetric(descQueueLen, prometheus.GaugeValue, float64(st.Len))
	ch <- prometheus.MustNewConstMetric(descQueuePaused, prometheus.GaugeValue, paused)
	ch <- prometheus.MustNewConstMetric(descWorkersBusy, prometheus.GaugeValue, float64(st.WorkersBusy))
	ch <- prometheus.MustNewConstMetric(descQueueDropped, prometheus.CounterValue, float64(st.Dropped))
	byState := map[statemachine.State]int{}
	for _, a := range s.agentList() {
		byState[a.State()]++
	}
	for _, name := range Table.States() {
		ch <- prometheus.MustNewConstMetric(descSales, prometheus.GaugeValue, float64(byState[name]), string(name))
	}
	for _, a := range s.deps.Reservations.Availabilities() {
		id := a.ID.String()
		ch <- prometheus.MustNewConstMetric(descAvailBytes, prometheus.GaugeValue, float64(a.TotalSize), id, "total")
		ch <- prometheus.MustNewConstMetric(descAvailBytes, prometheus.GaugeValue, float64(a.FreeSize), id, "free")
		ch <- prometheus.MustNewConstMetric(descAvailColl, prometheus.GaugeValue, a.TotalCollateral.Float64(), id, "total")
		ch <- prometheus.MustNewConstMetric(descAvailColl, prometheus.GaugeValue, a.TotalRemainingCollateral.Float64(), id, "remaining")
	}
	q := s.deps.Reservations.Repo().Quota()
	ch <- prometheus.MustNewConstMetric(descRepoBytes, prometheus.GaugeValue, float64(q.Max), "max")
	ch <- prometheus.MustNewConstMetric(descRepoBytes, prometheus.GaugeValue, float64(q.Used), "used")
	ch <- prometheus.MustNewConstMetric(descRepoBytes, prometheus.GaugeValue, float64(q.Reserved), "reserved")
	s.errCounts.each(func(kind string, n uint64) {
		ch <- prometheus.MustNewConstMetric(descErrors, prometheus.CounterValue, float64(n), kind)
	})
	m := &s.metrics
	for name, v := range map[string]uint64{
		"availability_mismatch": m.availabilityMismatch.Load(),
		"proof_submitted":       m.proofs.Load(),
		"declined":              m.declined.Load(),
		"restore_ended":         m.restoredEnded.Load(),
		"reconcile_ended":       m.reconciledEnded.Load(),
		"reconcile_restarted":   m.reconcileRestarted.Load(),
		"call_retried":          m.retries.Load(),
	} {
		ch <- prometheus.MustNewConstMetric(descCounters, prometheus.CounterValue, float64(v), name)
	}
}
