package sales

import "errors"

// Errors a sale ends with (SaleErrored's error), for errors.Is.
var (
	// ErrRequestUnknown: the market does not know the request.
	ErrRequestUnknown = errors.New("sales: request could not be retrieved")
	// ErrHostMismatch: another host filled the slot (SPEC §4.3 SaleFilled).
	ErrHostMismatch = errors.New("sales: Slot filled by other host")
	// ErrSlotFreed: the slot was freed (repair) while we hosted it.
	ErrSlotFreed = errors.New("sales: slot was freed")
	// ErrSlotNotFilled: the slot is neither filled nor finished while proving.
	ErrSlotNotFilled = errors.New("sales: slot is not filled")
	// ErrUnexpectedSlotState: a restored slot is free on chain.
	ErrUnexpectedSlotState = errors.New("sales: Slot state on chain should not be 'free'")
	// ErrSaleFailed: the request failed on chain.
	ErrSaleFailed = errors.New("sales: Sale failed")
	// ErrNotRunning: Sales is not started, or was stopped.
	ErrNotRunning = errors.New("sales: not running")
)
