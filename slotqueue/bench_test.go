package slotqueue

import (
	stdheap "container/heap"
	"encoding/binary"
	"math/rand/v2"
	"testing"
)

// benchItems returns n items of random requests (1 to 8 slots each) with
// random sizes, durations, prices and collaterals; seeded, so every run
// ranks the same items. The slots of a request come together, in shuffled
// order, as NewItems makes them and sales pushes them.
func benchItems(n int) []Item {
	rng := rand.New(rand.NewPCG(7, 7))
	items := make([]Item, 0, n)
	for req := uint64(0); len(items) < n; req++ {
		var t Item
		binary.LittleEndian.PutUint64(t.RequestID[:], req)
		t.RequestID[31] = 0x5a
		t.SlotSize = 1 + rng.Uint64N(1<<30)
		t.Duration = 1 + rng.Uint64N(1<<20)
		t.PricePerBytePerSecond.SetUint64(rng.Uint64N(1 << 40))
		t.Collateral.SetUint64(rng.Uint64N(1 << 50))
		t.Expiry, t.HasExpiry = rng.Uint64N(1<<32), true
		slots, err := NewItems(t, 1+rng.Uint64N(8), rng)
		if err != nil {
			panic(err)
		}
		items = append(items, slots[:min(len(slots), n-len(items))]...)
	}
	return items
}

func reportOps(b *testing.B, opsPerIter int) {
	s := b.Elapsed().Seconds()
	b.ReportMetric(float64(opsPerIter)*float64(b.N)/s, "ops/s")
	b.ReportMetric(float64(opsPerIter/2)*float64(b.N)/s, "items/s")
}

// BenchmarkPushPop pushes every item, then pops every item in priority
// order, on one long-lived queue (its memory is allocated before the timer
// starts, as a node's queue lives as long as the node). ops/s counts pushes
// and pops (two per item), items/s round trips.
//
// items=1000000 runs on the heap under Core with no bound, because a queue
// holds at most MaxQueueSize (65535) items (SPEC §3.3); core/items=65535 runs
// the same through Core (Push, then Next and Done), the full public path
// minus the Queue's uncontended mutex.
//
// baseline/items=1000000 is the floor to compare with: container/heap over
// the same items' 16-byte (rank, id) entries, with no index, no records and
// no drop side, so no contains, delete, or bound.
func BenchmarkPushPop(b *testing.B) {
	b.Run("baseline/items=1000000", func(b *testing.B) {
		const n = 1_000_000
		items := benchItems(n)
		es := make([]entry, n)
		for i, it := range items {
			p := it.Profitability()
			es[i] = entry{rank: rankOf(it.Seen, &p), id: int32(i)}
		}
		h := make(baselineHeap, 0, n)
		b.ReportAllocs()
		for b.Loop() {
			for _, e := range es {
				stdheap.Push(&h, e)
			}
			for h.Len() > 0 {
				stdheap.Pop(&h)
			}
		}
		reportOps(b, 2*n)
	})
	b.Run("items=1000000", func(b *testing.B) {
		const n = 1_000_000
		items := benchItems(n)
		h := newHeap(0, n)
		b.ReportAllocs()
		for b.Loop() {
			for _, it := range items {
				if _, _, err := h.push(it); err != nil {
					b.Fatal(err)
				}
			}
			for h.len() > 0 {
				h.popHighest()
			}
		}
		reportOps(b, 2*n)
	})
	b.Run("core/items=65535", func(b *testing.B) {
		const n = MaxQueueSize
		items := benchItems(n)
		c, err := NewCore(1, n)
		if err != nil {
			b.Fatal(err)
		}
		b.ReportAllocs()
		for b.Loop() {
			for _, it := range items {
				if _, _, err := c.Push(it); err != nil {
					b.Fatal(err)
				}
			}
			for range n {
				if _, ok := c.Next(); !ok {
					b.Fatal("queue ran dry")
				}
				c.Done()
			}
		}
		reportOps(b, 2*n)
	})
}

// BenchmarkPushFull pushes into a full queue of 65,535 items, one push per
// op, each dropping the lowest-priority item: evict-lowest pushes items that
// outrank everything queued (the new item climbs to the top, the old lowest
// is removed: the most work); drop-pushed pushes items that rank below
// everything (the pushed item is the one dropped); random pushes items of
// the same distribution as the queued ones.
func BenchmarkPushFull(b *testing.B) {
	cases := []struct {
		name  string
		price func(rng *rand.Rand, i uint64) uint64
	}{
		{"evict-lowest", func(_ *rand.Rand, i uint64) uint64 { return 1<<41 + i }},
		{"drop-pushed", func(*rand.Rand, uint64) uint64 { return 0 }},
		{"random", func(rng *rand.Rand, _ uint64) uint64 { return rng.Uint64N(1 << 40) }},
	}
	for _, tc := range cases {
		b.Run(tc.name, func(b *testing.B) {
			const n = MaxQueueSize
			c, err := NewCore(1, n)
			if err != nil {
				b.Fatal(err)
			}
			for _, it := range benchItems(n) {
				it.PricePerBytePerSecond.AddUint64(&it.PricePerBytePerSecond, 1) // never 0
				if _, _, err := c.Push(it); err != nil {
					b.Fatal(err)
				}
			}
			rng := rand.New(rand.NewPCG(9, 9))
			var it Item
			it.RequestID[31] = 0xa5 // no collision with the queued items
			it.SlotSize, it.Duration = 1<<29, 1<<19
			it.Collateral.SetUint64(1 << 49)
			i := uint64(0)
			b.ReportAllocs()
			for b.Loop() {
				i++
				binary.LittleEndian.PutUint64(it.RequestID[:], i)
				it.PricePerBytePerSecond.SetUint64(tc.price(rng, i))
				_, dropped, err := c.Push(it)
				if err != nil || !dropped {
					b.Fatalf("push: dropped %v, err %v", dropped, err)
				}
			}
			if c.Len() != n {
				b.Fatalf("len %d", c.Len())
			}
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "ops/s")
		})
	}
}

// baselineHeap is a plain max-heap of entries by rank for container/heap.
type baselineHeap []entry

func (h baselineHeap) Len() int           { return len(h) }
func (h baselineHeap) Less(i, j int) bool { return h[i].rank > h[j].rank }
func (h baselineHeap) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *baselineHeap) Push(x any)        { *h = append(*h, x.(entry)) }
func (h *baselineHeap) Pop() any {
	old := *h
	e := old[len(old)-1]
	*h = old[:len(old)-1]
	return e
}
