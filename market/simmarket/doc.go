// Package simmarket is a complete in-memory marketplace driven by a virtual
// clock. It reproduces the Codex marketplace contract as MARKET.md describes
// it (requests, slot reservations, fills with proof and collateral checks,
// the start when every slot is filled, proof periods and challenges, missed
// proofs and slashing, forced release and repair with the collateral
// discount, payouts, cancellation at expiry, failure after too many lost
// slots, withdrawal, every event of MARKET.md §6), including its QUIRKs, so
// a host behaves against it as it would against the chain. It is layer 1 of
// hostsales, used by tests, the simulation and the node's demo mode.
//
// # Model
//
//   - Accounts and identity: every action is made by a caller. Market.As
//     returns the view of one account, a *Caller, which implements
//     market.Market (the host interface of SPEC.md §4.8) plus the client and
//     validator operations (RequestStorage, WithdrawFunds, FreeSlotTo,
//     MarkProofAsMissing, ...). Our host, competitors and clients share one
//     Market.
//   - Tokens: an ERC20-like ledger. Accounts start empty; Mint funds them.
//     Every token movement is a Transfer record, BalanceOf reads balances
//     (MarketAddress is the contract), and CheckInvariants verifies the
//     bookkeeping. Amounts are exact 256-bit integers; overflows revert with
//     market.ErrArithmetic as the contract's checked arithmetic does.
//   - Atomicity: each operation checks everything first, in the contract's
//     order, and returns the first failing check's error (wrapping the
//     market.ContractError sentinel) with no state change, token movement or
//     event; or it succeeds completely.
//   - Time: the market reads its market.ManualClock. As on chain, request
//     expiry, end and proof periods need no transaction: states are computed
//     from the clock when read (MARKET.md §2). Proof challenges come from a
//     virtual chain of one block per BlockTime seconds whose block hashes are
//     drawn from the seed (MARKET.md §5 sim note), so pointers, downtime and
//     the willProofBeRequired window behave as on chain.
//   - Simulated actors, scheduled as timers on the clock, so they act when
//     the clock moves: clients withdraw as soon as their request has ended
//     (the withdrawal of a cancelled request is what emits
//     RequestCancelled); a validator marks missed proofs one second into the
//     next period and again at the end of the marking window; competitor
//     hosts (Options.Competitors) reserve, fill, prove, sometimes miss
//     proofs or abandon slots, and collect their payouts. Options can turn
//     the validator and the withdrawals off.
//   - Controls and faults: TakeSlot (another host fills a slot first),
//     FailRequest, CancelRequest, RandomRequest, and injected errors per
//     method and caller, at the N-th call or with a seeded probability
//     (Fault, InjectFault).
//
// # Events and determinism
//
// Events and transfers are numbered records (Record) committed under the
// market's lock. With DeliverSync (the default) the call that caused them
// delivers them after releasing the lock and before it returns; with
// DeliverQueued they wait for Deliver. Either way callbacks run one at a
// time in commit order, never under a lock, and may call back into the
// market: the events that causes are delivered after the callback returns.
// A subscription receives every record delivered after it was registered
// (with DeliverQueued, that includes records queued before it).
//
// Nothing observable depends on map order or on goroutine scheduling as long
// as the market is driven from one goroutine: the same Seed, options and
// sequence of calls and clock moves give the same records. Each use of
// randomness (block hashes, competitors, faults, RandomRequest) has its own
// seeded stream.
//
// # Concurrency
//
// A Market and its Callers are safe for concurrent use. The market starts
// no goroutines and needs no Close. Its timers run on the goroutine that
// moves the clock (ManualClock.Set, Advance or Step), which must not hold
// any lock a subscriber callback needs. With DeliverSync the events of a
// simulated actor are delivered inside that clock move, so a subscriber
// callback must never move the clock itself (ManualClock would deadlock).
//
// # Usage
//
//  1. Create the market: m, err := simmarket.New(&simmarket.Options{Seed:
//     seed, Start: t0}); the clock is m.Clock().
//  2. Fund accounts with m.Mint, and give the host its view:
//     var mk market.Market = m.As(hostAddr).
//  3. Subscribe (mk.SubscribeRequests, ...), submit requests with
//     m.RequestStorage(ctx, client, req) or m.RandomRequest, and act as the
//     host (ReserveSlot, FillSlot with SlotCollateral, SubmitProof,
//     FreeSlot).
//  4. Move time with m.Clock().Set, Advance or Step: a test or simulation
//     does it by hand from one goroutine (Step jumps to the next timer); a
//     demo does it from a ticker it owns. With DeliverQueued, call
//     m.Deliver when subscribers should run.
//  5. Check the outcome with BalanceOf, RequestInfo, SlotInfo,
//     CheckInvariants, or a trace collected with Observe.
package simmarket
