package sales

import (
	"context"

	"github.com/hostsales/hostsales/market"
)

// runFilled is SaleFilled: confirm we host the slot, free the queue
// worker, and keep the data until the request ends. Its calls are
// persisted (retry.go): a slot we host is not given up over one failed
// call.
func (a *Agent) runFilled(ctx context.Context, _ stepT) stepT {
	s, m := a.s, a.s.deps.Market
	var host market.Address
	if err := a.persist(ctx, "reading the slot's host", func() (err error) {
		host, err = m.GetHost(ctx, a.key.req, a.key.slot)
		return err
	}); err != nil {
		return orNone(ctx, err)
	}
	if host != s.signer {
		return errored(ErrHostMismatch)
	}
	a.setFilled()
	if res, ok := a.Reservation(); ok && !res.Filled {
		// A restored sale whose fill was not recorded before the restart
		// (the node stopped between the fill and its record): the market
		// says the slot is ours, so its collateral is the market's to pay
		// back. Recorded as in SaleFilling, for the same reason.
		if err := a.markFilled(res); err != nil && s.ctx.Err() == nil {
			a.log().Error("recording the fill", "err", err)
		}
	}
	req, _ := a.Request()
	if a.item != nil {
		// Only a sale from the queue is news; a restored one was reported
		// before the restart (SPEC §5: no onFilled for restored agents).
		s.onFilled(a, req)
	}
	var end int64
	if err := a.persist(ctx, "reading the request's end", func() (err error) {
		end, err = m.GetRequestEnd(ctx, a.key.req)
		return err
	}); err != nil {
		return orNone(ctx, err)
	}
	if res, ok := a.Reservation(); ok {
		if err := a.persist(ctx, "extending the blocks' expiry", func() error {
			return s.deps.Reservations.ExtendBlocks(context.WithoutCancel(ctx), res.AvailabilityID, res.ID, end)
		}); err != nil {
			return orNone(ctx, err)
		}
	}
	if err := a.persist(ctx, "onExpiryUpdate", func() error {
		return s.opts.OnExpiryUpdate(ctx, req.Content.CID, end)
	}); err != nil {
		return orNone(ctx, err)
	}
	return next(evProving, step{})
}
