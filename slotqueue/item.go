package slotqueue

import (
	"fmt"
	"math"
	"strconv"

	"github.com/holiman/uint256"
)

// MaxSlots is the largest slot count a request may have for its slots to be
// queued: slot indices must fit a uint16 (SPEC §3.1).
const MaxSlots = math.MaxUint16

// Item is one slot of a storage request, as ranked by the queue (SPEC §3.1).
//
// Item is a plain value: copying it copies everything, and the queue stores
// and returns copies. Two items are the same slot, and so duplicates of each
// other in a queue, when their Key (request id and slot index) is equal; the
// other fields are ignored for identity.
type Item struct {
	// RequestID is the id of the storage request. It is a plain array so
	// that this package imports no other hostsales package; a
	// market.RequestID converts to it and back.
	RequestID [32]byte
	// SlotIndex is the slot's index within the request.
	SlotIndex uint16
	// SlotSize is the size of the slot in bytes.
	SlotSize uint64
	// Duration is the request's duration in seconds.
	Duration uint64
	// PricePerBytePerSecond is what the client pays, per byte and second.
	PricePerBytePerSecond uint256.Int
	// Collateral is the collateral needed to fill this slot (not per byte).
	Collateral uint256.Int
	// Expiry is the request's expiry; it is meaningful only when HasExpiry
	// is set. The queue only compares expiries with each other, so it does
	// not care whether the value is absolute or relative (SPEC §3.7 QUIRK),
	// but the items of one queue should agree.
	Expiry uint64
	// HasExpiry says whether Expiry is set.
	HasExpiry bool
	// Seen is set when the slot was already tried and no availability
	// matched (SPEC §3.6). Seen items rank after every unseen one, and a
	// worker that meets a seen item at the top pauses the queue.
	Seen bool
}

// Key identifies a slot: the request id and the slot index. It is the
// identity of an Item in a queue.
type Key struct {
	RequestID [32]byte
	SlotIndex uint16
}

// Key returns the item's identity.
func (it Item) Key() Key { return Key{RequestID: it.RequestID, SlotIndex: it.SlotIndex} }

// String returns "0x<request id hex>/<slot index>", with " (seen)" appended
// for a seen item.
func (it Item) String() string {
	s := it.Key().String()
	if it.Seen {
		s += " (seen)"
	}
	return s
}

// String returns "0x<request id hex>/<slot index>".
func (k Key) String() string {
	return requestIDString(k.RequestID) + "/" + strconv.Itoa(int(k.SlotIndex))
}

// maxUint256 is the value profitability saturates to.
var maxUint256 = *new(uint256.Int).SetAllOne()

// Profitability returns Duration × PricePerBytePerSecond × SlotSize, the
// price the host earns for the whole slot (the ask's pricePerSlot). It is
// computed in 256 bits; a product that does not fit saturates to 2^256−1, so
// such items tie with each other on profitability and are ranked by the
// remaining criteria (no ask of a real market comes near this bound).
func (it Item) Profitability() uint256.Int {
	var size, dur, p uint256.Int
	size.SetUint64(it.SlotSize)
	dur.SetUint64(it.Duration)
	if _, over := p.MulOverflow(&it.PricePerBytePerSecond, &size); over {
		return maxUint256
	}
	if _, over := p.MulOverflow(&p, &dur); over {
		return maxUint256
	}
	return p
}

// Compare ranks two items (SPEC §3.2). It returns a negative number when a
// ranks before b (a has the higher priority and is processed first), a
// positive one when a ranks after b, and 0 when they tie. The criteria, in
// order:
//
//  1. an unseen item before a seen one;
//  2. the higher Profitability first;
//  3. the lower Collateral first;
//  4. an item with an expiry before one without, and of two items with an
//     expiry the later one first.
//
// Criterion 4 differs from the reference, which compares expiries only when
// both items have one and otherwise ties them: that rule is not transitive
// (with A expiry 5, B none, C expiry 3: A<C, yet A=B and B=C), and a heap
// cannot honour an order that is not. Ranking "no expiry" last is the
// smallest change that makes the order total.
//
// The queue breaks the remaining ties by push order: of two items that
// Compare calls equal, the one pushed earlier is processed first. The slots
// of one request tie on every criterion, so they are processed in the
// shuffled order NewItems gave them.
//
// Compare is a pure function; it can be used with slices.SortFunc.
func Compare(a, b Item) int {
	pa, pb := a.Profitability(), b.Profitability()
	return compareParts(&a, &b, &pa, &pb)
}

// compareParts is Compare with the profitabilities already computed.
func compareParts(a, b *Item, pa, pb *uint256.Int) int {
	if a.Seen != b.Seen {
		if !a.Seen {
			return -1
		}
		return 1
	}
	return compareTail(a, b, pa, pb)
}

// compareTail is Compare without the seen criterion.
func compareTail(a, b *Item, pa, pb *uint256.Int) int {
	if c := pa.Cmp(pb); c != 0 {
		return -c // higher first
	}
	if c := a.Collateral.Cmp(&b.Collateral); c != 0 {
		return c // lower first
	}
	switch {
	case a.HasExpiry != b.HasExpiry:
		if a.HasExpiry {
			return -1
		}
		return 1
	case !a.HasExpiry || a.Expiry == b.Expiry:
		return 0
	case a.Expiry > b.Expiry:
		return -1 // later first
	default:
		return 1
	}
}

// Shuffler permutes n elements through swap. *math/rand/v2.Rand satisfies it;
// a simulation passes a seeded one so that its runs repeat.
type Shuffler interface {
	Shuffle(n int, swap func(i, j int))
}

// NewItems expands a request into one item per slot, slot indices 0 to
// slots−1, in an order drawn from rng (SPEC §3.1). Every item is a copy of
// template with its SlotIndex set; the template's own SlotIndex is ignored.
//
// The random order spreads the hosts that see the same request over its
// slots: the slots of one request tie in the queue's ranking and are taken in
// push order.
//
// It returns ErrSlotCountOutOfRange unless 1 <= slots <= MaxSlots. The check
// is on the full value (the reference truncated it to 16 bits first, so that
// 65537 slots passed). It returns ErrNilShuffler when rng is nil. It is safe
// for concurrent use if rng is.
func NewItems(template Item, slots uint64, rng Shuffler) ([]Item, error) {
	if slots < 1 || slots > MaxSlots {
		return nil, fmt.Errorf("%w: %d slots, want 1..%d", ErrSlotCountOutOfRange, slots, MaxSlots)
	}
	if rng == nil {
		return nil, ErrNilShuffler
	}
	items := make([]Item, slots)
	for i := range items {
		items[i] = template
		items[i].SlotIndex = uint16(i)
	}
	rng.Shuffle(len(items), func(i, j int) { items[i], items[j] = items[j], items[i] })
	return items, nil
}
