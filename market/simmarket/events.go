package simmarket

import (
	"fmt"
	"sync"
	"sync/atomic"

	"github.com/holiman/uint256"

	"github.com/hostsales/hostsales/market"
)

// Record is one entry of the market's log: an event of MARKET.md §6 or a
// token Transfer, numbered in the order the market committed them.
type Record struct {
	Seq   uint64       // 1, 2, 3, ... over the life of the market
	Time  int64        // market time of the transaction that produced it
	Event market.Event // a market event type, or Transfer
}

// String renders the record on one line, for traces.
func (r Record) String() string {
	return fmt.Sprintf("#%d t=%d %s", r.Seq, r.Time, r.Event)
}

// Transfer is a token movement (an ERC20 Transfer event on chain). Mints
// come from MintAddress; the market's own account is MarketAddress.
type Transfer struct {
	From   market.Address
	To     market.Address
	Amount uint256.Int
	// Reason says which rule moved the tokens: "requestStorage",
	// "collateral", "reward", "collateralReturn", "validatorReward",
	// "withdraw" or "mint".
	Reason string
}

// EventName returns "Transfer".
func (Transfer) EventName() string { return "Transfer" }

// String renders the transfer as "Transfer(from -> to, amount, reason)".
func (t Transfer) String() string {
	return fmt.Sprintf("Transfer(%s -> %s, %s, %s)", name(t.From), name(t.To), t.Amount.Dec(), t.Reason)
}

func name(a market.Address) string {
	switch a {
	case MarketAddress:
		return "market"
	case MintAddress:
		return "mint"
	}
	return a.String()
}

// bus queues committed records and delivers them to subscribers one at a
// time, in order, never holding a lock while a callback runs.
type bus struct {
	mu       sync.Mutex
	pending  []Record
	draining bool
	subs     []*subscription // copy-on-write: a delivery loop may hold an old slice
}

type subscription struct {
	b       *bus
	active  atomic.Bool
	deliver func(Record)
}

// Unsubscribe implements market.Subscription.
func (s *subscription) Unsubscribe() {
	if !s.active.Swap(false) {
		return
	}
	s.b.mu.Lock()
	defer s.b.mu.Unlock()
	subs := make([]*subscription, 0, len(s.b.subs))
	for _, o := range s.b.subs {
		if o != s {
			subs = append(subs, o)
		}
	}
	s.b.subs = subs
}

func (b *bus) subscribe(deliver func(Record)) *subscription {
	s := &subscription{b: b, deliver: deliver}
	s.active.Store(true)
	b.mu.Lock()
	defer b.mu.Unlock()
	subs := make([]*subscription, len(b.subs), len(b.subs)+1)
	copy(subs, b.subs)
	b.subs = append(subs, s)
	return s
}

// publish queues records; the market calls it with its own lock held, so
// the queue order is the commit order.
func (b *bus) publish(recs []Record) {
	if len(recs) == 0 {
		return
	}
	b.mu.Lock()
	b.pending = append(b.pending, recs...)
	b.mu.Unlock()
}

// drain delivers every queued record and returns how many it delivered. If
// another call is already delivering (on this goroutine, from a callback,
// or on another one), it returns 0 at once: that call delivers the rest.
func (b *bus) drain() int {
	b.mu.Lock()
	if b.draining {
		b.mu.Unlock()
		return 0
	}
	b.draining = true
	locked := true
	defer func() { // also on a panicking callback, so delivery is not wedged
		if !locked {
			b.mu.Lock()
		}
		b.draining = false
		b.mu.Unlock()
	}()
	n := 0
	for len(b.pending) > 0 {
		r := b.pending[0]
		b.pending[0] = Record{}
		b.pending = b.pending[1:]
		subs := b.subs
		b.mu.Unlock()
		locked = false
		for _, s := range subs {
			if s.active.Load() {
				s.deliver(r)
			}
		}
		n++
		b.mu.Lock()
		locked = true
	}
	b.pending = nil
	return n
}

func (b *bus) pendingCount() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return len(b.pending)
}

// typed returns a deliver function that calls fn for records whose event
// is an E.
func typed[E market.Event](fn func(E)) func(Record) {
	return func(r Record) {
		if e, ok := r.Event.(E); ok {
			fn(e)
		}
	}
}
