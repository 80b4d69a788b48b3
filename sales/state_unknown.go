package sales

import (
	"context"

	"github.com/holiman/uint256"

	"github.com/hostsales/hostsales/market"
)

// runUnknown is SaleUnknown, the entry point of sales restored at start
// (and by Reconcile): resume according to the slot's state on chain. The
// slot was ours when the sale was restored, so a failed look is tried
// again rather than ending the sale (the reference errors).
func (a *Agent) runUnknown(ctx context.Context, _ stepT) stepT {
	var ok bool
	if err := a.persist(ctx, "retrieving the request", func() (err error) {
		_, ok, err = a.retrieveRequest(ctx)
		return err
	}); err != nil {
		return orNone(ctx, err)
	}
	a.subscribe()
	if !ok {
		return errored(ErrRequestUnknown)
	}
	var st market.SlotState
	if err := a.persist(ctx, "reading the slot's state", func() (err error) {
		st, err = a.s.deps.Market.SlotState(ctx, a.SlotID())
		return err
	}); err != nil {
		return orNone(ctx, err)
	}
	switch st {
	case market.SlotStateFree:
		return errored(ErrUnexpectedSlotState)
	case market.SlotStateFilled:
		return next(evFilled, step{})
	case market.SlotStateFinished:
		return next(evPayout, step{})
	case market.SlotStatePaid:
		// Paid out before the restart: what came back is the slot's
		// current collateral (unchanged by the payout).
		var paid *uint256.Int
		if err := a.retry(ctx, func() (err error) {
			paid, err = a.s.paidBack(ctx, a.SlotID(), a.key.req, a.key.slot)
			return err
		}); err != nil {
			return keepFor(ctx, err)
		}
		return next(evFinish, step{paid: paid})
	case market.SlotStateFailed:
		return next(evFail, step{})
	case market.SlotStateCancelled:
		return next(evCancel, step{})
	default: // Repair
		return errored(ErrSlotFreed)
	}
}
