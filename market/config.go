package market

import (
	"fmt"

	"github.com/holiman/uint256"
)

// Config is the marketplace configuration (MARKET.md §7). It is fixed for the
// life of a market. DefaultConfig returns the deployment defaults.
type Config struct {
	Collateral           CollateralConfig
	Proofs               ProofConfig
	Reservations         ReservationConfig
	RequestDurationLimit uint64 // maximum ask duration, seconds
}

// CollateralConfig holds the collateral rules. All values are percentages
// except MaxNumberOfSlashes.
type CollateralConfig struct {
	// RepairRewardPercentage is the collateral discount of a host that
	// refills a slot in Repair, as a percentage of collateralPerSlot.
	RepairRewardPercentage uint8
	// MaxNumberOfSlashes is the number of missed proofs that frees a slot.
	MaxNumberOfSlashes uint8
	// SlashPercentage of collateralPerSlot is slashed per missed proof.
	SlashPercentage uint8
	// ValidatorRewardPercentage of the slashed amount goes to whoever marked
	// the proof as missing.
	ValidatorRewardPercentage uint8
}

// ProofConfig holds the storage-proof timing (MARKET.md §5).
type ProofConfig struct {
	Period          uint64 // seconds per period
	Timeout         uint64 // seconds after a period's end during which it can be marked missing
	Downtime        uint8  // pointer positions (blocks) with no proof required
	DowntimeProduct uint8  // pointer jump per period; should be prime
	ZkeyHash        string // identifies the proving key; informational
}

// ReservationConfig holds the slot reservation rules.
type ReservationConfig struct {
	MaxReservations uint8 // distinct hosts that may reserve one slot
}

// DefaultConfig returns the deployment defaults of MARKET.md §7: repair
// reward 10%, 2 slashes of 20%, validator reward 20%, period 120 s, timeout
// 30 s, downtime 64, downtime product 67, 3 reservations per slot, requests
// of at most 30 days.
func DefaultConfig() Config {
	return Config{
		Collateral: CollateralConfig{
			RepairRewardPercentage:    10,
			MaxNumberOfSlashes:        2,
			SlashPercentage:           20,
			ValidatorRewardPercentage: 20,
		},
		Proofs: ProofConfig{
			Period:          120,
			Timeout:         30,
			Downtime:        64,
			DowntimeProduct: 67,
		},
		Reservations:         ReservationConfig{MaxReservations: 3},
		RequestDurationLimit: 30 * 24 * 60 * 60,
	}
}

// Validate makes the contract's creation checks, in the contract's order
// (MARKET.md §7): ErrInvalidSecondsPerPeriod, ErrRepairRewardPercentageTooHigh,
// ErrSlashPercentageTooHigh, then ErrMaximumSlashingTooHigh, or
// ErrArithmetic when MaxNumberOfSlashes × SlashPercentage exceeds 255 (the
// contract multiplies in 8 bits). The block-height check does not apply to
// a configuration. Values the contract does not validate are not checked.
func (c Config) Validate() error {
	if c.Proofs.Period == 0 {
		return ErrInvalidSecondsPerPeriod
	}
	if c.Collateral.RepairRewardPercentage > 100 {
		return ErrRepairRewardPercentageTooHigh
	}
	if c.Collateral.SlashPercentage > 100 {
		return ErrSlashPercentageTooHigh
	}
	product := uint(c.Collateral.MaxNumberOfSlashes) * uint(c.Collateral.SlashPercentage)
	if product > 255 {
		return fmt.Errorf("maxNumberOfSlashes × slashPercentage: %w", ErrArithmetic)
	}
	if product > 100 {
		return ErrMaximumSlashingTooHigh
	}
	return nil
}

// Periodicity returns the proof period arithmetic of this configuration.
func (c Config) Periodicity() Periodicity { return Periodicity{Seconds: c.Proofs.Period} }

// SlotCollateral returns the collateral a host pays to fill a slot in the
// given state (SPEC.md §4.8, the pure form of slotCollateral): the full
// collateralPerSlot, or in Repair
// collateralPerSlot − floor(collateralPerSlot × RepairRewardPercentage / 100).
// A product that overflows 256 bits is computed as if saturated, which
// never happens for a request the market accepted and a percentage <= 100.
func (c Config) SlotCollateral(collateralPerSlot uint256.Int, state SlotState) uint256.Int {
	if state != SlotStateRepair {
		return collateralPerSlot
	}
	discount := Percent(collateralPerSlot, c.Collateral.RepairRewardPercentage)
	var out uint256.Int
	out.Sub(&collateralPerSlot, &discount)
	return out
}

// Percent returns floor(amount × percent / 100), multiplying first as the
// contract does. If amount × percent overflows 256 bits (the contract would
// revert) the result is computed with a 512-bit intermediate instead.
func Percent(amount uint256.Int, percent uint8) uint256.Int {
	var out uint256.Int
	out.MulDivOverflow(&amount, uint256.NewInt(uint64(percent)), uint256.NewInt(100))
	return out
}

// Periodicity converts between times (unix seconds) and proof periods
// (MARKET.md §5.1): period P runs from P×Seconds to (P+1)×Seconds−1. Times
// before 0 belong to period 0. Seconds must not be 0.
type Periodicity struct {
	Seconds uint64
}

// PeriodOf returns the period containing time t.
func (p Periodicity) PeriodOf(t int64) uint64 {
	if t <= 0 {
		return 0
	}
	return uint64(t) / p.Seconds
}

// PeriodStart returns the first second of period.
func (p Periodicity) PeriodStart(period uint64) int64 { return int64(period * p.Seconds) }

// PeriodEnd returns the end of period, which is the start of the next one.
func (p Periodicity) PeriodEnd(period uint64) int64 { return p.PeriodStart(period + 1) }
