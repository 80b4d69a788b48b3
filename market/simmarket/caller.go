package simmarket

import (
	"context"
	"fmt"

	"github.com/holiman/uint256"

	"github.com/hostsales/hostsales/market"
)

// Caller is the market seen and used by one account (a host, a client or a
// validator): it implements market.Market, plus the client and validator
// operations the host interface does not need. Get one with Market.As.
//
// A Caller is safe for concurrent use. Every method first checks ctx and the
// injected faults (a fault returns its error and does nothing else), then
// runs as one atomic transaction of the contract: on error nothing changed,
// and the error wraps the contract's error (market.ErrSlotNotFree, ...),
// prefixed with "simmarket: <Method>". State-changing methods made as the
// zero address return ErrZeroCaller.
type Caller struct {
	m    *Market
	addr market.Address
}

var (
	_ market.Market      = (*Caller)(nil)
	_ market.FillHistory = (*Caller)(nil)
)

// Address returns the caller's address.
func (c *Caller) Address() market.Address { return c.addr }

// Market returns the market this view belongs to.
func (c *Caller) Market() *Market { return c.m }

func (c *Caller) view(ctx context.Context, method string, f func(now int64) error) error {
	return c.m.call(ctx, method, c.addr, false, f)
}

func (c *Caller) act(ctx context.Context, method string, f func(now int64) error) error {
	return c.m.call(ctx, method, c.addr, true, f)
}

// GetSigner implements market.Market.
func (c *Caller) GetSigner(ctx context.Context) (market.Address, error) {
	err := c.view(ctx, "GetSigner", func(int64) error { return nil })
	return c.addr, err
}

// Configuration implements market.Market.
func (c *Caller) Configuration(ctx context.Context) (market.Config, error) {
	err := c.view(ctx, "Configuration", func(int64) error { return nil })
	return c.m.cfg, err
}

// Periodicity implements market.Market.
func (c *Caller) Periodicity(ctx context.Context) (market.Periodicity, error) {
	err := c.view(ctx, "Periodicity", func(int64) error { return nil })
	return c.m.per, err
}

// ProofDowntime implements market.Market.
func (c *Caller) ProofDowntime(ctx context.Context) (uint8, error) {
	err := c.view(ctx, "ProofDowntime", func(int64) error { return nil })
	return c.m.cfg.Proofs.Downtime, err
}

// GetRequest implements market.Market.
func (c *Caller) GetRequest(ctx context.Context, id market.RequestID) (market.StorageRequest, error) {
	var out market.StorageRequest
	err := c.view(ctx, "GetRequest", func(int64) error {
		r := c.m.mu.requests[id]
		if r == nil {
			return market.ErrUnknownRequest
		}
		out = r.req
		return nil
	})
	return out, err
}

// RequestState implements market.Market.
func (c *Caller) RequestState(ctx context.Context, id market.RequestID) (market.RequestState, error) {
	var out market.RequestState
	err := c.view(ctx, "RequestState", func(now int64) error {
		r := c.m.mu.requests[id]
		if r == nil {
			return market.ErrUnknownRequest
		}
		out = r.effState(now)
		return nil
	})
	return out, err
}

// GetRequestEnd implements market.Market.
func (c *Caller) GetRequestEnd(ctx context.Context, id market.RequestID) (int64, error) {
	var out int64
	err := c.view(ctx, "GetRequestEnd", func(now int64) (err error) {
		out, err = c.m.requestEndLocked(now, id)
		return err
	})
	return out, err
}

// RequestExpiresAt implements market.Market (0 for an unknown request).
func (c *Caller) RequestExpiresAt(ctx context.Context, id market.RequestID) (int64, error) {
	var out int64
	err := c.view(ctx, "RequestExpiresAt", func(int64) error {
		if r := c.m.mu.requests[id]; r != nil {
			out = r.expiresAt
		}
		return nil
	})
	return out, err
}

// SlotState implements market.Market.
func (c *Caller) SlotState(ctx context.Context, id market.SlotID) (market.SlotState, error) {
	var out market.SlotState
	err := c.view(ctx, "SlotState", func(now int64) error {
		out = c.m.slotStateLocked(now, c.m.mu.slots[id])
		return nil
	})
	return out, err
}

