package sales

import "context"

// runFinished is SaleFinished (terminal): clear the data, end the sale.
func (a *Agent) runFinished(_ context.Context, entry stepT) stepT {
	a.clear()
	a.cleanUp(false, entry.Payload.paid)
	return none()
}

// clear calls the node's OnClear when the request is known.
func (a *Agent) clear() {
	if f := a.s.opts.OnClear; f != nil {
		if req, ok := a.Request(); ok {
			f(req, a.key.slot)
		}
	}
}
