package sales

import (
	"context"
	"errors"

	"github.com/hostsales/hostsales/market"
	"github.com/hostsales/hostsales/reservations"
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
	// Recorded before the fill: should the node stop before the fill's
	// outcome is recorded, and the slot be lost meanwhile, the settlement
	// of the reservation asks the market whether this fill landed.
	since := a.s.deps.Clock.Now()
	if res, ok := a.Reservation(); ok {
		r, err := a.s.deps.Reservations.MarkFilling(context.WithoutCancel(ctx), res.AvailabilityID, res.ID, since)
		if err != nil {
			return orNone(ctx, err) // not filled: everything comes back
		}
		a.setReservation(&r)
	}
	err = m.FillSlot(ctx, a.key.req, a.key.slot, entry.Payload.proof, coll)
	if err != nil && !market.IsRevert(err) {
		// The call failed, but the fill may have gone through (its answer
		// lost on the way): ask the market before deciding whose
		// collateral it is.
		var landed bool
		if perr := a.persist(a.s.ctx, "asking whether a failed fill landed", func() (err error) {
			landed, err = a.s.fillLanded(a.s.ctx, a.key, since, false)
			return err
		}); perr == nil && landed {
			a.log().Warn("the fill went through although its call failed", "err", err)
			err = nil
		}
	}
	switch {
	case err == nil:
		a.setFilled()
		if res, ok := a.Reservation(); ok {
			if perr := a.markFilled(res); perr != nil && a.s.ctx.Err() == nil {
				a.log().Error("recording the fill", "err", perr)
			}
		}
		return next(evFilled, step{})
	case errors.Is(err, market.ErrSlotStateMismatch):
		return next(evIgnore, step{returnsCollateral: true, reason: "slot filled meanwhile: " + err.Error()})
	default:
		return orNone(ctx, err)
	}
}

// markFilled records that the market holds the reservation's collateral,
// so that restore and Reconcile settle it with what the market pays back
// (DESIGN.md Decision 6): settling it as never filled would return
// collateral the market may keep. The record is persisted, not given up,
// even when an event (the request failed or was cancelled) moves the sale
// meanwhile: the next state starts once the record is in. Only Sales'
// stop ends the attempts; restore then finds the slot ours at the market
// (and SaleFilled records it), unless the slot was lost while the node
// was down (see the package doc, "Fill records").
func (a *Agent) markFilled(res reservations.Reservation) error {
	return a.persist(a.s.ctx, "recording the fill", func() error {
		r, err := a.s.deps.Reservations.MarkFilled(context.WithoutCancel(a.s.ctx), res.AvailabilityID, res.ID)
		if err == nil {
			a.setReservation(&r)
		}
		return err
	})
}
