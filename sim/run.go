package sim

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"io"
	"log/slog"
	"math"
	"math/rand/v2"
	"os"
	"slices"
	"strconv"
	"strings"

	"github.com/holiman/uint256"

	"github.com/hostsales/hostsales/market"
	"github.com/hostsales/hostsales/market/simmarket"
	"github.com/hostsales/hostsales/reservations"
)

// Config is how one scenario is run. The zero value is valid: seed 0, on
// a temporary directory, no samples, running to the end even after a
// violation.
type Config struct {
	// Seed seeds every choice of the run: the executor's interleaving, the
	// market (challenges, competitors, requests), ids, faults and crashes.
	// The same Seed and Scenario give the same run, step for step.
	Seed uint64
	// Dir holds the data of on-disk nodes (and of SIGKILL children). Run
	// makes a fresh directory inside it and leaves it there (the caller
	// owns it; Result.Dir names it). "" means a temporary directory that
	// Run removes before it returns.
	Dir string
	// Durable puts every node on a durable (synced) on-disk badger repo,
	// whatever its NodeSpec says.
	Durable bool
	// SampleEvery is the number of simulated seconds between samples
	// (Result.Samples); 0 takes none.
	SampleEvery int64
	// StopAtViolation ends the run at the step of the first violation
	// (cmd/salessim's default). Without it the run goes on to its end;
	// either way Result.Violation is the first violation.
	StopAtViolation bool
	// BreakAccountingAt is a test-only hook: at this step (0: never),
	// after the step ran and just before its checks, the harness writes a
	// broken availability record straight into the first running node's
	// repo, bypassing reservations, so the checker must report a violation
	// at exactly this step (nothing the step did can overwrite it). It
	// exists to prove the checker works.
	BreakAccountingAt uint64
	// SkipChecks turns off the invariant checks made during the run (I1-I4
	// and the ownership check after every step, simmarket's invariants,
	// durability after a crash), for measuring what they cost: the run is
	// the same one (same steps, sales and summary, but InvariantChecks),
	// but its trace lacks the lines that come from reading the checked
	// state (the reservations that ended), so TraceHash differs. The drain
	// still reads each node's state to know when the run has settled, and
	// I5 is still checked once at the end. Never use it to test.
	SkipChecks bool
	// Progress, optional, is called from Run's goroutine as the run
	// advances, with the simulated seconds (or, for a scenario bounded only
	// by steps, the steps) done and the total of the active phase.
	Progress func(done, total int64)
	// Trace, optional, receives every trace line (the lines TraceHash
	// hashes), one per write.
	Trace io.Writer
	// Logger, optional, receives the nodes' logs (Sales, reservations and
	// repo), each line tagged with node=<name>. Default: discarded.
	Logger *slog.Logger
	// ChildCommand is the command that runs a SIGKILL child: a program
	// that calls MaybeRunChild first thing. Default: this executable with
	// no arguments (a test binary's TestMain, or cmd/salessim's main, calls
	// MaybeRunChild).
	ChildCommand []string

	// verifyUnchanged, for the package's own tests, makes every check
	// read the state even when it cannot have changed, and report a
	// "harness" violation if it did: it proves that skipping those reads
	// loses nothing.
	verifyUnchanged bool
}

// Result is what a run produced.
type Result struct {
	Summary Summary
	// Samples are taken every Config.SampleEvery simulated seconds, one
	// per node, in time order.
	Samples []Sample
	// Violation is the first invariant violation, nil if none.
	Violation *Violation
	// TraceHash is the hex SHA-256 of the whole trace: one line per event
	// (sale transition, market event, request, fault, crash, restart,
	// operator action), each ending in a newline.
	TraceHash string
	// Dir is the directory that holds the run's on-disk data, when
	// Config.Dir was set ("" otherwise).
	Dir string
	// ActiveSteps is the number of steps before the drain began: the
	// steps at which faults, crashes and operator actions can strike.
	ActiveSteps uint64
}

