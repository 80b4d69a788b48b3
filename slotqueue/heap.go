package slotqueue

import (
	"math/bits"
	"slices"

	"github.com/holiman/uint256"
)

// heap is a min-max heap of items with an index by key and by request. The
// top is the highest-priority item; the lowest-priority item is the top or
// one of its two children. Push, remove-highest, remove-lowest and
// remove-by-key are O(log n); contains is O(1); removing a request's k items
// is O(k log n).
//
// Order: entry x is "higher" than y when x's item ranks before y's (Compare
// < 0) or they tie and x was pushed earlier (smaller seq). That is a strict
// total order, so no two entries are equal. Even depths (0, 2, ...) are high
// levels: a node there is higher than all its descendants. Odd depths are low
// levels: a node there is lower than all its descendants.
//
// Layout and tricks, for speed at a million items:
//   - The heap array a holds 16-byte entries and is indexed from 1 (a[0] is
//     unused), so a node's two children share a cache line and so do its four
//     grandchildren.
//   - Removal (of the top, the lowest, or any entry) is Floyd's bottom-up
//     trick (descend): the hole left by the removed entry sinks to a leaf
//     through grandchildren, reading one cache line per two levels, and the
//     last entry is then pushed up from there.
//   - An entry holds the item's rank, which orders almost every pair without
//     touching anything else. Ranks tie for items of one uniform request (see
//     heap.uniform); those compare by push order, read from the dense seqs
//     array. Other ties fall back to the stored items.
//   - Records do not move; their positions live in the dense pos array.
//     Sifts move a hole instead of swapping, writing each moved entry and
//     position once.
//   - An item is stored once per request, not once per slot: a record holds
//     the slot index and seen flag, and the rest comes from its request's
//     template (the first item pushed), unless the item differs from it, in
//     which case the record points at a full copy (heap.fulls). A request's
//     slots normally share everything else (NewItems), so a push writes 12
//     bytes and a pop reads them plus a template that its siblings share.
//   - Keys are found through their request: byReq maps a request id to its
//     reqInfo, which holds a bit mask of the queued slots below 64 and the
//     request's records, in small arrays up to smallRequest of them and in a
//     map from slot to record past that. A push costs one map lookup; a
//     removal costs none unless it empties its request.
//
// heap is not safe for concurrent use.
type heap struct {
	a        []entry  // a[1:] is the heap
	recs     []rec    // by record id
	fulls    []full   // items that differ from their request's template
	fullFree []int32  // free fulls indices
	pos      []int32  // by record id: index in a, or none when free
	seqs     []uint64 // by record id: push sequence number
	free     []int32  // free record ids
	reqs     []reqInfo
	reqFree  []int32 // free reqs indices
	// uniform, by reqs index, is set while every item of the request pushed
	// since it was last empty had the same profitability, collateral and
	// expiry as the first one. Two such items tie but for Seen (which the
	// rank holds) and push order, so they compare without their records:
	// the common case, as the slots of a request share their ask. It is
	// apart from reqs to stay in cache.
	uniform []bool
	byReq   map[[32]byte]int32 // request id -> index in reqs
	seq     uint64             // last push sequence number handed out
	limit   int                // maximum length; 0 means unbounded
	seen    int                // number of queued items with Seen set
}

// entry is one heap slot.
type entry struct {
	rank uint64 // see rankOf
	id   int32  // record id
	req  int32  // index in heap.reqs
}

// rec holds one queued item. Most items are their request's template (the
// first item pushed for it) but for the slot index and the seen flag, and
// are stored as just those; the others keep a full copy in heap.fulls.
type rec struct {
	req  int32 // index in heap.reqs
	full int32 // index in heap.fulls, or none for a template item
	slot uint16
	seen bool
}

// full is the stored copy of an item that is not its request's template.
type full struct {
	item   Item        // its SlotIndex and Seen are those of the rec
	profit uint256.Int // item.Profitability()
}

// smallRequest is the number of items of one request that its reqInfo lists
// in arrays; past it, a map from slot to record takes over.
const smallRequest = 8

// reqInfo indexes the queued items of one request.
type reqInfo struct {
	count int    // queued items of the request
	low   uint64 // bit s is set when slot s < 64 is queued
	// While count <= smallRequest and slots is nil, ids[:count] are the
	// records and slotOf[:count] their slot indices.
	ids    [smallRequest]int32
	slotOf [smallRequest]uint16
	slots  map[uint16]int32 // slot index -> record, once count exceeded smallRequest
	// tmpl is the first item pushed since the request was last empty, and
	// profit its profitability. Its SlotIndex and Seen mean nothing.
	tmpl   Item
	profit uint256.Int
}

