package sales

import (
	"context"

	"github.com/hostsales/hostsales/market"
)

// runDownloading is SaleDownloading: the node fetches the slot's data and
// hands each batch to store, which writes it and moves its bytes from
// reserved to used in one commit (DESIGN.md Decision 11).
func (a *Agent) runDownloading(ctx context.Context, _ stepT) stepT {
	s, m := a.s, a.s.deps.Market
	req, _ := a.Request()
	res, ok := a.Reservation()
	if !ok {
		return errored(errorf("downloading without a reservation"))
	}
	rs, err := m.RequestState(ctx, a.key.req)
	if err != nil {
		return orNone(ctx, err)
	}
	ss, err := m.SlotState(ctx, a.SlotID())
	if err != nil {
		return orNone(ctx, err)
	}
	var expiry int64
	if rs == market.RequestStateStarted {
		expiry, err = m.GetRequestEnd(ctx, a.key.req)
	} else {
		expiry, err = m.RequestExpiresAt(ctx, a.key.req)
	}
	if err != nil {
		return orNone(ctx, err)
	}
	store := func(ctx context.Context, blocks [][]byte) error {
		r, err := s.deps.Reservations.StoreBlocks(context.WithoutCancel(ctx), res.AvailabilityID, res.ID, blocks, expiry)
		if err != nil {
			return err
		}
		a.setReservation(&r)
		return nil
	}
	if err := s.opts.OnStore(ctx, req, expiry, a.key.slot, store, ss == market.SlotStateRepair); err != nil {
		return orNone(ctx, err)
	}
	return next(evProve, step{})
}
