// Package repostore is the node's repository: the byte quota (max, used,
// reserved), content-addressed blocks with expiry and reservation tags, and
// the commit pipeline through which every metadata change in hostsales is
// made durable.
//
// # Usage
//
//  1. Open a repo with Open(path, opts). By default it lives in a badger
//     database under path (package badgerds) and every acknowledged write is
//     synced to disk; Options.Datastore plugs in any other go-datastore and
//     Options.NoSync opts out of durability explicitly.
//  2. Change state with Store.Do, which submits an Op to the commit pipeline.
//     The op runs in the pipeline's single writer (one caller at a time
//     holds that role) against a Txn view; quota changes, block writes and
//     the caller's own records made in one op are committed together or not
//     at all.
//  3. Read committed state with Store.Quota, Store.Get, Store.Query and the
//     block accessors; they never wait for the writer.
//  4. Close the store: the pipeline drains (every queued op is applied and
//     answered; later calls fail with ErrClosed), the datastore closes.
//
// # Concurrency
//
// A *Store is safe for concurrent use and owns no goroutine. Ops run one at
// a time in the writer, in queue order (so one caller's ops apply in the
// order it submitted them), and an op never races another op; an op must
// not block, must not call back into the Store and must not retain its Txn
// after it returns.
package repostore
