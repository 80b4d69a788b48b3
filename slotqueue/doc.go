// Package slotqueue ranks the slots offered by the market and runs a bounded
// pool of workers over them (SPEC.md §3, DESIGN.md Decision 9).
//
// Each slot of a storage request becomes an Item. Items are ranked by
// Compare: unseen before seen, then higher profitability (duration × price
// per byte per second × slot size, in 256 bits), then lower collateral, then
// later expiry; ties go to the item pushed first. A Queue holds at most
// MaxSize items; pushing into a full queue drops the globally lowest-ranked
// item (the pushed one, if it ranks lowest), and reports it through
// Options.OnDrop and Stats.Dropped. MaxWorkers worker goroutines take the
// best item whenever the queue is running and not paused, and call the
// ProcessFunc with it; a worker stays busy until that returns.
//
// # Pausing
//
// A new queue is paused. Pushing an unseen item unpauses it; pushing a seen
// item never does. When a worker finds a seen item on top, every queued item
// was tried without success (SPEC §3.6), so it pauses the queue and leaves
// the item queued. ClearSeenFlags followed by Unpause makes every item
// eligible again (what sales does when an availability is saved).
//
// # Usage
//
// The owner (sales) does the following:
//
//  1. Create the queue with New(process, opts). The ProcessFunc gets a
//     context that Stop cancels (cause ErrStopped) and returns when the slot
//     is filled or given up. It may Push (for example the item again, marked
//     Seen) but must not call Stop.
//  2. Start(ctx) it. Push before Start returns ErrNotRunning.
//  3. For each StorageRequested event build the items with NewItems,
//     passing the node's injected *rand.Rand, and Push them in one call, so
//     no worker takes one before all are ranked. Push errors that wrap
//     ErrDuplicate are harmless (the slot is queued already).
//  4. On removal events call DeleteRequest or Delete.
//  5. When a new availability can match again, call ClearSeenFlags then
//     Unpause.
//  6. Export Stats() as metrics (length, paused, workers busy, drops,
//     processed, errors, panics).
//  7. Stop(ctx) at shutdown. It returns when every worker goroutine has
//     exited, or with ctx.Err() when ctx ends first.
//
// A minimal run:
//
//	q, err := slotqueue.New(func(ctx context.Context, it slotqueue.Item) error {
//		return sell(ctx, it)
//	}, nil) // nil: 3 workers, 128 items
//	if err != nil { ... }
//	_ = q.Start(ctx)
//	defer q.Stop(ctx)
//	items, err := slotqueue.NewItems(template, ask.Slots, rng)
//	if err != nil { ... } // ErrSlotCountOutOfRange
//	err = q.Push(items...)
//
// # Determinism: a pure Core and a thin goroutine wrapper
//
// The queue's rules (the ranking, the bound, the pause rules, "which item
// does a free worker take next", and how many workers are busy) live in
// Core, a synchronous type with no goroutines, locks or time. Queue is a
// Core behind one mutex plus MaxWorkers goroutines that each loop "wait
// until Core.Ready, Core.Next, process, Core.Done". A deterministic
// simulation does not inject a way to start goroutines into Queue: a worker
// that blocks on the queue's condition variable would still be scheduled by
// the Go runtime, and the simulation's executor could not tell it was
// waiting. Instead the simulation owns a Core and drives it one step at a
// time, as etcd's raft lets an application drive RawNode: call Next while it
// returns an item and run each item as a task of its executor, call Done
// when the task ends, and repeat after every Push, Unpause and Done. The
// same seed then gives the same order of slots.
//
// The randomness of NewItems is injected too (a Shuffler such as a seeded
// *math/rand/v2.Rand). The package never reads the clock.
//
// # Concurrency
//
// Queue is safe for concurrent use; Core is not (one owner). No lock is
// held while user code runs (ProcessFunc, OnDrop, OnError), and only Stop
// blocks. Start and Stop are idempotent and a stopped queue may be started
// again, keeping its items. Whoever calls Start must call Stop; Stop waits
// for every goroutine the queue started. A ProcessFunc that panics is
// recovered: the panic becomes a *PanicError (ErrPanic), is counted and
// reported, and the worker takes the next item, so the pool never loses a
// worker.
//
// Differences from the reference (SPEC §3), all deliberate:
//
//   - Overflow drops the globally lowest-ranked item, not the last leaf of
//     the heap (§3.3 PORT, Decision 9).
//   - ClearSeenFlags rebuilds the whole heap (§3.4 QUIRK, Decision 9).
//   - Push of several items holds the lock for the whole batch (§8.3 item 35
//     PORT, Decision 9), and skips duplicates instead of stopping at the
//     first one.
//   - NewItems checks the slot count on its full value (§3.1 QUIRK,
//     Decision 9).
//   - An item without an expiry ranks after an otherwise equal item with
//     one, where the reference ties them; the reference's rule is not
//     transitive (see Compare). Remaining ties go to the earlier push.
//   - A worker takes an item only when the queue is unpaused and not empty,
//     in one step under the lock; the reference waited for "unpaused" and
//     for "not empty" separately, so a worker could take an item from a
//     queue paused while it waited. A seen item found on top is left in
//     place rather than popped and pushed back, which is the same thing.
//
// Builds with the invariants or race tag check the whole heap after every
// change (O(n)).
package slotqueue
