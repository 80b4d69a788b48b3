package reservations_test

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"maps"
	"math/rand/v2"
	"os"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/anishathalye/porcupine"
	"github.com/holiman/uint256"
	ds "github.com/ipfs/go-datastore"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hostsales/hostsales/market"
	"github.com/hostsales/hostsales/repostore"
	"github.com/hostsales/hostsales/repostore/badgerds"
	"github.com/hostsales/hostsales/reservations"
)

// This file is the linearizability check of the test list:
// several goroutines call CreateReservation, StoreBlocks, EndReservation,
// Update (TotalSize, Until, TotalCollateral) and FindAvailability on one
// availability; every call is recorded with its arguments, its answer and
// the logical times it was called and returned; porcupine then searches
// for a serial order, consistent with those times, in which linModel, a
// sequential specification of the availability, gives every recorded
// answer.

const (
	linQuota        = 5000 // repo quota: an Update may grow TotalSize to about this
	linTotalSize    = 2000
	linCPB          = 3 // the availability's collateral per byte
	linUntil        = 500
	linExpiry       = 4_000_000_000
	linClients      = 4
	linOpsPerClient = 10
	linRounds       = 100
)

// linBlockPool is every block the test stores: distinct contents (one of
// them empty), shared by many reservations.
var linBlockPool = func() [][]byte {
	sizes := []int{0, 40, 90, 150, 220, 300}
	out := make([][]byte, len(sizes))
	for i, n := range sizes {
		out[i] = bytes.Repeat([]byte{byte('A' + i)}, n)
	}
	return out
}()

type linKind int

const (
	linCreate linKind = iota
	linStore
	linEnd
	linUpdate
	linFind
)

var linKindNames = [...]string{"CreateReservation", "StoreBlocks", "EndReservation", "Update", "FindAvailability"}

// linInput is one call on the availability.
type linInput struct {
	kind       linKind
	rid        reservations.ID  // StoreBlocks, EndReservation
	size       uint64           // CreateReservation's slotSize, FindAvailability's size
	cpb        uint64           // collateral per byte: CreateReservation, FindAvailability
	validUntil int64            // CreateReservation, FindAvailability
	req        market.RequestID // CreateReservation, one per call
	blocks     []int            // StoreBlocks: indices into linBlockPool
	returned   uint64           // EndReservation
	// Update; nil fields are not changed.
	totalSize, totalCollateral *uint64
	until                      *int64
}

// linOutput is the answer to a call.
type linOutput struct {
	err   string // "", or the name of the error kind (linClassify)
	res   reservations.Reservation
	avail reservations.Availability
	found bool
	ended reservations.Ended
}

var linErrKinds = []struct {
	name string
	err  error
}{
	{"NotExists", reservations.ErrNotExists},
	{"BytesOutOfBounds", reservations.ErrBytesOutOfBounds},
	{"CollateralOutOfBounds", reservations.ErrCollateralOutOfBounds},
	{"UntilOutOfBounds", reservations.ErrUntilOutOfBounds},
	{"ReserveFailed", reservations.ErrReserveFailed},
}

// linClassify names the kind of err. An error of no expected kind keeps
// its message, which no model step accepts.
func linClassify(err error) string {
	if err == nil {
		return ""
	}
	for _, k := range linErrKinds {
		if errors.Is(err, k.err) {
			return k.name
		}
	}
	return "unexpected: " + err.Error()
}

