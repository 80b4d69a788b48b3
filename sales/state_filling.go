package sales

import (
	"context"
	"errors"

	"github.com/hostsales/hostsales/market"
)

// runFilling is SaleFilling: post the proof and the collateral.
func (a *Agent) runFilling(ctx context.Context, entry stepT) stepT {
	m := a.s.deps.Market
	// A slot filled at the request's expiry counts for nothing and its
	// collateral can never be freed (the contract's payout refuses a start
	// that is not before expiry: Marketplace_StartNotBeforeExpiry), so a
	// fill that late is not made.
	expires, err := m.RequestExpiresAt(ctx, a.key.req)
	if err != nil {
		return orNone(ctx, err)
	}
	if a.s.deps.Clock.Now() >= expires {
		return next(evIgnore, step{returnsCollateral: true, reason: "the request expires before a fill would count"})
	}
	coll, err := m.SlotCollateral(ctx, a.key.req, a.key.slot)
	if err != nil {
		return orNone(ctx, err)
	}
	err = m.FillSlot(ctx, a.key.req, a.key.slot, entry.Payload.proof, coll)
	switch {
	case err == nil:
		a.setFilled()
		if res, ok := a.Reservation(); ok {
			// Recorded so that a restart knows the market holds the
			// collateral (DESIGN.md Decision 6).
			r, err := a.s.deps.Reservations.MarkFilled(context.WithoutCancel(ctx), res.AvailabilityID, res.ID)
			if err != nil {
				a.log().Error("recording the fill", "err", err)
			} else {
				a.setReservation(&r)
			}
		}
		return next(evFilled, step{})
	case errors.Is(err, market.ErrSlotStateMismatch):
		return next(evIgnore, step{returnsCollateral: true, reason: "slot filled meanwhile: " + err.Error()})
	default:
		return orNone(ctx, err)
	}
}
