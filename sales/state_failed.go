package sales

import (
	"context"

	"github.com/hostsales/hostsales/market"
)

// runFailed is SaleFailed: the request failed on chain; free the slot and
// end in Errored (the market keeps the collateral). A free of a slot we
// filled that fails without an answer is retried, and then left to
// Reconcile, so the slot does not stay ours at the market for good.
func (a *Agent) runFailed(ctx context.Context, _ stepT) stepT {
	free := func() error { return a.s.deps.Market.FreeSlot(ctx, a.SlotID()) }
	err := free()
	if err != nil && !market.IsRevert(err) && a.isFilled() && ctx.Err() == nil {
		if err = a.retry(ctx, free); err != nil && !market.IsRevert(err) {
			return keepFor(ctx, err)
		}
	}
	if err != nil {
		return orNone(ctx, err)
	}
	return errored(ErrSaleFailed)
}
