package sim

import (
	"fmt"
	"math/rand/v2"
	"slices"

	"github.com/holiman/uint256"

	"github.com/hostsales/hostsales/market"
	"github.com/hostsales/hostsales/repostore"
	"github.com/hostsales/hostsales/reservations"
)

// faultRT is a FaultSpec while the run uses it.
type faultRT struct {
	r       *runner
	spec    FaultSpec
	rng     *rand.Rand
	armed   int // per-call kinds: calls that fail next, whatever the probability
	nodes   map[string]bool
	methods map[string]bool
}

// operatorRT is an OperatorAction while the run uses it.
type operatorRT struct {
	r    *runner
	spec OperatorAction
	rng  *rand.Rand
}

// crashRT is a CrashSpec while the run uses it.
type crashRT struct {
	r    *runner
	spec CrashSpec
	rng  *rand.Rand
}

// setupEvents prepares the faults, operator actions and crashes, and
// schedules their steps and times.
func (r *runner) setupEvents() {
	schedule := func(w When, do func()) {
		for _, s := range w.Steps {
			r.atStep[s] = append(r.atStep[s], do)
		}
		for _, at := range w.At {
			r.clock.AfterFunc(r.start+at, func() {
				if r.phase == phaseActive {
					do()
				}
			})
		}
	}
	for i, spec := range r.sc.Faults {
		f := &faultRT{r: r, spec: spec, rng: r.stream("fault", i)}
		if len(spec.Nodes) > 0 {
			f.nodes = map[string]bool{}
			for _, n := range spec.Nodes {
				f.nodes[n] = true
			}
		}
		if len(spec.Methods) > 0 {
			f.methods = map[string]bool{}
			for _, m := range spec.Methods {
				f.methods[m] = true
			}
		}
		r.faults = append(r.faults, f)
		if perCall(spec.Kind) {
			schedule(spec.When, func() { f.armed++ })
		} else {
			schedule(spec.When, f.act)
		}
	}
	for i, spec := range r.sc.Operator {
		o := &operatorRT{r: r, spec: spec, rng: r.stream("operator", i)}
		r.operator = append(r.operator, o)
		schedule(spec.When, o.act)
	}
	for i, spec := range r.sc.Crashes {
		if spec.Kind == "" {
			spec.Kind = CrashMemory
		}
		c := &crashRT{r: r, spec: spec, rng: r.stream("crash", i)}
		r.crashes = append(r.crashes, c)
		schedule(spec.When, c.act)
	}
}

// fault decides whether a call of a node (of method, for market-error and
// datastore) fails now with a fault of kind; it returns the fault that
// struck, or nil. Faults strike only in the active phase.
func (r *runner) fault(kind string, n *node, method string) *faultRT {
	if r.phase != phaseActive {
		return nil
	}
	for _, f := range r.faults {
		if f.spec.Kind != kind || (f.nodes != nil && !f.nodes[n.name]) || (f.methods != nil && !f.methods[method]) {
			continue
		}
		fire := false
		if f.armed > 0 {
			f.armed--
			fire = true
		} else if p := f.spec.Probability; p > 0 && f.rng.Float64() < p {
			fire = true
		}
		if !fire {
			continue
		}
		r.sum.FaultsInjected[kind]++
		if method != "" {
			r.tracef(n.name, "fault %s %s", kind, method)
		} else {
			r.tracef(n.name, "fault %s", kind)
		}
		if kind == FaultMarketError || kind == FaultDatastore {
			n.disturb()
		}
		return f
	}
	return nil
}

// delay draws a slow-download delay.
func (f *faultRT) delay() uint64 {
	d := f.spec.Delay
	return d.Min + f.rng.Uint64N(d.Max-d.Min+1)
}

// perStep draws, for a per-step kind, whether the fault strikes before
// this step.
func (f *faultRT) perStep() {
	if !perCall(f.spec.Kind) && f.spec.Probability > 0 && f.rng.Float64() < f.spec.Probability {
		f.act()
	}
}

