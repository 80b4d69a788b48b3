package reservations

import (
	"encoding/json"
	"fmt"

	"github.com/holiman/uint256"

	"github.com/hostsales/hostsales/market"
)

// SchemaVersion is the version written in every stored record ("v"). A
// reader refuses a record with a newer version (ErrNewerSchema).
const SchemaVersion = 1

// Availability is storage the operator offers (SPEC §1.2). Values are
// copies: changing one changes nothing stored.
type Availability struct {
	ID AvailabilityID
	// TotalSize is the capacity offered; the repo quota reserves it.
	TotalSize uint64
	// FreeSize is the capacity not committed to a reservation.
	FreeSize uint64
	// Duration is the longest request duration accepted, in seconds.
	Duration uint64
	// MinPricePerBytePerSecond is the lowest price accepted.
	MinPricePerBytePerSecond uint256.Int
	// TotalCollateral is the operator's collateral budget.
	TotalCollateral uint256.Int
	// TotalRemainingCollateral is the budget not committed to reservations
	// (nor kept by the market).
	TotalRemainingCollateral uint256.Int
	// Enabled availabilities take new sales; disabled ones keep their
	// running sales.
	Enabled bool
	// Until is the latest end, unix seconds, of a hosted slot; 0: no limit.
	Until int64
}

// MaxCollateralPerByte is TotalRemainingCollateral/FreeSize, or
// TotalRemainingCollateral when FreeSize is 0 (SPEC §1.2).
func (a *Availability) MaxCollateralPerByte() uint256.Int {
	var r uint256.Int
	if a.FreeSize == 0 {
		return a.TotalRemainingCollateral
	}
	r.Div(&a.TotalRemainingCollateral, uint256.NewInt(a.FreeSize))
	return r
}

// Reservation is the part of an availability committed to one slot
// (SPEC §1.3, with DESIGN.md's SlotSize and Collateral).
type Reservation struct {
	ID             ReservationID
	AvailabilityID AvailabilityID
	// Size is the bytes still reserved and not yet written.
	Size uint64
	// SlotSize is the slot's size when reserved; it never changes.
	SlotSize uint64
	// Collateral is what the reservation took from its availability's
	// remaining collateral.
	Collateral uint256.Int
	RequestID  market.RequestID
	SlotIndex  uint64
	// ValidUntil is the request's end, unix seconds, when reserved.
	ValidUntil int64
	// Filled is set once the sale's fill succeeded: from then on the market
	// holds the collateral, and what comes back is what the market pays.
	Filled bool
	// FillingSince is the market time at which the sale's fill was
	// attempted (0: not attempted, or Filled). A reservation settled with
	// it set and Filled not asks the market whether that fill landed: the
	// node may have stopped between the fill and its record.
	FillingSince int64
	// Blocks is how many blocks the reservation holds (StoreBlocks counts
	// them), so that ending it knows whether one commit can drop them all.
	Blocks uint64
}

// Written returns the bytes of the slot already written.
func (r *Reservation) Written() uint64 { return r.SlotSize - r.Size }

// AvailabilityID identifies an Availability.
type AvailabilityID = ID

// ReservationID identifies a Reservation.
type ReservationID = ID

// MarshalJSON writes the record with the field names of SPEC §1.7.
func (a Availability) MarshalJSON() ([]byte, error) { return a.appendJSON(nil, false), nil }

func (a *Availability) appendJSON(b []byte, versioned bool) []byte {
	b = append(b, '{')
	if versioned {
		b = append(b, `"v":1,`...)
	}
	b = append(b, `"id":"`...)
	b = append(b, a.ID.String()...)
	b = append(b, `","totalSize":`...)
	b = appendU64(b, a.TotalSize)
	b = append(b, `,"freeSize":`...)
	b = appendU64(b, a.FreeSize)
	b = append(b, `,"duration":`...)
	b = appendU64(b, a.Duration)
	b = append(b, `,"minPricePerBytePerSecond":`...)
	b = appendU256(b, &a.MinPricePerBytePerSecond)
	b = append(b, `,"totalCollateral":`...)
	b = appendU256(b, &a.TotalCollateral)
	b = append(b, `,"totalRemainingCollateral":`...)
	b = appendU256(b, &a.TotalRemainingCollateral)
	if a.Enabled {
		b = append(b, `,"enabled":true,"until":`...)
	} else {
		b = append(b, `,"enabled":false,"until":`...)
	}
	b = fmt.Appendf(b, "%d}", a.Until)
	return b
}

type availabilityWire struct {
	V                        *int  `json:"v"`
	ID                       ID    `json:"id"`
	TotalSize                U64   `json:"totalSize"`
	FreeSize                 U64   `json:"freeSize"`
	Duration                 U64   `json:"duration"`
	MinPricePerBytePerSecond U256  `json:"minPricePerBytePerSecond"`
	TotalCollateral          U256  `json:"totalCollateral"`
	TotalRemainingCollateral *U256 `json:"totalRemainingCollateral"`
	Enabled                  *bool `json:"enabled"`
	Until                    I64   `json:"until"`
}

