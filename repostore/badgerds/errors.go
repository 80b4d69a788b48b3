package badgerds

import (
	"errors"
	"fmt"
	"strings"

	badger "github.com/dgraph-io/badger/v4"
	ds "github.com/ipfs/go-datastore"
)

// Sentinel errors. Compare with errors.Is: the adapter wraps them with
// context (operation, key, path) and, where badger has a matching sentinel,
// the error matches both (errors.Is(err, ErrConflict) and
// errors.Is(err, badger.ErrConflict) both hold).
var (
	// ErrClosed is returned by every operation on a Datastore, and on the
	// Txns, Batches and query Results created from it, after Close has
	// begun.
	ErrClosed = errors.New("badgerds: datastore closed")

	// ErrLocked is returned by Open when the directory is already held by
	// another badger instance, in this process or in another one. The
	// original badger error is wrapped too.
	ErrLocked = errors.New("badgerds: database directory is in use by another process")

	// ErrConflict is returned by Txn.Commit when a key the transaction read
	// was changed by another transaction that committed first (badger
	// transactions are optimistic, serializable snapshot isolation). Nothing
	// was written; retry the whole transaction. Errors carrying it also
	// match badger.ErrConflict.
	ErrConflict = errors.New("badgerds: transaction conflict")

	// ErrTxnTooBig is returned by Txn.Put and Txn.Delete when the write
	// would exceed the transaction limits (see Datastore.MaxBatchCount and
	// Datastore.MaxBatchSize). The write is not recorded; the transaction
	// remains usable and may still be committed with what it holds.
	// Errors carrying it also match badger.ErrTxnTooBig.
	ErrTxnTooBig = errors.New("badgerds: transaction too big")

	// ErrTxnDone is returned when a Txn is used after Commit or Discard,
	// when a Batch is used after Commit or Cancel, and as the final error
	// of a Txn query whose transaction ended while it was open.
	ErrTxnDone = errors.New("badgerds: transaction already committed or discarded")
)

// lockErrText is the text badger puts in the error of Open when flock on
// the directory fails (dir_unix.go, acquireDirectoryLock). badger wraps
// with %+v, not %w, so the text is all there is to match; TestOpenLocked
// fails if a badger upgrade changes it.
const lockErrText = "Cannot acquire directory lock"

// isLockErr reports whether err is badger's "directory already locked"
// error.
func isLockErr(err error) bool {
	return err != nil && strings.Contains(err.Error(), lockErrText)
}

// mapErr translates a badger error at the package boundary. op names the
// operation; key, if not empty, the key it was applied to.
//
// badger.ErrKeyNotFound becomes ds.ErrNotFound, returned unwrapped
// because callers (and dstest) compare it by identity. The other badger
// sentinels we expose keep both identities through a double %w.
func mapErr(op, key string, err error) error {
	if err == nil {
		return nil
	}
	var sentinel error
	switch {
	case errors.Is(err, badger.ErrKeyNotFound):
		return ds.ErrNotFound
	case errors.Is(err, badger.ErrConflict):
		sentinel = ErrConflict
	case errors.Is(err, badger.ErrTxnTooBig):
		sentinel = ErrTxnTooBig
	case errors.Is(err, badger.ErrDiscardedTxn):
		sentinel = ErrTxnDone
	case errors.Is(err, badger.ErrDBClosed):
		sentinel = ErrClosed
	}
	where := op
	if key != "" {
		where = op + " " + key
	}
	if sentinel != nil {
		// The sentinel's own text already carries the "badgerds: " prefix.
		return fmt.Errorf("%w (%s): %w", sentinel, where, err)
	}
	return fmt.Errorf("badgerds: %s: %w", where, err)
}
