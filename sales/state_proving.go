package sales

import (
	"context"
	"errors"

	"github.com/hostsales/hostsales/market"
)

// runProving is SaleProving: once a period, check the slot is still ours
// and prove it when the market asks; move on when the request finished,
// was cancelled or failed. A failed look at the slot is tried again (the
// slot is still ours until the market says otherwise); a failed proof
// waits for the next period (SPEC §4.3).
func (a *Agent) runProving(ctx context.Context, _ stepT) stepT {
	s, m := a.s, a.s.deps.Market
	id := a.SlotID()
	for {
		var st market.SlotState
		var host market.Address
		if err := a.persist(ctx, "reading the slot's state", func() (err error) {
			if st, err = m.SlotState(ctx, id); err != nil {
				return err
			}
			if st == market.SlotStateFilled || st == market.SlotStateFinished {
				host, err = m.GetHost(ctx, a.key.req, a.key.slot)
			}
			return err
		}); err != nil {
			return orNone(ctx, err)
		}
		switch st {
		case market.SlotStateFilled, market.SlotStateFinished:
			if host != s.signer {
				// Freed (a forced release) and refilled by another host
				// between two looks: its proofs and payout are not ours,
				// and our collateral went with the release.
				return errored(ErrSlotFreed)
			}
			if st == market.SlotStateFinished {
				return next(evPayout, step{})
			}
			a.proveIfRequired(ctx, id)
		case market.SlotStateCancelled:
			// The expiry watcher says so too, unless its calls failed.
			return next(EventCancelled, step{})
		case market.SlotStateFailed:
			return next(EventFailed, step{})
		case market.SlotStateRepair:
			return errored(ErrSlotFreed)
		default:
			return errored(ErrSlotNotFilled)
		}
		per, err := s.periodicity(ctx)
		if err != nil {
			if a.backoff(ctx, 0) != nil {
				return none()
			}
			continue
		}
		if err := a.untilNextPeriod(ctx, per); err != nil {
			return none()
		}
	}
}

// proveIfRequired submits a proof when one is (or will be) required.
// Errors are logged; the next period tries again (SPEC §4.3).
func (a *Agent) proveIfRequired(ctx context.Context, id market.SlotID) {
	m := a.s.deps.Market
	now, err := m.IsProofRequired(ctx, id)
	if err != nil {
		a.logIf(ctx, "proof requirement", err)
		return
	}
	soon := false
	if !now {
		if soon, err = m.WillProofBeRequired(ctx, id); err != nil {
			a.logIf(ctx, "proof requirement", err)
			return
		}
	}
	if !now && !soon {
		return
	}
	challenge, err := m.GetChallenge(ctx, id)
	if err != nil {
		a.logIf(ctx, "challenge", err)
		return
	}
	req, _ := a.Request()
	proof, err := a.s.opts.OnProve(ctx, market.Slot{Request: req, SlotIndex: a.key.slot}, challenge)
	if err != nil {
		a.logIf(ctx, "proving", err)
		return
	}
	if err := m.SubmitProof(ctx, id, proof); err != nil {
		if errors.Is(err, market.ErrProofAlreadySubmitted) {
			// This period's proof is in (a restored sale proving again
			// for the period it proved in before the restart).
			return
		}
		a.logIf(ctx, "submitting the proof", err)
		return
	}
	a.s.metrics.proofs.Add(1)
}

func (a *Agent) logIf(ctx context.Context, what string, err error) {
	if ctx.Err() == nil {
		a.log().Warn(what+" failed; retrying next period", "err", err)
	}
}
