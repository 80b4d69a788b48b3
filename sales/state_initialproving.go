package sales

import (
	"context"

	"github.com/hostsales/hostsales/market"
)

// untilNextPeriod waits until one second into the next period.
func (a *Agent) untilNextPeriod(ctx context.Context, per market.Periodicity) error {
	c := a.s.deps.Clock
	return c.WaitUntil(ctx, per.PeriodStart(per.PeriodOf(c.Now())+1)+1)
}

// runInitialProving is SaleInitialProving: wait for a stable challenge
// (the next period, and not while the proof pointer is about to wrap
// around), then compute the proof the fill carries.
func (a *Agent) runInitialProving(ctx context.Context, _ stepT) stepT {
	m := a.s.deps.Market
	per, err := m.Periodicity(ctx)
	if err != nil {
		return orNone(ctx, err)
	}
	downtime, err := m.ProofDowntime(ctx)
	if err != nil {
		return orNone(ctx, err)
	}
	if err := a.untilNextPeriod(ctx, per); err != nil {
		return none()
	}
	for {
		ptr, err := m.GetPointer(ctx, a.SlotID())
		if err != nil {
			return orNone(ctx, err)
		}
		if int(ptr) <= 256-int(downtime) {
			break
		}
		if err := a.untilNextPeriod(ctx, per); err != nil {
			return none()
		}
	}
	challenge, err := m.GetChallenge(ctx, a.SlotID())
	if err != nil {
		return orNone(ctx, err)
	}
	req, _ := a.Request()
	proof, err := a.s.opts.OnProve(ctx, market.Slot{Request: req, SlotIndex: a.key.slot}, challenge)
	if err != nil {
		return orNone(ctx, err)
	}
	return next(evFill, step{proof: proof})
}
