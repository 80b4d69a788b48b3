package main

import (
	"context"
	"crypto/sha256"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/dustin/go-humanize"
	"github.com/hashicorp/go-multierror"
	"github.com/holiman/uint256"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/hostsales/hostsales/api"
	"github.com/hostsales/hostsales/market"
	"github.com/hostsales/hostsales/repostore"
	"github.com/hostsales/hostsales/reservations"
	"github.com/hostsales/hostsales/sales"
	"github.com/hostsales/hostsales/statemachine"
)

// usageError is a bad command line: exit code 2.
type usageError struct{ error }

// config is the parsed command line.
type config struct {
	dataDir  string
	quota    uint64
	speed    float64 // market seconds per real second
	seed     uint64
	json     bool
	duration time.Duration // 0: until interrupted
	interval time.Duration // real time between clock ticks
	exitSold int           // stop after this many slots filled (0: never)
	apiAddr  string        // where the REST API and /metrics listen ("" or "off": nowhere)
	defAvail bool          // create a first availability when there is none
}

func parseFlags(args []string, stderr io.Writer) (*config, error) {
	fs := flag.NewFlagSet("storagenode", flag.ContinueOnError)
	fs.SetOutput(stderr)
	c := &config{}
	dataDir := os.Getenv("HOSTSALES_DATA_DIR")
	if dataDir == "" {
		dataDir = "hostsales-data"
	}
	fs.StringVar(&c.dataDir, "data-dir", dataDir, "the repo's directory (env HOSTSALES_DATA_DIR)")
	quota := fs.String("quota", "1GiB", "the byte quota, e.g. 20GiB, 500MB, 1048576")
	fs.Float64Var(&c.speed, "speed", 60, "simulated market seconds per real second")
	fs.Uint64Var(&c.seed, "seed", 1, "seed of the simulated market")
	fs.BoolVar(&c.json, "json", false, "log as JSON instead of text")
	fs.DurationVar(&c.duration, "for", 0, "stop after this much real time (0: run until interrupted)")
	fs.DurationVar(&c.interval, "tick", 100*time.Millisecond, "real time between clock ticks")
	fs.IntVar(&c.exitSold, "exit-after-sales", 0, "stop once this many slots were filled (smoke tests; 0: never)")
	apiAddr := os.Getenv("HOSTSALES_API_ADDR")
	if apiAddr == "" {
		apiAddr = "127.0.0.1:8080"
	}
	fs.StringVar(&c.apiAddr, "api-addr", apiAddr, "where the REST API and /metrics listen; off-loopback needs a bearer token (env HOSTSALES_API_ADDR; \"off\": no API)")
	fs.BoolVar(&c.defAvail, "default-availability", true, "create an availability of 80% of the quota when there is none")
	if err := fs.Parse(args); err != nil {
		return nil, usageError{err}
	}
	if fs.NArg() > 0 {
		return nil, usageError{fmt.Errorf("unexpected arguments: %s", strings.Join(fs.Args(), " "))}
	}
	q, err := parseBytes(*quota)
	if err != nil {
		return nil, usageError{fmt.Errorf("--quota: %w", err)}
	}
	c.quota = q
	if c.speed <= 0 || c.interval <= 0 {
		return nil, usageError{errors.New("--speed and --tick must be positive")}
	}
	if c.speed*c.interval.Seconds() > maxStep {
		return nil, usageError{fmt.Errorf("--speed × --tick is %.0f market seconds per tick; above %d the node would miss proof periods",
			c.speed*c.interval.Seconds(), maxStep)}
	}
	return c, nil
}

// maxStep bounds the market seconds one clock tick may skip: the market's
// proof period is 120 s, and a sale must get to run in each.
const maxStep = 30

// parseBytes reads a size in human units (go-humanize): 20GiB, 500MB,
// 1048576. Zero is refused.
func parseBytes(s string) (uint64, error) {
	n, err := humanize.ParseBytes(strings.TrimSpace(s))
	if err != nil {
		return 0, fmt.Errorf("%q is not a size (try 20GiB, 500MB or a number of bytes)", s)
	}
	if n == 0 {
		return 0, errors.New("must be larger than zero")
	}
	return n, nil
}

