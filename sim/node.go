package sim

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"strings"
	"sync/atomic"

	"github.com/holiman/uint256"
	ds "github.com/ipfs/go-datastore"

	"github.com/hostsales/hostsales/market"
	"github.com/hostsales/hostsales/repostore"
	"github.com/hostsales/hostsales/reservations"
	"github.com/hostsales/hostsales/sales"
	"github.com/hostsales/hostsales/statemachine"
)

// Errors the simulated node's surroundings return.
var (
	// errCrashed is what a crashed node's repo and market calls get
	// from the crash on: the process is gone.
	errCrashed = fmt.Errorf("sim: the node crashed: %w", market.ErrMarket)
	// errInjected is an injected datastore fault.
	errInjected = errors.New("sim: injected datastore fault")
	// errDownload and errProof are injected download and proof faults.
	errDownload = errors.New("sim: injected download failure")
	errProof    = errors.New("sim: injected proof failure")
)

// node is one storage node under test, across its crashes: an
// incarnation is one process's life of it (a repo opened, a Sales
// started); a crash ends one and the restart opens the next on what the
// crash left.
type node struct {
	r       *runner
	spec    NodeSpec
	name    string
	addr    market.Address
	onDisk  bool
	durable bool
	dir     string    // on disk: the current data directory
	ms      *memStore // in memory: the repo's datastore
	inc     *incarnation
	incs    int

	avails  []reservations.AvailabilityID // by number; zero once deleted
	deleted uint256.Int                   // collateral deficit of deleted availabilities
	filled  uint256.Int                   // full collateral of every slot the node filled
	// returned is what the market paid back (collateralReturn transfers).
	returned uint256.Int

	leftovers   map[reservations.ReservationID]int64 // I4 leftovers: since when
	live        map[saleKey]bool                     // checkOwnership's scratch: the live sales
	freeing     market.SlotID                        // the slot of the node's FreeSlot call under way
	lastDisturb int64                                // market time of the last fault or crash that hit the node
	faults      uint64                               // faults and crashes that hit it
	crash       *crashPoint
	// dirty: the committed state may differ from cached: the repo was
	// (re)opened, or an op put or deleted a key under reservationsRoot
	// since cached was read. The quota, the one part of a State an op can
	// change without such a put or delete, is compared by refresh.
	dirty bool
	// committed: a commit was attempted since the last check (the
	// ownership check runs after such a step).
	committed bool
	cached    *reservations.State // the committed state, as of the last read
	dropped   uint64              // queue drops of earlier incarnations
	paused    bool                // the queue was paused after the last step
	bypass    atomic.Bool         // the harness is reading: no faults, no counting
}

// incarnation is one life of a node.
type incarnation struct {
	n     *node
	id    int
	repo  *repostore.Store
	res   *reservations.Reservations
	s     *sales.Sales // nil until a Start succeeds
	tries int
	dead  atomic.Bool
	sales map[saleKey]statemachine.State // the current state of each sale
}

type saleKey struct {
	req  market.RequestID
	slot uint64
}

// crashPoint is a crash decided for a node: it lands at the node's at-th
// datastore call from the decision on, or after the step if at is 0 or
// the node makes fewer calls before the clock next moves (or the active
// phase ends).
type crashPoint struct {
	kind    string
	inc     *incarnation
	at      int
	calls   int
	landed  bool
	digest  string // the trace's hash when it landed
	sigkill int    // the number of the sigkill crash (sigkill only)
}

// logger returns the node's logger (nil: discarded).
func (n *node) logger() *slog.Logger {
	if l := n.r.cfg.Logger; l != nil {
		return l.With("node", n.name)
	}
	return nil
}

func (n *node) reconcilePeriod() int64 {
	if n.spec.ReconcilePeriod == 0 {
		return 600
	}
	return n.spec.ReconcilePeriod
}