// Summary sums a run up. Its JSON encoding (fixed field order, maps with
// sorted keys) is byte-identical for the same seed and scenario: nothing
// in it depends on wall time or the machine.
type Summary struct {
	Scenario         string `json:"scenario"`
	Seed             uint64 `json:"seed"`
	Steps            uint64 `json:"steps"`
	SimulatedSeconds int64  `json:"simulatedSeconds"`
	// Requests is the number of requests clients submitted; SlotsOffered
	// counts their slots plus every slot freed for repair.
	Requests     int `json:"requests"`
	SlotsOffered int `json:"slotsOffered"`
	// SalesByEndState counts the nodes' sales by the state they ended in
	// (SaleFinished, SaleIgnored, SaleErrored, SaleCancelled), plus
	// "interrupted" for those a crash cut short (each restored sale counts
	// again) and "unfinished" for any still running at the end.
	SalesByEndState map[string]int `json:"salesByEndState"`
	// BytesSold is the slot bytes of every slot the nodes filled.
	BytesSold uint64 `json:"bytesSold"`
	// CollateralReturned is what the market paid the nodes back;
	// CollateralKept is what it kept of the collateral the nodes' fills
	// were worth (slashes, forfeits, failed requests). Decimal strings.
	CollateralReturned string `json:"collateralReturned"`
	CollateralKept     string `json:"collateralKept"`
	// QueuePeak is the longest slot queue seen on any node after a step;
	// QueueDropped counts the items all queues dropped when full.
	QueuePeak    int    `json:"queuePeak"`
	QueueDropped uint64 `json:"queueDropped"`
	// QueuePauses counts the times a queue paused (every queued slot
	// seen, none taken: SPEC §3), as observed after each step.
	QueuePauses uint64 `json:"queuePauses"`
	// InvariantChecks counts the per-node checks actually made: each
	// check of I1-I4's first half on a freshly read state (made after a
	// step only when the node's committed state may have changed in it;
	// otherwise the last check's result stands), plus each check of I4's
	// second half (ownership). 0 with Config.SkipChecks.
	InvariantChecks uint64 `json:"invariantChecks"`
	// FaultsInjected counts the faults that struck, by kind.
	FaultsInjected map[string]int `json:"faultsInjected"`
	// Crashes counts node crashes; Restarts the successful restarts.
	Crashes  int `json:"crashes"`
	Restarts int `json:"restarts"`
}

// Sample is one node's state at one moment (for plots).
type Sample struct {
	// Time is in seconds since the scenario's start.
	Time           int64                `json:"time"`
	Node           string               `json:"node"`
	QueueLength    int                  `json:"queueLength"`
	ActiveSales    int                  `json:"activeSales"`
	Availabilities []AvailabilitySample `json:"availabilities"`
}

// AvailabilitySample is one availability in a Sample: Free is its
// freeSize, Reserved the unwritten bytes of its reservations and Used
// their written bytes.
type AvailabilitySample struct {
	ID       string `json:"id"`
	Free     uint64 `json:"free"`
	Reserved uint64 `json:"reserved"`
	Used     uint64 `json:"used"`
}

// Violation is a broken invariant: which, where, and the trace leading
// to it. Replay it with the same Seed and scenario (and Config.Trace to
// see the whole trace).
type Violation struct {
	Seed uint64 `json:"seed"`
	Step uint64 `json:"step"`
	// Invariant is "I1", "I1c", "I2", "I3", "I4", "I5" (DESIGN.md),
	// "record" (an undecodable record), "market" (simmarket's own
	// bookkeeping) or "durability" (a crash lost or invented a commit).
	Invariant string   `json:"invariant"`
	Message   string   `json:"message"`
	Trace     []string `json:"trace"`
}

func (v *Violation) Error() string {
	return fmt.Sprintf("seed %d step %d: %s: %s", v.Seed, v.Step, v.Invariant, v.Message)
}