// Run is the whole node: parse, open, sell, stop. It returns when ctx ends
// (or --for passes), after everything is stopped and the repo closed.
func Run(ctx context.Context, args []string, stdout, stderr io.Writer) (err error) {
	c, err := parseFlags(args, stderr)
	if err != nil {
		return err
	}
	// Start-up runs to the end even if a signal comes meanwhile; the main
	// loop then sees it and stops everything cleanly.
	signal, ctx := ctx, context.WithoutCancel(ctx)
	var h slog.Handler = slog.NewTextHandler(stdout, &slog.HandlerOptions{Level: slog.LevelInfo})
	if c.json {
		h = slog.NewJSONHandler(stdout, &slog.HandlerOptions{Level: slog.LevelInfo})
	}
	log := slog.New(h)

	// The simulated market: clients and competing hosts on a virtual clock,
	// replayed from its journal in the data directory.
	if err := os.MkdirAll(c.dataDir, 0o700); err != nil {
		return err
	}
	ch, err := openChain(c.dataDir, c.seed, time.Now().Unix())
	if err != nil {
		return fmt.Errorf("the simulated chain: %w", err)
	}
	defer func() { err = multierror.Append(err, ch.Close()).ErrorOrNil() }()
	if ch.replays > 0 {
		log.Info("replayed the simulated chain", "inputs", ch.replays, "seed", ch.seed, "marketTime", ch.clock.Now()-ch.start)
	}
	clock := ch.clock

	repo, err := repostore.Open(c.dataDir, &repostore.Options{QuotaMaxBytes: c.quota, Logger: log, Now: clock.Now})
	if err != nil {
		return fmt.Errorf("opening the repo in %s: %w", c.dataDir, err)
	}
	defer func() { err = multierror.Append(err, repo.Close()).ErrorOrNil() }()
	res, err := reservations.New(ctx, repo, &reservations.Options{Logger: log})
	if err != nil {
		return err
	}
	if c.defAvail && len(res.Availabilities()) == 0 {
		size := c.quota / 10 * 8
		a, err := res.CreateAvailability(ctx, reservations.Availability{TotalSize: size, Duration: 30 * 24 * 3600,
			MinPricePerBytePerSecond: *uint256.NewInt(1), TotalCollateral: *uint256.NewInt(size * 20), Enabled: true})
		if err != nil {
			return fmt.Errorf("creating the first availability: %w", err)
		}
		log.Info("created an availability", "availabilityId", a.ID.String(), "totalSize", a.TotalSize)
	}

	// Metrics: sales' collector plus the Go runtime's and the process's.
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))

	sold := make(chan struct{}, 1)
	soldCount := 0
	s, err := sales.New(sales.Deps{Market: ch.Host(), Clock: clock, Reservations: res}, &sales.Options{
		Callbacks: sales.Callbacks{
			OnStore:        fetchSlot,
			OnProve:        prove,
			OnExpiryUpdate: func(context.Context, string, int64) error { return nil },
			OnSale: func(req market.StorageRequest, slot uint64) {
				log.Info("slot filled", "requestId", req.ID().String(), "slotIndex", slot, "slotSize", req.Ask.SlotSize)
				select {
				case sold <- struct{}{}:
				default:
				}
			},
		},
		Logger:     log,
		Registerer: reg,
		OnTransition: func(req market.RequestID, slot uint64, from, to statemachine.State, _ statemachine.Event) {
			if to == sales.StateFinished || to == sales.StateErrored || to == sales.StateCancelled {
				log.Info("sale ended", "requestId", req.String(), "slotIndex", slot, "state", to)
			}
		},
	})
	if err != nil {
		return err
	}
	if err := s.Start(ctx); err != nil {
		return err
	}
	defer func() { err = multierror.Append(err, s.Stop(context.Background())).ErrorOrNil() }()
	log.Info("storagenode running", "dataDir", c.dataDir, "quota", c.quota, "speed", c.speed, "restoredSales", len(s.Agents()),
		"hint", "the simulated market sends requests; press Ctrl-C to stop")
	if c.apiAddr != "" && c.apiAddr != "off" {
		stopAPI, err := serveAPI(c, log, s, res, repo, reg)
		if err != nil {
			return err
		}
		defer func() { err = multierror.Append(err, stopAPI()).ErrorOrNil() }()
	}

	// Clients submit a request every 30 market seconds, between ticks (so
	// that every input of the chain is journaled in the order it applied).
	rng := rand.New(rand.NewPCG(ch.seed, uint64(clock.Now())))
	nextRequest := clock.Now() + 1
	submit := func() {
		for clock.Now() >= nextRequest {
			if _, err := ch.Submit(rng.IntN(len(clients))); err != nil {
				log.Warn("client request refused", "err", err)
			}
			nextRequest += 30
		}
	}
	submit()

	var until <-chan time.Time
	if c.duration > 0 {
		until = time.After(c.duration)
	}
	tick := time.NewTicker(c.interval)
	defer tick.Stop()
	status := time.NewTicker(5 * time.Second)
	defer status.Stop()
	step := int64(c.speed * c.interval.Seconds())
	if step < 1 {
		step = 1
	}
	for {
		select {
		case <-signal.Done():
			log.Info("stopping", "reason", "signal")
			return nil
		case <-until:
			log.Info("stopping", "reason", "--for elapsed")
			return nil
		case <-sold:
			soldCount++ // counts at least one sale per wake-up
			if c.exitSold > 0 && soldCount >= c.exitSold {
				log.Info("stopping", "reason", "--exit-after-sales reached")
				return nil
			}
		case <-tick.C:
			if err := ch.Advance(uint64(step)); err != nil {
				return err
			}
			submit()
		case <-status.C:
			q := repo.Quota()
			st := s.Queue().Stats()
			log.Info("status", "marketTime", clock.Now()-ch.start, "sales", len(s.Agents()), "queued", st.Len,
				"usedBytes", q.Used, "reservedBytes", q.Reserved, "availableBytes", q.Available())
		}
	}
}