// linRun makes the call in on the availability base.
func linRun(r *reservations.Reservations, base reservations.Availability, in linInput) linOutput {
	var out linOutput
	var err error
	switch in.kind {
	case linCreate:
		out.res, err = r.CreateReservation(ctx, base.ID, in.size, in.req, 0, uint256.NewInt(in.cpb), in.validUntil)
	case linStore:
		blocks := make([][]byte, len(in.blocks))
		for i, b := range in.blocks {
			blocks[i] = linBlockPool[b]
		}
		out.res, err = r.StoreBlocks(ctx, base.ID, in.rid, blocks, linExpiry)
	case linEnd:
		out.ended, err = r.EndReservation(ctx, base.ID, in.rid, uint256.NewInt(in.returned))
	case linUpdate:
		p := reservations.Patch{TotalSize: in.totalSize, Until: in.until}
		if in.totalCollateral != nil {
			p.TotalCollateral = uint256.NewInt(*in.totalCollateral)
		}
		out.avail, err = r.Update(ctx, base.ID, p)
	case linFind:
		out.avail, out.found = r.FindAvailability(in.size, base.Duration, &base.MinPricePerBytePerSecond,
			uint256.NewInt(in.cpb), in.validUntil)
	}
	out.err = linClassify(err)
	return out
}

// ---- the sequential model ----

type linRes struct {
	size, slotSize uint64
	blocks         uint64
	coll           uint256.Int
	req            market.RequestID
	validUntil     int64
}

type linBlock struct {
	size    uint64
	holders map[reservations.ID]bool
}

// linState is the availability with its reservations and the repo's
// blocks. Steps never change a state; they return a changed copy.
type linState struct {
	total, free          uint64
	totalColl, remaining uint256.Int
	until                int64
	res                  map[reservations.ID]linRes
	blocks               map[repostore.Hash]linBlock
}

func (s *linState) clone() *linState {
	c := *s
	c.res = maps.Clone(s.res)
	c.blocks = make(map[repostore.Hash]linBlock, len(s.blocks))
	for h, b := range s.blocks {
		c.blocks[h] = linBlock{size: b.size, holders: maps.Clone(b.holders)}
	}
	return &c
}

func (s *linState) equal(o *linState) bool {
	if s.total != o.total || s.free != o.free || s.totalColl != o.totalColl || s.remaining != o.remaining ||
		s.until != o.until || len(s.res) != len(o.res) || len(s.blocks) != len(o.blocks) {
		return false
	}
	for id, r := range s.res {
		if or, ok := o.res[id]; !ok || or != r {
			return false
		}
	}
	for h, b := range s.blocks {
		if ob, ok := o.blocks[h]; !ok || ob.size != b.size || !maps.Equal(ob.holders, b.holders) {
			return false
		}
	}
	return true
}

// availability is the record as the package would return it.
func (s *linState) availability(base reservations.Availability) reservations.Availability {
	a := base
	a.TotalSize, a.FreeSize, a.Until = s.total, s.free, s.until
	a.TotalCollateral, a.TotalRemainingCollateral = s.totalColl, s.remaining
	return a
}

func (s *linState) reservation(base reservations.Availability, id reservations.ID) reservations.Reservation {
	r := s.res[id]
	return reservations.Reservation{ID: id, AvailabilityID: base.ID, Size: r.size, SlotSize: r.slotSize,
		Collateral: r.coll, RequestID: r.req, ValidUntil: r.validUntil, Blocks: r.blocks}
}

// fits reports whether delta more reserved bytes fit in the quota: the
// availability is the repo's only one, so reserved is freeSize plus the
// unwritten bytes (SPEC §1.8) and used is each block's bytes once per holder.
func (s *linState) fits(delta uint64) bool {
	t := s.free
	for _, r := range s.res {
		t += r.size
	}
	for _, b := range s.blocks {
		t += b.size * uint64(len(b.holders))
	}
	return t <= linQuota && delta <= linQuota-t
}

func (s *linState) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "total=%d free=%d coll=%s rem=%s until=%d res=[", s.total, s.free, s.totalColl.Dec(),
		s.remaining.Dec(), s.until)
	ids := slices.Collect(maps.Keys(s.res))
	slices.SortFunc(ids, func(a, b reservations.ID) int { return bytes.Compare(a[:], b[:]) })
	for _, id := range ids {
		r := s.res[id]
		fmt.Fprintf(&b, " %s:%d/%d coll=%s vu=%d", propShort(id), r.size, r.slotSize, r.coll.Dec(), r.validUntil)
	}
	var used uint64
	for _, bl := range s.blocks {
		used += bl.size * uint64(len(bl.holders))
	}
	fmt.Fprintf(&b, " ] blocks=%d used=%d", len(s.blocks), used)
	return b.String()
}

