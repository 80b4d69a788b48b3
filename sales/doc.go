// Package sales is the sales side of a storage host: it turns the market's
// storage requests into ranked slots (package slotqueue), runs one Agent per
// slot it takes through the sale machine of SPEC §4 (package statemachine),
// carves a reservation out of a matching availability for each (package
// reservations), and ends every sale by giving its bytes and the collateral
// due back in one commit.
//
// # Usage
//
//  1. Open a repostore.Store and reservations.New over it.
//  2. New(Deps{Market, Clock, Reservations}, &Options{Callbacks: ...}) with
//     the node's OnStore, OnProve and OnExpiryUpdate.
//  3. Start(ctx): ends reservations whose slot this host no longer holds,
//     restores a sale (in SaleUnknown, with its reservation) for every slot
//     it holds, starts the queue, subscribes to the market and starts the
//     periodic reconcile.
//  4. Stop(ctx) at shutdown: every task ends and is waited for; the
//     reservations stay stored and the next Start restores them.
//
// # Where hostsales differs from the reference
//
//   - Cleanup is one EndReservation commit, and the collateral it returns
//     follows DESIGN.md Decision 6: all of it when our fill never succeeded
//     (also on Errored and Cancelled-not-host paths, where the reference
//     keeps it forever), what the market paid back when it did, nothing
//     when the request failed.
//   - Restored sales get their reservation back (Decision 5), and
//     reservations of slots no longer ours are ended with their bytes and
//     collateral; a periodic Reconcile does the same while running
//     (Decision 7).
//   - SaleFinished is terminal: a late cancelled or failed event does not
//     restart a finished sale.
//   - A filled sale extends the expiry of its own blocks to the request end.
//   - Once the slot is ours, a failed market or repo call does not end the
//     sale (the reference drops the data of a slot it still hosts and is
//     slashed for it): the call is tried again with backoff, up to a proof
//     period apart, until the market gives a definite answer (retry.go).
//     SaleProving checks the slot's host at every look and moves on by
//     itself when the request was cancelled or failed; the expiry watcher
//     retries too. Reconcile restarts a sale for a reserved slot that is
//     still ours and has none.
//
// # Fill records
//
// Whether the market holds a reservation's collateral decides what comes
// back at its end, so the fill is recorded with the reservation: before
// FillSlot, the reservation is marked "filling since T"
// (reservations.MarkFilling); once the fill landed, "filled"
// (MarkFilled, retried until it is in, whatever event moves the sale
// meanwhile); a restored sale whose slot the market says is ours records
// it too. A reservation settled with only the mark (the node stopped
// between the fill and its record, and the slot was lost while it was
// down) asks the market whether a fill of ours landed since T
// (market.FillHistory: on a chain, the SlotFilled logs and their
// senders); a market that cannot tell gets the safe answer, "it landed",
// which never promises collateral the market may hold.
//
// # Concurrency
//
// Sales and Agent are safe for concurrent use. Every task (state runs,
// expiry watchers, event handlers, cleanup) runs on Options.Executor; the
// default runs goroutines and Stop waits for all of them. Market callbacks
// never block on IO: slow work is handed to a task.
package sales
