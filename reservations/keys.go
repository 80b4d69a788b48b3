package reservations

import (
	"fmt"
	"strconv"

	ds "github.com/ipfs/go-datastore"

	"github.com/hostsales/hostsales/market"
)

// Key layout (SPEC §1.6). Every key of this package is built here.
//
//	/meta/sales/reservations/<availabilityIdHex>                    Availability (4 segments)
//	/meta/sales/reservations/<availabilityIdHex>/<reservationIdHex> Reservation  (5 segments)
//	/meta/sales/slots/<requestIdHex>/<slotIndex:016x>               "<availabilityIdHex>/<reservationIdHex>"
//
// The slot index is ours: it finds a slot's reservation without a scan
// (restore, DESIGN.md Decision 5) and refuses a second reservation for the
// same slot.
var (
	root     = ds.NewKey("/meta/sales/reservations")
	slotRoot = ds.NewKey("/meta/sales/slots")
)

const (
	availabilityDepth = 4
	reservationDepth  = 5
)

// AvailabilityKey returns the key of an availability's record.
func AvailabilityKey(id AvailabilityID) ds.Key { return root.ChildString(id.Hex()) }

// ReservationKey returns the key of a reservation's record.
func ReservationKey(aid AvailabilityID, rid ReservationID) ds.Key {
	return AvailabilityKey(aid).ChildString(rid.Hex())
}

func slotKey(req market.RequestID, slot uint64) ds.Key {
	return slotRoot.ChildString(ID(req).Hex()).ChildString(fmt.Sprintf("%016x", slot))
}

// parseIDs returns the ids named by a record key and its depth.
func parseIDs(k ds.Key) (aid AvailabilityID, rid ReservationID, depth int, err error) {
	ns := k.Namespaces()
	depth = len(ns)
	if depth != availabilityDepth && depth != reservationDepth {
		return aid, rid, depth, fmt.Errorf("unexpected key depth %d", depth)
	}
	if aid, err = ParseID(ns[3]); err != nil {
		return aid, rid, depth, err
	}
	if depth == reservationDepth {
		rid, err = ParseID(ns[4])
	}
	return aid, rid, depth, err
}

func slotValue(aid AvailabilityID, rid ReservationID) []byte {
	return []byte(aid.Hex() + "/" + rid.Hex())
}

func parseSlotValue(b []byte) (AvailabilityID, ReservationID, error) {
	s := string(b)
	if len(s) != 129 || s[64] != '/' {
		return ID{}, ID{}, fmt.Errorf("bad slot index value %s", strconv.Quote(s))
	}
	aid, err := ParseID(s[:64])
	if err != nil {
		return ID{}, ID{}, err
	}
	rid, err := ParseID(s[65:])
	return aid, rid, err
}
