package slotqueue

// Property tests: Core and the heap against a dumb model, a slice kept
// sorted by Compare and push order (STYLE.md §4 practice 9).

import (
	"errors"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/holiman/uint256"
	"github.com/stretchr/testify/require"
	"pgregory.net/rapid"
)

// modelItem is an item with its push sequence number.
type modelItem struct {
	it  Item
	seq uint64
}

// model is the naive reference: everything linear, sorted on demand.
type model struct {
	items      []modelItem
	seq        uint64
	limit      int // 0: unbounded
	maxWorkers int
	busy       int
	paused     bool
	dropped    uint64
}

func modelCmp(a, b modelItem) int {
	if c := Compare(a.it, b.it); c != 0 {
		return c
	}
	return int(a.seq) - int(b.seq)
}

func (m *model) sort() { slices.SortFunc(m.items, modelCmp) }

func (m *model) index(k Key) int {
	return slices.IndexFunc(m.items, func(x modelItem) bool { return x.it.Key() == k })
}

// push mirrors Core.Push.
func (m *model) push(it Item) (Item, bool, error) {
	if m.index(it.Key()) >= 0 {
		return Item{}, false, ErrDuplicate
	}
	m.seq++
	x := modelItem{it, m.seq}
	i, _ := slices.BinarySearchFunc(m.items, x, modelCmp)
	m.items = slices.Insert(m.items, i, x)
	var drop Item
	dropped := false
	if m.limit > 0 && len(m.items) > m.limit {
		drop, dropped = m.items[len(m.items)-1].it, true
		m.items = m.items[:len(m.items)-1]
		m.dropped++
	}
	if !it.Seen {
		m.paused = false
	}
	return drop, dropped, nil
}

// next mirrors Core.Next.
func (m *model) next() (Item, bool) {
	if m.paused || len(m.items) == 0 || m.busy >= m.maxWorkers {
		return Item{}, false
	}
	if m.items[0].it.Seen {
		m.paused = true
		return Item{}, false
	}
	it := m.items[0].it
	m.items = m.items[1:]
	m.busy++
	return it, true
}

func (m *model) popLowest() Item {
	it := m.items[len(m.items)-1].it
	m.items = m.items[:len(m.items)-1]
	return it
}

func (m *model) delete(k Key) bool {
	i := m.index(k)
	if i < 0 {
		return false
	}
	m.items = slices.Delete(m.items, i, i+1)
	return true
}

func (m *model) deleteRequest(id [32]byte) int {
	n := len(m.items)
	m.items = slices.DeleteFunc(m.items, func(x modelItem) bool { return x.it.RequestID == id })
	return n - len(m.items)
}

func (m *model) clearSeen() {
	for i := range m.items {
		m.items[i].it.Seen = false
	}
	m.sort()
}

func (m *model) list() []Item {
	out := make([]Item, len(m.items))
	for i, x := range m.items {
		out[i] = x.it
	}
	return out
}

// Slots chosen so that a request can outgrow the index's arrays
// (smallRequest) and have slots past its 64-bit mask.
var modelSlots = []uint16{0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 63, 64, 300, 65535}

// Prices chosen to hit ties, values that differ only below the rank's 54
// leading bits, and products that overflow 256 bits.
var modelPrices = []*uint256.Int{
	uint256.NewInt(0), uint256.NewInt(1), uint256.NewInt(2), uint256.NewInt(3),
	uint256.NewInt(1 << 60), uint256.NewInt(1<<60 + 1),
	new(uint256.Int).Lsh(uint256.NewInt(1), 200),
	new(uint256.Int).Lsh(uint256.NewInt(3), 254), // overflows with size*duration > 1
	new(uint256.Int).SetAllOne(),
}

// templateItem returns the fields every slot of request req shares when
// the request's items come from one template (NewItems), as most do.
func templateItem(req byte) Item {
	var it Item
	it.RequestID[0] = req
	it.SlotSize, it.Duration = uint64(req%3), 2
	it.PricePerBytePerSecond = *modelPrices[int(req)%len(modelPrices)]
	it.Collateral.SetUint64(uint64(req % 2))
	it.Expiry, it.HasExpiry = 1, req%2 == 0
	return it
}