func linDescribe(in linInput, out linOutput) string {
	var args string
	switch in.kind {
	case linCreate:
		args = fmt.Sprintf("slot=%d cpb=%d vu=%d", in.size, in.cpb, in.validUntil)
	case linStore:
		var n int
		for _, b := range in.blocks {
			n += len(linBlockPool[b])
		}
		args = fmt.Sprintf("%s blocks=%v (%d bytes)", propShort(in.rid), in.blocks, n)
	case linEnd:
		args = fmt.Sprintf("%s returned=%d", propShort(in.rid), in.returned)
	case linUpdate:
		var f []string
		if in.totalSize != nil {
			f = append(f, fmt.Sprintf("total=%d", *in.totalSize))
		}
		if in.until != nil {
			f = append(f, fmt.Sprintf("until=%d", *in.until))
		}
		if in.totalCollateral != nil {
			f = append(f, fmt.Sprintf("coll=%d", *in.totalCollateral))
		}
		args = strings.Join(f, " ")
	case linFind:
		args = fmt.Sprintf("size=%d cpb=%d vu=%d", in.size, in.cpb, in.validUntil)
	}
	var res string
	switch {
	case out.err != "":
		res = out.err
	case in.kind == linCreate || in.kind == linStore:
		res = fmt.Sprintf("%s size=%d/%d coll=%s", propShort(out.res.ID), out.res.Size, out.res.SlotSize, out.res.Collateral.Dec())
	case in.kind == linEnd:
		e := out.ended
		res = fmt.Sprintf("found=%v bytes=%d coll=%s freed=%d free=%d rem=%s", e.Found, e.BytesReturned,
			e.CollateralReturned.Dec(), e.BytesFreed, e.Availability.FreeSize, e.Availability.TotalRemainingCollateral.Dec())
	case in.kind == linFind && !out.found:
		res = "none"
	default:
		a := out.avail
		res = fmt.Sprintf("total=%d free=%d coll=%s rem=%s until=%d", a.TotalSize, a.FreeSize,
			a.TotalCollateral.Dec(), a.TotalRemainingCollateral.Dec(), a.Until)
	}
	return fmt.Sprintf("%s(%s) -> %s", linKindNames[in.kind], args, res)
}

// linModel is the sequential specification of the availability base (as
// created) for porcupine. With wrong set it is deliberately wrong:
// EndReservation still answers correctly but gives back to freeSize only
// the unwritten bytes, as SPEC §2.2's deleteReservation alone would.
func linModel(base reservations.Availability, wrong bool) porcupine.Model {
	return porcupine.Model{
		Init: func() interface{} {
			return &linState{total: base.TotalSize, free: base.FreeSize, totalColl: base.TotalCollateral,
				remaining: base.TotalRemainingCollateral, until: base.Until,
				res: map[reservations.ID]linRes{}, blocks: map[repostore.Hash]linBlock{}}
		},
		Step: func(state, input, output interface{}) (bool, interface{}) {
			return linStep(base, wrong, state.(*linState), input.(linInput), output.(linOutput))
		},
		Equal:             func(a, b interface{}) bool { return a.(*linState).equal(b.(*linState)) },
		DescribeOperation: func(in, out interface{}) string { return linDescribe(in.(linInput), out.(linOutput)) },
		DescribeState:     func(s interface{}) string { return s.(*linState).String() },
	}
}