func (n *node) availability(a AvailabilitySpec) reservations.Availability {
	out := reservations.Availability{TotalSize: a.TotalSize, Duration: a.Duration,
		MinPricePerBytePerSecond: *uint256.NewInt(a.MinPricePerBytePerSecond),
		TotalCollateral:          *uint256.NewInt(a.TotalCollateral), Enabled: !a.Disabled}
	if a.Until > 0 {
		out.Until = n.r.start + a.Until
	}
	return out
}

// disturb records that a fault or crash hit the node now.
func (n *node) disturb() {
	n.lastDisturb = n.r.clock.Now()
	n.faults++
}

// seededReader is an io.Reader of pseudo-random bytes (reservation ids).
type seededReader struct{ r *rand.Rand }

func (s seededReader) Read(p []byte) (int, error) {
	for i := 0; i < len(p); i += 8 {
		var b [8]byte
		binary.LittleEndian.PutUint64(b[:], s.r.Uint64())
		copy(p[i:], b[:])
	}
	return len(p), nil
}

// open opens a new incarnation's repo and reservations on what the last
// one left.
func (n *node) open() error {
	r := n.r
	inc := &incarnation{n: n, id: n.incs, sales: map[saleKey]statemachine.State{}}
	n.incs++
	quota := n.spec.Quota
	if quota == 0 {
		quota = 1 << 30
	}
	opts := &repostore.Options{QuotaMaxBytes: quota, Now: r.clock.Now, FaultHook: inc.hook, NoSync: !n.durable,
		Logger: n.logger()}
	path := n.dir
	if n.ms != nil {
		opts.Datastore, opts.NoSync, path = n.ms, true, ""
	}
	repo, err := repostore.Open(path, opts)
	if err != nil {
		return fmt.Errorf("sim: node %s: opening the repo: %w", n.name, err)
	}
	res, err := reservations.New(r.ctx, repo, &reservations.Options{Rand: seededReader{r.stream("ids/"+n.name, inc.id)},
		Logger: n.logger()})
	if err != nil {
		_ = repo.Close()
		return fmt.Errorf("sim: node %s: opening reservations: %w", n.name, err)
	}
	inc.repo, inc.res = repo, res
	n.inc, n.cached, n.dirty = inc, nil, true
	return nil
}

// startSales makes and starts the incarnation's Sales. A failed Start
// (an injected fault) leaves the node without Sales; the step loop tries
// again after the next step.
func (n *node) startSales() error {
	r, inc := n.r, n.inc
	before := n.faults
	inc.tries++
	s, err := sales.New(sales.Deps{Market: &nodeMarket{inc: inc, c: r.m.As(n.addr)}, Clock: r.pclock, Reservations: inc.res},
		&sales.Options{
			Callbacks: sales.Callbacks{
				OnStore:        inc.onStore,
				OnProve:        inc.onProve,
				OnExpiryUpdate: func(context.Context, string, int64) error { return nil },
				OnSale:         inc.onSale,
			},
			MaxWorkers:      n.spec.MaxWorkers,
			QueueSize:       n.spec.QueueSize,
			ReconcilePeriod: n.reconcilePeriod(),
			Rand:            r.stream("sales/"+n.name, inc.id<<16|inc.tries),
			Executor:        r.exec,
			OnTransition:    inc.onTransition,
			Logger:          n.logger(),
		})
	if err != nil {
		return fmt.Errorf("sim: node %s: %w", n.name, err)
	}
	if err := s.Start(r.ctx); err != nil {
		return err
	}
	inc.s = s
	if inc.id > 0 {
		r.sum.Restarts++
		r.tracef(n.name, "restarted (incarnation %d)", inc.id)
	}
	if n.faults == before && !r.cfg.SkipChecks {
		// Nothing disturbed the start: I4 holds strictly now.
		n.refresh()
		n.checkOwnership(true)
	}
	return nil
}

// snapshot reads the committed state, unseen by faults and crash points.
func (n *node) snapshot() (reservations.State, error) {
	n.bypass.Store(true)
	defer n.bypass.Store(false)
	return n.inc.res.Snapshot(n.r.ctx)
}

