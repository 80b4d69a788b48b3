// Package apitest is test support: it builds a whole storage node in
// memory and serves its REST API over loopback HTTP, for the tests of
// package api and of the commands that talk to the API (cmd/salesctl). It
// is not for production use.
//
// # Usage
//
//	n := apitest.New(t, apitest.WithToken(token))
//	a, err := n.Client.CreateAvailability(ctx, req)
//	_, err = n.Market.RequestStorage(ctx, apitest.ClientAddr, apitest.Request(1, 1024))
//
// A Node is, in this order: a simulated market (package simmarket, on its
// own manual clock, HostAddr and ClientAddr funded), a repo (in-memory
// badger, with a quota and a fault hook), reservations over it, Sales
// selling on the market as HostAddr (unless WithoutSales), api.NewHandler
// over all of it, an httptest.Server serving the handler, and an
// api.Client for that server. Every id, the market and the order of a
// request's slots are seeded, so a node is the same node on every run,
// up to the scheduling of its goroutines.
//
// # Ownership and cleanup
//
// The Node owns everything it builds and stops it with t.Cleanup, in the
// reverse order of building: the server is closed (and waits for the
// requests it is serving), Sales is stopped (with WithExecutor, the
// executor is then run until its tasks are done), and the repo is closed.
// A test may stop Sales earlier itself; Stop is idempotent. A test does not
// close anything it got from a Node.
//
// # Concurrency
//
// New is safe for use from parallel tests: a Node shares nothing with
// another (the package has no mutable state), so each parallel test builds
// its own. The components are as safe for concurrent use as their packages
// document; SetRepoFault may be called at any time, from any goroutine.
// The callbacks given to options (WithOnWait, the Sales callbacks) run on
// the node's goroutines, not the test's: they must not call t.FailNow.
package apitest

import (
	"context"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"

	"github.com/holiman/uint256"
	ds "github.com/ipfs/go-datastore"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hostsales/hostsales/api"
	"github.com/hostsales/hostsales/market"
	"github.com/hostsales/hostsales/market/simmarket"
	"github.com/hostsales/hostsales/repostore"
	"github.com/hostsales/hostsales/repostore/badgerds"
	"github.com/hostsales/hostsales/reservations"
	"github.com/hostsales/hostsales/sales"
	"github.com/hostsales/hostsales/sim"
)

// The node's market accounts; New funds both with 1<<40.
var (
	// HostAddr is the node's own address: Sales sells as HostAddr.
	HostAddr = market.Address{0x40}
	// ClientAddr is a client of the market, to request storage from.
	ClientAddr = market.Address{0xc1}
)

const (
	// DefaultQuota is the repo quota of a node without WithQuota.
	DefaultQuota = 1 << 30
	// DefaultSeed and DefaultStart are the market's seed and start time
	// without WithMarket.
	DefaultSeed  = 1
	DefaultStart = 1_700_000_000
)

// Node is one storage node for a test; see the package documentation for
// what it is made of and who stops it. Its fields are set by New and are
// not to be replaced.
type Node struct {
	// Market is the simulated market; Clock is its clock, which only
	// moves when the test moves it.
	Market *simmarket.Market
	Clock  *market.ManualClock
	// Repo is the node's repo, in memory.
	Repo *repostore.Store
	// Reservations holds the node's availabilities and reservations.
	Reservations *reservations.Reservations
	// Sales is the node's sales role, started; nil WithoutSales.
	Sales *sales.Sales
	// Server serves the API handler; its URL is the API's address
	// (api.BasePath is below it).
	Server *httptest.Server
	// Client is an API client of Server, with the node's token, over the
	// WithHTTPClient client or Server.Client().
	Client *api.Client

	fault atomic.Pointer[func(call string, key ds.Key) error]
}

// Option changes how New builds a node.
type Option func(*config)

type config struct {
	quota      uint64
	market     simmarket.Options
	token      string
	metrics    http.Handler
	logger     *slog.Logger
	noSales    bool
	salesOpts  []func(*sales.Options)
	exec       *sim.Executor
	onWait     func(at int64)
	httpClient *http.Client
	handler    []func(*api.Config)
}

// WithQuota sets the repo quota, in bytes (default DefaultQuota).
func WithQuota(bytes uint64) Option { return func(c *config) { c.quota = bytes } }

