package simmarket

import (
	"errors"
	"fmt"

	"github.com/hostsales/hostsales/market"
)

// Delivery selects how events reach subscribers.
type Delivery int

const (
	// DeliverSync (the default) delivers events synchronously: the call that
	// caused them (an action, or a clock move that ran a simulated actor)
	// delivers them after releasing the market's lock and before returning,
	// one callback at a time, in order. A callback may call back into the
	// market; the events that causes are delivered after it returns, by the
	// same loop. When another goroutine is already delivering, a call
	// returns at once and that goroutine delivers its events, still in
	// order.
	DeliverSync Delivery = iota
	// DeliverQueued queues events until the owner calls Market.Deliver, so a
	// harness decides when subscribers run (for example, after the action's
	// caller has seen its result, as on a real chain).
	DeliverQueued
)

// Options configures a simulated market. The zero value is valid: the
// default contract configuration, a clock at 0, seed 0, synchronous
// delivery, the permissive verifier, a validator, clients that withdraw,
// and no competitors or faults.
type Options struct {
	// Config is the contract configuration; nil means market.DefaultConfig().
	Config *market.Config
	// Clock is the market's time. nil means a new ManualClock at Start.
	// The market schedules its simulated actors (competitors, validator,
	// clients) as timers on this clock, so moving the clock runs them.
	Clock *market.ManualClock
	// Start is the initial time of a clock created by New.
	Start int64
	// Seed seeds every pseudo-random choice: block hashes (hence
	// challenges), competitors, probabilistic faults and RandomRequest. Each
	// use has its own stream, so enabling faults does not change what
	// competitors do.
	Seed uint64
	// BlockTime is the number of seconds per virtual block (MARKET.md §5
	// sim note); 0 means 12. Block numbers are 1000 + time/BlockTime, so the
	// chain is always higher than 256 blocks. Keep Period below
	// Downtime × BlockTime (deployment guidance) so a pointer cannot wrap
	// and leave downtime within one period.
	BlockTime uint64
	// Delivery selects synchronous (default) or queued event delivery.
	Delivery Delivery
	// Verifier checks proofs; nil means AcceptNonZeroProofs, the contract
	// tests' verifier. BindingVerifier makes a proof valid only for its
	// slot's current challenge (see MakeProof).
	Verifier Verifier
	// Competitors are simulated hosts that compete for slots.
	Competitors []Competitor
	// Validator is the address of the simulated validator; the zero
	// address means DefaultValidator.
	Validator market.Address
	// NoValidator disables the simulated validator, so missed proofs are
	// never marked (and never slashed) unless a test calls
	// MarkProofAsMissing itself.
	NoValidator bool
	// NoAutoWithdraw disables the simulated clients' withdrawals. By default
	// a client withdraws as soon as its request is Cancelled, Finished or
	// Failed; that withdrawal is what emits RequestCancelled.
	NoAutoWithdraw bool
	// Faults are injected from the start; see Market.InjectFault.
	Faults []Fault
}

// Verifier decides whether proof is valid for inputs.
type Verifier func(inputs ProofInputs, proof market.Proof) bool

// ProofInputs are the public inputs of a storage proof (MARKET.md §5.5).
type ProofInputs struct {
	Challenge  market.Challenge
	MerkleRoot [32]byte
	SlotIndex  uint64
}

// AcceptNonZeroProofs accepts every proof except an empty or all-zero one,
// like the verifier of the contract's tests.
func AcceptNonZeroProofs(_ ProofInputs, proof market.Proof) bool {
	for _, b := range proof {
		if b != 0 {
			return true
		}
	}
	return false
}

// MakeProof returns the only proof BindingVerifier accepts for inputs: the
// Keccak-256 of the challenge, the merkle root and the index. It is also a
// valid proof for AcceptNonZeroProofs.
func MakeProof(inputs ProofInputs) market.Proof {
	var idx [8]byte
	for i := range idx {
		idx[i] = byte(inputs.SlotIndex >> (56 - 8*i))
	}
	h := market.Keccak256(inputs.Challenge[:], inputs.MerkleRoot[:], idx[:])
	return market.Proof(h[:])
}

