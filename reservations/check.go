package reservations

import (
	"context"
	"fmt"
	"slices"

	"github.com/holiman/uint256"
	ds "github.com/ipfs/go-datastore"
	dsq "github.com/ipfs/go-datastore/query"

	"github.com/hostsales/hostsales/repostore"
)

// State is one consistent view of every availability, every reservation
// and the repo's quota: all three are read inside one pipeline op, so no
// commit lands between them. It is what the REST API, the simulation's
// invariant checks and fsck read.
type State struct {
	Availabilities []Availability // in id order
	Reservations   []Reservation  // in key order
	Quota          repostore.Quota
}

// Snapshot reads a State. It goes through the commit pipeline as a
// read-only op, so it waits for the batch before it to commit and sees
// exactly the committed state (the in-memory index that Availabilities
// reads may lag a commit by a moment). Errors: ErrGetFailed, or a
// *DecodeError for an unreadable record.
func (r *Reservations) Snapshot(ctx context.Context) (State, error) {
	var st State
	err := r.repo.Do(ctx, func(tx *repostore.Txn) error {
		st = State{Quota: tx.Quota()}
		entries, err := tx.Query(dsq.Query{Prefix: root.String(), Orders: []dsq.Order{dsq.OrderByKey{}}})
		if err != nil {
			return errorf(ErrGetFailed, err, "listing %s", root)
		}
		for _, e := range entries {
			k := ds.RawKey(e.Key)
			_, _, depth, err := parseIDs(k)
			if err != nil {
				return &DecodeError{Key: e.Key, Err: err}
			}
			switch depth {
			case availabilityDepth:
				var a Availability
				if err := decodeAt(k, e.Value, &a); err != nil {
					return err
				}
				st.Availabilities = append(st.Availabilities, a)
			case reservationDepth:
				var res Reservation
				if err := decodeAt(k, e.Value, &res); err != nil {
					return err
				}
				st.Reservations = append(st.Reservations, res)
			}
		}
		return nil
	})
	if err != nil {
		return State{}, err
	}
	slices.SortFunc(st.Availabilities, func(a, b Availability) int { return compareIDs(a.ID, b.ID) })
	return st, nil
}

// Violation is one broken invariant of DESIGN.md, found by State.Check.
type Violation struct {
	// Invariant names it: "I1", "I1c" (collateral held by reservations
	// plus remaining exceeds the total), "I2", "I3", "I4" or "record".
	Invariant string `json:"invariant"`
	// Key is the datastore key of the record at fault ("" for the repo's
	// counters).
	Key string `json:"key,omitempty"`
	Msg string `json:"message"`
}

func (v Violation) String() string {
	if v.Key == "" {
		return v.Invariant + ": " + v.Msg
	}
	return v.Invariant + " " + v.Key + ": " + v.Msg
}

// Check returns every violation of invariants I1-I3 and of I4's first
// half (each reservation belongs to an existing availability) in s, in a
// stable order; nil when s is sound. I4's second half (a live agent or a
// slot the market says is ours) needs the market: sales and the
// simulation check it.
func (s State) Check() []Violation {
	var out []Violation
	add := func(inv, key, format string, args ...any) {
		out = append(out, Violation{Invariant: inv, Key: key, Msg: fmt.Sprintf(format, args...)})
	}
	type held struct {
		slot       uint64
		collateral uint256.Int
		overflow   bool
	}
	byAvail := make(map[AvailabilityID]*held, len(s.Availabilities))
	for _, a := range s.Availabilities {
		byAvail[a.ID] = &held{}
	}
	var unwritten uint64
	for _, r := range s.Reservations {
		key := ReservationKey(r.AvailabilityID, r.ID).String()
		if r.Size > r.SlotSize {
			add("I2", key, "unwritten size %d exceeds the slot size %d", r.Size, r.SlotSize)
		}
		unwritten += r.Size
		h, ok := byAvail[r.AvailabilityID]
		if !ok {
			add("I4", key, "belongs to availability %s, which does not exist", r.AvailabilityID)
			continue
		}
		h.slot += r.SlotSize
		if _, of := h.collateral.AddOverflow(&h.collateral, &r.Collateral); of {
			h.overflow = true
		}
	}
	var free uint64
	for _, a := range s.Availabilities {
		key := AvailabilityKey(a.ID).String()
		h := byAvail[a.ID]
		free += a.FreeSize
		if a.FreeSize > a.TotalSize {
			add("I1", key, "freeSize %d exceeds totalSize %d", a.FreeSize, a.TotalSize)
		} else if a.TotalSize-a.FreeSize != h.slot {
			add("I2", key, "totalSize-freeSize is %d but its reservations hold %d", a.TotalSize-a.FreeSize, h.slot)
		}
		if a.TotalRemainingCollateral.Gt(&a.TotalCollateral) {
			add("I1", key, "totalRemainingCollateral %s exceeds totalCollateral %s",
				a.TotalRemainingCollateral.Dec(), a.TotalCollateral.Dec())
		}
		var sum uint256.Int
		if _, of := sum.AddOverflow(&a.TotalRemainingCollateral, &h.collateral); of || h.overflow || sum.Gt(&a.TotalCollateral) {
			add("I1c", key, "remaining collateral %s plus the %s its reservations hold exceeds totalCollateral %s",
				a.TotalRemainingCollateral.Dec(), h.collateral.Dec(), a.TotalCollateral.Dec())
		}
	}
	if free+unwritten != s.Quota.Reserved {
		add("I3", "", "the quota's reserved bytes are %d but free sizes (%d) plus unwritten reservation bytes (%d) are %d",
			s.Quota.Reserved, free, unwritten, free+unwritten)
	}
	if s.Quota.Used+s.Quota.Reserved > s.Quota.Max || s.Quota.Used+s.Quota.Reserved < s.Quota.Used {
		add("I3", "", "used %d plus reserved %d exceeds the quota's max %d", s.Quota.Used, s.Quota.Reserved, s.Quota.Max)
	}
	return out
}
