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
	host, err := m.GetHost(ctx, a.key.req, a.key.slot)
	if err != nil {
		return orNone(ctx, err)
	}
	var paid *uint256.Int
	if host == a.s.signer {
		a.setFilled()
		coll, err := m.CurrentCollateral(ctx, a.SlotID())
		if err != nil {
			return orNone(ctx, err)
		}
		if err := m.FreeSlot(ctx, a.SlotID()); err != nil && !errors.Is(err, market.ErrSlotStateMismatch) {
			return orNone(ctx, err)
		} else if err != nil {
			a.log().Info("slot already free", "err", err)
		}
		paid = &coll
	}
	a.clear()
	a.cleanUp(false, paid)
	return none()
}