// BindingVerifier accepts exactly MakeProof(inputs), so a proof made for a
// stale challenge, another slot or another dataset fails.
func BindingVerifier(inputs ProofInputs, proof market.Proof) bool {
	return string(proof) == string(MakeProof(inputs))
}

// Competitor is a simulated host. When a slot becomes available (its
// request is submitted, or it is freed for repair) each competitor, in
// order, draws whether to go after it; if so it reserves the slot
// ReserveDelay seconds later and fills it FillDelay seconds after that
// (minting itself any collateral it lacks). While it holds a slot it proves
// in every period that needs a proof, except that it skips a proof with
// MissProofProbability and abandons the slot (a forced release) with
// AbandonProbability per period. It collects its payout when the request
// ends. A failed action is simply dropped.
type Competitor struct {
	Address              market.Address
	TakeProbability      float64 // in [0, 1]
	ReserveDelay         uint64  // seconds
	FillDelay            uint64  // seconds after the reservation
	MissProofProbability float64 // in [0, 1]
	AbandonProbability   float64 // in [0, 1], per period
}

// Fault makes calls through a Caller fail before they do anything. A call
// matches when its method name (the Go method name of market.Market or
// Caller, for example "FillSlot", "GetRequest", "SubscribeSlotFilled",
// "RequestStorage"; FreeSlotTo counts as "FreeSlot" and WithdrawFundsTo as
// "WithdrawFunds") equals Method (or Method is empty) and its caller
// equals Caller (or Caller is the zero address). A matching call fails when
// it is the Nth match (Nth > 0), or with Probability, drawn from the
// market's seeded fault stream. Simulated actors are never affected.
type Fault struct {
	Method      string
	Caller      market.Address
	Nth         uint64
	Probability float64
	// Err is the error returned (wrapped with the method name); nil means
	// ErrInjected.
	Err error
}

// ErrInjected is the default error of a Fault. It wraps market.ErrMarket.
var ErrInjected = fmt.Errorf("simmarket: injected fault: %w", market.ErrMarket)

// ErrZeroCaller is returned by every state-changing call made as the zero
// address, which cannot send a transaction.
var ErrZeroCaller = errors.New("simmarket: the zero address cannot act")

// ErrInvalidOptions is wrapped by New for options that make no sense.
var ErrInvalidOptions = errors.New("simmarket: invalid options")

// ErrCannotForce is returned by FailRequest and CancelRequest when the
// request is not in a state they can act on.
var ErrCannotForce = errors.New("simmarket: cannot force this transition")

// Well-known simulated accounts.
var (
	// MarketAddress is the marketplace contract's own account in the ledger.
	MarketAddress = market.Address{'M', 'A', 'R', 'K', 'E', 'T'}
	// DefaultValidator is the simulated validator's account.
	DefaultValidator = market.Address{'V', 'A', 'L', 'I', 'D', 'A', 'T', 'O', 'R'}
	// MintAddress is the "from" of a Mint in the ledger (the zero address, as
	// in ERC20).
	MintAddress = market.Address{}
)

func (o *Options) validate() error {
	for i, c := range o.Competitors {
		if c.Address.IsZero() {
			return fmt.Errorf("%w: competitor %d has the zero address", ErrInvalidOptions, i)
		}
		for _, p := range []float64{c.TakeProbability, c.MissProofProbability, c.AbandonProbability} {
			if !(p >= 0 && p <= 1) {
				return fmt.Errorf("%w: competitor %d: probability %v outside [0, 1]", ErrInvalidOptions, i, p)
			}
		}
	}
	for i, f := range o.Faults {
		if err := f.validate(); err != nil {
			return fmt.Errorf("fault %d: %w", i, err)
		}
	}
	return nil
}

func (f Fault) validate() error {
	if !(f.Probability >= 0 && f.Probability <= 1) {
		return fmt.Errorf("%w: fault probability %v outside [0, 1]", ErrInvalidOptions, f.Probability)
	}
	if f.Nth == 0 && f.Probability == 0 {
		return fmt.Errorf("%w: fault with neither Nth nor Probability never fires", ErrInvalidOptions)
	}
	return nil
}
