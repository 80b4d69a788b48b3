package market

import "errors"

// ErrMarket is the base of every market error (SPEC.md §4.8 MarketError):
// errors.Is(err, ErrMarket) is true for every ContractError and every error
// kind below. Implementations should also wrap their transport failures with
// it, so that sales can tell "the market said no / could not be reached"
// from its own bugs.
var ErrMarket = errors.New("market error")

// Error kinds of SPEC.md §4.8, which sales reacts to. Each wraps ErrMarket,
// and each ContractError listed below unwraps to its kind:
//
//   - ErrSlotStateMismatch: Marketplace_SlotNotFree (fill of a slot that is
//     not free) and Marketplace_SlotIsFree (free of a never-filled slot);
//   - ErrSlotReservationNotAllowed: SlotReservations_ReservationNotAllowed;
//   - ErrProofInvalid: Proofs_InvalidProof.
var (
	ErrSlotStateMismatch         = &kindError{"market: slot state mismatch"}
	ErrSlotReservationNotAllowed = &kindError{"market: slot reservation not allowed"}
	ErrProofInvalid              = &kindError{"market: proof invalid"}
)

type kindError struct{ msg string }

func (e *kindError) Error() string { return e.msg }
func (e *kindError) Unwrap() error { return ErrMarket }

// ContractError is a revert of the marketplace contract, identified by the
// contract's error name (MARKET.md §8), for example
// "Marketplace_SlotNotFree".
//
// Two ContractErrors match with errors.Is when their names are equal, so an
// implementation may build its own with NewContractError and callers still
// compare against the sentinels below. errors.As(err, &ce) recovers the name.
// Every ContractError unwraps to its SPEC kind (ErrSlotStateMismatch,
// ErrSlotReservationNotAllowed, ErrProofInvalid) or else to ErrMarket.
type ContractError struct {
	// Name is the contract's error name. Arithmetic overflow, a Solidity
	// panic, is named "Panic(0x11)".
	Name string
}

// Error returns "market: <Name>".
func (e *ContractError) Error() string { return "market: " + e.Name }

// Is reports whether target is a *ContractError with the same name.
func (e *ContractError) Is(target error) bool {
	t, ok := target.(*ContractError)
	return ok && t != nil && t.Name == e.Name
}

// Unwrap returns the error's SPEC kind, or ErrMarket.
func (e *ContractError) Unwrap() error {
	switch e.Name {
	case ErrSlotNotFree.Name, ErrSlotIsFree.Name:
		return ErrSlotStateMismatch
	case ErrReservationNotAllowed.Name:
		return ErrSlotReservationNotAllowed
	case ErrInvalidProof.Name:
		return ErrProofInvalid
	}
	return ErrMarket
}

// NewContractError returns the sentinel for a known contract error name, or
// a new ContractError carrying name.
func NewContractError(name string) *ContractError {
	for _, e := range contractErrors {
		if e.Name == name {
			return e
		}
	}
	return &ContractError{Name: name}
}

