package sales

import (
	"context"
	"errors"

	"github.com/hostsales/hostsales/market"
	"github.com/hostsales/hostsales/reservations"
)

// orNone turns an error into Errored, unless the state was left (its ctx
// cancelled), in which case the run just ends.
func orNone(ctx context.Context, err error) stepT {
	if ctx.Err() != nil {
		return none()
	}
	return errored(err)
}

// runPreparing is SalePreparing, the entry point of slots from the queue:
// retrieve the request, check the slot is free, find a matching
// availability and reserve the slot's bytes and collateral in it.
func (a *Agent) runPreparing(ctx context.Context, _ stepT) stepT {
	s := a.s
	req, ok, err := a.retrieveRequest(ctx)
	if err != nil {
		return orNone(ctx, err)
	}
	a.subscribe()
	if !ok {
		return errored(ErrRequestUnknown)
	}
	st, err := s.deps.Market.SlotState(ctx, a.SlotID())
	if err != nil {
		return orNone(ctx, err)
	}
	if st != market.SlotStateFree && st != market.SlotStateRepair {
		return next(evIgnore, step{reason: "slot is " + st.String()})
	}
	end, err := s.deps.Market.GetRequestEnd(ctx, a.key.req)
	if err != nil {
		return orNone(ctx, err)
	}
	ask := &req.Ask
	avail, found := s.deps.Reservations.FindAvailability(ask.SlotSize, ask.Duration,
		&ask.PricePerBytePerSecond, &ask.CollateralPerByte, end)
	if !found {
		return next(evIgnore, step{reprocess: true, reason: "no matching availability"})
	}
	if admit := s.opts.Admit; admit != nil {
		ok, why := admit(ctx, Admission{Request: req, SlotIndex: a.key.slot, Availability: avail,
			FreeBytes: s.deps.Reservations.Available(), ActiveSales: len(s.agentList())})
		if !ok {
			s.metrics.declined.Add(1)
			return next(evIgnore, step{reprocess: true, reason: "declined: " + why})
		}
	}
	// Not cancellable midway: a committed reservation is always recorded.
	res, err := s.deps.Reservations.CreateReservation(context.WithoutCancel(ctx), avail.ID, ask.SlotSize,
		a.key.req, a.key.slot, &ask.CollateralPerByte, end)
	switch {
	case err == nil:
		a.setReservation(&res)
		if ctx.Err() != nil {
			return none()
		}
		return next(evReserve, step{})
	case errors.Is(err, reservations.ErrBytesOutOfBounds), errors.Is(err, reservations.ErrCollateralOutOfBounds):
		// Another sale took the space between find and reserve.
		s.metrics.availabilityMismatch.Add(1)
		return next(evIgnore, step{reprocess: true, reason: "availability taken meanwhile: " + err.Error()})
	default:
		return orNone(ctx, err)
	}
}
