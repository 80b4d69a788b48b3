package slotqueue

import (
	"errors"
	"fmt"
)

// Sentinel errors of the slot queue. Every error this package returns is one
// of these or wraps one, so callers test with errors.Is; the exceptions are
// ctx.Err() from Start and Stop, and the errors of ProcessFuncs themselves,
// which Options.OnError receives as they are.
var (
	// ErrNotRunning is returned by Push on a queue that is not running
	// (before Start or after Stop). Nothing was pushed.
	ErrNotRunning = errors.New("slotqueue: not running")
	// ErrStopped is the cause (context.Cause) of the context handed to the
	// process callbacks once Stop was called.
	ErrStopped = errors.New("slotqueue: stopped")
	// ErrDuplicate is returned for a pushed item whose Key is already
	// queued (SPEC §3.4: "item already exists").
	ErrDuplicate = errors.New("slotqueue: item already exists")
	// ErrInvalidOptions is returned by New and NewCore for limits that break
	// the rules of SPEC §3.3, and by New for a nil process function.
	ErrInvalidOptions = errors.New("slotqueue: invalid options")
	// ErrSlotCountOutOfRange is returned by NewItems for a slot count
	// outside 1..MaxSlots.
	ErrSlotCountOutOfRange = errors.New("slotqueue: slot count out of range")
	// ErrNilShuffler is returned by NewItems when no source of randomness
	// is given.
	ErrNilShuffler = errors.New("slotqueue: nil Shuffler")
	// ErrPanic matches a *PanicError: a process callback panicked.
	ErrPanic = errors.New("slotqueue: process callback panicked")
)

// PanicError reports a panic recovered from a process callback. The queue
// counts it in Stats.Panics, logs it, and hands it to Options.OnError; the
// worker then takes the next item as after any other error. It matches
// ErrPanic with errors.Is, and, when the panic value is an error, that error
// too.
type PanicError struct {
	// Value is the value passed to panic.
	Value any
	// Stack is the stack trace of the panicking goroutine.
	Stack []byte
}

// Error returns "slotqueue: process callback panicked: <value>".
func (e *PanicError) Error() string {
	return fmt.Sprintf("%v: %v", ErrPanic, e.Value)
}

// Unwrap returns ErrPanic and, when the panic value is an error, that error.
func (e *PanicError) Unwrap() []error {
	if err, ok := e.Value.(error); ok {
		return []error{ErrPanic, err}
	}
	return []error{ErrPanic}
}

// duplicateError names the slot of a refused push.
func duplicateError(k Key) error {
	return fmt.Errorf("%w: %v", ErrDuplicate, k)
}