// Run runs sc with cfg and returns what happened. It drives everything
// from the calling goroutine: the seeded Executor runs one task at a time
// and market time moves only when no task is ready. ctx bounds the run
// (an ended ctx stops it with an error); every task is stopped and waited
// for, and every repo closed, before Run returns.
//
// A step is one unit of the driver's work: one executor step (a task runs
// until it ends or waits on the clock), or, when no task is ready, one
// move of the clock to its next deadline (which runs the market's actors,
// the clients' requests and the timed events, and delivers their events).
// Before a step the harness applies what is due at it (scheduled and
// random faults, operator actions, crash decisions); after it, it
// restarts the nodes that crashed in it, applies BreakAccountingAt, and
// checks:
//
//   - on every node that is up, I1-I3 and the first half of I4
//     (reservations.State.Check on a Snapshot), after every step that
//     may have changed the node's committed state: an op of the step (a
//     task's, the operator's or the harness's) put or deleted a key, the
//     repo's quota moved, or the node (re)started. After any other step
//     the state last checked is still the committed one, and so is its
//     result;
//   - the second half of I4, that every reservation belongs to a live sale
//     or to a slot the market says is the node's: strictly right after
//     every (re)start that no fault disturbed, when the restore has just
//     ended every other reservation; and after every step that committed
//     or moved time, where a reservation that is neither is allowed for a
//     while, because a sale whose cleanup commit failed, or whose
//     collateral-guarding market calls kept failing, leaves its
//     reservation for the periodic reconcile (DESIGN.md Decision 7). It is
//     a violation once it has been such a leftover, with no fault or crash
//     hitting its node, for two reconcile periods and a proof period (a
//     reconcile must have run and ended it);
//   - simmarket.CheckInvariants after every step that moved time, if the
//     market changed (its cost grows with the market's history);
//   - a crash restart: the reopened repo holds exactly what was committed
//     before the crash ("durability").
//
// When the active phase is over the run drains (no requests, faults or
// crashes) until every request has ended and every node runs no sale,
// holds no reservation and no slot at the market, and then checks I5:
// every availability has freeSize == totalSize, no sale data is left,
// and the collateral its availabilities are short (with those deleted) is
// exactly what the market kept of the node's fills (their full collateral
// less what the market paid back). A run that does not settle within
// Scenario.Settle is an I5 violation.
//
// Run returns an error only for a harness failure (an invalid scenario,
// a repo that cannot open, a SIGKILL child that misbehaves or replays
// another run, ctx ending); an invariant violation is reported in
// Result.Violation.
func Run(ctx context.Context, sc *Scenario, cfg Config) (*Result, error) {
	return run(ctx, sc, cfg, nil)
}

func run(ctx context.Context, sc *Scenario, cfg Config, child *childRole) (res *Result, err error) {
	if sc == nil {
		return nil, fmt.Errorf("%w: nil scenario", ErrInvalidScenario)
	}
	if err := sc.Validate(); err != nil {
		return nil, err
	}
	r, err := newRunner(ctx, sc, cfg, child)
	if err != nil {
		return nil, err
	}
	defer func() {
		if cerr := r.close(); cerr != nil && err == nil {
			err = cerr
		}
	}()
	if err := r.setup(); err != nil {
		return nil, err
	}
	if err := r.loop(); err != nil {
		return nil, err
	}
	return r.result(), nil
}

// phases of a run.
const (
	phaseSetup = iota
	phaseActive
	phaseDrain
	phaseDone
)

// runner is one run's state. Its fields are used by the driver (Run's
// goroutine) and by tasks and market callbacks, which the executor runs
// one at a time, never at once with the driver.
type runner struct {
	ctx    context.Context
	sc     *Scenario
	cfg    Config
	child  *childRole
	start  int64
	end    int64 // end of the active phase (start + Duration), or MaxInt64
	period int64

	m      *simmarket.Market
	clock  *market.ManualClock
	exec   *Executor
	pclock *Clock
	trace  *tracer

	nodes   []*node
	byAddr  map[market.Address]*node
	names   map[market.Address]string // every account, for traces
	clients []market.Address

	step uint64
	// activeSteps is r.step when the drain began.
	activeSteps uint64
	phase       int
	drainEnd    int64
	stopped     bool // at a violation with StopAtViolation
	idle        bool // nothing was left to run in the active phase

	faults      []*faultRT
	operator    []*operatorRT
	crashes     []*crashRT
	atStep      map[uint64][]func()
	sigkills    int // sigkill crashes decided so far
	requests    []market.RequestID
	live        []market.RequestID // requests not known to have ended
	nextArrival int64
	clientRNG   *rand.Rand
	pendingFill market.Address // the payer of the last collateral transfer
	marketDirty bool

	sum        Summary
	returned   uint256.Int
	kept       uint256.Int
	samples    []Sample
	nextSample int64
	violation  *Violation

	dir    string
	ownDir bool
}

var (
	rogueAddr = market.Address{'R', 'O', 'G', 'U', 'E'}
	bigMint   = func() uint256.Int {
		var v uint256.Int
		v.Lsh(uint256.NewInt(1), 120)
		return v
	}()
)

// stream returns a generator for one use of randomness, so that adding
// one use does not change the others.
func (r *runner) stream(name string, i int) *rand.Rand {
	h := fnv.New64a()
	fmt.Fprintf(h, "%s/%d", name, i)
	return rand.New(rand.NewPCG(r.cfg.Seed, h.Sum64()))
}

