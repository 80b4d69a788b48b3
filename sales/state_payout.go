package sales

import (
	"context"

	"github.com/holiman/uint256"
)

// runPayout is SalePayout: read the collateral before freeing the slot,
// which pays out the reward and the collateral. The market holds our
// collateral until this succeeds, so a failing call is retried (each
// period, a few times) rather than ending the sale with nothing back.
func (a *Agent) runPayout(ctx context.Context, _ stepT) stepT {
	m := a.s.deps.Market
	var coll uint256.Int
	err := a.retry(ctx, func() (err error) {
		if coll, err = m.CurrentCollateral(ctx, a.SlotID()); err != nil {
			return err
		}
		return m.FreeSlot(ctx, a.SlotID())
	})
	if err != nil {
		return orNone(ctx, err)
	}
	return next(evFinish, step{paid: &coll})
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
		if err = f(); err == nil || ctx.Err() != nil {
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