// linStep reports whether out is a correct answer to in in state s, and
// the state after it.
func linStep(base reservations.Availability, wrong bool, s *linState, in linInput, out linOutput) (bool, *linState) {
	switch in.kind {
	case linCreate:
		var coll uint256.Int
		coll.Mul(uint256.NewInt(in.cpb), uint256.NewInt(in.size))
		var want []string
		if s.free < in.size {
			want = append(want, "BytesOutOfBounds")
		}
		if s.remaining.Lt(&coll) {
			want = append(want, "CollateralOutOfBounds")
		}
		if s.until > 0 && in.validUntil > s.until {
			want = append(want, "UntilOutOfBounds")
		}
		if out.err != "" || len(want) > 0 {
			return slices.Contains(want, out.err), s
		}
		id := out.res.ID
		if _, dup := s.res[id]; dup || id.IsZero() {
			return false, s
		}
		n := s.clone()
		n.free -= in.size
		n.remaining.Sub(&n.remaining, &coll)
		n.res[id] = linRes{size: in.size, slotSize: in.size, coll: coll, req: in.req, validUntil: in.validUntil}
		return out.res == n.reservation(base, id), n

	case linStore:
		r, ok := s.res[in.rid]
		if !ok {
			return out.err == "NotExists", s
		}
		var written, counted uint64 // distinct non-empty blocks rid does not hold yet
		seen := map[int]bool{}
		for _, b := range in.blocks {
			if seen[b] || len(linBlockPool[b]) == 0 {
				continue
			}
			seen[b] = true
			if held, ok := s.blocks[repostore.HashOf(linBlockPool[b])]; ok && held.holders[in.rid] {
				continue
			}
			written += uint64(len(linBlockPool[b]))
			counted++
		}
		if written > r.size {
			return out.err == "BytesOutOfBounds", s
		}
		if out.err != "" {
			return false, s
		}
		n := s.clone()
		r.size -= written
		r.blocks += counted
		n.res[in.rid] = r
		for _, i := range in.blocks {
			if len(linBlockPool[i]) == 0 {
				continue // not stored
			}
			h := repostore.HashOf(linBlockPool[i])
			b, ok := n.blocks[h]
			if !ok {
				b = linBlock{size: uint64(len(linBlockPool[i])), holders: map[reservations.ID]bool{}}
			}
			b.holders[in.rid] = true
			n.blocks[h] = b
		}
		return out.res == n.reservation(base, in.rid), n

	case linEnd:
		r, ok := s.res[in.rid]
		if !ok {
			return out.err == "" && out.ended == (reservations.Ended{}), s
		}
		if out.err != "" {
			return false, s
		}
		ret := r.coll
		if v := uint256.NewInt(in.returned); v.Lt(&ret) {
			ret = *v
		}
		var room uint256.Int
		room.Sub(&s.totalColl, &s.remaining)
		if ret.Gt(&room) {
			ret = room
		}
		n := s.clone()
		var freed uint64
		for h, b := range n.blocks {
			if b.holders[in.rid] {
				freed += b.size // what the holder was counted for
				delete(b.holders, in.rid)
				if len(b.holders) == 0 {
					delete(n.blocks, h)
				}
			}
		}
		n.free += r.slotSize
		n.remaining.Add(&n.remaining, &ret)
		delete(n.res, in.rid)
		want := reservations.Ended{Found: true, BytesReturned: r.slotSize, CollateralReturned: ret,
			BytesFreed: freed, Availability: n.availability(base)}
		if wrong {
			n.free -= r.slotSize - r.size
		}
		return out.ended == want, n

	case linUpdate:
		var want []string
		n := s.clone()
		if in.totalSize != nil {
			committed := s.total - s.free
			switch t := *in.totalSize; {
			case t == 0 || t < committed:
				want = append(want, "BytesOutOfBounds")
			case t > s.total && !s.fits(t-s.total):
				want = append(want, "ReserveFailed")
			default:
				n.total, n.free = t, t-committed
			}
		}
		if in.totalCollateral != nil {
			var held uint256.Int
			for _, r := range s.res {
				held.Add(&held, &r.coll)
			}
			n.totalColl.SetUint64(*in.totalCollateral)
			if held.Gt(&n.totalColl) {
				want = append(want, "CollateralOutOfBounds")
			} else {
				n.remaining.Sub(&n.totalColl, &held)
			}
		}
		if in.until != nil {
			n.until = *in.until
			for _, r := range s.res {
				if n.until > 0 && r.validUntil > n.until {
					want = append(want, "UntilOutOfBounds")
					break
				}
			}
		}
		if out.err != "" || len(want) > 0 {
			return slices.Contains(want, out.err), s
		}
		return out.avail == n.availability(base), n

	case linFind:
		a := s.availability(base)
		mx := a.MaxCollateralPerByte()
		if s.free >= in.size && (s.until == 0 || s.until >= in.validUntil) && !uint256.NewInt(in.cpb).Gt(&mx) {
			return out.found && out.avail == a, s
		}
		return !out.found && out.avail == reservations.Availability{}, s
	}
	return false, s
}

