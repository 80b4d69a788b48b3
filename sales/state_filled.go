package sales

import (
	"context"
)

// runFilled is SaleFilled: confirm we host the slot, free the queue
// worker, and keep the data until the request ends.
func (a *Agent) runFilled(ctx context.Context, _ stepT) stepT {
	s, m := a.s, a.s.deps.Market
	host, err := m.GetHost(ctx, a.key.req, a.key.slot)
	if err != nil {
		return orNone(ctx, err)
	}
	if host != s.signer {
		return errored(ErrHostMismatch)
	}
	a.setFilled()
	req, _ := a.Request()
	if a.item != nil {
		// Only a sale from the queue is news; a restored one was reported
		// before the restart (SPEC §5: no onFilled for restored agents).
		s.onFilled(a, req)
	}
	end, err := m.GetRequestEnd(ctx, a.key.req)
	if err != nil {
		return orNone(ctx, err)
	}
	if res, ok := a.Reservation(); ok {
		if err := s.deps.Reservations.ExtendBlocks(context.WithoutCancel(ctx), res.AvailabilityID, res.ID, end); err != nil {
			return orNone(ctx, err)
		}
	}
	if err := s.opts.OnExpiryUpdate(ctx, req.Content.CID, end); err != nil {
		return orNone(ctx, err)
	}
	return next(evProving, step{})
}
