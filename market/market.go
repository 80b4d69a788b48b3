package market

import (
	"context"

	"github.com/holiman/uint256"
)

// Market is the marketplace as one host sees it (SPEC.md §4.8): the caller
// identity is fixed by the implementation (GetSigner), and every action is
// made as that caller. The semantics of each call are those of the
// marketplace contract (MARKET.md); the simulated market
// (market/simmarket) reproduces them exactly.
//
// All methods are safe for concurrent use. Every call takes a context; an
// implementation that does IO returns ctx's error (wrapped) when ctx is done
// first. Errors: contract reverts are *ContractError values (compare with
// errors.Is against the sentinels ErrSlotNotFree, ErrUnknownRequest, ...,
// or against the SPEC kinds ErrSlotStateMismatch,
// ErrSlotReservationNotAllowed, ErrProofInvalid); every other failure
// should wrap ErrMarket. "None" results of SPEC.md §4.8 are reported as the
// contract reports them: GetRequest, RequestState and GetRequestEnd return
// ErrUnknownRequest for an unknown request, GetActiveSlot returns
// ErrSlotIsFree for a never-filled slot, and GetHost returns the zero
// Address for a slot nobody holds.
//
// Times are unix seconds (int64) of market time; see Clock.
//
// Subscriptions: each Subscribe method registers a callback for one event
// type and returns a Subscription whose Unsubscribe stops it. Callbacks are
// called one at a time (never concurrently with another callback of the same
// Market), in the order the events happened, possibly on the goroutine of
// whatever call caused the event. A callback must return quickly and must
// not block waiting for other goroutines that may themselves be calling the
// market; it may call Market methods (implementations must not deadlock when
// it does; events caused by such a call are delivered after the callback
// returns). Nothing is replayed: a subscriber never sees events delivered
// before Subscribe returned (an implementation that queues events may
// deliver ones that were still queued).
type Market interface {
	// GetSigner returns the address this view acts as.
	GetSigner(ctx context.Context) (Address, error)
	// Configuration returns the market's fixed configuration.
	Configuration(ctx context.Context) (Config, error)
	// Periodicity returns the proof period arithmetic.
	Periodicity(ctx context.Context) (Periodicity, error)
	// ProofDowntime returns the configured downtime (pointer positions with no
	// proof required).
	ProofDowntime(ctx context.Context) (uint8, error)

	// GetRequest returns the request exactly as submitted (relative Expiry).
	// Unknown: ErrUnknownRequest.
	GetRequest(ctx context.Context, id RequestID) (StorageRequest, error)
	// RequestState returns the effective state (MARKET.md §2.1), which moves
	// to Cancelled or Finished with time alone. Unknown: ErrUnknownRequest.
	RequestState(ctx context.Context, id RequestID) (RequestState, error)
	// GetRequestEnd returns the contract's requestEnd (MARKET.md §2.3): the
	// end for New/Started, the expiry for Cancelled, min(end, now) for
	// Finished/Failed (failure time − 1 for Failed). Unknown:
	// ErrUnknownRequest.
	GetRequestEnd(ctx context.Context, id RequestID) (int64, error)
	// RequestExpiresAt returns the absolute expiry (submission + Expiry). As
	// on chain there is no existence check: an unknown request gives 0.
	RequestExpiresAt(ctx context.Context, id RequestID) (int64, error)

	// SlotState returns the effective slot state (MARKET.md §2.2). It never
	// fails for an unknown slot: a never-filled slot is Free.
	SlotState(ctx context.Context, id SlotID) (SlotState, error)
	// GetActiveSlot returns the slot's request and index for any slot that
	// was ever filled (including Repair and Paid). Never filled:
	// ErrSlotIsFree.
	GetActiveSlot(ctx context.Context, id SlotID) (Slot, error)
	// MySlots returns the slots the caller currently holds, in the contract's
	// set order (not meaningful, but deterministic).
	MySlots(ctx context.Context) ([]SlotID, error)
	// GetHost returns the current host of a slot, or the zero Address when
	// nobody holds it (never filled, or freed). It is unchanged by a payout.
	GetHost(ctx context.Context, id RequestID, slotIndex uint64) (Address, error)
	// CurrentCollateral returns the collateral that will be returned to the
	// slot's host (collateralPerSlot minus slashes; 0 after a forced release;
	// unchanged by a payout; 0 for an unknown slot).
	CurrentCollateral(ctx context.Context, id SlotID) (uint256.Int, error)
	// SlotCollateral returns what filling the slot costs now: the full
	// collateralPerSlot, or the repair-discounted amount when the slot is in
	// Repair (Config.SlotCollateral). Unknown request: ErrUnknownRequest.
	SlotCollateral(ctx context.Context, id RequestID, slotIndex uint64) (uint256.Int, error)
	// CanReserveSlot reports whether ReserveSlot would succeed for the caller
	// now (MARKET.md §3.2).
	CanReserveSlot(ctx context.Context, id RequestID, slotIndex uint64) (bool, error)

	// GetPointer returns the slot's proof pointer for the current period
	// (MARKET.md §5.2).
	GetPointer(ctx context.Context, id SlotID) (uint8, error)
	// GetChallenge returns the slot's current challenge; it is defined for
	// any id in any state.
	GetChallenge(ctx context.Context, id SlotID) (Challenge, error)
	// IsProofRequired reports whether a proof is required for the slot in
	// the current period and the pointer is out of downtime (MARKET.md §5.3).
	IsProofRequired(ctx context.Context, id SlotID) (bool, error)
	// WillProofBeRequired reports whether a proof is required for the current
	// period but the pointer is still in downtime. Never true together with
	// IsProofRequired. A host must prove in any period where either is true.
	WillProofBeRequired(ctx context.Context, id SlotID) (bool, error)

	// ReserveSlot adds the caller to the slot's reservations (MARKET.md
	// §3.2). Not allowed: ErrReservationNotAllowed (kind
	// ErrSlotReservationNotAllowed).
	ReserveSlot(ctx context.Context, id RequestID, slotIndex uint64) error
	// FillSlot fills the slot as the caller with proof, paying the slot's
	// collateral (MARKET.md §3.3). collateral is the amount the caller
	// approves for the transfer, as the on-chain client approves before
	// filling; less than SlotCollateral gives ErrInsufficientAllowance.
	// A slot that is not free: ErrSlotNotFree (kind ErrSlotStateMismatch).
	FillSlot(ctx context.Context, id RequestID, slotIndex uint64, proof Proof, collateral uint256.Int) error
	// FreeSlot frees the caller's slot (MARKET.md §3.5): collects the payout
	// and collateral of a finished or cancelled slot, acknowledges a failed
	// one, or abandons a filled one (forfeiting the collateral). Never
	// filled: ErrSlotIsFree (kind ErrSlotStateMismatch).
	FreeSlot(ctx context.Context, id SlotID) error
	// SubmitProof submits a proof for the current period (MARKET.md §3.4).
	// Rejected: ErrInvalidProof (kind ErrProofInvalid).
	SubmitProof(ctx context.Context, id SlotID, proof Proof) error

	// SubscribeRequests delivers StorageRequested events.
	SubscribeRequests(ctx context.Context, fn func(StorageRequested)) (Subscription, error)
	// SubscribeFulfillment delivers RequestFulfilled events.
	SubscribeFulfillment(ctx context.Context, fn func(RequestFulfilled)) (Subscription, error)
	// SubscribeRequestFailed delivers RequestFailed events.
	SubscribeRequestFailed(ctx context.Context, fn func(RequestFailed)) (Subscription, error)
	// SubscribeRequestCancelled delivers RequestCancelled events.
	SubscribeRequestCancelled(ctx context.Context, fn func(RequestCancelled)) (Subscription, error)
	// SubscribeSlotFilled delivers SlotFilled events.
	SubscribeSlotFilled(ctx context.Context, fn func(SlotFilled)) (Subscription, error)
	// SubscribeSlotFreed delivers SlotFreed events.
	SubscribeSlotFreed(ctx context.Context, fn func(SlotFreed)) (Subscription, error)
	// SubscribeSlotReservationsFull delivers SlotReservationsFull events.
	SubscribeSlotReservationsFull(ctx context.Context, fn func(SlotReservationsFull)) (Subscription, error)
	// SubscribeProofSubmitted delivers ProofSubmitted events.
	SubscribeProofSubmitted(ctx context.Context, fn func(ProofSubmitted)) (Subscription, error)
}

// FillHistory is implemented by a Market that can tell, after the fact,
// whether a host's fill of a slot landed: on a chain, from the request's
// SlotFilled logs and the senders of their transactions. Sales asks it
// when it settles a reservation whose fill was under way when the node
// stopped and whose slot is no longer the node's (so GetHost cannot
// tell): without it, such a fill is taken to have landed (nothing more
// back than the market pays), the safe side for collateral.
type FillHistory interface {
	// FilledSince reports whether host filled slot id at or after market
	// time since.
	FilledSince(ctx context.Context, id SlotID, host Address, since int64) (bool, error)
}

// Subscription is the handle of one event subscription.
type Subscription interface {
	// Unsubscribe stops the subscription. After it returns no new call of the
	// callback starts (a call already running on another goroutine may still
	// be finishing). It is idempotent, safe for concurrent use, and may be
	// called from inside the callback.
	Unsubscribe()
}