// sameOrder reports whether an item with the given profitability ties with
// the template on every criterion but Seen.
func (q *reqInfo) sameOrder(it *Item, profit *uint256.Int) bool {
	return *profit == q.profit && compareTail(it, &q.tmpl, profit, &q.profit) == 0
}

// isTemplate reports whether it equals the template but for SlotIndex and
// Seen.
func (q *reqInfo) isTemplate(it *Item) bool {
	a, b := *it, q.tmpl
	a.SlotIndex, a.Seen, b.SlotIndex, b.Seen = 0, false, 0, false
	return a == b
}

// find returns the record of the request's slot.
func (q *reqInfo) find(slot uint16) (int32, bool) {
	if slot < 64 && q.low&(1<<slot) == 0 {
		return none, false
	}
	if q.slots != nil {
		id, ok := q.slots[slot]
		return id, ok
	}
	for i, s := range q.slotOf[:q.count] {
		if s == slot {
			return q.ids[i], true
		}
	}
	return none, false
}

// has reports whether the request's slot is queued.
func (q *reqInfo) has(slot uint16) bool {
	if slot < 64 {
		return q.low&(1<<slot) != 0
	}
	_, ok := q.find(slot)
	return ok
}

// add records that record id holds the request's slot.
func (q *reqInfo) add(slot uint16, id int32) {
	if slot < 64 {
		q.low |= 1 << slot
	}
	switch {
	case q.slots != nil:
		q.slots[slot] = id
	case q.count < smallRequest:
		q.ids[q.count], q.slotOf[q.count] = id, slot
	default:
		q.slots = make(map[uint16]int32, 2*smallRequest)
		for i, s := range q.slotOf {
			q.slots[s] = q.ids[i]
		}
		q.slots[slot] = id
	}
	q.count++
}

// remove forgets the request's slot.
func (q *reqInfo) remove(slot uint16) {
	if slot < 64 {
		q.low &^= 1 << slot
	}
	q.count--
	if q.slots != nil {
		delete(q.slots, slot)
		return
	}
	for i, s := range q.slotOf[:q.count+1] {
		if s == slot {
			q.ids[i], q.slotOf[i] = q.ids[q.count], q.slotOf[q.count]
			return
		}
	}
}

// each calls f with every record of the request.
func (q *reqInfo) each(f func(id int32)) {
	if q.slots != nil {
		for _, id := range q.slots {
			f(id)
		}
		return
	}
	for _, id := range q.ids[:q.count] {
		f(id)
	}
}

const none = -1

func newHeap(limit, hint int) *heap {
	return &heap{
		a:     make([]entry, 1, hint+1),
		recs:  make([]rec, 0, hint),
		pos:   make([]int32, 0, hint),
		seqs:  make([]uint64, 0, hint),
		byReq: make(map[[32]byte]int32, hint/4),
		limit: limit,
	}
}

// rankOf summarises the first two criteria of the order in 64 bits such that
// rankOf(x) > rankOf(y) implies x ranks before y: bit 63 is set for an unseen
// item, and bits 0..62 hold a monotone (non-decreasing) encoding of the
// profitability: its bit length (9 bits) and its 54 leading bits. Equal ranks
// say nothing and fall back to the full comparison.
func rankOf(seen bool, profit *uint256.Int) uint64 {
	var r uint64
	if !seen {
		r = 1 << 63
	}
	n := profit.BitLen()
	var top uint64
	if n <= 54 {
		top = profit.Uint64()
	} else {
		var t uint256.Int
		top = t.Rsh(profit, uint(n-54)).Uint64()
	}
	return r | uint64(n)<<54 | top
}

func (h *heap) len() int { return len(h.a) - 1 }

// source returns the stored item of record id (whose SlotIndex and Seen are
// not the record's) and its profitability.
func (h *heap) source(id int32) (*Item, *uint256.Int) {
	r := &h.recs[id]
	if r.full != none {
		f := &h.fulls[r.full]
		return &f.item, &f.profit
	}
	q := &h.reqs[r.req]
	return &q.tmpl, &q.profit
}