func itemGen(requests int) *rapid.Generator[Item] {
	return rapid.Custom(func(t *rapid.T) Item {
		if rapid.Bool().Draw(t, "fromTemplate") {
			it := templateItem(byte(rapid.IntRange(0, requests-1).Draw(t, "req")))
			it.SlotIndex = rapid.SampledFrom(modelSlots).Draw(t, "slot")
			it.Seen = rapid.IntRange(0, 3).Draw(t, "seen") == 0
			return it
		}
		var it Item
		it.RequestID[0] = byte(rapid.IntRange(0, requests-1).Draw(t, "req"))
		it.SlotIndex = rapid.SampledFrom(modelSlots).Draw(t, "slot")
		it.SlotSize = rapid.Uint64Range(0, 3).Draw(t, "size")
		it.Duration = rapid.Uint64Range(1, 2).Draw(t, "duration")
		it.PricePerBytePerSecond = *rapid.SampledFrom(modelPrices).Draw(t, "price")
		it.Collateral.SetUint64(rapid.Uint64Range(0, 2).Draw(t, "collateral"))
		it.HasExpiry = rapid.Bool().Draw(t, "hasExpiry")
		if it.HasExpiry {
			it.Expiry = rapid.Uint64Range(0, 2).Draw(t, "expiry")
		}
		it.Seen = rapid.IntRange(0, 3).Draw(t, "seen") == 0
		return it
	})
}

// TestCoreMatchesModel runs random pushes, worker steps, deletes, seen-flag
// clears and pauses on a Core and on the model, and compares the order, the
// drop on overflow, contains, len, paused and busy after every step.
func TestCoreMatchesModel(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		const requests = 3
		maxSize := rapid.IntRange(1, 24).Draw(t, "maxSize")
		maxWorkers := rapid.IntRange(1, min(maxSize, 3)).Draw(t, "maxWorkers")
		c, err := NewCore(maxWorkers, maxSize)
		if err != nil {
			t.Fatal(err)
		}
		m := &model{limit: maxSize, maxWorkers: maxWorkers, paused: true}
		gen := itemGen(requests)
		keyGen := rapid.Custom(func(t *rapid.T) Key { return gen.Draw(t, "k").Key() })

		push := func(t *rapid.T, it Item) {
			d, dd, err := c.Push(it)
			md, mdd, merr := m.push(it)
			if errors.Is(err, ErrDuplicate) != (merr != nil) || (err != nil && merr == nil) {
				t.Fatalf("push %v: got %v, model %v", it, err, merr)
			}
			if dd != mdd || d != md {
				t.Fatalf("push %v: dropped %v %v, model %v %v", it, dd, d, mdd, md)
			}
		}
		t.Repeat(map[string]func(*rapid.T){
			"push": func(t *rapid.T) { push(t, gen.Draw(t, "item")) },
			"pushMany": func(t *rapid.T) { // grow deep trees quickly
				for _, it := range rapid.SliceOfN(gen, 1, 16).Draw(t, "items") {
					push(t, it)
				}
			},
			"next": func(t *rapid.T) {
				it, ok := c.Next()
				mit, mok := m.next()
				if ok != mok || it != mit {
					t.Fatalf("next: got %v %v, model %v %v", ok, it, mok, mit)
				}
			},
			"done": func(t *rapid.T) {
				c.Done()
				if m.busy > 0 {
					m.busy--
				}
			},
			"delete": func(t *rapid.T) {
				k := keyGen.Draw(t, "key")
				if got, want := c.Delete(k), m.delete(k); got != want {
					t.Fatalf("delete %v: got %v, model %v", k, got, want)
				}
			},
			"deleteRequest": func(t *rapid.T) {
				var id [32]byte
				id[0] = byte(rapid.IntRange(0, requests-1).Draw(t, "req"))
				if got, want := c.DeleteRequest(id), m.deleteRequest(id); got != want {
					t.Fatalf("deleteRequest: got %d, model %d", got, want)
				}
			},
			"clearSeen": func(t *rapid.T) {
				c.ClearSeenFlags()
				m.clearSeen()
			},
			"pause": func(t *rapid.T) {
				c.Pause()
				m.paused = true
			},
			"unpause": func(t *rapid.T) {
				c.Unpause()
				m.paused = false
			},
			"": func(t *rapid.T) {
				if err := c.h.check(); err != nil {
					t.Fatal(err)
				}
				if got, want := c.Items(), m.list(); !slices.Equal(got, want) {
					t.Fatalf("order:\n got %v\nwant %v", got, want)
				}
				if c.Len() != len(m.items) || c.Paused() != m.paused || c.Busy() != m.busy || c.Dropped() != m.dropped {
					t.Fatalf("len %d paused %v busy %d dropped %d; model %d %v %d %d",
						c.Len(), c.Paused(), c.Busy(), c.Dropped(), len(m.items), m.paused, m.busy, m.dropped)
				}
				for r := range requests {
					for _, s := range modelSlots {
						var k Key
						k.RequestID[0], k.SlotIndex = byte(r), s
						if c.Contains(k) != (m.index(k) >= 0) {
							t.Fatalf("contains %v: got %v", k, c.Contains(k))
						}
					}
				}
			},
		})
	})
}

