package sales

import "context"

// runPayout is SalePayout: read the collateral before freeing the slot,
// which pays out the reward and the collateral.
func (a *Agent) runPayout(ctx context.Context, _ stepT) stepT {
	m := a.s.deps.Market
	coll, err := m.CurrentCollateral(ctx, a.SlotID())
	if err != nil {
		return orNone(ctx, err)
	}
	if err := m.FreeSlot(ctx, a.SlotID()); err != nil {
		return orNone(ctx, err)
	}
	return next(evFinish, step{paid: &coll})
}
