package slotqueue

import "fmt"

// check verifies every invariant of the heap in O(n): the min-max order, the
// recorded positions, the request index and templates, the stored copies,
// the ranks, and the seen count.
func (h *heap) check() error {
	n := h.len()
	if len(h.a) == 0 {
		return fmt.Errorf("heap array lost its unused first entry")
	}
	if h.limit > 0 && n > h.limit {
		return fmt.Errorf("length %d over limit %d", n, h.limit)
	}
	if len(h.recs)-len(h.free) != n || len(h.pos) != len(h.recs) || len(h.seqs) != len(h.recs) {
		return fmt.Errorf("%d records in use, heap holds %d", len(h.recs)-len(h.free), n)
	}
	if len(h.reqs)-len(h.reqFree) != len(h.byReq) || len(h.uniform) != len(h.reqs) {
		return fmt.Errorf("%d request entries in use, index holds %d", len(h.reqs)-len(h.reqFree), len(h.byReq))
	}
	seen, fulls := 0, 0
	for i := 1; i <= n; i++ {
		e := h.a[i]
		r := &h.recs[e.id]
		it := h.item(e.id)
		if int(h.pos[e.id]) != i {
			return fmt.Errorf("record %d says position %d, is at %d", e.id, h.pos[e.id], i)
		}
		if id, ok := h.find(it.Key()); !ok || id != e.id {
			return fmt.Errorf("index misses %v", it.Key())
		}
		q := &h.reqs[e.req]
		if r.req != e.req || it.RequestID != q.tmpl.RequestID {
			return fmt.Errorf("%v is filed under the wrong request", it.Key())
		}
		if r.full != none {
			fulls++
			if q.isTemplate(&it) {
				return fmt.Errorf("%v is stored in full but matches its template", it.Key())
			}
		}
		src, p := h.source(e.id)
		if *p != it.Profitability() || e.rank != rankOf(it.Seen, p) || src.RequestID != it.RequestID {
			return fmt.Errorf("stale rank or profitability for %v", it.Key())
		}
		if h.uniform[e.req] && !q.sameOrder(&it, p) {
			return fmt.Errorf("request of %v is marked uniform but is not", it.Key())
		}
		if it.Seen {
			seen++
		}
		// Compare with the children and grandchildren.
		for _, k := range [...]int{2 * i, 2*i + 1, 4 * i, 4*i + 1, 4*i + 2, 4*i + 3} {
			if k > n {
				continue
			}
			if isHighLevel(i) != h.hi(e, h.a[k]) || h.hi(e, h.a[k]) != h.before(e, h.a[k]) {
				return fmt.Errorf("heap order broken between positions %d and %d", i, k)
			}
		}
	}
	if seen != h.seen {
		return fmt.Errorf("seen count %d, counted %d", h.seen, seen)
	}
	if fulls != len(h.fulls)-len(h.fullFree) {
		return fmt.Errorf("%d full copies in use, %d referenced", len(h.fulls)-len(h.fullFree), fulls)
	}
	total := 0
	for req, ri := range h.byReq {
		q := &h.reqs[ri]
		count, low := 0, uint64(0)
		var err error
		q.each(func(id int32) {
			r := &h.recs[id]
			if err == nil && (h.pos[id] == none || r.req != ri) {
				err = fmt.Errorf("request index of 0x%x holds a wrong record", req)
			}
			if got, ok := q.find(r.slot); err == nil && (!ok || got != id) {
				err = fmt.Errorf("request index of 0x%x misses slot %d", req, r.slot)
			}
			if r.slot < 64 {
				low |= 1 << r.slot
			}
			count++
		})
		if err != nil {
			return err
		}
		if count == 0 || count != q.count || low != q.low || q.tmpl.RequestID != req {
			return fmt.Errorf("request 0x%x counts %d, lists %d", req, q.count, count)
		}
		total += count
	}
	if total != n {
		return fmt.Errorf("request lists hold %d items, heap %d", total, n)
	}
	return nil
}
