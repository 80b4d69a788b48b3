package sim

import (
	"context"

	"github.com/holiman/uint256"

	"github.com/hostsales/hostsales/market"
	"github.com/hostsales/hostsales/market/simmarket"
)

// nodeMarket is a node incarnation's view of the market: the node's
// simmarket.Caller behind a gate that fails every call once the
// incarnation crashed (its process is gone) and injects market-error
// faults. Subscription callbacks of a crashed incarnation are dropped.
// It is safe for concurrent use, as the Caller is.
type nodeMarket struct {
	inc *incarnation
	c   *simmarket.Caller
}

var _ market.Market = (*nodeMarket)(nil)

// gate decides whether a call of method goes through.
func (w *nodeMarket) gate(method string) error {
	if w.inc.dead.Load() {
		return errCrashed
	}
	n := w.inc.n
	if n.r.fault(FaultMarketError, n, method) != nil {
		return &injectedMarketError{method: method}
	}
	return nil
}

// injectedMarketError is an injected market-error fault; it wraps
// market.ErrMarket, as a failed chain call does.
type injectedMarketError struct{ method string }

func (e *injectedMarketError) Error() string {
	return "sim: injected market error in " + e.method
}

func (e *injectedMarketError) Unwrap() error { return market.ErrMarket }

func (w *nodeMarket) GetSigner(ctx context.Context) (market.Address, error) {
	if w.inc.dead.Load() {
		return market.Address{}, errCrashed
	}
	return w.c.GetSigner(ctx)
}

func (w *nodeMarket) Configuration(ctx context.Context) (market.Config, error) {
	if err := w.gate("Configuration"); err != nil {
		return market.Config{}, err
	}
	return w.c.Configuration(ctx)
}

func (w *nodeMarket) Periodicity(ctx context.Context) (market.Periodicity, error) {
	if err := w.gate("Periodicity"); err != nil {
		return market.Periodicity{}, err
	}
	return w.c.Periodicity(ctx)
}

func (w *nodeMarket) ProofDowntime(ctx context.Context) (uint8, error) {
	if err := w.gate("ProofDowntime"); err != nil {
		return 0, err
	}
	return w.c.ProofDowntime(ctx)
}

func (w *nodeMarket) GetRequest(ctx context.Context, id market.RequestID) (market.StorageRequest, error) {
	if err := w.gate("GetRequest"); err != nil {
		return market.StorageRequest{}, err
	}
	return w.c.GetRequest(ctx, id)
}

func (w *nodeMarket) RequestState(ctx context.Context, id market.RequestID) (market.RequestState, error) {
	if err := w.gate("RequestState"); err != nil {
		return 0, err
	}
	return w.c.RequestState(ctx, id)
}

func (w *nodeMarket) GetRequestEnd(ctx context.Context, id market.RequestID) (int64, error) {
	if err := w.gate("GetRequestEnd"); err != nil {
		return 0, err
	}
	return w.c.GetRequestEnd(ctx, id)
}

func (w *nodeMarket) RequestExpiresAt(ctx context.Context, id market.RequestID) (int64, error) {
	if err := w.gate("RequestExpiresAt"); err != nil {
		return 0, err
	}
	return w.c.RequestExpiresAt(ctx, id)
}

func (w *nodeMarket) SlotState(ctx context.Context, id market.SlotID) (market.SlotState, error) {
	if err := w.gate("SlotState"); err != nil {
		return 0, err
	}
	return w.c.SlotState(ctx, id)
}

func (w *nodeMarket) GetActiveSlot(ctx context.Context, id market.SlotID) (market.Slot, error) {
	if err := w.gate("GetActiveSlot"); err != nil {
		return market.Slot{}, err
	}
	return w.c.GetActiveSlot(ctx, id)
}

func (w *nodeMarket) MySlots(ctx context.Context) ([]market.SlotID, error) {
	if err := w.gate("MySlots"); err != nil {
		return nil, err
	}
	return w.c.MySlots(ctx)
}

func (w *nodeMarket) GetHost(ctx context.Context, id market.RequestID, slotIndex uint64) (market.Address, error) {
	if err := w.gate("GetHost"); err != nil {
		return market.Address{}, err
	}
	return w.c.GetHost(ctx, id, slotIndex)
}

func (w *nodeMarket) CurrentCollateral(ctx context.Context, id market.SlotID) (uint256.Int, error) {
	if err := w.gate("CurrentCollateral"); err != nil {
		return uint256.Int{}, err
	}
	return w.c.CurrentCollateral(ctx, id)
}

func (w *nodeMarket) SlotCollateral(ctx context.Context, id market.RequestID, slotIndex uint64) (uint256.Int, error) {
	if err := w.gate("SlotCollateral"); err != nil {
		return uint256.Int{}, err
	}
	return w.c.SlotCollateral(ctx, id, slotIndex)
}

func (w *nodeMarket) CanReserveSlot(ctx context.Context, id market.RequestID, slotIndex uint64) (bool, error) {
	if err := w.gate("CanReserveSlot"); err != nil {
		return false, err
	}
	return w.c.CanReserveSlot(ctx, id, slotIndex)
}