// GetActiveSlot implements market.Market.
func (c *Caller) GetActiveSlot(ctx context.Context, id market.SlotID) (market.Slot, error) {
	var out market.Slot
	err := c.view(ctx, "GetActiveSlot", func(int64) error {
		s := c.m.mu.slots[id]
		if s == nil || s.state == market.SlotStateFree {
			return market.ErrSlotIsFree
		}
		out = market.Slot{Request: c.m.mu.requests[s.requestID].req, SlotIndex: s.index}
		return nil
	})
	return out, err
}

// MySlots implements market.Market.
func (c *Caller) MySlots(ctx context.Context) ([]market.SlotID, error) {
	var out []market.SlotID
	err := c.view(ctx, "MySlots", func(int64) error {
		if set := c.m.mu.mySlots[c.addr]; set != nil {
			out = set.list()
		}
		return nil
	})
	return out, err
}

// GetHost implements market.Market.
func (c *Caller) GetHost(ctx context.Context, id market.RequestID, slotIndex uint64) (market.Address, error) {
	var out market.Address
	err := c.view(ctx, "GetHost", func(int64) error {
		if s := c.m.mu.slots[market.SlotIDFor(id, slotIndex)]; s != nil {
			out = s.host
		}
		return nil
	})
	return out, err
}

// FilledSince implements market.FillHistory.
func (c *Caller) FilledSince(ctx context.Context, id market.SlotID, host market.Address, since int64) (bool, error) {
	var out bool
	err := c.view(ctx, "FilledSince", func(int64) error {
		if s := c.m.mu.slots[id]; s != nil {
			for _, f := range s.fills {
				out = out || (f.host == host && f.at >= since)
			}
		}
		return nil
	})
	return out, err
}

// CurrentCollateral implements market.Market.
func (c *Caller) CurrentCollateral(ctx context.Context, id market.SlotID) (uint256.Int, error) {
	var out uint256.Int
	err := c.view(ctx, "CurrentCollateral", func(int64) error {
		if s := c.m.mu.slots[id]; s != nil {
			out = s.currentCollateral
		}
		return nil
	})
	return out, err
}

// SlotCollateral implements market.Market.
func (c *Caller) SlotCollateral(ctx context.Context, id market.RequestID, slotIndex uint64) (uint256.Int, error) {
	var out uint256.Int
	err := c.view(ctx, "SlotCollateral", func(now int64) error {
		r := c.m.mu.requests[id]
		if r == nil {
			return market.ErrUnknownRequest
		}
		st := c.m.slotStateLocked(now, c.m.mu.slots[market.SlotIDFor(id, slotIndex)])
		out = c.m.cfg.SlotCollateral(r.req.Ask.CollateralPerSlot(), st)
		return nil
	})
	return out, err
}

// CanReserveSlot implements market.Market.
func (c *Caller) CanReserveSlot(ctx context.Context, id market.RequestID, slotIndex uint64) (bool, error) {
	var out bool
	err := c.view(ctx, "CanReserveSlot", func(now int64) error {
		out = c.m.canReserveLocked(now, c.addr, market.SlotIDFor(id, slotIndex))
		return nil
	})
	return out, err
}

// GetPointer implements market.Market.
func (c *Caller) GetPointer(ctx context.Context, id market.SlotID) (uint8, error) {
	var out uint8
	err := c.view(ctx, "GetPointer", func(now int64) error {
		out = c.m.pointer(id, c.m.per.PeriodOf(now), c.m.blockAt(now))
		return nil
	})
	return out, err
}

// GetChallenge implements market.Market.
func (c *Caller) GetChallenge(ctx context.Context, id market.SlotID) (market.Challenge, error) {
	var out market.Challenge
	err := c.view(ctx, "GetChallenge", func(now int64) error {
		out = c.m.currentChallenge(now, id)
		return nil
	})
	return out, err
}

// IsProofRequired implements market.Market.
func (c *Caller) IsProofRequired(ctx context.Context, id market.SlotID) (bool, error) {
	var out bool
	err := c.view(ctx, "IsProofRequired", func(now int64) (err error) {
		out, err = c.m.isProofRequiredLocked(now, c.m.mu.slots[id], c.m.per.PeriodOf(now))
		return err
	})
	return out, err
}