func newRunner(ctx context.Context, sc *Scenario, cfg Config, child *childRole) (*runner, error) {
	r := &runner{ctx: ctx, sc: sc, cfg: cfg, child: child, start: sc.Start, atStep: map[uint64][]func(){},
		byAddr: map[market.Address]*node{}, names: map[market.Address]string{}}
	if r.start == 0 {
		r.start = 1_000_000
	}
	r.end = math.MaxInt64
	if sc.Duration > 0 {
		r.end = r.start + sc.Duration
	}
	r.trace = newTracer(cfg.Trace)
	r.sum = Summary{Scenario: sc.Name, Seed: cfg.Seed, SalesByEndState: map[string]int{}, FaultsInjected: map[string]int{}}
	cfgM := sc.marketConfig()
	r.period = int64(cfgM.Proofs.Period)
	mopts := &simmarket.Options{Config: &cfgM, Start: r.start, Seed: cfg.Seed, BlockTime: sc.Market.BlockTime,
		NoValidator: sc.Market.NoValidator}
	ci := 0
	for _, c := range sc.Competitors {
		for _, name := range expandNames(c.Name, c.Count) {
			addr := market.Address{'C', byte(ci >> 8), byte(ci)}
			ci++
			r.names[addr] = name
			mopts.Competitors = append(mopts.Competitors, simmarket.Competitor{Address: addr,
				TakeProbability: c.TakeProbability, ReserveDelay: c.ReserveDelay, FillDelay: c.FillDelay,
				MissProofProbability: c.MissProofProbability, AbandonProbability: c.AbandonProbability})
		}
	}
	m, err := simmarket.New(mopts)
	if err != nil {
		return nil, fmt.Errorf("%w: market: %w", ErrInvalidScenario, err)
	}
	r.m, r.clock = m, m.Clock()
	r.exec = NewExecutor(cfg.Seed)
	r.pclock = NewClock(r.clock, r.exec)
	r.names[rogueAddr] = "rogue"
	r.names[simmarket.MarketAddress] = "market"
	r.names[simmarket.DefaultValidator] = "validator"
	for _, c := range mopts.Competitors {
		m.Mint(c.Address, bigMint)
	}
	for i := range max(sc.Clients.Count, 1) {
		addr := market.Address{'K', byte(i >> 8), byte(i)}
		r.clients = append(r.clients, addr)
		r.names[addr] = fmt.Sprintf("client-%d", i+1)
		m.Mint(addr, bigMint)
	}
	// The directory for on-disk nodes and SIGKILL children, made last:
	// nothing after it fails.
	needDir := cfg.Durable
	for _, n := range sc.Nodes {
		needDir = needDir || n.OnDisk
	}
	for _, c := range sc.Crashes {
		needDir = needDir || c.Kind == CrashSigkill
	}
	if needDir {
		if child != nil {
			r.dir = child.dir
		} else {
			d, err := os.MkdirTemp(cfg.Dir, "hostsales-sim-*")
			if err != nil {
				return nil, fmt.Errorf("sim: making the data directory: %w", err)
			}
			r.dir, r.ownDir = d, cfg.Dir == ""
		}
	}
	for i, spec := range sc.expandNodes() {
		n := &node{r: r, spec: spec, name: spec.Name, addr: market.Address{'N', byte(i >> 8), byte(i)},
			lastDisturb: math.MinInt64 / 2,
			leftovers:   map[reservations.ReservationID]int64{}}
		n.onDisk = spec.OnDisk || cfg.Durable
		n.durable = spec.Durable || cfg.Durable
		if n.onDisk {
			n.dir = r.dir + "/" + n.name
		} else {
			n.ms = newMemStore()
		}
		r.nodes = append(r.nodes, n)
		r.byAddr[n.addr] = n
		r.names[n.addr] = n.name
		m.Mint(n.addr, bigMint)
	}
	m.Observe(r.onRecord)
	return r, nil
}

// nameOf names an account for traces.
func (r *runner) nameOf(a market.Address) string {
	if n, ok := r.names[a]; ok {
		return n
	}
	return a.Hex()[:8]
}

// tracef adds a trace line: step, seconds since the start, who, what.
func (r *runner) tracef(who, format string, args ...any) {
	b := make([]byte, 0, 96)
	b = strconv.AppendUint(b, r.step, 10)
	b = append(b, " +"...)
	b = strconv.AppendInt(b, r.clock.Now()-r.start, 10)
	b = append(b, ' ')
	b = append(b, who...)
	b = append(b, ' ')
	r.trace.add(string(fmt.Appendf(b, format, args...)))
}

