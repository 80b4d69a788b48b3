package sim

import (
	"fmt"

	"github.com/holiman/uint256"
	ds "github.com/ipfs/go-datastore"

	"github.com/hostsales/hostsales/reservations"
)

// check runs the checks of one step: I1-I4 on every node that is up (the
// committed state is re-read and re-checked only when the step may have
// changed it, see node.refresh; the ownership check after a step that
// committed or moved time) and, after a step that moved time (and at the
// end), simmarket's invariants if the market changed: their cost grows
// with every request the market ever had, so checking them after every
// task would dominate a long run. With Config.SkipChecks it does nothing.
func (r *runner) check(timeMoved bool) {
	if r.cfg.SkipChecks {
		return
	}
	for _, n := range r.nodes {
		if n.inc == nil {
			continue
		}
		changed := n.committed || n.cached == nil
		n.committed = false
		if !n.refresh() {
			continue
		}
		if (changed || timeMoved) && r.child == nil {
			// After a commit, and at least whenever time moves: a
			// leftover is allowed for reconcile periods anyway.
			n.checkOwnership(false)
		}
	}
	if r.marketDirty && timeMoved && r.child == nil {
		r.marketDirty = false
		if err := r.m.CheckInvariants(); err != nil {
			r.violate("market", err.Error())
		}
	}
}

// checkEnd checks I5 once the run has drained: every node holds no
// reservation and no sale data, every availability has all its bytes
// back, and the collateral its availabilities are short (with those
// deleted) is exactly what the market kept of the node's fills: their
// full collateral less what it paid back.
func (r *runner) checkEnd() {
	r.tracef("sim", "settled")
	before := r.violation
	r.check(true)
	if r.violation != before {
		return
	}
	for _, n := range r.nodes {
		if n.inc == nil || !n.refresh() {
			r.violate("I5", n.name+" is down at the end")
			return
		}
		st := n.cached
		if len(st.Reservations) > 0 {
			r.violate("I5", fmt.Sprintf("%s: reservation %s outlived every sale", n.name, describeReservation(st.Reservations[0])))
			return
		}
		deficit := n.deleted
		for _, a := range st.Availabilities {
			if a.FreeSize != a.TotalSize {
				r.violate("I5", fmt.Sprintf("%s: availability %s has freeSize %d of totalSize %d with every sale ended",
					n.name, a.ID, a.FreeSize, a.TotalSize))
				return
			}
			var d uint256.Int
			d.Sub(&a.TotalCollateral, &a.TotalRemainingCollateral)
			deficit.Add(&deficit, &d)
		}
		var kept uint256.Int
		kept.Sub(&n.filled, &n.returned)
		if n.filled.Lt(&n.returned) {
			r.violate("I5", fmt.Sprintf("%s: the market returned %s, more than the %s its fills posted",
				n.name, n.returned.Dec(), n.filled.Dec()))
			return
		}
		if deficit != kept {
			r.violate("I5", fmt.Sprintf("%s: the availabilities are short %s of collateral but the market kept %s (fills worth %s, %s paid back)",
				n.name, deficit.Dec(), kept.Dec(), n.filled.Dec(), n.returned.Dec()))
			return
		}
		if st.Quota.Used != 0 {
			r.violate("I5", fmt.Sprintf("%s: %d bytes of sale data left with every sale ended", n.name, st.Quota.Used))
			return
		}
	}
}

// sample records every node's state at time t.
func (r *runner) sample(t int64) {
	for _, n := range r.nodes {
		s := Sample{Time: t - r.start, Node: n.name}
		if n.inc == nil || !n.refresh() {
			r.samples = append(r.samples, s)
			continue
		}
		if n.inc.s != nil {
			s.QueueLength = n.inc.s.Queue().Stats().Len
			s.ActiveSales = len(n.inc.s.Agents())
		}
		idx := map[reservations.AvailabilityID]int{}
		for _, a := range n.cached.Availabilities {
			idx[a.ID] = len(s.Availabilities)
			s.Availabilities = append(s.Availabilities, AvailabilitySample{ID: a.ID.String(), Free: a.FreeSize})
		}
		for _, res := range n.cached.Reservations {
			if i, ok := idx[res.AvailabilityID]; ok {
				s.Availabilities[i].Reserved += res.Size
				s.Availabilities[i].Used += res.SlotSize - res.Size
			}
		}
		r.samples = append(r.samples, s)
	}
}

// reservationsKeyValue returns a record that breaks the accounting of st:
// its first availability with one byte more of totalSize (I2), or, with
// no availability, a reservation of an availability that does not exist
// (I4).
func reservationsKeyValue(st *reservations.State) (ds.Key, []byte) {
	if len(st.Availabilities) > 0 {
		a := st.Availabilities[0]
		a.TotalSize++
		b, _ := a.MarshalJSON()
		return reservations.AvailabilityKey(a.ID), b
	}
	res := reservations.Reservation{ID: reservations.ID{0xbd}, AvailabilityID: reservations.ID{0xbd}}
	b, _ := res.MarshalJSON()
	return reservations.ReservationKey(res.AvailabilityID, res.ID), b
}
