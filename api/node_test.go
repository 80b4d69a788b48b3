package api_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/holiman/uint256"
	ds "github.com/ipfs/go-datastore"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hostsales/hostsales/api"
	"github.com/hostsales/hostsales/api/apitest"
	"github.com/hostsales/hostsales/market"
	"github.com/hostsales/hostsales/market/simmarket"
	"github.com/hostsales/hostsales/reservations"
	"github.com/hostsales/hostsales/sales"
	"github.com/hostsales/hostsales/statemachine"
)

const (
	marketStart = 1_000_000
	// defaultQuota is the repo quota of a test node.
	defaultQuota = 1_000_000
	// waitLimit bounds every wait for the node; reaching it fails the test
	// (it is a deadline for a hang, not a synchronisation delay).
	waitLimit = 30 * time.Second
)

// nodeOptions configure a test node. The zero value is a node with sales,
// no token and the default quota.
type nodeOptions struct {
	quota      uint64
	noSales    bool // Config.Sales nil
	noRepo     bool // Config.Repo nil, and Reservations nil too when noSales
	token      string
	metrics    http.Handler
	maxBody    int64
	origin     string
	maxWorkers int
	// gate, when set, holds every OnStore until it is closed (or the
	// sale's context ends), so a sale keeps its queue worker.
	gate chan struct{}
}

// node is one storage node for a test (an apitest.Node: in-memory repo,
// reservations, a simulated market on a manual clock, Sales, and the REST
// API served over loopback HTTP) whose client validates every response it
// receives against the OpenAPI document, and which logs what the sales do
// (ev) for the test to wait on.
type node struct {
	*apitest.Node
	t   testing.TB
	ctx context.Context
	hc  *http.Client // validating, with the token when there is one
	ev  events
}

func newNode(t testing.TB, o nodeOptions) *node {
	t.Helper()
	if o.quota == 0 {
		o.quota = defaultQuota
	}
	n := &node{t: t, ctx: context.Background(), hc: newValidatingClient(t, o.token)}
	opts := []apitest.Option{
		apitest.WithQuota(o.quota),
		apitest.WithMarket(simmarket.Options{Seed: 7, Start: marketStart, NoValidator: true}),
		apitest.WithToken(o.token),
		apitest.WithMetrics(o.metrics),
		apitest.WithHTTPClient(n.hc),
		apitest.WithOnWait(func(at int64) { n.ev.add(event{kind: "wait", at: at}) }),
		apitest.WithSalesOptions(func(so *sales.Options) {
			if gate := o.gate; gate != nil {
				store := so.OnStore
				so.OnStore = func(ctx context.Context, req market.StorageRequest, expiry int64, slot uint64,
					sf sales.StoreFunc, repairing bool) error {
					select {
					case <-gate:
					case <-ctx.Done():
						return ctx.Err()
					}
					return store(ctx, req, expiry, slot, sf, repairing)
				}
			}
			so.MaxWorkers = o.maxWorkers
			so.ReconcilePeriod = -1
			so.OnTransition = func(req market.RequestID, slot uint64, _, to statemachine.State, _ statemachine.Event) {
				n.ev.add(event{kind: "transition", req: req, slot: slot, state: string(to)})
			}
		}),
		apitest.WithHandlerConfig(func(c *api.Config) {
			c.MaxBodyBytes, c.AllowedOrigin = o.maxBody, o.origin
			if o.noRepo {
				c.Repo = nil
				if o.noSales {
					c.Reservations = nil
				}
			}
		}),
	}
	if o.noSales {
		opts = append(opts, apitest.WithoutSales())
	}
	n.Node = apitest.New(t, opts...)
	return n
}

// ---- events: what the node did, for tests to wait on without sleeping ----

type event struct {
	kind  string // "transition" or "wait"
	req   market.RequestID
	slot  uint64
	state string
	at    int64 // wait: the deadline
}

// events is an append-only log with a broadcast on every append.
type events struct {
	mu      sync.Mutex
	list    []event
	changed chan struct{}
}

func (e *events) add(ev event) {
	e.mu.Lock()
	e.list = append(e.list, ev)
	if e.changed != nil {
		close(e.changed)
		e.changed = nil
	}
	e.mu.Unlock()
}

// next returns the event at index i, waiting for it until the limit.
func (e *events) next(t testing.TB, i int) event {
	t.Helper()
	timer := time.NewTimer(waitLimit)
	defer timer.Stop()
	for {
		e.mu.Lock()
		if i < len(e.list) {
			ev := e.list[i]
			e.mu.Unlock()
			return ev
		}
		if e.changed == nil {
			e.changed = make(chan struct{})
		}
		ch := e.changed
		e.mu.Unlock()
		select {
		case <-ch:
		case <-timer.C:
			require.FailNow(t, "the node did nothing more", "waiting for event %d", i)
		}
	}
}

// ---- scenario helpers ----

func u64(v uint64) *reservations.U64      { x := reservations.U64(v); return &x }
func i64(v int64) *reservations.I64       { x := reservations.I64(v); return &x }
func u256(v uint64) *reservations.U256    { x := reservations.NewU256(v); return &x }
func boolp(v bool) *bool                  { return &v }
func uint256p(v uint64) *uint256.Int      { return uint256.NewInt(v) }
func jsonBody(s string) io.Reader         { return strings.NewReader(s) }
func url(n *node, path string) string     { return n.Server.URL + api.BasePath + path }
func availPath(id reservations.ID) string { return "/sales/availability/" + id.String() }