// liveOf returns the live requests in state st (pruning ended ones).
func (r *runner) liveOf(st market.RequestState) []market.RequestID {
	var out []market.RequestID
	r.live = slices.DeleteFunc(r.live, func(id market.RequestID) bool {
		info, err := r.m.RequestInfo(id)
		if err != nil || info.State.IsTerminal() {
			return true
		}
		if info.State == st {
			out = append(out, id)
		}
		return false
	})
	return out
}

// act applies a per-step fault once.
func (f *faultRT) act() {
	r := f.r
	kind := f.spec.Kind
	ctx := r.ctx
	pick := func(ids []market.RequestID) (market.RequestID, bool) {
		if len(ids) == 0 {
			return market.RequestID{}, false
		}
		return ids[f.rng.IntN(len(ids))], true
	}
	var err error
	var what string
	switch kind {
	case FaultCompetitorTake:
		type free struct {
			id  market.RequestID
			idx uint64
		}
		var cands []free
		for _, id := range r.liveOf(market.RequestStateNew) {
			info, _ := r.m.RequestInfo(id)
			for i := range info.Request.Ask.Slots {
				if r.m.SlotInfo(market.SlotIDFor(id, i)).State == market.SlotStateFree {
					cands = append(cands, free{id, i})
				}
			}
		}
		if len(cands) == 0 {
			return
		}
		c := cands[f.rng.IntN(len(cands))]
		what = fmt.Sprintf("%s/%d", short(c.id), c.idx)
		err = r.m.TakeSlot(ctx, rogueAddr, c.id, c.idx)
	case FaultCancelRequest:
		// Not a request a host filled a slot of this very second: its
		// expiry would become its fill time, which the contract never
		// lets the host free (MARKET.md §3.5 QUIRK). A host can meet that
		// on chain too, but only by filling at the expiry's second; a
		// cancel landing on a fill's second would make it common.
		now := r.clock.Now()
		var cands []market.RequestID
		for _, id := range r.liveOf(market.RequestStateNew) {
			info, _ := r.m.RequestInfo(id)
			fresh := false
			for i := range info.Request.Ask.Slots {
				if r.m.SlotInfo(market.SlotIDFor(id, i)).FilledAt == now {
					fresh = true
				}
			}
			if !fresh {
				cands = append(cands, id)
			}
		}
		id, ok := pick(cands)
		if !ok {
			return
		}
		what = short(id)
		err = r.m.CancelRequest(ctx, id)
	case FaultFailRequest:
		var cands []market.RequestID
		for _, id := range r.liveOf(market.RequestStateStarted) {
			if info, _ := r.m.RequestInfo(id); info.Request.Ask.MaxSlotLoss < info.Request.Ask.Slots {
				cands = append(cands, id)
			}
		}
		id, ok := pick(cands)
		if !ok {
			return
		}
		what = short(id)
		err = r.m.FailRequest(ctx, id)
	case FaultRepair:
		type held struct {
			sid  market.SlotID
			host market.Address
			desc string
		}
		var cands []held
		for _, id := range r.liveOf(market.RequestStateStarted) {
			info, _ := r.m.RequestInfo(id)
			for i := range info.Request.Ask.Slots {
				sid := market.SlotIDFor(id, i)
				if s := r.m.SlotInfo(sid); s.State == market.SlotStateFilled &&
					(len(f.spec.Hosts) == 0 || slices.Contains(f.spec.Hosts, r.nameOf(s.Host))) {
					cands = append(cands, held{sid, s.Host, fmt.Sprintf("%s/%d of %s", short(id), i, r.nameOf(s.Host))})
				}
			}
		}
		if len(cands) == 0 {
			return
		}
		h := cands[f.rng.IntN(len(cands))]
		what = h.desc
		err = r.m.As(h.host).FreeSlot(ctx, h.sid)
	}
	if err != nil {
		r.tracef("sim", "fault %s %s: %v", kind, what, err)
		return
	}
	r.sum.FaultsInjected[kind]++
	r.tracef("sim", "fault %s %s", kind, what)
}

// perStep draws whether the action happens before this step.
func (o *operatorRT) perStep() {
	if o.spec.Probability > 0 && o.rng.Float64() < o.spec.Probability {
		o.act()
	}
}