// WithMarket replaces the simulated market's options (default: Seed
// DefaultSeed, Start DefaultStart, NoValidator): the seed, the start time,
// competitors, faults from the start, and so on. Leave o.Clock nil, so the
// market makes its own.
func WithMarket(o simmarket.Options) Option { return func(c *config) { c.market = o } }

// WithToken makes the API require token on every request; Node.Client
// sends it.
func WithToken(token string) Option { return func(c *config) { c.token = token } }

// WithMetrics serves h at /metrics (api.Config.Metrics).
func WithMetrics(h http.Handler) Option { return func(c *config) { c.metrics = h } }

// WithLogger gives the API handler and Sales a logger (default: their
// own, which discards).
func WithLogger(l *slog.Logger) Option { return func(c *config) { c.logger = l } }

// WithoutSales builds no Sales: the API has no sales role and answers 503
// on /sales (Reservations and Repo are still built and served).
func WithoutSales() Option { return func(c *config) { c.noSales = true } }

// WithSalesOptions lets edit change the options Sales is built with, after
// the defaults are set: OnStore is StoreSlot, OnProve returns a fixed proof,
// OnExpiryUpdate does nothing, Rand is seeded, and the rest is Sales'
// default. edit may wrap the default callbacks. Several are applied in
// order.
func WithSalesOptions(edit func(*sales.Options)) Option {
	return func(c *config) { c.salesOpts = append(c.salesOpts, edit) }
}

// WithExecutor runs Sales on e (a sim.NewConcurrentExecutor) and makes it
// wait for market time through sim.NewClock, so that the test drives the
// node with e.Quiesce and Clock.Step instead of watching its waits. At
// cleanup, after Sales stops, e is quiesced before the repo closes.
func WithExecutor(e *sim.Executor) Option { return func(c *config) { c.exec = e } }

// WithOnWait tells f the deadline of every wait of Sales for market time,
// before it waits, so a test can move the clock exactly as far as the node
// waits. f runs on the waiting sale's goroutine and must return quickly.
func WithOnWait(f func(at int64)) Option { return func(c *config) { c.onWait = f } }

// WithHTTPClient makes Node.Client use hc (default Server.Client()); the
// caller closes hc's idle connections.
func WithHTTPClient(hc *http.Client) Option { return func(c *config) { c.httpClient = hc } }

// WithHandlerConfig lets edit change the handler's configuration last,
// just before api.NewHandler: for the body limit, the allowed origin, or a
// node without a repo. Several are applied in order.
func WithHandlerConfig(edit func(*api.Config)) Option {
	return func(c *config) { c.handler = append(c.handler, edit) }
}

// New builds a node and registers its shutdown with t.Cleanup. It fails
// the test (t.FailNow) when a part cannot be built, so it must be called
// from the test's goroutine.
func New(t testing.TB, opts ...Option) *Node {
	t.Helper()
	c := config{quota: DefaultQuota,
		market: simmarket.Options{Seed: DefaultSeed, Start: DefaultStart, NoValidator: true}}
	for _, o := range opts {
		o(&c)
	}
	ctx := context.Background()
	n := &Node{}
	var err error
	n.Market, err = simmarket.New(&c.market)
	require.NoError(t, err)
	n.Clock = n.Market.Clock()
	n.Market.Mint(ClientAddr, *uint256.NewInt(1 << 40))
	n.Market.Mint(HostAddr, *uint256.NewInt(1 << 40))

	n.Repo, err = repostore.Open("", &repostore.Options{QuotaMaxBytes: c.quota, NoSync: true,
		Badger: &badgerds.Options{InMemory: true}, Now: n.Clock.Now, FaultHook: n.repoFault})
	require.NoError(t, err)
	t.Cleanup(func() { assert.NoError(t, n.Repo.Close()) })
	n.Reservations, err = reservations.New(ctx, n.Repo,
		&reservations.Options{Rand: seededReader{rand.New(rand.NewPCG(3, 4))}, Logger: c.logger})
	require.NoError(t, err)

	cfg := api.Config{Reservations: n.Reservations, Repo: n.Repo, Token: c.token, Metrics: c.metrics,
		Logger: c.logger}
	if !c.noSales {
		n.startSales(t, &c)
		cfg.Sales = n.Sales
	}
	for _, edit := range c.handler {
		edit(&cfg)
	}
	h, err := api.NewHandler(cfg)
	require.NoError(t, err)
	n.Server = httptest.NewServer(h)
	t.Cleanup(n.Server.Close) // first: no request reaches a stopped node
	hc := c.httpClient
	if hc == nil {
		hc = n.Server.Client()
	}
	n.Client, err = api.NewClient(n.Server.URL, &api.ClientOptions{Token: c.token, HTTPClient: hc})
	require.NoError(t, err)
	return n
}

