package sales

import (
	"context"
	"errors"

	"github.com/hostsales/hostsales/market"
)

// runProving is SaleProving: once a period, prove the slot when the
// market asks; move to payout when the request finished.
func (a *Agent) runProving(ctx context.Context, _ stepT) stepT {
	m := a.s.deps.Market
	per, err := m.Periodicity(ctx)
	if err != nil {
		return orNone(ctx, err)
	}
	id := a.SlotID()
	for {
		st, err := m.SlotState(ctx, id)
		if err != nil {
			return orNone(ctx, err)
		}
		switch st {
		case market.SlotStateFilled:
			a.proveIfRequired(ctx, id)
		case market.SlotStateCancelled, market.SlotStateFailed:
			// The watcher or the failed event moves the sale.
		case market.SlotStateRepair:
			return errored(ErrSlotFreed)
		case market.SlotStateFinished:
			return next(evPayout, step{})
		default:
			return errored(ErrSlotNotFilled)
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
