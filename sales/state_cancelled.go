package sales

import (
	"context"
	"errors"

	"github.com/holiman/uint256"

	"github.com/hostsales/hostsales/market"
)

// runCancelled is SaleCancelled: the request expired before it started.
// If we host the slot, free it to collect the collateral (an already-free
// slot is fine); then end the sale.
func (a *Agent) runCancelled(ctx context.Context, _ stepT) stepT {
	m := a.s.deps.Market
	var paid *uint256.Int
	// Retried: if we host the slot, the market holds our collateral.
	err := a.retry(ctx, func() error {
		host, err := m.GetHost(ctx, a.key.req, a.key.slot)
		if err != nil || host != a.s.signer {
			return err
		}
		a.setFilled()
		coll, err := m.CurrentCollateral(ctx, a.SlotID())
		if err != nil {
			return err
		}
		if err := a.freeSlot(ctx); err != nil && !errors.Is(err, market.ErrSlotStateMismatch) {
			return err
		} else if err != nil {
			a.log().Info("slot already free", "err", err)
		}
		paid = &coll
		return nil
	})
	if err != nil {
		if a.isFilled() {
			return keepFor(ctx, err)
		}
		return orNone(ctx, err)
	}
	a.clear()
	a.cleanUp(false, paid)
	return none()
}
