// Package api is the operator's REST API of a hostsales node (server and
// typed client) and its OpenAPI document.
//
// The API is wire-compatible with the sales endpoints of the Codex node
// (SPEC.md §7): the same paths under BasePath, JSON fields, status codes,
// messages and order of checks, so existing operator tooling works. It adds
// what operators asked for (DESIGN.md Decision 12): GET and DELETE of one
// availability, every reservation, the slot queue, a slot's event log,
// /metrics and the OpenAPI document at BasePath+"/openapi.yaml".
//
// # Usage
//
// On the node:
//
//	cfg := api.Config{Sales: s, Reservations: res, Repo: repo, Metrics: promhttp.Handler()}
//	if api.NeedsToken(addr) { // not loopback: require a bearer token
//		cfg.Token, err = api.LoadOrCreateToken(dataDir)
//	}
//	h, err := api.NewHandler(cfg)
//	srv := &http.Server{Addr: addr, Handler: h, ReadHeaderTimeout: 10 * time.Second}
//
// The handler keeps no state of its own: shut the http.Server down before
// stopping Sales and closing the repo.
//
// In a tool (salesctl):
//
//	tok, err := api.ReadToken(dataDir) // errors.Is(err, fs.ErrNotExist): none needed
//	c, err := api.NewClient("http://127.0.0.1:8080", &api.ClientOptions{Token: tok})
//	list, err := c.Availabilities(ctx)
//
// # Errors on the wire
//
// Every non-2xx answer has a text/plain body holding only the message;
// the client returns it as an *Error. Request bodies are decoded strictly
// (size limit, one JSON object, no unknown or duplicate members, nothing
// after it) with the reference's lenient number forms (SPEC.md §1.7);
// anything malformed is a 400 (413 when too large), never a 500.
//
// # Where hostsales differs from Codex
//
//   - PATCH of an unknown availability is 404 and writes nothing.
//   - PATCH totalCollateral keeps the collateral live reservations hold
//     (reservations.Reservations.Update).
//   - PATCH growing totalSize checks that the growth fits the free quota;
//     Codex checks the whole new total (a QUIRK of SPEC.md §7).
//
// openapi.yaml says the same for API users.
package api