// refresh re-reads the committed state when it may have changed since the
// last read, checks I1-I4 (first half) on it, and reports whether it is
// readable. When it cannot have changed (no op put or deleted a key, the
// quota is the same, the repo was not reopened), cached is still the
// committed state and the result of its check stands: nothing is re-read
// or re-checked. With Config.SkipChecks it only reads (for the drain and
// the samples), and traces nothing.
func (n *node) refresh() bool {
	r := n.r
	if n.cached != nil && !n.dirty && n.inc.repo.Quota() == n.cached.Quota {
		if r.cfg.verifyUnchanged {
			if st, err := n.snapshot(); err == nil {
				if d := diffState(*n.cached, st); d != "" {
					r.violate("harness", fmt.Sprintf("%s: the state changed with no put, delete or quota change: %s", n.name, d))
				}
			}
		}
		return true
	}
	st, err := n.snapshot()
	if err != nil {
		r.violate("record", fmt.Sprintf("%s: reading the state: %v", n.name, err))
		return false
	}
	if n.cached != nil && !r.cfg.SkipChecks {
		n.traceChanges(n.cached, &st)
	}
	n.cached, n.dirty = &st, false
	if r.child != nil || r.cfg.SkipChecks {
		// A SIGKILL child only replays: the parent checks.
		return true
	}
	r.sum.InvariantChecks++
	if vs := st.Check(); len(vs) > 0 {
		r.violate(vs[0].Invariant, n.name+": "+vs[0].String())
	}
	return true
}

// reservationsRoot is the prefix of every key a reservations.Snapshot
// reads (availabilities and reservations); with the quota, they are the
// whole of a State.
var reservationsRoot = reservations.AvailabilityKey(reservations.AvailabilityID{}).Parent().String()

// hook is the repo's FaultHook: it notes the calls that may change the
// committed state or commit, counts calls toward a crash point, fails
// every call of a crashed incarnation, and injects datastore faults.
func (inc *incarnation) hook(call string, key ds.Key) error {
	n := inc.n
	if n.inc == inc {
		switch call {
		case "put", "delete":
			if strings.HasPrefix(key.String(), reservationsRoot) {
				n.dirty = true
			}
		case "commit":
			// Not the harness's own reads (a Snapshot commits too).
			n.committed = n.committed || !n.bypass.Load()
		}
	}
	if n.bypass.Load() {
		return nil
	}
	if inc.dead.Load() {
		return errCrashed
	}
	if cp := n.crash; cp != nil && cp.inc == inc && !cp.landed {
		cp.calls++
		if cp.calls == cp.at {
			n.land(cp, call)
			return errCrashed
		}
	}
	if n.r.fault(FaultDatastore, n, call) != nil {
		return errInjected
	}
	return nil
}

// onTransition traces a sale's transition and follows its state.
func (inc *incarnation) onTransition(req market.RequestID, slot uint64, from, to statemachine.State, ev statemachine.Event) {
	n := inc.n
	who := n.name
	if inc.dead.Load() {
		who += "~" // the crashed incarnation's tasks, ending
	}
	if from == "" {
		n.r.tracef(who, "sale %s/%d start %s", short(req), slot, to)
	} else {
		n.r.tracef(who, "sale %s/%d %s -%s-> %s", short(req), slot, from, ev, to)
	}
	if inc.dead.Load() {
		return
	}
	k := saleKey{req, slot}
	if prev, ok := inc.sales[k]; ok && from == "" {
		n.r.countEnd(prev, "interrupted")
	}
	switch to {
	case sales.StateFinished, sales.StateIgnored, sales.StateErrored:
		n.r.sum.SalesByEndState[string(to)]++
		delete(inc.sales, k)
	default:
		inc.sales[k] = to
	}
}

