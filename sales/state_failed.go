package sales

import "context"

// runFailed is SaleFailed: the request failed on chain; free the slot and
// end in Errored (the market keeps the collateral).
func (a *Agent) runFailed(ctx context.Context, _ stepT) stepT {
	if err := a.s.deps.Market.FreeSlot(ctx, a.SlotID()); err != nil {
		return orNone(ctx, err)
	}
	return errored(ErrSaleFailed)
}
