package sales

import (
	"context"
	"errors"

	"github.com/hostsales/hostsales/market"
	"github.com/hostsales/hostsales/reservations"
)

// How a sale rides out failing market and repo calls.
//
// Before the fill, a failed call ends the sale (SaleErrored) and returns
// everything it reserved: nothing is lost but the chance.
//
// Once the slot is ours, the market holds our collateral and pays us to
// keep the data, so ending the sale on one failed call would drop the data
// of a slot we still host, and get us slashed (the reference does that).
// There, a call whose answer the sale needs is retried (persist) until it
// succeeds or the state is left: the market's definite answers (reverts)
// still decide, transport failures and our own repo's failures only
// delay. Calls that settle collateral at the end (payout, cancelled) are
// tried a few times a period apart (retry); a sale that still cannot
// settle leaves its reservation to Reconcile, which restarts the sale
// while the slot is ours and settles it with what the market paid once it
// is not (keepFor).

// marketRetries is how many times a market call that guards collateral is
// tried, a period apart, before the sale gives up.
const marketRetries = 5

// fallbackPeriod is how long, in market seconds, a sale waits between
// attempts when not even the market's periodicity could be read.
const fallbackPeriod = 60

// periodicity returns the market's proof periodicity. It is fixed by the
// market's configuration, so the first answer is kept: a sale riding out
// failing calls does not need one more call to succeed to know how long
// to wait.
func (s *Sales) periodicity(ctx context.Context) (market.Periodicity, error) {
	if p := s.period.Load(); p != nil {
		return *p, nil
	}
	p, err := s.deps.Market.Periodicity(ctx)
	if err != nil {
		return market.Periodicity{}, err
	}
	s.period.Store(&p)
	return p, nil
}

// periodLength is the proof period in seconds, or fallbackPeriod.
func (s *Sales) periodLength(ctx context.Context) int64 {
	if p, err := s.periodicity(ctx); err == nil && p.Seconds > 0 {
		return int64(p.Seconds)
	}
	return fallbackPeriod
}

// backoff waits before attempt+1 of a failed call: 1, 2, 4, ... market
// seconds, at most a proof period. It returns ctx's error if the state
// was left meanwhile.
func (a *Agent) backoff(ctx context.Context, attempt int) error {
	wait := a.s.periodLength(ctx)
	if attempt < 30 {
		wait = min(wait, int64(1)<<attempt)
	}
	c := a.s.deps.Clock
	return c.WaitUntil(ctx, c.Now()+wait)
}

// final reports whether err is a definite answer, which trying again
// cannot change: a revert of the market (market.IsRevert) or a record
// that does not exist.
func final(err error) bool {
	return market.IsRevert(err) || errors.Is(err, reservations.ErrNotExists)
}

// persist runs f until it returns nil or a final error, backing off
// between attempts. It returns f's final error, or ctx's error once the
// state is left; nil when f succeeded. what names the call in the log.
func (a *Agent) persist(ctx context.Context, what string, f func() error) error {
	for attempt := 0; ; attempt++ {
		err := f()
		if err == nil || final(err) {
			return err
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		a.s.metrics.retries.Add(1)
		if attempt == 0 || attempt%16 == 0 {
			a.log().Warn(what+" failed; the sale keeps its slot and tries again", "attempt", attempt+1, "err", err)
		}
		if err := a.backoff(ctx, attempt); err != nil {
			return err
		}
	}
}

// retry runs f until it succeeds, ctx ends, or it failed marketRetries
// times, waiting a proof period between attempts; it returns f's last
// error (or ctx's).
func (a *Agent) retry(ctx context.Context, f func() error) error {
	var err error
	for attempt := 0; attempt < marketRetries; attempt++ {
		if err = f(); err == nil || ctx.Err() != nil || attempt == marketRetries-1 {
			return err
		}
		a.s.metrics.retries.Add(1)
		a.log().Warn("market call failed; retrying next period", "attempt", attempt+1, "err", err)
		per, perr := a.s.periodicity(ctx)
		if perr != nil {
			c := a.s.deps.Clock
			if werr := c.WaitUntil(ctx, c.Now()+fallbackPeriod); werr != nil {
				return werr
			}
			continue
		}
		if werr := a.untilNextPeriod(ctx, per); werr != nil {
			return werr
		}
	}
	return err
}

// keepFor ends a sale whose market calls kept failing while the market
// holds its collateral: the reservation is left for Reconcile (and
// restore), which restarts the sale while the slot is ours and settles it
// with what the market paid once it is not, rather than ended with
// nothing back.
func keepFor(ctx context.Context, err error) stepT {
	if ctx.Err() != nil {
		return none()
	}
	return next(evError, step{err: err, keep: true})
}
