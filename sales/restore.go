package sales

import (
	"context"
	"errors"
	"fmt"

	"github.com/hashicorp/go-multierror"
	"github.com/holiman/uint256"

	"github.com/hostsales/hostsales/market"
	"github.com/hostsales/hostsales/reservations"
)

// restore is SPEC §5 load() with DESIGN.md Decision 5: every reservation
// whose slot this host no longer holds is ended like a normal cleanup
// (bytes and the due collateral back), and every slot it holds gets an
// agent in SaleUnknown with its reservation attached.
func (s *Sales) restore(ctx context.Context) error {
	active, err := s.MySlots(ctx)
	if err != nil {
		return fmt.Errorf("sales: restoring: listing my slots: %w", err)
	}
	mine := make(map[market.SlotID]bool, len(active))
	for _, sl := range active {
		mine[sl.ID()] = true
	}
	n, err := s.endLeftovers(ctx, true, func(r reservations.Reservation) bool {
		return !mine[market.SlotIDFor(r.RequestID, r.SlotIndex)]
	})
	s.metrics.restoredEnded.Add(uint64(n))
	if err != nil {
		s.opts.Logger.Error("restoring: ending leftover reservations", "err", err)
	}
	for _, sl := range active {
		req := sl.Request
		key := slotKey{req: req.ID(), slot: sl.SlotIndex}
		a, err := newAgent(s, key, nil, &req)
		if err != nil {
			return err
		}
		if r, err := s.deps.Reservations.ReservationForSlot(ctx, key.req, key.slot); err == nil {
			a.setReservation(&r)
		} else if !errors.Is(err, reservations.ErrNotExists) {
			s.opts.Logger.Error("restoring: reading the reservation", "err", err)
		}
		a.setFilled() // the market says we host it
		if !s.register(a) {
			continue
		}
		if err := a.m.Start(s.ctx, StateUnknown); err != nil {
			return err
		}
	}
	return nil
}

// endLeftovers ends every reservation for which leftover is true, in bulk
// commits, and returns how many it ended.
//
// At start-up (listed true) no sale runs yet, so the records as listed are
// current and are not read again.
func (s *Sales) endLeftovers(ctx context.Context, listed bool, leftover func(reservations.Reservation) bool) (int, error) {
	var ends []reservations.EndRequest
	err := s.deps.Reservations.Each(ctx, func(r reservations.Reservation) error {
		if !leftover(r) {
			return nil
		}
		var paid *uint256.Int
		filled := r.Filled
		if !filled && r.FillingSince != 0 {
			// The node stopped between a fill and its record: did it land?
			var err error
			if filled, err = s.fillLanded(ctx, slotKey{req: r.RequestID, slot: r.SlotIndex}, r.FillingSince, true); err != nil {
				s.opts.Logger.Warn("leftover kept for later: asking whether its fill landed", "reservationId", r.ID.String(), "err", err)
				return nil
			}
		}
		if filled { // only then does the slot's fate decide the collateral
			var err error
			if paid, err = s.paidBack(ctx, market.SlotIDFor(r.RequestID, r.SlotIndex), r.RequestID, r.SlotIndex); err != nil {
				// Unknown what the market paid: keep it for the next pass
				// rather than return nothing for good.
				s.opts.Logger.Warn("leftover kept for later: reading its slot", "reservationId", r.ID.String(), "err", err)
				return nil
			}
		}
		e := reservations.EndRequest{AvailabilityID: r.AvailabilityID, ReservationID: r.ID,
			ReturnedCollateral: dueCollateral(&r, filled, paid)}
		if listed {
			e.Listed = &r
		}
		ends = append(ends, e)
		return nil
	})
	var errs *multierror.Error
	errs = multierror.Append(errs, err)
	n, err := s.deps.Reservations.EndReservations(context.WithoutCancel(ctx), ends, 2048)
	errs = multierror.Append(errs, err)
	return n, errs.ErrorOrNil()
}

// fillLanded reports whether this host's fill of the slot k, attempted at
// or after market time since, landed: the slot is ours, or the market's
// fill history (market.FillHistory) says so. Without a history, a slot
// not ours gives unknown. A market error is returned.
func (s *Sales) fillLanded(ctx context.Context, k slotKey, since int64, unknown bool) (bool, error) {
	m := s.deps.Market
	host, err := m.GetHost(ctx, k.req, k.slot)
	if err != nil {
		return false, err
	}
	if host == s.signer {
		return true, nil
	}
	h, ok := m.(market.FillHistory)
	if !ok {
		return unknown, nil
	}
	return h.FilledSince(ctx, market.SlotIDFor(k.req, k.slot), s.signer, since)
}

