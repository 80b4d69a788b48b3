package reservations

import (
	"bytes"
	"sync"

	"github.com/google/btree"
)

// index is the in-memory copy of every committed availability, ordered by
// (FreeSize, ID) so that FindAvailability starts at the smallest one that
// fits. The commit pipeline's writer updates it after each commit (through
// repostore's OnCommit hooks), so it always equals the stored records.
//
// Lock discipline: mu guards byID and tree; it is held only for in-memory
// work, never across IO or callbacks.
type index struct {
	mu   sync.RWMutex
	byID map[AvailabilityID]*Availability
	tree *btree.BTreeG[idxItem]
}

// idxItem keeps the ordering key inline, so comparisons touch no pointer.
type idxItem struct {
	free uint64
	id   AvailabilityID
	a    *Availability
}

func bySizeThenID(x, y idxItem) bool {
	if x.free != y.free {
		return x.free < y.free
	}
	return bytes.Compare(x.id[:], y.id[:]) < 0
}

func itemOf(a *Availability) idxItem { return idxItem{free: a.FreeSize, id: a.ID, a: a} }

func newIndex() *index {
	return &index{byID: map[AvailabilityID]*Availability{}, tree: btree.NewG(32, bySizeThenID)}
}

// put stores a copy of a, replacing the previous version.
func (x *index) put(a Availability) {
	c := &a
	x.mu.Lock()
	defer x.mu.Unlock()
	if old, ok := x.byID[a.ID]; ok {
		x.tree.Delete(itemOf(old))
	}
	x.byID[a.ID] = c
	x.tree.ReplaceOrInsert(itemOf(c))
}

func (x *index) remove(id AvailabilityID) {
	x.mu.Lock()
	defer x.mu.Unlock()
	if old, ok := x.byID[id]; ok {
		x.tree.Delete(itemOf(old))
		delete(x.byID, id)
	}
}

func (x *index) get(id AvailabilityID) (Availability, bool) {
	x.mu.RLock()
	defer x.mu.RUnlock()
	a, ok := x.byID[id]
	if !ok {
		return Availability{}, false
	}
	return *a, true
}

func (x *index) len() int {
	x.mu.RLock()
	defer x.mu.RUnlock()
	return len(x.byID)
}

// find returns the first availability, from the smallest FreeSize that is
// at least size upwards, for which match is true.
func (x *index) find(size uint64, match func(*Availability) bool) (Availability, bool) {
	x.mu.RLock()
	defer x.mu.RUnlock()
	var found *Availability
	x.tree.AscendGreaterOrEqual(idxItem{free: size}, func(it idxItem) bool {
		if match(it.a) {
			found = it.a
			return false
		}
		return true
	})
	if found == nil {
		return Availability{}, false
	}
	return *found, true
}
