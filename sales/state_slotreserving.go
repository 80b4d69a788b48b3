package sales

import (
	"context"
	"errors"

	"github.com/hostsales/hostsales/market"
)

// runSlotReserving is SaleSlotReserving: reserve the slot on chain.
func (a *Agent) runSlotReserving(ctx context.Context, _ stepT) stepT {
	m := a.s.deps.Market
	can, err := m.CanReserveSlot(ctx, a.key.req, a.key.slot)
	if err != nil {
		return orNone(ctx, err)
	}
	if !can {
		return next(evIgnore, step{returnsCollateral: true, reason: "slot cannot be reserved"})
	}
	err = m.ReserveSlot(ctx, a.key.req, a.key.slot)
	switch {
	case err == nil:
		return next(evDownload, step{})
	case errors.Is(err, market.ErrSlotReservationNotAllowed):
		return next(evIgnore, step{returnsCollateral: true, reason: err.Error()})
	default:
		return orNone(ctx, err)
	}
}
