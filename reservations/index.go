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
	tree *btree.BTreeG[*Availability]
}

func bySizeThenID(a, b *Availability) bool {
	if a.FreeSize != b.FreeSize {
		return a.FreeSize < b.FreeSize
	}
	return bytes.Compare(a.ID[:], b.ID[:]) < 0
}

func newIndex() *index {
	return &index{byID: map[AvailabilityID]*Availability{}, tree: btree.NewG(32, bySizeThenID)}
}

// put stores a copy of a, replacing the previous version.
func (x *index) put(a Availability) {
	c := &a
	x.mu.Lock()
	defer x.mu.Unlock()
	if old, ok := x.byID[a.ID]; ok {
		x.tree.Delete(old)
	}
	x.byID[a.ID] = c
	x.tree.ReplaceOrInsert(c)
}

func (x *index) remove(id AvailabilityID) {
	x.mu.Lock()
	defer x.mu.Unlock()
	if old, ok := x.byID[id]; ok {
		x.tree.Delete(old)
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
	x.tree.AscendGreaterOrEqual(&Availability{FreeSize: size}, func(a *Availability) bool {
		if match(a) {
			found = a
			return false
		}
		return true
	})
	if found == nil {
		return Availability{}, false
	}
	return *found, true
}
