package sales

import "context"

// runIgnored is SaleIgnored (terminal): give the reservation back (with
// all its collateral: our fill never succeeded) and, when asked, put the
// slot back in the queue marked seen.
func (a *Agent) runIgnored(_ context.Context, entry stepT) stepT {
	a.cleanUp(entry.Payload.reprocess, nil)
	return none()
}