func (w *nodeMarket) GetPointer(ctx context.Context, id market.SlotID) (uint8, error) {
	if err := w.gate("GetPointer"); err != nil {
		return 0, err
	}
	return w.c.GetPointer(ctx, id)
}

func (w *nodeMarket) GetChallenge(ctx context.Context, id market.SlotID) (market.Challenge, error) {
	if err := w.gate("GetChallenge"); err != nil {
		return market.Challenge{}, err
	}
	return w.c.GetChallenge(ctx, id)
}

func (w *nodeMarket) IsProofRequired(ctx context.Context, id market.SlotID) (bool, error) {
	if err := w.gate("IsProofRequired"); err != nil {
		return false, err
	}
	return w.c.IsProofRequired(ctx, id)
}

func (w *nodeMarket) WillProofBeRequired(ctx context.Context, id market.SlotID) (bool, error) {
	if err := w.gate("WillProofBeRequired"); err != nil {
		return false, err
	}
	return w.c.WillProofBeRequired(ctx, id)
}

func (w *nodeMarket) ReserveSlot(ctx context.Context, id market.RequestID, slotIndex uint64) error {
	if err := w.gate("ReserveSlot"); err != nil {
		return err
	}
	return w.c.ReserveSlot(ctx, id, slotIndex)
}

func (w *nodeMarket) FillSlot(ctx context.Context, id market.RequestID, slotIndex uint64, proof market.Proof, collateral uint256.Int) error {
	if err := w.gate("FillSlot"); err != nil {
		return err
	}
	return w.c.FillSlot(ctx, id, slotIndex, proof, collateral)
}

func (w *nodeMarket) FreeSlot(ctx context.Context, id market.SlotID) error {
	if err := w.gate("FreeSlot"); err != nil {
		return err
	}
	w.inc.n.freeing = id
	defer func() { w.inc.n.freeing = market.SlotID{} }()
	return w.c.FreeSlot(ctx, id)
}

func (w *nodeMarket) SubmitProof(ctx context.Context, id market.SlotID, proof market.Proof) error {
	if err := w.gate("SubmitProof"); err != nil {
		return err
	}
	return w.c.SubmitProof(ctx, id, proof)
}

// subscribe wraps a subscription callback so that a crashed incarnation
// hears nothing.
func subscribe[E any](ctx context.Context, w *nodeMarket, fn func(E),
	sub func(context.Context, func(E)) (market.Subscription, error)) (market.Subscription, error) {
	if w.inc.dead.Load() {
		return nil, errCrashed
	}
	return sub(ctx, func(e E) {
		if !w.inc.dead.Load() {
			fn(e)
		}
	})
}

func (w *nodeMarket) SubscribeRequests(ctx context.Context, fn func(market.StorageRequested)) (market.Subscription, error) {
	return subscribe(ctx, w, fn, w.c.SubscribeRequests)
}

func (w *nodeMarket) SubscribeFulfillment(ctx context.Context, fn func(market.RequestFulfilled)) (market.Subscription, error) {
	return subscribe(ctx, w, fn, w.c.SubscribeFulfillment)
}

func (w *nodeMarket) SubscribeRequestFailed(ctx context.Context, fn func(market.RequestFailed)) (market.Subscription, error) {
	return subscribe(ctx, w, fn, w.c.SubscribeRequestFailed)
}

func (w *nodeMarket) SubscribeRequestCancelled(ctx context.Context, fn func(market.RequestCancelled)) (market.Subscription, error) {
	return subscribe(ctx, w, fn, w.c.SubscribeRequestCancelled)
}

func (w *nodeMarket) SubscribeSlotFilled(ctx context.Context, fn func(market.SlotFilled)) (market.Subscription, error) {
	return subscribe(ctx, w, fn, w.c.SubscribeSlotFilled)
}

func (w *nodeMarket) SubscribeSlotFreed(ctx context.Context, fn func(market.SlotFreed)) (market.Subscription, error) {
	return subscribe(ctx, w, fn, w.c.SubscribeSlotFreed)
}

func (w *nodeMarket) SubscribeSlotReservationsFull(ctx context.Context, fn func(market.SlotReservationsFull)) (market.Subscription, error) {
	return subscribe(ctx, w, fn, w.c.SubscribeSlotReservationsFull)
}

func (w *nodeMarket) SubscribeProofSubmitted(ctx context.Context, fn func(market.ProofSubmitted)) (market.Subscription, error) {
	return subscribe(ctx, w, fn, w.c.SubscribeProofSubmitted)
}

var _ market.FillHistory = (*nodeMarket)(nil)

func (w *nodeMarket) FilledSince(ctx context.Context, id market.SlotID, host market.Address, since int64) (bool, error) {
	if err := w.gate("FilledSince"); err != nil {
		return false, err
	}
	return w.c.FilledSince(ctx, id, host, since)
}