// WillProofBeRequired implements market.Market.
func (c *Caller) WillProofBeRequired(ctx context.Context, id market.SlotID) (bool, error) {
	var out bool
	err := c.view(ctx, "WillProofBeRequired", func(now int64) (err error) {
		out, err = c.m.willProofBeRequiredLocked(now, c.m.mu.slots[id], c.m.per.PeriodOf(now))
		return err
	})
	return out, err
}

// ReserveSlot implements market.Market.
func (c *Caller) ReserveSlot(ctx context.Context, id market.RequestID, slotIndex uint64) error {
	return c.act(ctx, "ReserveSlot", func(now int64) error {
		return c.m.reserveSlotLocked(now, c.addr, id, slotIndex)
	})
}

// FillSlot implements market.Market.
func (c *Caller) FillSlot(ctx context.Context, id market.RequestID, slotIndex uint64, proof market.Proof, collateral uint256.Int) error {
	return c.act(ctx, "FillSlot", func(now int64) error {
		return c.m.fillSlotLocked(now, c.addr, id, slotIndex, proof, collateral)
	})
}

// FreeSlot implements market.Market; the reward and the collateral go to
// the caller.
func (c *Caller) FreeSlot(ctx context.Context, id market.SlotID) error {
	return c.FreeSlotTo(ctx, id, c.addr, c.addr)
}

// FreeSlotTo is the three-argument freeSlot (MARKET.md §3.5): the reward
// goes to rewardTo and the collateral to collateralTo.
func (c *Caller) FreeSlotTo(ctx context.Context, id market.SlotID, rewardTo, collateralTo market.Address) error {
	return c.act(ctx, "FreeSlot", func(now int64) error {
		return c.m.freeSlotLocked(now, c.addr, id, rewardTo, collateralTo)
	})
}

// SubmitProof implements market.Market.
func (c *Caller) SubmitProof(ctx context.Context, id market.SlotID, proof market.Proof) error {
	return c.act(ctx, "SubmitProof", func(now int64) error {
		return c.m.submitProofLocked(now, c.addr, id, proof)
	})
}

// RequestStorage submits a request as the caller, who must be its client
// (MARKET.md §3.1). The client pays maxPrice (it approves exactly that
// amount first, like the host's client library), so it needs the tokens
// (Market.Mint). It returns the request's id.
func (c *Caller) RequestStorage(ctx context.Context, req market.StorageRequest) (market.RequestID, error) {
	var id market.RequestID
	err := c.act(ctx, "RequestStorage", func(now int64) (err error) {
		id, err = c.m.requestStorageLocked(now, c.addr, req)
		return err
	})
	return id, err
}

// WithdrawFunds withdraws what a Cancelled, Failed or Finished request owes
// its client, to the caller (MARKET.md §3.8). Withdrawing a cancelled
// request emits RequestCancelled.
func (c *Caller) WithdrawFunds(ctx context.Context, id market.RequestID) error {
	return c.WithdrawFundsTo(ctx, id, c.addr)
}

// WithdrawFundsTo is WithdrawFunds paying recipient.
func (c *Caller) WithdrawFundsTo(ctx context.Context, id market.RequestID, recipient market.Address) error {
	return c.act(ctx, "WithdrawFunds", func(now int64) error {
		return c.m.withdrawFundsLocked(now, c.addr, id, recipient)
	})
}

// MyRequests returns the caller's requests that are still listed (MARKET.md
// §3.9), in the contract's set order.
func (c *Caller) MyRequests(ctx context.Context) ([]market.RequestID, error) {
	var out []market.RequestID
	err := c.view(ctx, "MyRequests", func(int64) error {
		if set := c.m.mu.myRequests[c.addr]; set != nil {
			out = set.list()
		}
		return nil
	})
	return out, err
}

// MarkProofAsMissing marks the slot's proof of period as missing, as a
// validator (MARKET.md §3.6): it slashes the host and pays the caller the
// validator reward.
func (c *Caller) MarkProofAsMissing(ctx context.Context, id market.SlotID, period uint64) error {
	return c.act(ctx, "MarkProofAsMissing", func(now int64) error {
		return c.m.markProofAsMissingLocked(now, c.addr, id, period, false)
	})
}

