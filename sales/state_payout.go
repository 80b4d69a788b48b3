package sales

import (
	"context"
	"errors"

	"github.com/holiman/uint256"

	"github.com/hostsales/hostsales/market"
)

// runPayout is SalePayout: read the collateral before freeing the slot,
// which pays out the reward and the collateral. The market holds our
// collateral until this succeeds, so a failing call is retried (each
// period, a few times) rather than ending the sale with nothing back; a
// sale that still cannot free its slot leaves its reservation to
// Reconcile (keepFor).
func (a *Agent) runPayout(ctx context.Context, _ stepT) stepT {
	m := a.s.deps.Market
	var coll *uint256.Int
	lost := false
	err := a.retry(ctx, func() error {
		if coll == nil { // read before freeing; the payout does not change it
			c, err := m.CurrentCollateral(ctx, a.SlotID())
			if err != nil {
				return err
			}
			coll = &c
		}
		err := a.freeSlot(ctx)
		if errors.Is(err, market.ErrInvalidSlotHost) {
			lost = true // not ours any more: freed, and maybe refilled
			return nil
		}
		return err
	})
	switch {
	case err != nil:
		return keepFor(ctx, err)
	case lost:
		return errored(ErrSlotFreed)
	}
	return next(evFinish, step{paid: coll})
}

// freeSlot frees the slot, counting as done a free that went through
// although its call reported an error (the slot is paid already, to us).
func (a *Agent) freeSlot(ctx context.Context) error {
	m := a.s.deps.Market
	err := m.FreeSlot(ctx, a.SlotID())
	if err == nil || errors.Is(err, market.ErrAlreadyPaid) {
		return nil
	}
	if market.IsRevert(err) {
		return err
	}
	if st, serr := m.SlotState(ctx, a.SlotID()); serr == nil && st == market.SlotStatePaid {
		if host, herr := m.GetHost(ctx, a.key.req, a.key.slot); herr == nil && host == a.s.signer {
			return nil
		}
	}
	return err
}