// ---- running a round ----

// linHistory records calls with logical call and return times.
type linHistory struct {
	clock atomic.Int64
	mu    sync.Mutex
	ops   []porcupine.Operation
}

func (h *linHistory) record(client int, in linInput, call func() linOutput) linOutput {
	start := h.clock.Add(1)
	out := call()
	end := h.clock.Add(1)
	h.mu.Lock()
	h.ops = append(h.ops, porcupine.Operation{ClientId: client, Input: in, Call: start, Output: out, Return: end})
	h.mu.Unlock()
	return out
}

// linIDs is the reservations created so far, for StoreBlocks and
// EndReservation to pick from (live or already ended).
type linIDs struct {
	mu  sync.Mutex
	ids []reservations.ID
}

func (p *linIDs) add(id reservations.ID) {
	p.mu.Lock()
	p.ids = append(p.ids, id)
	p.mu.Unlock()
}

func (p *linIDs) pick(rng *rand.Rand) reservations.ID {
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(p.ids) == 0 || rng.IntN(20) == 0 {
		return reservations.ID{0xee, byte(rng.IntN(4))} // never created
	}
	// Favour recent ones: they are more likely to be live.
	if rng.IntN(2) == 0 {
		return p.ids[len(p.ids)-1-rng.IntN(min(len(p.ids), 3))]
	}
	return p.ids[rng.IntN(len(p.ids))]
}

func linGen(rng *rand.Rand, ids *linIDs, req market.RequestID) linInput {
	switch k := rng.IntN(100); {
	case k < 30:
		return linInput{kind: linCreate, size: 100 + rng.Uint64N(600), cpb: rng.Uint64N(linCPB + 2),
			validUntil: rng.Int64N(650), req: req}
	case k < 50:
		in := linInput{kind: linStore, rid: ids.pick(rng)}
		for range rng.IntN(4) {
			in.blocks = append(in.blocks, rng.IntN(len(linBlockPool)))
		}
		return in
	case k < 70:
		return linInput{kind: linEnd, rid: ids.pick(rng), returned: rng.Uint64N(3000)}
	case k < 82:
		in := linInput{kind: linUpdate}
		for in.totalSize == nil && in.until == nil && in.totalCollateral == nil {
			if rng.IntN(2) == 0 {
				v := rng.Uint64N(5500)
				in.totalSize = &v
			}
			if rng.IntN(2) == 0 {
				v := []int64{0, 300, 450, 600, 700}[rng.IntN(5)]
				in.until = &v
			}
			if rng.IntN(2) == 0 {
				v := rng.Uint64N(3 * linCPB * linTotalSize / 2)
				in.totalCollateral = &v
			}
		}
		return in
	default:
		return linInput{kind: linFind, size: 1 + rng.Uint64N(2500), cpb: rng.Uint64N(linCPB + 2),
			validUntil: rng.Int64N(650)}
	}
}