func short(id market.RequestID) string { return id.Hex()[:8] }

// setup creates the nodes' availabilities, starts them, and schedules the
// clients and the timed events.
func (r *runner) setup() error {
	for _, n := range r.nodes {
		if err := n.open(); err != nil {
			return err
		}
		for _, a := range n.spec.Availabilities {
			created, err := n.inc.res.CreateAvailability(r.ctx, n.availability(a))
			if err != nil {
				return fmt.Errorf("sim: node %s: creating an availability: %w", n.name, err)
			}
			n.avails = append(n.avails, created.ID)
		}
		if err := n.startSales(); err != nil {
			return fmt.Errorf("sim: node %s: starting: %w", n.name, err)
		}
	}
	r.setupEvents()
	r.clientRNG = r.stream("clients", 0)
	if r.sc.Clients.Rate > 0 {
		r.scheduleArrival(r.start)
	}
	for i, q := range r.sc.Clients.Scripted {
		q = q.withDefaults()
		r.clock.AfterFunc(r.start+q.At, func() {
			if r.phase == phaseActive {
				r.submitScripted(i, q)
			}
		})
	}
	r.nextSample = r.start
	r.phase = phaseActive
	r.tracef("sim", "start scenario=%s seed=%d nodes=%d", r.sc.Name, r.cfg.Seed, len(r.nodes))
	return nil
}

// scheduleArrival schedules the next request at or after from: the gaps of
// a Poisson process of the clients' rate, in whole seconds.
func (r *runner) scheduleArrival(from int64) {
	gap := r.clientRNG.ExpFloat64() / r.sc.Clients.Rate
	at := from + int64(math.Floor(gap))
	if at >= r.end {
		return
	}
	r.nextArrival = at
	r.clock.AfterFunc(at, func() {
		if r.phase != phaseActive {
			return
		}
		if max := r.sc.Clients.MaxRequests; max > 0 && len(r.requests) >= max {
			return
		}
		r.submitRequest()
		r.scheduleArrival(at)
	})
}

func (r *runner) submitRequest() {
	g := r.sc.Clients.Requests
	client := r.clients[r.clientRNG.IntN(len(r.clients))]
	req := r.m.RandomRequest(client, simmarket.RequestGen{MinSlots: g.Slots.Min, MaxSlots: g.Slots.Max,
		MinSlotSize: g.SlotSize.Min, MaxSlotSize: g.SlotSize.Max, MinDuration: g.Duration.Min,
		MaxDuration: g.Duration.Max, MaxExpiry: g.MaxExpiry, MaxPricePerBytePerSecond: g.MaxPricePerBytePerSecond,
		MaxCollateralPerByte: g.MaxCollateralPerByte, MaxProofProbability: g.MaxProofProbability})
	id, err := r.m.RequestStorage(r.ctx, client, req)
	if err != nil {
		r.tracef(r.nameOf(client), "request refused: %v", err)
		return
	}
	r.requests = append(r.requests, id)
	r.live = append(r.live, id)
	r.sum.Requests++
}

// submitScripted submits scripted request number i.
func (r *runner) submitScripted(i int, q ScriptedRequest) {
	client := r.clients[q.Client]
	req := market.StorageRequest{Client: client, Ask: market.StorageAsk{
		ProofProbability: *uint256.NewInt(q.ProofProbability), PricePerBytePerSecond: *uint256.NewInt(q.PricePerBytePerSecond),
		CollateralPerByte: *uint256.NewInt(q.CollateralPerByte), Slots: q.Slots, SlotSize: q.SlotSize,
		Duration: q.Duration, MaxSlotLoss: q.MaxSlotLoss},
		Content: market.StorageContent{CID: fmt.Sprintf("zScripted%d", i)}, Expiry: q.Expiry}
	req.Content.MerkleRoot[0], req.Nonce[0], req.Nonce[1] = byte(i), byte(i), 'S'
	id, err := r.m.RequestStorage(r.ctx, client, req)
	if err != nil {
		r.tracef(r.nameOf(client), "scripted request %d refused: %v", i, err)
		return
	}
	r.requests = append(r.requests, id)
	r.live = append(r.live, id)
	r.sum.Requests++
}