// countEnd counts a sale that ended in state (or was cut short: other).
func (r *runner) countEnd(state statemachine.State, other string) {
	if state == sales.StateCancelled {
		r.sum.SalesByEndState[string(state)]++
		return
	}
	r.sum.SalesByEndState[other]++
}

// finishSales counts the incarnation's sales still running.
func (inc *incarnation) finishSales(label string) {
	for k, st := range inc.sales {
		inc.n.r.countEnd(st, label)
		delete(inc.sales, k)
	}
}

func (inc *incarnation) onSale(req market.StorageRequest, slot uint64) {
	if inc.dead.Load() {
		return
	}
	inc.n.r.sum.BytesSold += req.Ask.SlotSize
}

// onStore "downloads" the slot: Blocks blocks of distinct content, each
// handed to store; a fault may fail the download or delay a block.
func (inc *incarnation) onStore(ctx context.Context, req market.StorageRequest, _ int64, slot uint64,
	store sales.StoreFunc, _ bool) error {
	n := inc.n
	r := n.r
	if r.fault(FaultDownloadError, n, "") != nil {
		return errDownload
	}
	parts := uint64(n.spec.Blocks)
	if parts == 0 {
		parts = 2
	}
	size := req.Ask.SlotSize
	parts = max(min(parts, size), 1)
	id := req.ID()
	for i := range parts {
		if f := r.fault(FaultSlowDownload, n, ""); f != nil {
			if err := r.pclock.WaitUntil(ctx, r.clock.Now()+int64(f.delay())); err != nil {
				return err
			}
		}
		l := size / parts
		if i == parts-1 {
			l = size - l*(parts-1)
		}
		b := make([]byte, l)
		copy(b, id[:])
		// The last bytes tell the slot and the part apart, whatever the
		// block's length.
		var tag [10]byte
		binary.BigEndian.PutUint64(tag[:8], slot)
		tag[8], tag[9] = byte(i), byte(i>>8)
		for j := range tag {
			if p := int(l) - len(tag) + j; p >= 0 {
				b[p] ^= tag[j]
			}
		}
		if err := store(ctx, [][]byte{b}); err != nil {
			return err
		}
	}
	return nil
}

// onProve "computes" a proof; a fault may fail it, or make it take until
// the next period and come out invalid (a missed proof).
func (inc *incarnation) onProve(ctx context.Context, slot market.Slot, _ market.Challenge) (market.Proof, error) {
	n := inc.n
	r := n.r
	if r.fault(FaultProofFailure, n, "") != nil {
		return nil, errProof
	}
	if r.fault(FaultMissedProof, n, "") != nil {
		next := (r.clock.Now()/r.period + 1) * r.period
		if err := r.pclock.WaitUntil(ctx, next+1); err != nil {
			return nil, err
		}
		return make(market.Proof, 32), nil // all zero: rejected
	}
	return market.Proof(fmt.Sprintf("proof %s/%d", short(slot.Request.ID()), slot.SlotIndex)), nil
}

// decideCrash makes the node crash in this step.
func (n *node) decideCrash(kind string, rng *rand.Rand) {
	r := n.r
	if n.inc == nil || n.crash != nil {
		return
	}
	cp := &crashPoint{kind: kind, inc: n.inc, at: rng.IntN(16)}
	if kind == CrashSigkill {
		cp.sigkill = r.sigkills
		r.sigkills++
	}
	n.crash = cp
	r.tracef(n.name, "crash %s at datastore call %d from now", kind, cp.at)
}

// land is the moment the crash happens: from now on the incarnation's
// repo and market calls fail. A SIGKILL child stops here for good.
func (n *node) land(cp *crashPoint, call string) {
	r := n.r
	cp.landed = true
	cp.digest = r.trace.digest()
	cp.inc.dead.Store(true)
	if call == "" {
		r.tracef(n.name, "crash lands after the step")
	} else {
		r.tracef(n.name, "crash lands at %s", call)
	}
	if r.child != nil && cp.kind == CrashSigkill && cp.sigkill == r.child.target {
		r.child.ready(cp.digest) // never returns
	}
}