// item returns a copy of the item of record id.
func (h *heap) item(id int32) Item {
	it, _ := h.source(id)
	c := *it
	c.SlotIndex, c.Seen = h.recs[id].slot, h.recs[id].seen
	return c
}

// before reports whether entry x ranks before entry y in the full order.
func (h *heap) before(x, y entry) bool {
	ix, px := h.source(x.id)
	iy, py := h.source(y.id)
	return beforeParts(x.rank, ix, px, h.seqs[x.id], y.rank, iy, py, h.seqs[y.id])
}

// beforeParts is the full order on the parts of two items: rank, the
// criteria after profitability, push order.
func beforeParts(ra uint64, a *Item, pa *uint256.Int, sa uint64, rb uint64, b *Item, pb *uint256.Int, sb uint64) bool {
	if ra != rb {
		return ra > rb // the seen flags differ, or the profitabilities do
	}
	if c := compareTail(a, b, pa, pb); c != 0 {
		return c < 0
	}
	return sa < sb
}

// hi reports whether entry x ranks before entry y. It is small enough to be
// inlined; ties go to tie.
func (h *heap) hi(x, y entry) bool {
	if x.rank != y.rank {
		return x.rank > y.rank
	}
	return h.tie(x, y)
}

// tie orders two entries of equal rank.
func (h *heap) tie(x, y entry) bool {
	if x.req == y.req && h.uniform[x.req] {
		return h.seqs[x.id] < h.seqs[y.id]
	}
	return h.before(x, y)
}

// set stores e at position i.
func (h *heap) set(i int, e entry) {
	h.a[i] = e
	h.pos[e.id] = int32(i)
}

// isHighLevel reports whether position i (from 1) is at an even depth.
func isHighLevel(i int) bool { return bits.Len(uint(i))&1 == 1 }

// The sift functions move a hole rather than swapping: e is the entry to
// place and i the hole it starts from; entries move into the hole, and e is
// stored once, where it ends.

// up places e, starting at hole i, in order with the ancestors of i.
func (h *heap) up(i int, e entry) {
	if i == 1 {
		h.set(1, e)
		return
	}
	p := i / 2
	pe := h.a[p]
	switch {
	case isHighLevel(i) && h.hi(pe, e): // the low-level parent must be lower
		h.set(i, pe)
		h.upLow(p, e)
	case isHighLevel(i):
		h.upHigh(i, e)
	case h.hi(e, pe): // the high-level parent must be higher
		h.set(i, pe)
		h.upHigh(p, e)
	default:
		h.upLow(i, e)
	}
}

func (h *heap) upHigh(i int, e entry) {
	for i >= 4 {
		g := i / 4
		ge := h.a[g]
		if !h.hi(e, ge) {
			break
		}
		h.set(i, ge)
		i = g
	}
	h.set(i, e)
}

func (h *heap) upLow(i int, e entry) {
	for i >= 4 {
		g := i / 4
		ge := h.a[g]
		if !h.hi(ge, e) {
			break
		}
		h.set(i, ge)
		i = g
	}
	h.set(i, e)
}

// down places e, starting at hole i, in order with the descendants of i,
// given that e is in order with the ancestors of i: the classic
// trickle-down, used to build the heap (clearSeen).
func (h *heap) down(i int, e entry) {
	if isHighLevel(i) {
		h.downHigh(i, e)
	} else {
		h.downLow(i, e)
	}
}

func (h *heap) downHigh(i int, e entry) {
	n := len(h.a) - 1
	for {
		c := 2 * i
		if c > n {
			break
		}
		m, me := c, h.a[c] // the highest of the children and grandchildren
		if c < n {
			if x := h.a[c+1]; h.hi(x, me) {
				m, me = c+1, x
			}
		}
		g := 2 * c
		for k := g; k < g+4 && k <= n; k++ {
			if x := h.a[k]; h.hi(x, me) {
				m, me = k, x
			}
		}
		if !h.hi(me, e) {
			break
		}
		h.set(i, me)
		i = m
		if m < g {
			break // a child: with a strict order it has no children
		}
		// e goes to grandchild m; its low-level parent must be lower.
		if pe := h.a[m/2]; h.hi(pe, e) {
			h.set(m/2, e)
			e = pe
		}
	}
	h.set(i, e)
}

