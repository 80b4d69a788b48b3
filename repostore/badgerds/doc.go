// Package badgerds is a go-datastore adapter over badger v4: a
// ds.Datastore, ds.Batching, ds.TxnDatastore, ds.PersistentDatastore,
// ds.GCDatastore and io.Closer that never panics.
//
// badger panics on ordinary misuse: Txn.Discard with an iterator still
// open, an iterator created on a discarded transaction or a closed
// database. The adapter tracks every open transaction and query iterator,
// closes iterators before their transaction ends, and orders every call
// into badger against Close with a read-write lock, so misuse becomes an
// error (ErrClosed, ErrTxnDone) instead.
//
// # Usage
//
//  1. Open a store with Open(dir, opts). nil options give a durable
//     on-disk store (every acknowledged write is fsynced) sized for a
//     small machine (see Options); Options.InMemory gives a memory-only
//     store for tests, Options.NoSync opts out of durability explicitly.
//     Open returns ErrLocked if another store (in this or another process)
//     has the directory open.
//  2. Read and write with the ds.Datastore methods. Get and GetSize return
//     ds.ErrNotFound unwrapped for a missing key; Delete of a missing key
//     succeeds.
//  3. For an all-or-nothing change use NewTransaction, then Commit; always
//     defer Discard (a no-op after Commit). On ErrConflict retry the whole
//     transaction. A transaction that grows too big returns ErrTxnTooBig
//     from Put and can still commit what it holds. Batch is for bulk
//     loading and is not atomic.
//  4. Close Query Results when done with them (closing twice, or after the
//     store closed, is safe); an open Results pins a badger snapshot.
//  5. Run CollectGarbage now and then (for example hourly) to reclaim
//     value-log space.
//  6. Close the store. Close ends open transactions and queries and waits
//     for operations in progress; afterwards every method returns
//     ErrClosed. Close is idempotent.
//
// # Errors
//
// Errors from badger are translated once, here: ds.ErrNotFound (by
// identity), ErrConflict and ErrTxnTooBig (which also match badger's
// sentinels under errors.Is), ErrTxnDone, ErrClosed, ErrLocked. Other
// badger errors are wrapped with the operation and key, prefixed
// "badgerds: ". Every method checks its context first and returns
// ctx.Err() when it is done; a query stops at the next step after its
// context is cancelled, with ctx.Err() as its last result.
//
// # Concurrency
//
// A *Datastore and its Batches are safe for concurrent use. A transaction
// locks internally but is a sequence of steps: use it from one goroutine
// at a time. The package starts no goroutines of its own (badger runs its
// background goroutines until Close; dsq starts one per Results whose
// Next channel is used, ending when the Results are drained or closed).
//
// # Memory
//
// The defaults (16 MiB memtables x 2, a 32 MiB block cache, a 16 MiB index
// cache, 64 MiB value-log files, 2 compactors) replace badger's, which are
// sized for a server: a small store stays under 100 MB of RSS, and a
// write-heavy one peaks about a third lower than with badger's defaults
// (see the Defaults constants for measurements). The price is a smaller
// transaction, at most MaxBatchSize bytes (2.4 MiB by default) and
// MaxBatchCount writes, and more block-cache misses on reads of a large
// working set. Under sustained writes, compaction buffers and Go GC
// headroom dominate memory; bound them with GOMEMLIMIT in the program.
// Memory-mapped table and value-log files also count toward RSS as they
// are read; the kernel can reclaim those pages.
package badgerds
