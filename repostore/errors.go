package repostore

import (
	"errors"
	"fmt"
)

// Sentinel errors of the repo store. Every error returned by this package
// either is one of these or wraps one, so callers test with errors.Is.
var (
	// ErrClosed is returned by every call made after Close started.
	ErrClosed = errors.New("repostore: closed")
	// ErrQuotaExceeded is returned when a change would make used+reserved
	// exceed max. The concrete error is a *QuotaError carrying the numbers.
	ErrQuotaExceeded = errors.New("repostore: quota usage would exceed the limit")
	// ErrReleaseExceedsReserved is returned when Release is asked to give
	// back more bytes than are reserved. The concrete error is a *QuotaError.
	ErrReleaseExceedsReserved = errors.New("repostore: cannot release more bytes than are reserved")
	// ErrQuotaBelowUsage is returned by Open when the stored usage exceeds a
	// lowered QuotaMaxBytes. The concrete error is a *QuotaError.
	ErrQuotaBelowUsage = errors.New("repostore: stored quota usage exceeds the configured maximum")
	// ErrBlockNotFound is returned for a block that is not stored.
	ErrBlockNotFound = errors.New("repostore: block not found")
	// ErrBlockTagged is returned when a block that is still held by a tag
	// (a reservation) is deleted directly.
	ErrBlockTagged = errors.New("repostore: directly deleting a block that is held by a reservation is not allowed")
	// ErrInvalidExpiry is returned for an expiry that is not a positive unix time.
	ErrInvalidExpiry = errors.New("repostore: expiry must be a positive unix time")
	// ErrOpTooBig is returned when a single op writes more than one
	// datastore transaction can hold.
	ErrOpTooBig = errors.New("repostore: operation too big for one transaction")
	// ErrCommit wraps a failure of the datastore commit. Every op of the
	// failed batch gets it; none of their writes took effect.
	ErrCommit = errors.New("repostore: commit failed")
	// ErrCorrupt is returned when a stored record of the repo store itself
	// (quota, block metadata) cannot be decoded.
	ErrCorrupt = errors.New("repostore: corrupt record")
	// ErrInvalidOptions is returned by Open for options that fail Validate.
	ErrInvalidOptions = errors.New("repostore: invalid options")
)

// QuotaError carries the counters at the moment a quota operation was
// refused. It matches its Kind (ErrQuotaExceeded, ErrReleaseExceedsReserved
// or ErrQuotaBelowUsage) with errors.Is.
type QuotaError struct {
	Kind  error  // one of the quota sentinels
	Delta uint64 // bytes the refused operation asked for (0 at Open)
	Quota Quota  // the counters, unchanged by the refused operation
}

func (e *QuotaError) Error() string {
	return fmt.Sprintf("%v: used %d, reserved %d, limit %d, requested %d",
		e.Kind, e.Quota.Used, e.Quota.Reserved, e.Quota.Max, e.Delta)
}

// Unwrap returns the sentinel kind.
func (e *QuotaError) Unwrap() error { return e.Kind }

// CorruptError names a stored record that failed to decode.
type CorruptError struct {
	Key string
	Err error
}

func (e *CorruptError) Error() string {
	return fmt.Sprintf("repostore: corrupt record at %s: %v", e.Key, e.Err)
}

// Unwrap returns both ErrCorrupt and the decoding error.
func (e *CorruptError) Unwrap() []error { return []error{ErrCorrupt, e.Err} }