// linRound creates one availability in a fresh repo and has linClients
// goroutines make linOpsPerClient random calls on it each, all at once.
// With prefix, client 0 first makes, alone, a reservation, writes blocks
// for it, ends it and finds the availability by its whole size. It
// returns the availability as created and the history.
func linRound(t *testing.T, seed uint64, prefix bool) (reservations.Availability, []porcupine.Operation) {
	t.Helper()
	e := newConcEnv(t, linQuota, seed)
	base, err := e.res.CreateAvailability(ctx, reservations.Availability{TotalSize: linTotalSize, Duration: 100,
		MinPricePerBytePerSecond: *uint256.NewInt(1), TotalCollateral: *uint256.NewInt(linCPB * linTotalSize),
		Enabled: true, Until: linUntil})
	require.NoError(t, err)
	var h linHistory
	var ids linIDs
	var reqs atomic.Uint64
	nextReq := func() market.RequestID {
		var r market.RequestID
		binary.BigEndian.PutUint64(r[:], reqs.Add(1))
		return r
	}
	run := func(client int, in linInput) linOutput {
		out := h.record(client, in, func() linOutput { return linRun(e.res, base, in) })
		if in.kind == linCreate && out.err == "" {
			ids.add(out.res.ID)
		}
		return out
	}
	if prefix {
		c := run(0, linInput{kind: linCreate, size: 500, cpb: 1, validUntil: 100, req: nextReq()})
		require.Empty(t, c.err)
		require.Empty(t, run(0, linInput{kind: linStore, rid: c.res.ID, blocks: []int{2, 3}}).err)
		require.True(t, run(0, linInput{kind: linEnd, rid: c.res.ID, returned: 500}).ended.Found)
		require.True(t, run(0, linInput{kind: linFind, size: linTotalSize}).found)
	}
	start := make(chan struct{})
	var wg sync.WaitGroup
	for c := range linClients {
		wg.Go(func() {
			rng := rand.New(rand.NewPCG(seed, uint64(c)))
			<-start
			for range linOpsPerClient {
				run(c, linGen(rng, &ids, nextReq()))
			}
		})
	}
	close(start)
	wg.Wait()
	st, err := readStoredState(e, linBlockPool)
	require.NoError(t, err)
	require.NoError(t, checkStoredInvariants(st), "after round %d", seed)
	return base, h.ops
}

// linVisualize writes porcupine's visualization of the history to a file
// that outlives the test and returns its path.
func linVisualize(t *testing.T, model porcupine.Model, ops []porcupine.Operation) string {
	t.Helper()
	_, info := porcupine.CheckOperationsVerbose(model, ops, 0)
	f, err := os.CreateTemp("", "reservations-linearizability-*.html")
	require.NoError(t, err)
	defer f.Close()
	require.NoError(t, porcupine.Visualize(model, info, f))
	return f.Name()
}

// TestLinearizability checks, over many rounds, that concurrent calls on
// one availability are linearizable with respect to linModel.
func TestLinearizability(t *testing.T) {
	outcomes := map[string]int{}
	overlapping := 0
	for round := range linRounds {
		base, ops := linRound(t, uint64(round), round%3 == 0)
		model := linModel(base, false)
		if !porcupine.CheckOperations(model, ops) {
			t.Fatalf("round %d: the history of %d calls is not linearizable; visualization: %s",
				round, len(ops), linVisualize(t, model, ops))
		}
		for i, op := range ops {
			in, out := op.Input.(linInput), op.Output.(linOutput)
			o := out.err
			switch {
			case o != "":
				if in.kind == linUpdate {
					o = "error"
				}
			case in.kind == linEnd:
				o = fmt.Sprintf("found=%v", out.ended.Found)
			case in.kind == linFind:
				o = fmt.Sprintf("found=%v", out.found)
			default:
				o = "ok"
			}
			outcomes[linKindNames[in.kind]+"/"+o]++
			for _, p := range ops[i+1:] {
				if p.ClientId != op.ClientId && p.Call < op.Return && op.Call < p.Return {
					overlapping++
				}
			}
		}
	}
	t.Logf("%d rounds, outcomes %v, %d overlapping pairs of calls", linRounds, outcomes, overlapping)
	// The check is only as good as the histories: make sure they have calls
	// that overlap and every interesting outcome.
	assert.Positive(t, overlapping)
	for _, o := range []string{"CreateReservation/ok", "CreateReservation/BytesOutOfBounds", "StoreBlocks/ok",
		"StoreBlocks/NotExists", "EndReservation/found=true", "EndReservation/found=false", "Update/ok", "Update/error",
		"FindAvailability/found=true", "FindAvailability/found=false"} {
		assert.Positive(t, outcomes[o], "no %s in any round", o)
	}
}