func (h *heap) downLow(i int, e entry) {
	n := len(h.a) - 1
	for {
		c := 2 * i
		if c > n {
			break
		}
		m, me := c, h.a[c] // the lowest of the children and grandchildren
		if c < n {
			if x := h.a[c+1]; h.hi(me, x) {
				m, me = c+1, x
			}
		}
		g := 2 * c
		for k := g; k < g+4 && k <= n; k++ {
			if x := h.a[k]; h.hi(me, x) {
				m, me = k, x
			}
		}
		if !h.hi(e, me) {
			break
		}
		h.set(i, me)
		i = m
		if m < g {
			break
		}
		// e goes to grandchild m; its high-level parent must be higher.
		if pe := h.a[m/2]; h.hi(e, pe) {
			h.set(m/2, e)
			e = pe
		}
	}
	h.set(i, e)
}

// descend moves the hole at i down to a leaf and returns the leaf: each step
// fills the hole with the extreme of its descendants (the highest below a
// high-level hole, the lowest below a low-level one), which is one of its
// grandchildren or, at the bottom, a child. Removing an entry is then
// descend and up(leaf, last entry): Floyd's bottom-up trick for min-max
// heaps. A step reads the grandchildren's cache line only; the classic
// trickle-down also reads the children's and compares twice more.
func (h *heap) descend(i int) int {
	n := len(h.a) - 1
	high := isHighLevel(i) // x is better than y when h.hi(x, y) == high
	for {
		g := 4 * i
		var m int
		switch {
		case g <= n: // a grandchild exists, so the first child has children
			m = g
			for k := g + 1; k <= min(g+3, n); k++ {
				if h.hi(h.a[k], h.a[m]) == high {
					m = k
				}
			}
			if c := 2*i + 1; c <= n && 2*c > n { // a childless second child counts too
				if h.hi(h.a[c], h.a[m]) == high {
					m = c
				}
			}
		case 2*i <= n:
			m = 2 * i
			if c := m + 1; c <= n && h.hi(h.a[c], h.a[m]) == high {
				m = c
			}
		default:
			return i
		}
		h.set(i, h.a[m])
		i = m
		if m < g {
			return i // a child, which has no children
		}
	}
}

// lowest returns the position of the lowest-priority entry; the heap must not
// be empty.
func (h *heap) lowest() int {
	switch len(h.a) - 1 {
	case 1:
		return 1
	case 2:
		return 2
	}
	if h.hi(h.a[2], h.a[3]) {
		return 3
	}
	return 2
}

// find returns the record of key k.
func (h *heap) find(k Key) (int32, bool) {
	ri, ok := h.byReq[k.RequestID]
	if !ok {
		return none, false
	}
	return h.reqs[ri].find(k.SlotIndex)
}

func (h *heap) contains(k Key) bool {
	ri, ok := h.byReq[k.RequestID]
	return ok && h.reqs[ri].has(k.SlotIndex)
}

