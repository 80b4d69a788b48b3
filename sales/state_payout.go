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
// period, a few times) rather than ending the sale with nothing back.
func (a *Agent) runPayout(ctx context.Context, _ stepT) stepT {
	m := a.s.deps.Market
	var coll *uint256.Int
	err := a.retry(ctx, func() error {
		if coll == nil { // read before freeing; the payout does not change it
			c, err := m.CurrentCollateral(ctx, a.SlotID())
			if err != nil {
				return err
			}
			coll = &c
		}
		return a.freeSlot(ctx)
	})
	if err != nil {
		return keepFor(ctx, err)
	}
	return next(evFinish, step{paid: coll})
}

// freeSlot frees the slot, counting as done a free that went through
// although its call reported an error (the slot is paid already).
func (a *Agent) freeSlot(ctx context.Context) error {
	err := a.s.deps.Market.FreeSlot(ctx, a.SlotID())
	if err == nil || errors.Is(err, market.ErrAlreadyPaid) {
		return nil
	}
	if st, serr := a.s.deps.Market.SlotState(ctx, a.SlotID()); serr == nil && st == market.SlotStatePaid {
		return nil
	}
	return err
}

// keepFor ends a sale whose market calls kept failing while the market
// holds its collateral: the reservation is left for restore and Reconcile,
// which settle it with what the market paid, rather than ended with
// nothing back.
func keepFor(ctx context.Context, err error) stepT {
	if ctx.Err() != nil {
		return none()
	}
	return next(evError, step{err: err, keep: true})
}

// marketRetries is how many times a market call that guards collateral is
// tried, a period apart, before the sale gives up.
const marketRetries = 5

// retry runs f until it succeeds, ctx ends, or it failed marketRetries
// times, waiting a proof period between attempts; it returns f's last
// error (or ctx's).
func (a *Agent) retry(ctx context.Context, f func() error) error {
	var err error
	for attempt := 0; attempt < marketRetries; attempt++ {
		if err = f(); err == nil || ctx.Err() != nil || attempt == marketRetries-1 {
			return err
		}
		a.log().Warn("market call failed; retrying next period", "attempt", attempt+1, "err", err)
		per, perr := a.s.deps.Market.Periodicity(ctx)
		if perr != nil {
			return err
		}
		if werr := a.untilNextPeriod(ctx, per); werr != nil {
			return werr
		}
	}
	return err
}