// serveAPI starts the REST API and /metrics on c.apiAddr (a bearer token
// from the data directory when the address is not loopback) and returns
// the function that shuts it down, waiting for requests in flight.
func serveAPI(c *config, log *slog.Logger, s *sales.Sales, res *reservations.Reservations, repo *repostore.Store,
	reg *prometheus.Registry) (stop func() error, err error) {
	cfg := api.Config{Sales: s, Reservations: res, Repo: repo, Logger: log,
		Metrics: promhttp.HandlerFor(reg, promhttp.HandlerOpts{ErrorLog: slog.NewLogLogger(log.Handler(), slog.LevelWarn)})}
	if api.NeedsToken(c.apiAddr) {
		if cfg.Token, err = api.LoadOrCreateToken(c.dataDir); err != nil {
			return nil, fmt.Errorf("the API token: %w", err)
		}
	}
	h, err := api.NewHandler(cfg)
	if err != nil {
		return nil, err
	}
	ln, err := net.Listen("tcp", c.apiAddr)
	if err != nil {
		return nil, fmt.Errorf("the REST API cannot listen on %s (--api-addr): %w", c.apiAddr, err)
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second, ReadTimeout: time.Minute,
		ErrorLog: slog.NewLogLogger(log.Handler(), slog.LevelWarn)}
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ln) }()
	url := "http://" + ln.Addr().String()
	attrs := []any{"url", url + api.BasePath, "openapi", url + api.BasePath + "/openapi.yaml", "metrics", url + "/metrics",
		"next", "go run ./cmd/salesctl --api " + url + " availability list"}
	if cfg.Token != "" {
		attrs = append(attrs, "token", filepath.Join(c.dataDir, api.TokenFile))
	}
	log.Info("API listening", attrs...)
	return func() error {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		err := srv.Shutdown(ctx)
		if serr := <-done; !errors.Is(serr, http.ErrServerClosed) {
			err = multierror.Append(err, serr).ErrorOrNil()
		}
		return err
	}, nil
}

// fetchSlot stands in for the node's download: it makes the slot's blocks
// (64 KiB, derived from the request and slot) and stores them in batches.
func fetchSlot(ctx context.Context, req market.StorageRequest, _ int64, slot uint64, store sales.StoreFunc, _ bool) error {
	const block = 64 << 10
	id := req.ID()
	var batch [][]byte
	for off := uint64(0); off < req.Ask.SlotSize; off += block {
		n := min(block, req.Ask.SlotSize-off)
		b := make([]byte, n)
		seed := sha256.Sum256(append(id[:], byte(slot), byte(off>>16), byte(off>>24)))
		for i := range b {
			b[i] = seed[i%len(seed)]
		}
		batch = append(batch, b)
		if len(batch) == 16 {
			if err := store(ctx, batch); err != nil {
				return err
			}
			batch = nil
		}
	}
	if len(batch) > 0 {
		return store(ctx, batch)
	}
	return nil
}

// prove stands in for the node's prover.
func prove(_ context.Context, slot market.Slot, ch market.Challenge) (market.Proof, error) {
	p := sha256.Sum256(append(ch[:], byte(slot.SlotIndex)))
	return market.Proof(p[:]), nil
}
