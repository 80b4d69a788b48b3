package sales

import "context"

// runErrored is SaleErrored (terminal): log, clear, end the sale. The
// collateral due follows DESIGN.md Decision 6 (the reference returns none).
func (a *Agent) runErrored(_ context.Context, entry stepT) stepT {
	a.s.metrics.errored.Add(1)
	a.s.errCounts.add(errorKind(entry.Payload.err))
	a.log().Warn("sale errored", "err", entry.Payload.err)
	a.clear()
	a.end(entry.Payload.reprocess, nil, entry.Payload.keep)
	return none()
}