// completeCrash ends the crashed incarnation and restarts the node on
// what it left: in memory the same datastore, on disk the same directory
// (or, for sigkill, the killed child's).
func (n *node) completeCrash() error {
	r := n.r
	cp := n.crash
	if !cp.landed {
		n.land(cp, "")
	}
	n.crash = nil
	inc := cp.inc
	// What the crash left: every commit before it, none after.
	var left reservations.State
	if !r.cfg.SkipChecks {
		var err error
		if left, err = n.snapshot(); err != nil {
			return fmt.Errorf("sim: node %s: reading the state the crash left: %w", n.name, err)
		}
	}
	inc.finishSales("interrupted")
	if inc.s != nil {
		n.dropped += inc.s.Queue().Stats().Dropped
		// No cleanup: Stop only cancels; the tasks end in later steps,
		// their repo closed and their market gone.
		_ = inc.s.Stop(context.Background())
	}
	if err := inc.repo.Close(); err != nil {
		return fmt.Errorf("sim: node %s: closing the crashed repo: %w", n.name, err)
	}
	n.inc = nil
	r.sum.Crashes++
	n.disturb()
	if cp.kind == CrashSigkill {
		// The parent kills the child replaying the run at this crash and
		// reopens its directory; a child replaying an earlier sigkill
		// crash reopens its own, which holds the same commits.
		if r.child == nil {
			dir, err := r.killChild(cp)
			if err != nil {
				return err
			}
			n.dir = dir + "/" + n.name
		}
		r.tracef(n.name, "killed with SIGKILL (crash %d); reopening its data directory", cp.sigkill)
	}
	if err := n.open(); err != nil {
		return err
	}
	if !r.cfg.SkipChecks {
		if !n.refresh() {
			return nil
		}
		if d := diffState(left, *n.cached); d != "" {
			r.violate("durability", fmt.Sprintf("%s: after the %s crash the repo is not what was committed before it: %s",
				n.name, cp.kind, d))
		}
	}
	if err := n.startSales(); err != nil {
		r.tracef(n.name, "start failed: %v", err)
	}
	return nil
}

// diffState describes the first difference between two states ("" when
// equal).
func diffState(a, b reservations.State) string {
	if a.Quota != b.Quota {
		return fmt.Sprintf("quota %+v became %+v", a.Quota, b.Quota)
	}
	if len(a.Availabilities) != len(b.Availabilities) {
		return fmt.Sprintf("%d availabilities became %d", len(a.Availabilities), len(b.Availabilities))
	}
	for i := range a.Availabilities {
		x, y := a.Availabilities[i], b.Availabilities[i]
		if x.ID != y.ID || x.TotalSize != y.TotalSize || x.FreeSize != y.FreeSize || x.Enabled != y.Enabled ||
			x.TotalCollateral != y.TotalCollateral || x.TotalRemainingCollateral != y.TotalRemainingCollateral ||
			x.Duration != y.Duration || x.Until != y.Until || x.MinPricePerBytePerSecond != y.MinPricePerBytePerSecond {
			return fmt.Sprintf("availability %+v became %+v", x, y)
		}
	}
	if len(a.Reservations) != len(b.Reservations) {
		return fmt.Sprintf("%d reservations became %d", len(a.Reservations), len(b.Reservations))
	}
	for i := range a.Reservations {
		if a.Reservations[i] != b.Reservations[i] {
			return fmt.Sprintf("reservation %+v became %+v", a.Reservations[i], b.Reservations[i])
		}
	}
	return ""
}

