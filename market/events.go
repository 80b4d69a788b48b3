package market

import "fmt"

// Event is one of the marketplace events of MARKET.md §6: StorageRequested,
// SlotReservationsFull, ProofSubmitted, SlotFilled, RequestFulfilled,
// SlotFreed, RequestFailed or RequestCancelled. It is implemented by those
// value types only (and by types of an implementation that documents them,
// such as simmarket's token transfers).
type Event interface {
	// EventName is the contract's event name, for example "SlotFilled".
	EventName() string
	// String renders the event and its fields on one line.
	String() string
}

// StorageRequested is emitted when a client submits a request. ExpiresAt is
// absolute (submission time + Expiry), unlike StorageRequest.Expiry.
type StorageRequested struct {
	RequestID RequestID
	Ask       StorageAsk
	ExpiresAt int64
}

// SlotReservationsFull is emitted when the number of reservations of a slot
// reaches the configured maximum.
type SlotReservationsFull struct {
	RequestID RequestID
	SlotIndex uint64
}

// ProofSubmitted is emitted for every accepted proof, including the one
// carried by a fill (before its SlotFilled).
type ProofSubmitted struct {
	SlotID SlotID
}

// SlotFilled is emitted when a host fills a slot.
type SlotFilled struct {
	RequestID RequestID
	SlotIndex uint64
}

// RequestFulfilled is emitted once, by the fill that starts a request.
type RequestFulfilled struct {
	RequestID RequestID
}

// SlotFreed is emitted only when a slot is forcibly released (its host
// abandoned it, or missed too many proofs); not on payouts.
type SlotFreed struct {
	RequestID RequestID
	SlotIndex uint64
}

// RequestFailed is emitted after the SlotFreed that makes a started request
// lose more than maxSlotLoss slots.
type RequestFailed struct {
	RequestID RequestID
}

// RequestCancelled is emitted only when the client withdraws the funds of a
// cancelled request. Nothing is emitted at the expiry itself (MARKET.md §2.1
// QUIRK): hosts must watch the time.
type RequestCancelled struct {
	RequestID RequestID
}

// EventName returns "StorageRequested".
func (StorageRequested) EventName() string { return "StorageRequested" }

// EventName returns "SlotReservationsFull".
func (SlotReservationsFull) EventName() string { return "SlotReservationsFull" }

// EventName returns "ProofSubmitted".
func (ProofSubmitted) EventName() string { return "ProofSubmitted" }

// EventName returns "SlotFilled".
func (SlotFilled) EventName() string { return "SlotFilled" }

// EventName returns "RequestFulfilled".
func (RequestFulfilled) EventName() string { return "RequestFulfilled" }

// EventName returns "SlotFreed".
func (SlotFreed) EventName() string { return "SlotFreed" }

// EventName returns "RequestFailed".
func (RequestFailed) EventName() string { return "RequestFailed" }

// EventName returns "RequestCancelled".
func (RequestCancelled) EventName() string { return "RequestCancelled" }

// String renders the event as "StorageRequested(fields)".
func (e StorageRequested) String() string {
	return fmt.Sprintf("StorageRequested(%s, slots=%d slotSize=%d duration=%d, expiresAt=%d)",
		e.RequestID, e.Ask.Slots, e.Ask.SlotSize, e.Ask.Duration, e.ExpiresAt)
}

// String renders the event as "SlotReservationsFull(fields)".
func (e SlotReservationsFull) String() string {
	return fmt.Sprintf("SlotReservationsFull(%s, %d)", e.RequestID, e.SlotIndex)
}

// String renders the event as "ProofSubmitted(fields)".
func (e ProofSubmitted) String() string { return fmt.Sprintf("ProofSubmitted(%s)", e.SlotID) }

// String renders the event as "SlotFilled(fields)".
func (e SlotFilled) String() string {
	return fmt.Sprintf("SlotFilled(%s, %d)", e.RequestID, e.SlotIndex)
}

// String renders the event as "RequestFulfilled(fields)".
func (e RequestFulfilled) String() string { return fmt.Sprintf("RequestFulfilled(%s)", e.RequestID) }

// String renders the event as "SlotFreed(fields)".
func (e SlotFreed) String() string {
	return fmt.Sprintf("SlotFreed(%s, %d)", e.RequestID, e.SlotIndex)
}

// String renders the event as "RequestFailed(fields)".
func (e RequestFailed) String() string { return fmt.Sprintf("RequestFailed(%s)", e.RequestID) }

// String renders the event as "RequestCancelled(fields)".
func (e RequestCancelled) String() string { return fmt.Sprintf("RequestCancelled(%s)", e.RequestID) }
