package reservations

import (
	"errors"
	"fmt"
)

// Error kinds (SPEC §2.1, plus ours). Every error returned by this package
// matches at least one of them with errors.Is; causes (datastore and quota
// errors) stay reachable through errors.Is/errors.As as well.
var (
	// ErrNotExists: the availability or reservation does not exist.
	ErrNotExists = errors.New("reservations: object does not exist")
	// ErrGetFailed: a datastore read failed.
	ErrGetFailed = errors.New("reservations: get failed")
	// ErrSerialization: a stored record does not decode. The concrete error
	// is a *DecodeError naming the key.
	ErrSerialization = errors.New("reservations: serialization failed")
	// ErrUpdateFailed: a datastore write or the commit failed.
	ErrUpdateFailed = errors.New("reservations: update failed")
	// ErrDeleteFailed: a datastore delete failed.
	ErrDeleteFailed = errors.New("reservations: delete failed")
	// ErrReserveFailed: the repo quota refused a reservation; it wraps the
	// *repostore.QuotaError (errors.Is(err, repostore.ErrQuotaExceeded)).
	ErrReserveFailed = errors.New("reservations: reserve failed")
	// ErrReleaseFailed: the repo quota refused a release.
	ErrReleaseFailed = errors.New("reservations: release failed")
	// ErrBytesOutOfBounds: more bytes than are free (or left) were asked for.
	ErrBytesOutOfBounds = errors.New("reservations: bytes out of bounds")
	// ErrUntilOutOfBounds: until is negative, or earlier than the end of a
	// hosted slot.
	ErrUntilOutOfBounds = errors.New("reservations: until out of bounds")
	// ErrCollateralOutOfBounds: the availability's remaining collateral
	// cannot cover the reservation (ours: the reference can wrap around).
	ErrCollateralOutOfBounds = errors.New("reservations: collateral out of bounds")
	// ErrHasReservations: an availability with live reservations cannot be
	// deleted.
	ErrHasReservations = errors.New("reservations: availability has reservations")
	// ErrSlotReserved: the slot already has a reservation.
	ErrSlotReserved = errors.New("reservations: slot already reserved")
	// ErrInvalid: an argument is malformed (zero size, bad id, ...).
	ErrInvalid = errors.New("reservations: invalid argument")
	// ErrNewerSchema: a stored record has a schema version newer than this
	// build understands; it also matches ErrSerialization.
	ErrNewerSchema = errors.New("reservations: record schema is newer than this build")
)

// DecodeError names a stored record that does not decode. It matches
// ErrSerialization and its cause.
type DecodeError struct {
	Key string
	Err error
}

func (e *DecodeError) Error() string {
	return fmt.Sprintf("reservations: cannot decode record at %s: %v", e.Key, e.Err)
}

// Unwrap returns ErrSerialization and the cause.
func (e *DecodeError) Unwrap() []error { return []error{ErrSerialization, e.Err} }

// kindError pairs a kind with a message and a cause, so that a refused
// operation reads like the reference ("trying to reserve an amount of
// bytes that is greater than ...") and still matches with errors.Is.
type kindError struct {
	kind  error
	msg   string
	cause error
}

func (e *kindError) Error() string {
	if e.cause != nil {
		return fmt.Sprintf("%s: %v", e.msg, e.cause)
	}
	return e.msg
}

func (e *kindError) Unwrap() []error {
	if e.cause == nil {
		return []error{e.kind}
	}
	return []error{e.kind, e.cause}
}

func errorf(kind, cause error, format string, args ...any) error {
	return &kindError{kind: kind, msg: fmt.Sprintf(format, args...), cause: cause}
}