// act makes the operator's change once, as the operator's REST call
// would: through reservations, on the driver, with faults and crash
// points applying.
func (o *operatorRT) act() {
	r := o.r
	n := r.nodeNamed(o.spec.Node, o.rng)
	a := o.spec
	who := n.name
	if n.inc == nil {
		r.tracef(who, "operator %s skipped: the node is down", a.Action)
		return
	}
	res := n.inc.res
	if a.Action == ActionCreate {
		created, err := res.CreateAvailability(r.ctx, n.availability(*a.Create))
		if err != nil {
			r.tracef(who, "operator create refused: %v", err)
			return
		}
		n.avails = append(n.avails, created.ID)
		r.sum.FaultsInjected["operator-"+a.Action]++
		r.tracef(who, "operator create availability %d size=%d", len(n.avails)-1, a.Create.TotalSize)
		return
	}
	if a.Availability >= len(n.avails) || n.avails[a.Availability].IsZero() {
		r.tracef(who, "operator %s skipped: no availability %d", a.Action, a.Availability)
		return
	}
	id := n.avails[a.Availability]
	var err error
	detail := ""
	switch a.Action {
	case ActionResize:
		size := a.TotalSize
		if size == 0 {
			size = a.Sizes.Min + o.rng.Uint64N(a.Sizes.Max-a.Sizes.Min+1)
		}
		detail = fmt.Sprintf(" to %d", size)
		_, err = res.Update(r.ctx, id, reservations.Patch{TotalSize: &size})
	case ActionDisable, ActionEnable:
		on := a.Action == ActionEnable
		_, err = res.Update(r.ctx, id, reservations.Patch{Enabled: &on})
	case ActionDelete:
		var av reservations.Availability
		if av, err = res.Availability(id); err == nil {
			if err = res.DeleteAvailability(r.ctx, id); err == nil {
				var deficit uint256.Int
				deficit.Sub(&av.TotalCollateral, &av.TotalRemainingCollateral)
				n.deleted.Add(&n.deleted, &deficit)
				n.avails[a.Availability] = reservations.AvailabilityID{}
			}
		}
	}
	if err != nil {
		r.tracef(who, "operator %s availability %d%s refused: %v", a.Action, a.Availability, detail, err)
		return
	}
	r.sum.FaultsInjected["operator-"+a.Action]++
	r.tracef(who, "operator %s availability %d%s", a.Action, a.Availability, detail)
}

// nodeNamed returns the node called name, or one drawn at random.
func (r *runner) nodeNamed(name string, rng *rand.Rand) *node {
	if name == "" {
		return r.nodes[rng.IntN(len(r.nodes))]
	}
	for _, n := range r.nodes {
		if n.name == name {
			return n
		}
	}
	panic("sim: unknown node " + name) // Validate rules it out
}

func (c *crashRT) perStep() {
	if c.spec.Probability > 0 && c.rng.Float64() < c.spec.Probability {
		c.act()
	}
}

// act decides a crash of the spec's node (or of one drawn at random).
func (c *crashRT) act() {
	r := c.r
	var n *node
	if c.spec.Node != "" {
		n = r.nodeNamed(c.spec.Node, c.rng)
	} else {
		var cands []*node
		for _, x := range r.nodes {
			if c.spec.Kind != CrashSigkill || x.onDisk {
				cands = append(cands, x)
			}
		}
		n = cands[c.rng.IntN(len(cands))]
	}
	n.decideCrash(c.spec.Kind, c.rng)
}

// breakAccounting is Config.BreakAccountingAt: it writes a record that
// breaks the accounting straight into the first running node's repo
// (an availability whose totalSize grew by one byte that no reservation or
// free size accounts for: I2), bypassing reservations.
func (r *runner) breakAccounting() {
	for _, n := range r.nodes {
		if n.inc == nil || !n.refresh() {
			continue
		}
		var key, val = reservationsKeyValue(n.cached)
		n.bypass.Store(true)
		err := n.inc.repo.Do(r.ctx, func(tx *repostore.Txn) error { return tx.Put(key, val) })
		n.bypass.Store(false)
		if err != nil {
			r.tracef("sim", "breaking the accounting failed: %v", err)
			return
		}
		r.tracef(n.name, "sim breaks the accounting: %s", key)
		return
	}
}