// push inserts it. It returns ErrDuplicate for a key already present. When the
// heap is at its limit, the lowest-priority item of the heap plus it is
// dropped and returned with dropped set: that is it itself when it ranks
// below (or ties with, being pushed last) every queued item.
func (h *heap) push(it Item) (drop Item, dropped bool, err error) {
	ri, hasReq := h.byReq[it.RequestID]
	if hasReq && h.reqs[ri].has(it.SlotIndex) {
		return Item{}, false, duplicateError(it.Key())
	}
	profit := it.Profitability()
	rank := rankOf(it.Seen, &profit)
	if h.limit > 0 && h.len() >= h.limit {
		i := h.lowest()
		lo := h.a[i]
		li, lp := h.source(lo.id)
		if !beforeParts(rank, &it, &profit, h.seq+1, lo.rank, li, lp, h.seqs[lo.id]) {
			return it, true, nil
		}
		drop, dropped = h.removeAt(i), true
		if hasReq && drop.RequestID == it.RequestID {
			ri, hasReq = h.byReq[it.RequestID] // the drop may have emptied the request
		}
	}
	h.seq++
	var id int32
	if n := len(h.free); n > 0 {
		id = h.free[n-1]
		h.free = h.free[:n-1]
	} else {
		id = int32(len(h.recs))
		if len(h.recs) == cap(h.recs) { // double: append grows large slices by 1.25
			h.recs = slices.Grow(h.recs, max(len(h.recs), 64))
			h.pos = slices.Grow(h.pos, max(len(h.pos), 64))
			h.seqs = slices.Grow(h.seqs, max(len(h.seqs), 64))
		}
		h.recs = append(h.recs, rec{})
		h.pos = append(h.pos, none)
		h.seqs = append(h.seqs, 0)
	}
	if !hasReq {
		if n := len(h.reqFree); n > 0 {
			ri = h.reqFree[n-1]
			h.reqFree = h.reqFree[:n-1]
		} else {
			ri = int32(len(h.reqs))
			h.reqs = append(h.reqs, reqInfo{})
			h.uniform = append(h.uniform, false)
		}
		h.reqs[ri] = reqInfo{tmpl: it, profit: profit}
		h.uniform[ri] = true
		h.byReq[it.RequestID] = ri
	}
	q := &h.reqs[ri]
	if h.uniform[ri] && !q.sameOrder(&it, &profit) {
		h.uniform[ri] = false
	}
	r := rec{req: ri, full: none, slot: it.SlotIndex, seen: it.Seen}
	if !q.isTemplate(&it) {
		if n := len(h.fullFree); n > 0 {
			r.full = h.fullFree[n-1]
			h.fullFree = h.fullFree[:n-1]
		} else {
			r.full = int32(len(h.fulls))
			h.fulls = append(h.fulls, full{})
		}
		h.fulls[r.full] = full{item: it, profit: profit}
	}
	h.recs[id] = r
	h.seqs[id] = h.seq
	q.add(it.SlotIndex, id)
	if it.Seen {
		h.seen++
	}
	if len(h.a) == cap(h.a) {
		h.a = slices.Grow(h.a, max(len(h.a), 64))
	}
	h.a = append(h.a, entry{})
	h.up(len(h.a)-1, entry{rank: rank, id: id, req: ri})
	return drop, dropped, nil
}

// removeAt removes and returns the item at heap position i (from 1).
func (h *heap) removeAt(i int) Item {
	id := h.a[i].id
	last := len(h.a) - 1
	e := h.a[last]
	h.a = h.a[:last]
	if i < last {
		h.up(h.descend(i), e)
	}
	it := h.item(id)
	r := &h.recs[id]
	if r.full != none {
		h.fulls[r.full] = full{}
		h.fullFree = append(h.fullFree, r.full)
	}
	q := &h.reqs[r.req]
	q.remove(it.SlotIndex)
	if q.count == 0 {
		delete(h.byReq, it.RequestID)
		*q = reqInfo{}
		h.reqFree = append(h.reqFree, r.req)
	}
	if it.Seen {
		h.seen--
	}
	h.pos[id] = none
	h.free = append(h.free, id)
	return it
}

// topSeen reports whether the highest-priority item is seen; the heap must
// not be empty.
func (h *heap) topSeen() bool { return h.a[1].rank&(1<<63) == 0 }

func (h *heap) popHighest() Item { return h.removeAt(1) }

func (h *heap) remove(k Key) bool {
	id, ok := h.find(k)
	if !ok {
		return false
	}
	h.removeAt(int(h.pos[id]))
	return true
}

// removeRequest removes every item of the request and returns how many.
func (h *heap) removeRequest(req [32]byte) int {
	ri, ok := h.byReq[req]
	if !ok {
		return 0
	}
	q := &h.reqs[ri]
	ids := make([]int32, 0, q.count)
	q.each(func(id int32) { ids = append(ids, id) })
	for _, id := range ids {
		h.removeAt(int(h.pos[id]))
	}
	return len(ids)
}

// clearSeen clears every Seen flag and rebuilds the heap order in O(n).
func (h *heap) clearSeen() {
	if h.seen == 0 {
		return
	}
	for i := 1; i < len(h.a); i++ {
		id := h.a[i].id
		if r := &h.recs[id]; r.seen {
			r.seen = false
			_, p := h.source(id)
			h.a[i].rank = rankOf(false, p)
		}
	}
	h.seen = 0
	for i := h.len() / 2; i >= 1; i-- {
		h.down(i, h.a[i])
	}
}

// items returns a copy of every item, highest priority first. O(n log n).
func (h *heap) items() []Item {
	es := slices.Clone(h.a[1:])
	slices.SortFunc(es, func(x, y entry) int {
		switch {
		case x.id == y.id:
			return 0
		case h.before(x, y):
			return -1
		}
		return 1
	})
	out := make([]Item, len(es))
	for i, e := range es {
		out[i] = h.item(e.id)
	}
	return out
}