// CanMarkProofAsMissing makes the checks of MarkProofAsMissing without
// acting, returning the error it would return.
func (c *Caller) CanMarkProofAsMissing(ctx context.Context, id market.SlotID, period uint64) error {
	return c.view(ctx, "CanMarkProofAsMissing", func(now int64) error {
		return c.m.markProofAsMissingLocked(now, c.addr, id, period, true)
	})
}

// MissingProofs returns the slot's missed-proof counter since its last
// forced release.
func (c *Caller) MissingProofs(ctx context.Context, id market.SlotID) (uint64, error) {
	var out uint64
	err := c.view(ctx, "MissingProofs", func(int64) error {
		if s := c.m.mu.slots[id]; s != nil {
			out = s.missed
		}
		return nil
	})
	return out, err
}

// ProofInputs returns the public inputs a proof for the slot must be made
// for now (use MakeProof with BindingVerifier). It errors with
// market.ErrUnknownRequest for a never-filled slot.
func (c *Caller) ProofInputs(ctx context.Context, id market.SlotID) (ProofInputs, error) {
	var out ProofInputs
	err := c.view(ctx, "ProofInputs", func(now int64) error {
		s := c.m.mu.slots[id]
		if s == nil || s.requestID.IsZero() {
			return market.ErrUnknownRequest
		}
		out = c.m.proofInputsLocked(now, id, c.m.mu.requests[s.requestID], s.index)
		return nil
	})
	return out, err
}

func subscribe[E market.Event](c *Caller, ctx context.Context, method string, fn func(E)) (market.Subscription, error) {
	if fn == nil {
		return nil, fmt.Errorf("simmarket: %s: nil callback: %w", method, ErrInvalidOptions)
	}
	if err := c.view(ctx, method, func(int64) error { return nil }); err != nil {
		return nil, err
	}
	return c.m.bus.subscribe(typed(fn)), nil
}

// SubscribeRequests implements market.Market.
func (c *Caller) SubscribeRequests(ctx context.Context, fn func(market.StorageRequested)) (market.Subscription, error) {
	return subscribe(c, ctx, "SubscribeRequests", fn)
}

// SubscribeFulfillment implements market.Market.
func (c *Caller) SubscribeFulfillment(ctx context.Context, fn func(market.RequestFulfilled)) (market.Subscription, error) {
	return subscribe(c, ctx, "SubscribeFulfillment", fn)
}

// SubscribeRequestFailed implements market.Market.
func (c *Caller) SubscribeRequestFailed(ctx context.Context, fn func(market.RequestFailed)) (market.Subscription, error) {
	return subscribe(c, ctx, "SubscribeRequestFailed", fn)
}

// SubscribeRequestCancelled implements market.Market.
func (c *Caller) SubscribeRequestCancelled(ctx context.Context, fn func(market.RequestCancelled)) (market.Subscription, error) {
	return subscribe(c, ctx, "SubscribeRequestCancelled", fn)
}

// SubscribeSlotFilled implements market.Market.
func (c *Caller) SubscribeSlotFilled(ctx context.Context, fn func(market.SlotFilled)) (market.Subscription, error) {
	return subscribe(c, ctx, "SubscribeSlotFilled", fn)
}

// SubscribeSlotFreed implements market.Market.
func (c *Caller) SubscribeSlotFreed(ctx context.Context, fn func(market.SlotFreed)) (market.Subscription, error) {
	return subscribe(c, ctx, "SubscribeSlotFreed", fn)
}

// SubscribeSlotReservationsFull implements market.Market.
func (c *Caller) SubscribeSlotReservationsFull(ctx context.Context, fn func(market.SlotReservationsFull)) (market.Subscription, error) {
	return subscribe(c, ctx, "SubscribeSlotReservationsFull", fn)
}

// SubscribeProofSubmitted implements market.Market.
func (c *Caller) SubscribeProofSubmitted(ctx context.Context, fn func(market.ProofSubmitted)) (market.Subscription, error) {
	return subscribe(c, ctx, "SubscribeProofSubmitted", fn)
}