// onRecord follows the market's log: the trace, the slots offered, and
// the collateral the nodes' fills posted and got back.
func (r *runner) onRecord(rec simmarket.Record) {
	r.marketDirty = true
	switch e := rec.Event.(type) {
	case simmarket.Transfer:
		switch e.Reason {
		case "collateral":
			r.pendingFill = e.From
		case "collateralReturn":
			if n := r.byAddr[e.To]; n != nil {
				n.returned.Add(&n.returned, &e.Amount)
				r.returned.Add(&r.returned, &e.Amount)
				r.tracef("market", "paid %s collateral %s for %s", n.name, e.Amount.Dec(), n.freeing.Hex()[:8])
			}
		}
		return
	case market.StorageRequested:
		r.sum.SlotsOffered += int(e.Ask.Slots)
		r.tracef("market", "StorageRequested %s slots=%d size=%d duration=%d expires=+%d price=%s collateral=%s",
			short(e.RequestID), e.Ask.Slots, e.Ask.SlotSize, e.Ask.Duration, e.ExpiresAt-r.start,
			e.Ask.PricePerBytePerSecond.Dec(), e.Ask.CollateralPerByte.Dec())
	case market.SlotFilled:
		who := r.pendingFill
		r.pendingFill = market.Address{}
		c := uint256.Int{}
		if n := r.byAddr[who]; n != nil {
			if info, err := r.m.RequestInfo(e.RequestID); err == nil {
				c = info.Request.Ask.CollateralPerSlot()
				n.filled.Add(&n.filled, &c)
			}
		}
		r.tracef("market", "SlotFilled %s/%d by %s (slot %s, collateral %s)", short(e.RequestID), e.SlotIndex, r.nameOf(who),
			market.SlotIDFor(e.RequestID, e.SlotIndex).Hex()[:8], c.Dec())
	case market.SlotFreed:
		r.sum.SlotsOffered++
		r.tracef("market", "SlotFreed %s/%d", short(e.RequestID), e.SlotIndex)
	case market.ProofSubmitted:
		r.tracef("market", "ProofSubmitted %s", e.SlotID.Hex()[:8])
	case market.SlotReservationsFull:
		r.tracef("market", "SlotReservationsFull %s/%d", short(e.RequestID), e.SlotIndex)
	case market.RequestFulfilled:
		r.tracef("market", "RequestFulfilled %s", short(e.RequestID))
	case market.RequestFailed:
		r.tracef("market", "RequestFailed %s", short(e.RequestID))
	case market.RequestCancelled:
		r.tracef("market", "RequestCancelled %s", short(e.RequestID))
	default:
		r.tracef("market", "%s", rec.Event)
	}
}

// loop runs the steps until the run has drained (or stopped).
func (r *runner) loop() error {
	for {
		if err := r.ctx.Err(); err != nil {
			return fmt.Errorf("sim: run interrupted at step %d: %w", r.step, err)
		}
		if r.stopped {
			return nil
		}
		now := r.clock.Now()
		if r.phase == phaseActive && (r.idle || now >= r.end || (r.sc.Steps > 0 && r.step >= r.sc.Steps)) {
			if err := r.enterDrain(); err != nil {
				return err
			}
		}
		if r.phase == phaseDrain {
			if r.settled() {
				r.checkEnd()
				return nil
			}
			if now > r.drainEnd {
				r.violate("I5", fmt.Sprintf("the run did not settle in the %d s the drain may take: %s", r.drainEnd-r.end, r.unsettled()))
				return nil
			}
		}
		r.step++
		if err := r.before(); err != nil {
			return err
		}
		timeMoved := false
		if !r.exec.Step() {
			timeMoved = true
			if !r.advance() {
				if r.phase == phaseActive {
					// Nothing can happen any more: end the active phase.
					r.idle = true
				} else {
					r.violate("I5", "nothing is left to run and the run has not settled: "+r.unsettled())
					return nil
				}
			}
		}
		if err := r.after(timeMoved); err != nil {
			return err
		}
	}
}