// Contract errors, named after the contract (MARKET.md §8). Operations of a
// Market return errors that match these with errors.Is, usually wrapped
// with the operation's name.
var (
	// Creation of the market (Config.Validate).
	ErrRepairRewardPercentageTooHigh = &ContractError{"Marketplace_RepairRewardPercentageTooHigh"}
	ErrSlashPercentageTooHigh        = &ContractError{"Marketplace_SlashPercentageTooHigh"}
	ErrMaximumSlashingTooHigh        = &ContractError{"Marketplace_MaximumSlashingTooHigh"}
	ErrInvalidSecondsPerPeriod       = &ContractError{"Periods_InvalidSecondsPerPeriod"}
	ErrInsufficientBlockHeight       = &ContractError{"Proofs_InsufficientBlockHeight"}

	// requestStorage.
	ErrInvalidClientAddress         = &ContractError{"Marketplace_InvalidClientAddress"}
	ErrRequestAlreadyExists         = &ContractError{"Marketplace_RequestAlreadyExists"}
	ErrInvalidExpiry                = &ContractError{"Marketplace_InvalidExpiry"}
	ErrInsufficientSlots            = &ContractError{"Marketplace_InsufficientSlots"}
	ErrInvalidMaxSlotLoss           = &ContractError{"Marketplace_InvalidMaxSlotLoss"}
	ErrInsufficientDuration         = &ContractError{"Marketplace_InsufficientDuration"}
	ErrInsufficientProofProbability = &ContractError{"Marketplace_InsufficientProofProbability"}
	ErrInsufficientCollateral       = &ContractError{"Marketplace_InsufficientCollateral"}
	ErrInsufficientReward           = &ContractError{"Marketplace_InsufficientReward"}
	ErrInvalidCid                   = &ContractError{"Marketplace_InvalidCid"}
	ErrDurationExceedsLimit         = &ContractError{"Marketplace_DurationExceedsLimit"}

	// Slots, payouts and withdrawal.
	ErrReservationNotAllowed     = &ContractError{"SlotReservations_ReservationNotAllowed"}
	ErrUnknownRequest            = &ContractError{"Marketplace_UnknownRequest"}
	ErrInvalidSlot               = &ContractError{"Marketplace_InvalidSlot"}
	ErrReservationRequired       = &ContractError{"Marketplace_ReservationRequired"}
	ErrSlotNotFree               = &ContractError{"Marketplace_SlotNotFree"}
	ErrStartNotBeforeExpiry      = &ContractError{"Marketplace_StartNotBeforeExpiry"}
	ErrSlotIsFree                = &ContractError{"Marketplace_SlotIsFree"}
	ErrInvalidSlotHost           = &ContractError{"Marketplace_InvalidSlotHost"}
	ErrAlreadyPaid               = &ContractError{"Marketplace_AlreadyPaid"}
	ErrProofNotSubmittedByHost   = &ContractError{"Marketplace_ProofNotSubmittedByHost"}
	ErrSlotNotAcceptingProofs    = &ContractError{"Marketplace_SlotNotAcceptingProofs"}
	ErrInvalidState              = &ContractError{"Marketplace_InvalidState"}
	ErrNothingToWithdraw         = &ContractError{"Marketplace_NothingToWithdraw"}
	ErrTransferFailed            = &ContractError{"Marketplace_TransferFailed"}
	ErrProofAlreadySubmitted     = &ContractError{"Proofs_ProofAlreadySubmitted"}
	ErrInvalidProof              = &ContractError{"Proofs_InvalidProof"}
	ErrPeriodNotEnded            = &ContractError{"Proofs_PeriodNotEnded"}
	ErrValidationTimedOut        = &ContractError{"Proofs_ValidationTimedOut"}
	ErrProofNotMissing           = &ContractError{"Proofs_ProofNotMissing"}
	ErrProofNotRequired          = &ContractError{"Proofs_ProofNotRequired"}
	ErrProofAlreadyMarkedMissing = &ContractError{"Proofs_ProofAlreadyMarkedMissing"}

	// The token (ERC20), and checked arithmetic.
	ErrInsufficientAllowance = &ContractError{"ERC20InsufficientAllowance"}
	ErrInsufficientBalance   = &ContractError{"ERC20InsufficientBalance"}
	ErrArithmetic            = &ContractError{"Panic(0x11)"}
)

var contractErrors = []*ContractError{
	ErrRepairRewardPercentageTooHigh, ErrSlashPercentageTooHigh, ErrMaximumSlashingTooHigh,
	ErrInvalidSecondsPerPeriod, ErrInsufficientBlockHeight,
	ErrInvalidClientAddress, ErrRequestAlreadyExists, ErrInvalidExpiry, ErrInsufficientSlots,
	ErrInvalidMaxSlotLoss, ErrInsufficientDuration, ErrInsufficientProofProbability,
	ErrInsufficientCollateral, ErrInsufficientReward, ErrInvalidCid, ErrDurationExceedsLimit,
	ErrReservationNotAllowed, ErrUnknownRequest, ErrInvalidSlot, ErrReservationRequired,
	ErrSlotNotFree, ErrStartNotBeforeExpiry, ErrSlotIsFree, ErrInvalidSlotHost, ErrAlreadyPaid,
	ErrProofNotSubmittedByHost, ErrSlotNotAcceptingProofs, ErrInvalidState, ErrNothingToWithdraw,
	ErrTransferFailed, ErrProofAlreadySubmitted, ErrInvalidProof, ErrPeriodNotEnded,
	ErrValidationTimedOut, ErrProofNotMissing, ErrProofNotRequired, ErrProofAlreadyMarkedMissing,
	ErrInsufficientAllowance, ErrInsufficientBalance, ErrArithmetic,
}

// IsRevert reports whether err carries the contract's definite answer (a
// ContractError or one of the SPEC kinds above), as opposed to a failure
// to reach the market or to hear its answer. A revert is final for the
// state it was given in; any other error may be retried.
func IsRevert(err error) bool {
	var ce *ContractError
	var ke *kindError
	return errors.As(err, &ce) || errors.As(err, &ke)
}