// TestLinearizabilityRejectsWrongModel shows that the check is not
// vacuous: the same kind of history that linModel accepts is rejected
// against a model that forgets the written bytes when a reservation ends
// (the history's prefix guarantees such an end followed by a read that
// sees the difference).
func TestLinearizabilityRejectsWrongModel(t *testing.T) {
	base, ops := linRound(t, 1000, true)
	require.True(t, porcupine.CheckOperations(linModel(base, false), ops),
		"the right model rejects the history; visualization: %s", linVisualize(t, linModel(base, false), ops))
	assert.False(t, porcupine.CheckOperations(linModel(base, true), ops),
		"the checker accepted a model that forgets written bytes")
}

// TestLinearizabilityRejectsStaleRead shows that the check uses real time:
// a FindAvailability answer from before a CreateReservation is accepted
// while the two overlap, and rejected once the find starts after the
// create returned.
func TestLinearizabilityRejectsStaleRead(t *testing.T) {
	e := newConcEnv(t, linQuota, 1)
	base, err := e.res.CreateAvailability(ctx, reservations.Availability{TotalSize: linTotalSize, Duration: 100,
		MinPricePerBytePerSecond: *uint256.NewInt(1), TotalCollateral: *uint256.NewInt(linCPB * linTotalSize),
		Enabled: true, Until: linUntil})
	require.NoError(t, err)
	find := linInput{kind: linFind, size: linTotalSize}
	create := linInput{kind: linCreate, size: 500, cpb: 1, validUntil: 100, req: market.RequestID{1}}
	before := linRun(e.res, base, find)
	created := linRun(e.res, base, create)
	after := linRun(e.res, base, find)
	require.True(t, before.found)
	require.Empty(t, created.err)
	require.False(t, after.found)

	op := func(client int, in linInput, out linOutput, call, ret int64) porcupine.Operation {
		return porcupine.Operation{ClientId: client, Input: in, Call: call, Output: out, Return: ret}
	}
	model := linModel(base, false)
	assert.True(t, porcupine.CheckOperations(model, []porcupine.Operation{
		op(0, find, before, 1, 2), op(0, create, created, 3, 4), op(0, find, after, 5, 6)}), "as it happened")
	assert.True(t, porcupine.CheckOperations(model, []porcupine.Operation{
		op(0, create, created, 1, 4), op(1, find, before, 2, 3)}), "overlapping: the find may come first")
	assert.False(t, porcupine.CheckOperations(model, []porcupine.Operation{
		op(0, create, created, 1, 2), op(1, find, before, 3, 4)}), "a find after the create returned cannot miss it")
	assert.False(t, porcupine.CheckOperations(model, []porcupine.Operation{
		op(0, find, after, 1, 2), op(1, create, created, 3, 4)}), "a find before the create cannot see it")
}

// queuedCtx reports when the commit pipeline has queued a call made with
// it: a caller that finds another caller committing appends its op to the
// queue and only then waits on ctx.Done() (repostore's pipeline.do).
type queuedCtx struct {
	context.Context
	once   sync.Once
	queued chan struct{}
}

func newQueuedCtx() *queuedCtx {
	return &queuedCtx{Context: context.Background(), queued: make(chan struct{})}
}

func (c *queuedCtx) Done() <-chan struct{} {
	c.once.Do(func() { close(c.queued) })
	return c.Context.Done()
}

// linWait receives from ch. The timeout is a watchdog against a hang, not
// a synchronization.
func linWait[T any](t *testing.T, ch <-chan T, what string) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(time.Minute):
		t.Fatalf("timed out waiting for %s", what)
		panic("unreachable")
	}
}