// advance moves the clock to its next deadline, sampling on the way; it
// reports false when nothing is scheduled.
func (r *runner) advance() bool {
	d, ok := r.clock.NextDeadline()
	if r.cfg.SampleEvery > 0 {
		for r.nextSample <= r.clock.Now() || (ok && r.nextSample < d) {
			if !ok && r.nextSample > r.clock.Now() {
				break
			}
			r.sample(r.nextSample)
			r.nextSample += r.cfg.SampleEvery
		}
	}
	if !ok {
		return false
	}
	r.clock.Step()
	if p := r.cfg.Progress; p != nil && r.phase == phaseActive {
		if r.sc.Duration > 0 {
			p(min(r.clock.Now()-r.start, r.sc.Duration), r.sc.Duration)
		} else {
			p(int64(r.step), int64(r.sc.Steps))
		}
	}
	return true
}

// enterDrain ends the active phase: no more requests, faults or crashes.
func (r *runner) enterDrain() error {
	r.phase = phaseDrain
	r.activeSteps = r.step
	now := r.clock.Now()
	r.end = min(r.end, now)
	settle := r.sc.Settle
	if settle == 0 {
		// The longest a request can last from now, plus time for the
		// reconciles and proofs that settle the last sales.
		var longest int64
		if c := r.sc.Clients; c.Rate > 0 {
			g := simmarket.RequestGen{MaxDuration: c.Requests.Duration.Max, MaxExpiry: c.Requests.MaxExpiry}
			longest = int64(cmp.Or(g.MaxDuration, 24*3600)) + int64(cmp.Or(g.MaxExpiry, 3600))
		}
		for _, q := range r.sc.Clients.Scripted {
			q = q.withDefaults()
			longest = max(longest, int64(q.Duration+q.Expiry))
		}
		var rec int64 = 600
		for _, n := range r.nodes {
			rec = max(rec, n.reconcilePeriod())
		}
		settle = longest + 4*rec + 10*r.period
	}
	r.drainEnd = now + settle
	r.tracef("sim", "drain until +%d", r.drainEnd-r.start)
	if p := r.cfg.Progress; p != nil {
		if r.sc.Duration > 0 {
			p(r.sc.Duration, r.sc.Duration)
		} else {
			p(int64(r.sc.Steps), int64(r.sc.Steps))
		}
	}
	if r.child != nil {
		// No crash can come any more: the child's crash was not reached.
		return r.child.end()
	}
	return nil
}

// before applies what is due at the step about to run.
func (r *runner) before() error {
	if r.phase == phaseActive {
		for _, f := range r.atStep[r.step] {
			f()
		}
		for _, f := range r.faults {
			f.perStep()
		}
		for _, o := range r.operator {
			o.perStep()
		}
		for _, c := range r.crashes {
			c.perStep()
		}
	}
	return nil
}

// after completes crashes, retries failed starts and checks the
// invariants.
func (r *runner) after(timeMoved bool) error {
	for _, n := range r.nodes {
		if cp := n.crash; cp != nil && (cp.landed || cp.at == 0 || timeMoved || r.phase != phaseActive) {
			if err := n.completeCrash(); err != nil {
				return err
			}
		}
		if n.inc != nil && n.inc.s == nil {
			if err := n.startSales(); err != nil {
				r.tracef(n.name, "start failed: %v", err)
			}
		}
	}
	if r.cfg.BreakAccountingAt == r.step && r.step > 0 {
		// After the step, so that nothing it commits overwrites the break.
		r.breakAccounting()
	}
	r.check(timeMoved)
	for _, n := range r.nodes {
		if n.inc != nil && n.inc.s != nil {
			st := n.inc.s.Queue().Stats()
			r.sum.QueuePeak = max(r.sum.QueuePeak, st.Len)
			if st.Paused != n.paused {
				n.paused = st.Paused
				if st.Paused {
					r.sum.QueuePauses++
					r.tracef(n.name, "queue paused with %d slots", st.Len)
				} else {
					r.tracef(n.name, "queue resumed with %d slots", st.Len)
				}
			}
		}
	}
	return nil
}

// settled reports whether the drain is over: every request has ended and
// every node runs no sale and holds no reservation.
func (r *runner) settled() bool {
	r.live = slices.DeleteFunc(r.live, func(id market.RequestID) bool {
		info, err := r.m.RequestInfo(id)
		return err == nil && info.State.IsTerminal()
	})
	if len(r.live) > 0 {
		return false
	}
	for _, n := range r.nodes {
		if n.inc == nil || n.inc.s == nil || n.crash != nil || len(n.inc.s.Agents()) > 0 {
			return false
		}
		// A no-op unless the checks are off: they read after every step.
		if !n.refresh() || len(n.cached.Reservations) > 0 {
			return false
		}
		if ids, err := r.m.As(n.addr).MySlots(r.ctx); err != nil || len(ids) > 0 {
			return false // a sale has not ended: the node was not paid out
		}
	}
	return true
}

