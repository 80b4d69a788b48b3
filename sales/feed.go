package sales

import (
	"context"

	"github.com/hostsales/hostsales/market"
	"github.com/hostsales/hostsales/slotqueue"
)

// subscribe installs the market subscriptions of SPEC §4.9 step 3, in its
// order. A failed subscription is logged, not fatal.
func (s *Sales) subscribe(ctx context.Context) {
	m := s.deps.Market
	var subs []market.Subscription
	add := func(what string, sub market.Subscription, err error) {
		if err != nil {
			s.opts.Logger.Error("subscribing", "to", what, "err", err)
			return
		}
		subs = append(subs, sub)
	}
	sub, err := m.SubscribeRequests(ctx, s.onStorageRequested)
	add("StorageRequested", sub, err)
	sub, err = m.SubscribeFulfillment(ctx, func(e market.RequestFulfilled) {
		s.queue.DeleteRequest(e.RequestID)
		s.each(e.RequestID, (*Agent).onFulfilled)
	})
	add("RequestFulfilled", sub, err)
	sub, err = m.SubscribeRequestFailed(ctx, func(e market.RequestFailed) {
		s.queue.DeleteRequest(e.RequestID)
		s.each(e.RequestID, (*Agent).onFailed)
	})
	add("RequestFailed", sub, err)
	sub, err = m.SubscribeSlotFilled(ctx, func(e market.SlotFilled) {
		if e.SlotIndex > maxSlotIndex {
			return
		}
		s.queue.Delete(slotqueue.Key{RequestID: e.RequestID, SlotIndex: uint16(e.SlotIndex)})
		s.mu.Lock()
		a := s.mu.byReq[e.RequestID][e.SlotIndex]
		s.mu.Unlock()
		if a != nil {
			a.onSlotFilled()
		}
	})
	add("SlotFilled", sub, err)
	sub, err = m.SubscribeSlotFreed(ctx, func(e market.SlotFreed) {
		s.exec.Go(func() { s.onSlotFreed(e) })
	})
	add("SlotFreed", sub, err)
	sub, err = m.SubscribeRequestCancelled(ctx, func(e market.RequestCancelled) {
		s.queue.DeleteRequest(e.RequestID)
	})
	add("RequestCancelled", sub, err)
	sub, err = m.SubscribeSlotReservationsFull(ctx, func(e market.SlotReservationsFull) {
		if e.SlotIndex > maxSlotIndex {
			return
		}
		s.queue.Delete(slotqueue.Key{RequestID: e.RequestID, SlotIndex: uint16(e.SlotIndex)})
	})
	add("SlotReservationsFull", sub, err)
	s.mu.Lock()
	if s.mu.running {
		s.mu.subs = subs
		subs = nil
	}
	s.mu.Unlock()
	for _, sub := range subs { // stopped meanwhile
		sub.Unsubscribe()
	}
}

// onStorageRequested queues one item per slot, in a random order, in one
// push (SPEC §3.7).
func (s *Sales) onStorageRequested(e market.StorageRequested) {
	if !s.running() {
		return
	}
	tmpl := slotqueue.Item{RequestID: e.RequestID, SlotSize: e.Ask.SlotSize, Duration: e.Ask.Duration,
		PricePerBytePerSecond: e.Ask.PricePerBytePerSecond, Collateral: e.Ask.CollateralPerSlot(),
		Expiry: uint64(max(e.ExpiresAt, 0)), HasExpiry: true}
	s.randMu.Lock()
	items, err := slotqueue.NewItems(tmpl, e.Ask.Slots, s.opts.Rand)
	s.randMu.Unlock()
	if err != nil {
		s.opts.Logger.Warn("request not queued", "requestId", e.RequestID.String(), "err", err)
		return
	}
	if err := s.queue.Push(items...); err != nil {
		s.opts.Logger.Debug("queueing the request's slots", "requestId", e.RequestID.String(), "err", err)
	}
}

// onSlotFreed queues a freed slot for repair, at the repair collateral.
func (s *Sales) onSlotFreed(e market.SlotFreed) {
	ctx := s.ctx
	if e.SlotIndex > maxSlotIndex {
		return
	}
	req, err := s.deps.Market.GetRequest(ctx, e.RequestID)
	if err != nil {
		s.opts.Logger.Info("freed slot of an unknown request", "requestId", e.RequestID.String(), "err", err)
		return
	}
	coll, err := s.deps.Market.SlotCollateral(ctx, e.RequestID, e.SlotIndex)
	if err != nil {
		s.opts.Logger.Info("freed slot: collateral", "requestId", e.RequestID.String(), "err", err)
		return
	}
	end, err := s.deps.Market.RequestExpiresAt(ctx, e.RequestID)
	if err != nil {
		return
	}
	// The request may have ended since the event (a failure frees slots
	// first): do not queue a slot the removal already swept.
	if st, err := s.deps.Market.RequestState(ctx, e.RequestID); err != nil || st.IsTerminal() {
		return
	}
	it := slotqueue.Item{RequestID: e.RequestID, SlotIndex: uint16(e.SlotIndex), SlotSize: req.Ask.SlotSize,
		Duration: req.Ask.Duration, PricePerBytePerSecond: req.Ask.PricePerBytePerSecond, Collateral: coll,
		Expiry: uint64(max(end, 0)), HasExpiry: true}
	if err := s.queue.Push(it); err != nil {
		s.opts.Logger.Debug("queueing the freed slot", "err", err)
	}
}

// maxSlotIndex is the largest slot index the queue holds (uint16).
const maxSlotIndex = slotqueue.MaxSlots