// TestLinearizabilityFailedCallWaitsForItsBatch pins down, without
// depending on timing, the violation TestLinearizability finds at random.
// Two 600-byte CreateReservation calls on an availability with 1000 free
// bytes land in one batch of the commit pipeline. The first succeeds
// inside the batch; the second is refused with ErrBytesOutOfBounds because
// it sees the first's uncommitted writes. Then the batch's commit fails,
// so the first reservation never happened: the availability had 1000 free
// bytes in every committed state, and no serial order of the calls that
// took effect refuses the second for lack of bytes. A call that fails
// after reading its batch's writes must not be answered before that batch
// is committed (and must be re-run, or fail with the commit, if the commit
// fails); the pipeline answers it at once.
func TestLinearizabilityFailedCallWaitsForItsBatch(t *testing.T) {
	var hold atomic.Bool
	held, release, abort := make(chan struct{}), make(chan error), make(chan struct{})
	repo, err := repostore.Open("", &repostore.Options{QuotaMaxBytes: 1 << 20, NoSync: true,
		Badger: &badgerds.Options{InMemory: true},
		FaultHook: func(call string, _ ds.Key) error {
			if call != "commit" || !hold.Load() {
				return nil
			}
			select {
			case held <- struct{}{}:
			case <-abort:
				return nil
			}
			select {
			case err := <-release:
				return err
			case <-abort:
				return nil
			}
		}})
	require.NoError(t, err)
	t.Cleanup(func() { assert.NoError(t, repo.Close()) })
	t.Cleanup(func() { close(abort) }) // runs first: never leave the writer held
	r, err := reservations.New(ctx, repo, nil)
	require.NoError(t, err)
	a, err := r.CreateAvailability(ctx, reservations.Availability{TotalSize: 1000, Duration: 10, Enabled: true})
	require.NoError(t, err)
	other, err := r.CreateAvailability(ctx, reservations.Availability{TotalSize: 10, Duration: 10, Enabled: true})
	require.NoError(t, err)

	// A call on another availability takes the writer role; its commit is
	// held.
	hold.Store(true)
	blocker := make(chan error, 1)
	go func() {
		enabled := true
		_, err := r.Update(ctx, other.ID, reservations.Patch{Enabled: &enabled})
		blocker <- err
	}()
	linWait(t, held, "the first commit")

	// The two reservations queue up behind it, in this order.
	type result struct {
		res reservations.Reservation
		err error
	}
	reserve := func(req byte) <-chan result {
		out := make(chan result, 1)
		qctx := newQueuedCtx()
		go func() {
			res, err := r.CreateReservation(qctx, a.ID, 600, market.RequestID{req}, 0, uint256.NewInt(0), 0)
			out <- result{res, err}
		}()
		linWait(t, qctx.queued, "the call to be queued")
		return out
	}
	first, second := reserve(1), reserve(2)

	// The blocker commits; the two reservations are the next batch, whose
	// commit fails.
	release <- nil
	require.NoError(t, linWait(t, blocker, "the blocker"))
	linWait(t, held, "the reservations' commit")
	got, err := r.Availability(a.ID)
	require.NoError(t, err)
	require.Equal(t, uint64(1000), got.FreeSize, "committed state while the batch's commit is held")
	release <- errors.New("injected commit failure")
	hold.Store(false)
	f, s := linWait(t, first, "the first reservation"), linWait(t, second, "the second reservation")

	require.ErrorIs(t, f.err, reservations.ErrUpdateFailed, "the first reservation's commit failed")
	got, err = r.Availability(a.ID)
	require.NoError(t, err)
	require.Equal(t, uint64(1000), got.FreeSize)
	rs, err := r.Reservations(ctx)
	require.NoError(t, err)
	require.Empty(t, rs)
	assert.NotErrorIs(t, s.err, reservations.ErrBytesOutOfBounds,
		"the second CreateReservation was refused for lack of bytes that only a reservation whose commit failed "+
			"had taken (the availability had 1000 free bytes in every committed state): the pipeline answered the "+
			"failed call before its batch was committed")
}