// unsettled says what keeps the run from settling.
func (r *runner) unsettled() string {
	var parts []string
	if len(r.live) > 0 {
		parts = append(parts, fmt.Sprintf("%d requests have not ended", len(r.live)))
	}
	for _, n := range r.nodes {
		switch {
		case n.inc == nil || n.inc.s == nil:
			parts = append(parts, n.name+" is down")
		default:
			if a := len(n.inc.s.Agents()); a > 0 {
				parts = append(parts, fmt.Sprintf("%s runs %d sales", n.name, a))
			}
			if n.refresh() && len(n.cached.Reservations) > 0 {
				parts = append(parts, fmt.Sprintf("%s holds %d reservations (first: %s)", n.name,
					len(n.cached.Reservations), describeReservation(n.cached.Reservations[0])))
			}
			if ids, _ := r.m.As(n.addr).MySlots(r.ctx); len(ids) > 0 {
				s := r.m.SlotInfo(ids[0])
				parts = append(parts, fmt.Sprintf("%s still holds %d slots at the market, never paid out (first: %s/%d, %s)",
					n.name, len(ids), short(s.RequestID), s.SlotIndex, s.State))
			}
		}
	}
	return strings.Join(parts, "; ")
}

func describeReservation(res reservations.Reservation) string {
	return fmt.Sprintf("%s/%d size=%d/%d filled=%v", short(res.RequestID), res.SlotIndex, res.Size, res.SlotSize, res.Filled)
}

// violate records the first violation.
func (r *runner) violate(inv, msg string) {
	if r.violation == nil {
		r.violation = &Violation{Seed: r.cfg.Seed, Step: r.step, Invariant: inv, Message: msg,
			Trace: r.trace.tail()}
		// Written out, not hashed: the trace is what the system did.
		r.trace.note(fmt.Sprintf("%d +%d sim VIOLATION %s: %s", r.step, r.clock.Now()-r.start, inv, msg))
		if r.cfg.StopAtViolation {
			r.stopped = true
		}
	}
}

// result builds the Result of a finished run.
func (r *runner) result() *Result {
	r.sum.Steps = r.step
	r.sum.SimulatedSeconds = r.clock.Now() - r.start
	r.sum.CollateralReturned = r.returned.Dec()
	r.kept.Clear()
	for _, n := range r.nodes {
		var k uint256.Int
		k.Sub(&n.filled, &n.returned)
		if n.filled.Lt(&n.returned) {
			k.Clear()
		}
		r.kept.Add(&r.kept, &k)
	}
	r.sum.CollateralKept = r.kept.Dec()
	for _, n := range r.nodes {
		r.sum.QueueDropped += n.dropped
		if n.inc != nil && n.inc.s != nil {
			r.sum.QueueDropped += n.inc.s.Queue().Stats().Dropped
			n.inc.finishSales("unfinished")
		}
	}
	res := &Result{Summary: r.sum, Samples: r.samples, Violation: r.violation, TraceHash: r.trace.digest(),
		ActiveSteps: r.activeSteps}
	if !r.ownDir {
		res.Dir = r.dir
	}
	return res
}

// close stops every node, lets their tasks end, and releases the repos,
// the children and the directory.
func (r *runner) close() error {
	r.phase = phaseDone
	r.trace.stop()
	var errs []error
	for _, n := range r.nodes {
		if n.inc != nil && n.inc.s != nil {
			if err := n.inc.s.Stop(context.Background()); err != nil && !errors.Is(err, context.Canceled) {
				errs = append(errs, err)
			}
		}
	}
	r.exec.RunReady()
	for _, n := range r.nodes {
		n.crash = nil
		if n.inc != nil {
			n.inc.dead.Store(true)
			if err := n.inc.repo.Close(); err != nil {
				errs = append(errs, err)
			}
			n.inc = nil
		}
	}
	if live := r.exec.Live(); live > 0 {
		errs = append(errs, fmt.Errorf("sim: %d tasks still live after every node stopped", live))
	}
	if err := r.trace.err(); err != nil {
		errs = append(errs, fmt.Errorf("sim: writing the trace: %w", err))
	}
	if r.ownDir && r.dir != "" {
		errs = append(errs, os.RemoveAll(r.dir))
	}
	return errors.Join(errs...)
}
