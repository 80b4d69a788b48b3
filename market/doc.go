// Package market holds the marketplace's domain types, the Market interface
// a storage host talks to, and the Clock of market time. It is layer 0 of
// hostsales: pure domain, no IO, no goroutines.
//
// The rules behind every type and call are those of the Codex marketplace
// contract, described in MARKET.md; SPEC.md §1.4 and §4.8 describe how the
// sales module uses them.
//
// # Types
//
//   - RequestID and SlotID (32 bytes) and Address (20 bytes). Text and JSON
//     form "0x" + lowercase hex; Hex gives the bare form used in datastore
//     keys. The decoders (UnmarshalText, ParseRequestID, ParseSlotID,
//     ParseAddress) are strict: exactly "0x" and the right number of hex
//     digits.
//   - StorageRequest, StorageAsk, StorageContent, Slot. StorageRequest.ID is
//     the contract's id: Keccak-256 of the ABI encoding of the request
//     (MARKET.md §1.2); SlotIDFor derives a slot id (MARKET.md §1.3).
//   - RequestState and SlotState, the effective states, with names as their
//     text and JSON form.
//   - Config (the contract configuration, DefaultConfig), Periodicity.
//   - The events of MARKET.md §6 (StorageRequested, SlotFilled, ...).
//
// # Numbers and time
//
// Prices and collateral are 256-bit (github.com/holiman/uint256, held by
// value), sizes, counts and durations uint64. The derived amounts of
// StorageAsk saturate instead of overflowing; StorageAsk.MaxPrice reproduces
// the contract's checked arithmetic and returns ErrArithmetic.
//
// Market time is int64 unix seconds everywhere (Clock.Now, request end and
// expiry), matching the int64 until/validUntil of SPEC.md; the contract's
// uint64 timestamps and relative uint64 durations convert without loss for
// any time before the year 292 billion.
//
// # Errors
//
// A contract revert is a *ContractError carrying the contract's error name;
// the sentinels (ErrSlotNotFree, ErrUnknownRequest, ...) are named after
// MARKET.md §8 and match with errors.Is. Each one also matches its SPEC.md
// §4.8 kind (ErrSlotStateMismatch, ErrSlotReservationNotAllowed,
// ErrProofInvalid) and the base ErrMarket.
//
// # Usage
//
// A host's sales module depends on the Market interface and a Clock only:
//
//  1. Take a Market (market/simmarket in tests and demos, a chain client in
//     production) and its Clock.
//  2. Subscribe to the events you need (SubscribeRequests, SubscribeSlotFreed,
//     ...) and keep every Subscription to Unsubscribe on shutdown. Callbacks
//     must return quickly; hand work to your own goroutines.
//  3. Query and act with a context: GetRequest, SlotState, ReserveSlot,
//     FillSlot(ctx, id, index, proof, collateral), SubmitProof, FreeSlot.
//     Compare errors with errors.Is (ErrSlotStateMismatch and friends).
//  4. Wait for market time with Clock.WaitUntil(ctx, t); never use the wall
//     clock. Tests drive a ManualClock with Set, Advance or Step, and
//     NextDeadline tells a simulation when the next waiter is due.
package market
