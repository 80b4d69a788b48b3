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
	var err error
	if a.isFilled() {
		// Tried again only while the market gives no answer; a revert
		// is the answer.
		if rerr := a.retry(ctx, func() error {
			err = free()
			if market.IsRevert(err) {
				return nil
			}
			return err
		}); rerr != nil {
			return keepFor(ctx, rerr)
		}
	} else {
		err = free()
	}
	if err != nil {
		return orNone(ctx, err)
	}
	return errored(ErrSaleFailed)
}