// TestHeapDeepMatchesModel drives the unbounded and the bounded heap through
// deep trees (thousands of items, so many levels of the min-max heap) with a
// seeded random sequence, and compares every removed item with the model.
func TestHeapDeepMatchesModel(t *testing.T) {
	for _, limit := range []int{0, 1000} {
		rng := rand.New(rand.NewPCG(42, uint64(limit)))
		h := newHeap(limit, 0)
		m := &model{limit: limit}
		randItem := func() Item {
			if rng.IntN(2) == 0 {
				it := templateItem(byte(rng.IntN(64)))
				it.SlotIndex = uint16(rng.IntN(256))
				it.Seen = rng.IntN(5) == 0
				return it
			}
			var it Item
			it.RequestID[0] = byte(rng.IntN(64))
			it.SlotIndex = uint16(rng.IntN(256))
			it.SlotSize = rng.Uint64N(4)
			it.Duration = 1 + rng.Uint64N(3)
			it.PricePerBytePerSecond = *modelPrices[rng.IntN(len(modelPrices))]
			it.Collateral.SetUint64(rng.Uint64N(3))
			it.HasExpiry = rng.IntN(2) == 0
			it.Expiry = rng.Uint64N(3)
			it.Seen = rng.IntN(5) == 0
			return it
		}
		for step := range 8000 {
			grow := step < 4000
			switch op := rng.IntN(10); {
			case op < 5 || (grow && op < 8):
				it := randItem()
				d, dd, err := h.push(it)
				md, mdd, merr := m.push(it)
				require.Equal(t, merr != nil, err != nil, "step %d", step)
				require.Equal(t, mdd, dd, "step %d", step)
				require.Equal(t, md, d, "step %d", step)
			case op < 7 && h.len() > 0:
				require.Equal(t, m.items[0].it, h.popHighest(), "step %d", step)
				m.items = m.items[1:]
			case op < 8 && h.len() > 0:
				require.Equal(t, m.popLowest(), h.removeAt(h.lowest()), "step %d", step)
			case op < 9:
				k := randItem().Key()
				require.Equal(t, m.delete(k), h.remove(k), "step %d", step)
			case rng.IntN(20) == 0:
				h.clearSeen()
				m.clearSeen()
			default:
				id := [32]byte{byte(rng.IntN(64))}
				require.Equal(t, m.deleteRequest(id), h.removeRequest(id), "step %d", step)
			}
			if step%500 == 0 {
				require.NoError(t, h.check(), "step %d", step)
				require.Equal(t, m.list(), h.items(), "step %d", step)
			}
		}
		for h.len() > 0 {
			require.Equal(t, m.items[0].it, h.popHighest())
			m.items = m.items[1:]
		}
		require.NoError(t, h.check())
	}
}

// TestRankIsMonotone checks the property the heap's fast path relies on: a
// higher rank means a higher priority.
func TestRankIsMonotone(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		words := rapid.SliceOfN(rapid.Uint64(), 8, 8).Draw(t, "words")
		shift := rapid.IntRange(0, 255).Draw(t, "shift")
		a := uint256.Int{words[0], words[1], words[2], words[3]}
		b := uint256.Int{words[4], words[5], words[6], words[7]}
		a.Rsh(&a, uint(shift))
		b.Rsh(&b, uint(rapid.IntRange(0, 255).Draw(t, "shift2")))
		sa, sb := rapid.Bool().Draw(t, "seenA"), rapid.Bool().Draw(t, "seenB")
		ra, rb := rankOf(sa, &a), rankOf(sb, &b)
		x, y := Item{Seen: sa}, Item{Seen: sb}
		c := compareParts(&x, &y, &a, &b)
		if ra > rb && c >= 0 || ra < rb && c <= 0 {
			t.Fatalf("rank %x vs %x disagrees with compare %d for %v/%v, %v/%v", ra, rb, c, sa, &a, sb, &b)
		}
	})
}