// paidBack is what the market paid back for a slot we filled and no
// longer hold: its current collateral if it was paid out to us, or
// cancelled and freed by us (a forced release zeroes it), else nil
// (nothing). A slot another host holds now (freed from us and refilled)
// paid us nothing: its collateral is that host's. A market error is
// returned: the answer is unknown.
func (s *Sales) paidBack(ctx context.Context, id market.SlotID, req market.RequestID, slot uint64) (*uint256.Int, error) {
	m := s.deps.Market
	st, err := m.SlotState(ctx, id)
	if err != nil {
		return nil, err
	}
	if st != market.SlotStatePaid && st != market.SlotStateCancelled {
		return nil, nil
	}
	host, err := m.GetHost(ctx, req, slot)
	if err != nil {
		return nil, err
	}
	if host != s.signer {
		return nil, nil
	}
	c, err := m.CurrentCollateral(ctx, id)
	if err != nil {
		return nil, err
	}
	return &c, nil
}

// Reconcile settles the reservations that have no live sale (DESIGN.md
// Decision 7) and returns how many it ended: one whose slot this host no
// longer holds is ended like a cleanup (bytes and the collateral due
// back); one whose slot the market says is still ours (its sale ended
// while the market would not answer, or its cleanup's commit failed) gets
// its sale restarted in SaleUnknown, as restore does at start, so that
// the slot is proven, paid out or freed. Start runs it every
// ReconcilePeriod market seconds.
func (s *Sales) Reconcile(ctx context.Context) (int, error) {
	ids, err := s.deps.Market.MySlots(ctx)
	if err != nil {
		return 0, err
	}
	mine := make(map[market.SlotID]bool, len(ids))
	for _, id := range ids {
		mine[id] = true
	}
	s.mu.Lock()
	live := make(map[slotKey]bool, len(s.mu.agents))
	for k := range s.mu.agents {
		live[k] = true
	}
	s.mu.Unlock()
	var orphans []slotKey
	n, err := s.endLeftovers(ctx, false, func(r reservations.Reservation) bool {
		k := slotKey{req: r.RequestID, slot: r.SlotIndex}
		if live[k] || s.hasAgent(k) {
			return false
		}
		if mine[market.SlotIDFor(r.RequestID, r.SlotIndex)] {
			orphans = append(orphans, k)
			return false
		}
		return true
	})
	s.metrics.reconciledEnded.Add(uint64(n))
	var errs *multierror.Error
	errs = multierror.Append(errs, err)
	for _, k := range orphans {
		errs = multierror.Append(errs, s.restart(ctx, k))
	}
	return n, errs.ErrorOrNil()
}

// restart starts a sale in SaleUnknown for a slot of ours that has a
// reservation and no live sale. The agent is registered before its
// reservation is read, so a sale still ending (it forgets itself only
// after its reservation's end is committed) is never doubled and a
// reservation just ended is not revived.
func (s *Sales) restart(ctx context.Context, k slotKey) error {
	a, err := newAgent(s, k, nil, nil)
	if err != nil {
		return err
	}
	if !s.register(a) {
		return nil
	}
	r, err := s.deps.Reservations.ReservationForSlot(ctx, k.req, k.slot)
	if err != nil {
		s.forget(a)
		if errors.Is(err, reservations.ErrNotExists) {
			return nil
		}
		return fmt.Errorf("sales: reconcile: reading the reservation of a slot still ours: %w", err)
	}
	a.setReservation(&r)
	a.setFilled() // the market says we host it
	if err := a.m.Start(s.ctx, StateUnknown); err != nil {
		s.forget(a)
		return err
	}
	s.metrics.reconcileRestarted.Add(1)
	s.opts.Logger.Info("reconcile restarted the sale of a slot still ours", "requestId", k.req.String(), "slotIndex", k.slot)
	return nil
}

func (s *Sales) hasAgent(k slotKey) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	_, ok := s.mu.agents[k]
	return ok
}

func (s *Sales) reconcileLoop() {
	c := s.deps.Clock
	for {
		if err := c.WaitUntil(s.ctx, c.Now()+s.opts.ReconcilePeriod); err != nil {
			return
		}
		if n, err := s.Reconcile(s.ctx); err != nil && s.ctx.Err() == nil {
			s.opts.Logger.Error("reconcile", "err", err)
		} else if n > 0 {
			s.opts.Logger.Info("reconcile ended leftover reservations", "count", n)
		}
		if r := s.opts.LogRetention; r > 0 {
			if _, err := s.pruneLogs(s.ctx, c.Now()-r); err != nil && s.ctx.Err() == nil {
				s.opts.Logger.Error("pruning sale event logs", "err", err)
			}
		}
	}
}