// checkOwnership checks the second half of I4 on the cached state: every
// reservation belongs to a live sale or to a slot the market says is the
// node's. Right after a start no fault disturbed (strict), a leftover is a
// violation. Otherwise a leftover is allowed for a while: a sale whose
// cleanup failed, or whose collateral-guarding market calls kept failing,
// leaves its reservation for the periodic reconcile (DESIGN.md Decision
// 7). It is a violation once it has been a leftover, with no fault or crash
// hitting the node, for two reconcile periods and a proof period: a
// reconcile pass must have run meanwhile and ended it.
func (n *node) checkOwnership(strict bool) {
	r := n.r
	if n.cached == nil || n.inc == nil || n.inc.s == nil {
		return
	}
	r.sum.InvariantChecks++
	if len(n.cached.Reservations) == 0 {
		clear(n.leftovers)
		return
	}
	if n.live == nil {
		n.live = map[saleKey]bool{}
	}
	live := n.live // reused: this runs after most steps
	clear(live)
	for _, a := range n.inc.s.Agents() {
		live[saleKey{a.RequestID(), a.SlotIndex()}] = true
	}
	var mine map[market.SlotID]bool
	now := r.clock.Now()
	var seen map[reservations.ReservationID]bool // the leftovers found now
	for _, res := range n.cached.Reservations {
		if live[saleKey{res.RequestID, res.SlotIndex}] {
			continue
		}
		if mine == nil {
			ids, err := r.m.As(n.addr).MySlots(r.ctx)
			if err != nil {
				r.violate("I4", fmt.Sprintf("%s: reading the node's slots: %v", n.name, err))
				return
			}
			mine = map[market.SlotID]bool{}
			for _, id := range ids {
				mine[id] = true
			}
		}
		if mine[market.SlotIDFor(res.RequestID, res.SlotIndex)] {
			continue
		}
		if seen == nil {
			seen = map[reservations.ReservationID]bool{}
		}
		seen[res.ID] = true
		since, ok := n.leftovers[res.ID]
		if !ok {
			since = now
			n.leftovers[res.ID] = now
		}
		switch {
		case strict:
			r.violate("I4", fmt.Sprintf("%s: reservation %s %s has no live sale and its slot is not the node's right after an undisturbed start",
				n.name, res.ID, describeReservation(res)))
			return
		case n.reconcilePeriod() > 0 && now-max(since, n.lastDisturb) > 2*n.reconcilePeriod()+r.period+1:
			r.violate("I4", fmt.Sprintf("%s: reservation %s %s has had no live sale and a slot not the node's for %d s (since +%d), with no fault since +%d: no reconcile ended it",
				n.name, res.ID, describeReservation(res), now-since, since-r.start, max(n.lastDisturb, r.start)-r.start))
			return
		}
	}
	for id := range n.leftovers {
		if !seen[id] {
			delete(n.leftovers, id)
		}
	}
}

// traceChanges traces the reservations that ended between two committed
// states, with the collateral their availabilities got back.
func (n *node) traceChanges(old, cur *reservations.State) {
	now := map[reservations.ReservationID]bool{}
	for _, res := range cur.Reservations {
		now[res.ID] = true
	}
	type back struct {
		ended      []string
		collateral uint256.Int
	}
	var order []reservations.AvailabilityID
	ended := map[reservations.AvailabilityID]*back{}
	for _, res := range old.Reservations {
		if now[res.ID] {
			continue
		}
		b := ended[res.AvailabilityID]
		if b == nil {
			b = &back{}
			ended[res.AvailabilityID] = b
			order = append(order, res.AvailabilityID)
		}
		b.ended = append(b.ended, fmt.Sprintf("%s/%d", short(res.RequestID), res.SlotIndex))
		b.collateral.Add(&b.collateral, &res.Collateral)
	}
	for _, aid := range order {
		b := ended[aid]
		var before, after uint256.Int
		for _, a := range old.Availabilities {
			if a.ID == aid {
				before = a.TotalRemainingCollateral
			}
		}
		for _, a := range cur.Availabilities {
			if a.ID == aid {
				after = a.TotalRemainingCollateral
			}
		}
		var got uint256.Int
		got.Sub(&after, &before)
		n.r.tracef(n.name, "reservations %v ended: collateral back %s of %s", b.ended, got.Dec(), b.collateral.Dec())
	}
}
