package market

import (
	"errors"
	"fmt"
	"strconv"
)

// ErrInvalidStateName is wrapped by the errors of RequestState.UnmarshalText and
// SlotState.UnmarshalText for an unknown state name.
var ErrInvalidStateName = errors.New("market: invalid state name")

// RequestState is the effective state of a request (MARKET.md §2.1). The
// numeric values are the contract's.
type RequestState uint8

// Request states.
const (
	RequestStateNew       RequestState = 0 // submitted, not all slots filled yet
	RequestStateStarted   RequestState = 1 // all slots were filled once
	RequestStateCancelled RequestState = 2 // not started by its expiry (terminal)
	RequestStateFinished  RequestState = 3 // past its end (terminal)
	RequestStateFailed    RequestState = 4 // lost more than maxSlotLoss slots (terminal)
)

var requestStateNames = [...]string{"New", "Started", "Cancelled", "Finished", "Failed"}

// String returns the state's name ("New", "Started", "Cancelled",
// "Finished", "Failed"), or "RequestState(n)" for an unknown value.
func (s RequestState) String() string {
	if int(s) < len(requestStateNames) {
		return requestStateNames[s]
	}
	return "RequestState(" + strconv.Itoa(int(s)) + ")"
}

// IsTerminal reports whether s is Cancelled, Finished or Failed.
func (s RequestState) IsTerminal() bool {
	return s == RequestStateCancelled || s == RequestStateFinished || s == RequestStateFailed
}

// MarshalText implements encoding.TextMarshaler with the state's name. An
// unknown value is an error.
func (s RequestState) MarshalText() ([]byte, error) {
	if int(s) >= len(requestStateNames) {
		return nil, fmt.Errorf("%w: %s", ErrInvalidStateName, s)
	}
	return []byte(s.String()), nil
}

// UnmarshalText implements encoding.TextUnmarshaler. It accepts exactly the
// names String returns; errors wrap ErrInvalidStateName.
func (s *RequestState) UnmarshalText(b []byte) error {
	for i, n := range requestStateNames {
		if string(b) == n {
			*s = RequestState(i)
			return nil
		}
	}
	return fmt.Errorf("%w: request state %s", ErrInvalidStateName, quoteShort(b))
}

// SlotState is the effective state of a slot (MARKET.md §2.2). The numeric
// values are the contract's.
type SlotState uint8

// Slot states.
const (
	SlotStateFree      SlotState = 0 // never filled (also any slot of an unknown request)
	SlotStateFilled    SlotState = 1 // held by a host
	SlotStateFinished  SlotState = 2 // its request finished; the host can collect
	SlotStateFailed    SlotState = 3 // its request failed
	SlotStatePaid      SlotState = 4 // the host collected its payout (final)
	SlotStateCancelled SlotState = 5 // its request was cancelled; the host can collect
	SlotStateRepair    SlotState = 6 // forcibly freed; can be refilled at a discount
)

var slotStateNames = [...]string{"Free", "Filled", "Finished", "Failed", "Paid", "Cancelled", "Repair"}

// String returns the state's name ("Free", "Filled", "Finished", "Failed",
// "Paid", "Cancelled", "Repair"), or "SlotState(n)" for an unknown value.
func (s SlotState) String() string {
	if int(s) < len(slotStateNames) {
		return slotStateNames[s]
	}
	return "SlotState(" + strconv.Itoa(int(s)) + ")"
}

// MarshalText implements encoding.TextMarshaler with the state's name. An
// unknown value is an error.
func (s SlotState) MarshalText() ([]byte, error) {
	if int(s) >= len(slotStateNames) {
		return nil, fmt.Errorf("%w: %s", ErrInvalidStateName, s)
	}
	return []byte(s.String()), nil
}

// UnmarshalText implements encoding.TextUnmarshaler. It accepts exactly the
// names String returns; errors wrap ErrInvalidStateName.
func (s *SlotState) UnmarshalText(b []byte) error {
	for i, n := range slotStateNames {
		if string(b) == n {
			*s = SlotState(i)
			return nil
		}
	}
	return fmt.Errorf("%w: slot state %s", ErrInvalidStateName, quoteShort(b))
}