func (n *Node) startSales(t testing.TB, c *config) {
	t.Helper()
	ctx := context.Background()
	var clock market.Clock = n.Clock
	o := sales.Options{
		Callbacks: sales.Callbacks{
			OnStore: StoreSlot,
			OnProve: func(context.Context, market.Slot, market.Challenge) (market.Proof, error) {
				return market.Proof("proof"), nil
			},
			OnExpiryUpdate: func(context.Context, string, int64) error { return nil },
		},
		Rand:   rand.New(rand.NewPCG(1, 2)),
		Logger: c.logger,
	}
	if c.exec != nil {
		clock, o.Executor = sim.NewClock(n.Clock, c.exec), c.exec
	}
	if c.onWait != nil {
		clock = &watchClock{Clock: clock, onWait: c.onWait}
	}
	for _, edit := range c.salesOpts {
		edit(&o)
	}
	var err error
	n.Sales, err = sales.New(sales.Deps{Market: n.Market.As(HostAddr), Clock: clock, Reservations: n.Reservations}, &o)
	require.NoError(t, err)
	require.NoError(t, n.Sales.Start(ctx))
	t.Cleanup(func() {
		assert.NoError(t, n.Sales.Stop(ctx))
		if c.exec != nil {
			c.exec.Quiesce() // Stop does not wait for an executor's tasks
		}
	})
}

// SetRepoFault makes every datastore call of the repo (see
// repostore.Options.FaultHook) ask f first, and fail with its error; nil
// removes it.
func (n *Node) SetRepoFault(f func(call string, key ds.Key) error) {
	if f == nil {
		n.fault.Store(nil)
		return
	}
	n.fault.Store(&f)
}

func (n *Node) repoFault(call string, key ds.Key) error {
	if f := n.fault.Load(); f != nil {
		return (*f)(call, key)
	}
	return nil
}

// StoreSlot is the default OnStore: it stores one block of the slot's
// size, unique to the request and the slot (the slot index, then the
// content id, then zeros).
func StoreSlot(ctx context.Context, req market.StorageRequest, _ int64, slot uint64, store sales.StoreFunc, _ bool) error {
	b := make([]byte, req.Ask.SlotSize)
	b[0] = byte(slot)
	copy(b[1:], req.Content.CID)
	return store(ctx, [][]byte{b})
}

// Request returns a request from ClientAddr of slots slots of slotSize
// bytes, for an hour, at a price, collateral and proof probability of 1,
// with content "zTest" and an expiry of 600 seconds. Change what a test
// needs (Expiry, Nonce to tell requests apart) before submitting it with
// Market.RequestStorage.
func Request(slots, slotSize uint64) market.StorageRequest {
	return market.StorageRequest{Client: ClientAddr, Ask: market.StorageAsk{
		ProofProbability: *uint256.NewInt(1), PricePerBytePerSecond: *uint256.NewInt(1),
		CollateralPerByte: *uint256.NewInt(1), Slots: slots, SlotSize: slotSize, Duration: 3600},
		Content: market.StorageContent{CID: "zTest"}, Expiry: 600}
}

// watchClock is Sales' clock with WithOnWait: it tells of every wait.
type watchClock struct {
	market.Clock
	onWait func(at int64)
}

func (c *watchClock) WaitUntil(ctx context.Context, t int64) error {
	c.onWait(t)
	return c.Clock.WaitUntil(ctx, t)
}

// seededReader turns a seeded RNG into an io.Reader of id bytes.
type seededReader struct{ r *rand.Rand }

var _ io.Reader = seededReader{}

func (s seededReader) Read(p []byte) (int, error) {
	for i := range p {
		p[i] = byte(s.r.Uint32())
	}
	return len(p), nil
}