// createAvailability creates an availability through the API.
func (n *node) createAvailability(totalSize uint64) reservations.Availability {
	n.t.Helper()
	a, err := n.Client.CreateAvailability(n.ctx, api.CreateAvailabilityRequest{
		TotalSize: u64(totalSize), Duration: u64(100_000), MinPricePerBytePerSecond: u256(1),
		TotalCollateral: u256(1 << 30)})
	require.NoError(n.t, err)
	return a
}

// reserve commits a reservation of size bytes on a directly (no sale).
func (n *node) reserve(a reservations.Availability, size uint64, validUntil int64) reservations.Reservation {
	n.t.Helper()
	var req market.RequestID
	req[0], req[31] = 0xee, byte(size)
	r, err := n.Reservations.CreateReservation(n.ctx, a.ID, size, req, 0, uint256p(1), validUntil)
	require.NoError(n.t, err)
	return r
}

// request submits a storage request of slots × slotSize bytes.
func (n *node) request(slots, slotSize uint64, nonce byte) market.StorageRequest {
	n.t.Helper()
	req := apitest.Request(slots, slotSize)
	req.Expiry, req.Nonce = 3000, [32]byte{nonce}
	_, err := n.Market.RequestStorage(n.ctx, apitest.ClientAddr, req)
	require.NoError(n.t, err)
	return req
}

// waitState waits until a sale of req reaches state, and returns the index
// of the event after it.
func (n *node) waitState(from int, req market.RequestID, state string) int {
	n.t.Helper()
	for i := from; ; i++ {
		ev := n.ev.next(n.t, i)
		if ev.kind == "transition" && ev.req == req && ev.state == state {
			return i + 1
		}
	}
}

// fillSlot sells slot 0 of a new one-slot request: it moves market time
// whenever the sale waits for a proof period, until the sale is proving.
// It returns the request.
func (n *node) fillSlot(slotSize uint64, nonce byte) market.StorageRequest {
	n.t.Helper()
	n.ev.mu.Lock()
	from := len(n.ev.list)
	n.ev.mu.Unlock()
	req := n.request(1, slotSize, nonce)
	id := req.ID()
	expires, err := n.Market.As(apitest.HostAddr).RequestExpiresAt(n.ctx, id)
	require.NoError(n.t, err)
	for i := from; ; i++ {
		ev := n.ev.next(n.t, i)
		switch {
		case ev.kind == "transition" && ev.req == id:
			switch ev.state {
			case string(sales.StateProving):
				return req
			case string(sales.StateIgnored), string(sales.StateErrored), string(sales.StateFailed),
				string(sales.StateCancelled):
				require.FailNow(n.t, "the sale ended", "state %s", ev.state)
			}
		case ev.kind == "wait" && ev.at < expires && ev.at > n.Clock.Now():
			require.NoError(n.t, n.Clock.Set(ev.at))
		}
	}
}

// ---- raw HTTP ----

// do sends a raw request through the validating client and returns the
// status, the body and the headers.
func (n *node) do(method, path string, body io.Reader) (int, string, http.Header) {
	n.t.Helper()
	return doURL(n.t, n.hc, method, url(n, path), body)
}

func doURL(t testing.TB, hc *http.Client, method, u string, body io.Reader) (int, string, http.Header) {
	t.Helper()
	req, err := http.NewRequestWithContext(context.Background(), method, u, body)
	require.NoError(t, err)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := hc.Do(req)
	require.NoError(t, err)
	defer func() { _ = resp.Body.Close() }()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return resp.StatusCode, string(b), resp.Header
}

// expect checks an error answer: its status and its exact message.
func (n *node) expect(method, path, body string, status int, msg string) {
	n.t.Helper()
	var rd io.Reader
	if body != "" {
		rd = bytes.NewReader([]byte(body))
	}
	st, got, hdr := n.do(method, path, rd)
	assert.Equal(n.t, status, st, "%s %s %s: %s", method, path, body, got)
	if msg != "" {
		assert.Equal(n.t, msg, got, "%s %s %s", method, path, body)
		assert.Equal(n.t, "text/plain; charset=utf-8", hdr.Get("Content-Type"))
	}
}

// snapshot is the stored state, for before/after comparisons.
func (n *node) snapshot() reservations.State {
	n.t.Helper()
	st, err := n.Reservations.Snapshot(n.ctx)
	require.NoError(n.t, err)
	return st
}

// failCalls makes every repo datastore call named call fail until the
// returned function is called.
func (n *node) failCalls(calls ...string) func() {
	f := func(call string, _ ds.Key) error {
		for _, c := range calls {
			if c == call {
				return fmt.Errorf("injected %s failure", call)
			}
		}
		return nil
	}
	n.SetRepoFault(f)
	return func() { n.SetRepoFault(nil) }
}

// apiError asserts err is an *api.Error with status and message.
func apiError(t testing.TB, err error, status int, msg string) {
	t.Helper()
	var e *api.Error
	require.True(t, errors.As(err, &e), "want *api.Error, got %v", err)
	assert.Equal(t, status, e.Status)
	if msg != "" {
		assert.Equal(t, msg, e.Message)
	}
}

// simmarketFault makes every call of method by the host fail.
func simmarketFault(method string) simmarket.Fault {
	return simmarket.Fault{Method: method, Caller: apitest.HostAddr, Probability: 1}
}
