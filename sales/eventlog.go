package sales

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"

	ds "github.com/ipfs/go-datastore"
	dsq "github.com/ipfs/go-datastore/query"

	"github.com/hostsales/hostsales/market"
	"github.com/hostsales/hostsales/repostore"
	"github.com/hostsales/hostsales/statemachine"
)

// LogEntry is one line of a sale's persisted event log: a transition, with
// its market time and why it happened.
type LogEntry struct {
	Time      int64              `json:"time"`
	RequestID market.RequestID   `json:"requestId"`
	SlotIndex uint64             `json:"slotIndex"`
	From      statemachine.State `json:"from,omitempty"`
	To        statemachine.State `json:"to"`
	Event     statemachine.Event `json:"event"`
	// Reason says why: the error that ended the sale, why it was ignored
	// or declined.
	Reason string `json:"reason,omitempty"`
}

// Key layout of the event log:
//
//	/meta/sales/log/<slotIdHex>/<time:016x><seq:016x>   LogEntry JSON
var logRoot = ds.NewKey("/meta/sales/log")

func logPrefix(id market.SlotID) ds.Key { return logRoot.ChildString(id.Hex()) }

// appendLog persists e; a failure is logged, never fatal to the sale.
func (s *Sales) appendLog(a *Agent, e LogEntry) {
	b, err := json.Marshal(e)
	if err != nil {
		return
	}
	// The sequence is Sales', not the agent's: a slot sold again (or
	// restored) at the same market time gets keys of its own, in order.
	seq := s.logSeq.Add(1)
	k := logPrefix(a.SlotID()).ChildString(fmt.Sprintf("%016x%016x", uint64(e.Time), seq))
	repo := s.deps.Reservations.Repo()
	// Written by a task of its own: the sale does not wait for the log's
	// commit, which groups with the others. Sales.Stop waits for it.
	ctx := context.WithoutCancel(s.ctx)
	s.exec.Go(func() {
		if err := repo.Do(ctx, func(tx *repostore.Txn) error { return tx.Put(k, b) }); err != nil {
			a.log().Warn("persisting the sale's event log", "err", err)
		}
	})
}

// SaleLog returns the persisted event log of a slot's sales, oldest first,
// also for sales that ended (until Options.LogRetention passes).
func (s *Sales) SaleLog(ctx context.Context, id market.SlotID) ([]LogEntry, error) {
	var out []LogEntry
	q := dsq.Query{Prefix: logPrefix(id).String(), Orders: []dsq.Order{dsq.OrderByKey{}}}
	for e, err := range s.deps.Reservations.Repo().Query(ctx, q) {
		if err != nil {
			return nil, err
		}
		var le LogEntry
		if err := json.Unmarshal(e.Value, &le); err != nil {
			return nil, fmt.Errorf("sales: event log record %s: %w", e.Key, err)
		}
		out = append(out, le)
	}
	return out, nil
}

// pruneLogs deletes log entries older than the retention, in commits of at
// most 1024 entries, and returns how many it deleted.
func (s *Sales) pruneLogs(ctx context.Context, before int64) (int, error) {
	repo := s.deps.Reservations.Repo()
	var old []ds.Key
	for e, err := range repo.Query(ctx, dsq.Query{Prefix: logRoot.String(), KeysOnly: true}) {
		if err != nil {
			return 0, err
		}
		k := ds.RawKey(e.Key)
		name := k.BaseNamespace()
		if len(name) < 16 {
			continue
		}
		t, err := strconv.ParseUint(name[:16], 16, 64)
		if err == nil && int64(t) < before {
			old = append(old, k)
		}
	}
	deleted := 0
	for len(old) > 0 {
		n := min(len(old), 1024)
		chunk := old[:n]
		old = old[n:]
		if err := repo.Do(ctx, func(tx *repostore.Txn) error {
			for _, k := range chunk {
				if err := tx.Delete(k); err != nil {
					return err
				}
			}
			return nil
		}); err != nil {
			return deleted, err
		}
		deleted += n
	}
	return deleted, nil
}