// UnmarshalJSON reads the record leniently as SPEC §1.7 says (numbers or
// strings), refusing negative and overflowing values and newer schemas.
// A missing enabled reads as true, a missing totalRemainingCollateral as
// totalCollateral.
func (a *Availability) UnmarshalJSON(b []byte) error {
	var w availabilityWire
	if err := json.Unmarshal(b, &w); err != nil {
		return err
	}
	if w.V != nil && *w.V > SchemaVersion {
		return fmt.Errorf("%w: version %d, this build reads up to %d", ErrNewerSchema, *w.V, SchemaVersion)
	}
	*a = Availability{ID: w.ID, TotalSize: uint64(w.TotalSize), FreeSize: uint64(w.FreeSize),
		Duration: uint64(w.Duration), MinPricePerBytePerSecond: w.MinPricePerBytePerSecond.Int,
		TotalCollateral: w.TotalCollateral.Int, TotalRemainingCollateral: w.TotalCollateral.Int,
		Enabled: w.Enabled == nil || *w.Enabled, Until: int64(w.Until)}
	if w.TotalRemainingCollateral != nil {
		a.TotalRemainingCollateral = w.TotalRemainingCollateral.Int
	}
	return nil
}

// MarshalJSON writes the record with the field names of SPEC §1.7 plus
// slotSize and collateral.
func (r Reservation) MarshalJSON() ([]byte, error) { return r.appendJSON(nil, false), nil }

func (r *Reservation) appendJSON(b []byte, versioned bool) []byte {
	b = append(b, '{')
	if versioned {
		b = append(b, `"v":1,`...)
	}
	b = append(b, `"id":"`...)
	b = append(b, r.ID.String()...)
	b = append(b, `","availabilityId":"`...)
	b = append(b, r.AvailabilityID.String()...)
	b = append(b, `","size":`...)
	b = appendU64(b, r.Size)
	b = append(b, `,"slotSize":`...)
	b = appendU64(b, r.SlotSize)
	b = append(b, `,"collateral":`...)
	b = appendU256(b, &r.Collateral)
	b = append(b, `,"requestId":"`...)
	b = append(b, ID(r.RequestID).String()...)
	b = append(b, `","slotIndex":`...)
	b = appendU64(b, r.SlotIndex)
	b = fmt.Appendf(b, `,"validUntil":%d`, r.ValidUntil)
	if r.Filled {
		b = append(b, `,"filled":true`...)
	}
	if r.FillingSince != 0 {
		b = fmt.Appendf(b, `,"fillingSince":%d`, r.FillingSince)
	}
	if r.Blocks > 0 {
		b = append(b, `,"blocks":`...)
		b = appendU64(b, r.Blocks)
	}
	return append(b, '}')
}

type reservationWire struct {
	V              *int `json:"v"`
	ID             ID   `json:"id"`
	AvailabilityID ID   `json:"availabilityId"`
	Size           U64  `json:"size"`
	SlotSize       *U64 `json:"slotSize"`
	Collateral     U256 `json:"collateral"`
	RequestID      ID   `json:"requestId"`
	SlotIndex      U64  `json:"slotIndex"`
	ValidUntil     I64  `json:"validUntil"`
	Filled         bool `json:"filled"`
	FillingSince   I64  `json:"fillingSince"`
	Blocks         U64  `json:"blocks"`
}

// UnmarshalJSON reads the record leniently as SPEC §1.7 says. A missing
// slotSize (a reference record) reads as size.
func (r *Reservation) UnmarshalJSON(b []byte) error {
	var w reservationWire
	if err := json.Unmarshal(b, &w); err != nil {
		return err
	}
	if w.V != nil && *w.V > SchemaVersion {
		return fmt.Errorf("%w: version %d, this build reads up to %d", ErrNewerSchema, *w.V, SchemaVersion)
	}
	*r = Reservation{ID: w.ID, AvailabilityID: w.AvailabilityID, Size: uint64(w.Size),
		SlotSize: uint64(w.Size), Collateral: w.Collateral.Int, RequestID: market.RequestID(w.RequestID),
		SlotIndex: uint64(w.SlotIndex), ValidUntil: int64(w.ValidUntil), Filled: w.Filled,
		FillingSince: int64(w.FillingSince), Blocks: uint64(w.Blocks)}
	if w.SlotSize != nil {
		r.SlotSize = uint64(*w.SlotSize)
	}
	if r.Size > r.SlotSize {
		return fmt.Errorf("size %d exceeds slotSize %d", r.Size, r.SlotSize)
	}
	return nil
}
