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
		err = a.freeSlot(ctx)
		switch {
		case errors.Is(err, market.ErrStartNotBeforeExpiry):
			// Filled at the expiry itself: the contract never pays this
			// slot out, so its collateral is the market's for good.
			a.log().Warn("the market keeps the collateral of a slot filled at its request's expiry", "err", err)
			paid = new(uint256.Int)
			return nil
		case errors.Is(err, market.ErrSlotStateMismatch):
			a.log().Info("slot already free", "err", err)
		case errors.Is(err, market.ErrInvalidSlotHost):
			// No longer ours (freed since the look above): nothing back.
			paid = new(uint256.Int)
			return nil
		case err != nil:
			return err
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
