package reservations_test

import (
	"bytes"
	"errors"
	"fmt"
	"maps"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/holiman/uint256"
	"pgregory.net/rapid"

	"github.com/hostsales/hostsales/market"
	"github.com/hostsales/hostsales/repostore"
	"github.com/hostsales/hostsales/repostore/badgerds"
	"github.com/hostsales/hostsales/reservations"
)

// This file is the model-based property test of the test list: a
// rapid state machine runs random sequences of every operation (some steps
// issue several operations from concurrent goroutines at once) against
// propModel, a plain in-memory model of availabilities, reservations and
// the repo's blocks and quota, and after every step reads the state back
// through the public API and checks it against the model and against
// DESIGN.md's invariants I1-I3.

// concEnv is one in-memory repo with Reservations over it that, unlike env
// (helpers_test.go), may be driven from several goroutines at once: env's
// OnAvailabilitySaved appends to a slice without a lock, and newEnv takes a
// testing.TB, which *rapid.T is not.
type concEnv struct {
	repo *repostore.Store
	res  *reservations.Reservations

	mu    sync.Mutex
	saved []reservations.Availability
}

// concTB is what newConcEnv needs of *testing.T and *rapid.T.
type concTB interface {
	Helper()
	Errorf(format string, args ...any)
	Fatalf(format string, args ...any)
	Cleanup(func())
}

func newConcEnv(t concTB, quota, seed uint64) *concEnv {
	t.Helper()
	repo, err := repostore.Open("", &repostore.Options{QuotaMaxBytes: quota, NoSync: true,
		Badger: &badgerds.Options{InMemory: true}})
	if err != nil {
		t.Fatalf("opening the repo: %v", err)
	}
	t.Cleanup(func() {
		if err := repo.Close(); err != nil {
			t.Errorf("closing the repo: %v", err)
		}
	})
	e := &concEnv{repo: repo}
	e.res, err = reservations.New(ctx, repo, &reservations.Options{
		Rand: seededReader{rand.New(rand.NewPCG(seed, 0x5eed))},
		OnAvailabilitySaved: func(a reservations.Availability) {
			e.mu.Lock()
			e.saved = append(e.saved, a)
			e.mu.Unlock()
		},
	})
	if err != nil {
		t.Fatalf("reservations.New: %v", err)
	}
	return e
}

// takeSaved returns and forgets the OnAvailabilitySaved calls so far.
func (e *concEnv) takeSaved() []reservations.Availability {
	e.mu.Lock()
	defer e.mu.Unlock()
	s := e.saved
	e.saved = nil
	return s
}

// ---- the state read back through the public API, and I1-I3 ----

// propBlockPool is every block the property test stores: distinct contents
// (one of them empty), so the same block is often stored for several
// reservations.
var propBlockPool = func() [][]byte {
	sizes := []int{0, 1, 7, 33, 64, 100, 150, 200}
	out := make([][]byte, len(sizes))
	for i, n := range sizes {
		out[i] = bytes.Repeat([]byte{byte('a' + i)}, n)
	}
	return out
}()

// propExpiry is the expiry of every stored block; nothing runs the
// maintenance pass, so no block expires during a test.
const propExpiry = 4_000_000_000

// storedState is what the public API says is stored.
type storedState struct {
	avails []reservations.Availability            // Availabilities(), by id
	res    []reservations.Reservation             // Reservations(), in key order
	quota  repostore.Quota                        // repo.Quota()
	nblock int64                                  // repo.TotalBlocks()
	blocks map[repostore.Hash]repostore.BlockInfo // the stored blocks of the pool
}

func readStoredState(e *concEnv, pool [][]byte) (storedState, error) {
	st := storedState{avails: e.res.Availabilities(), quota: e.repo.Quota(),
		nblock: e.repo.TotalBlocks(), blocks: map[repostore.Hash]repostore.BlockInfo{}}
	var err error
	if st.res, err = e.res.Reservations(ctx); err != nil {
		return st, fmt.Errorf("Reservations: %w", err)
	}
	for _, b := range pool {
		info, err := e.repo.BlockInfo(ctx, repostore.HashOf(b))
		if errors.Is(err, repostore.ErrBlockNotFound) {
			continue
		}
		if err != nil {
			return st, fmt.Errorf("BlockInfo: %w", err)
		}
		st.blocks[info.Hash] = info
	}
	return st, nil
}

// checkStoredInvariants checks DESIGN.md's I1-I3 on st, independently of any
// model. Every stored block must be one of the pool's (TotalBlocks says how
// many are stored), so "used == bytes of distinct stored blocks" can be
// checked exactly.
func checkStoredInvariants(st storedState) error {
	var errs []error
	slot := map[reservations.ID]uint64{}
	var sumFree, sumSize uint64
	for _, r := range st.res {
		slot[r.AvailabilityID] += r.SlotSize
		sumSize += r.Size
		if r.Size > r.SlotSize {
			errs = append(errs, fmt.Errorf("reservation %s: size %d > slotSize %d", propShort(r.ID), r.Size, r.SlotSize))
		}
	}
	known := map[reservations.ID]bool{}
	for _, a := range st.avails {
		known[a.ID] = true
		sumFree += a.FreeSize
		if a.FreeSize > a.TotalSize {
			errs = append(errs, fmt.Errorf("I1: availability %s: freeSize %d > totalSize %d", propShort(a.ID), a.FreeSize, a.TotalSize))
		} else if got := a.TotalSize - a.FreeSize; got != slot[a.ID] {
			errs = append(errs, fmt.Errorf("I2: availability %s: totalSize-freeSize = %d, Σ slotSize of its reservations = %d",
				propShort(a.ID), got, slot[a.ID]))
		}
		if a.TotalRemainingCollateral.Gt(&a.TotalCollateral) {
			errs = append(errs, fmt.Errorf("I1: availability %s: totalRemainingCollateral %s > totalCollateral %s",
				propShort(a.ID), a.TotalRemainingCollateral.Dec(), a.TotalCollateral.Dec()))
		}
	}
	for aid := range slot {
		if !known[aid] {
			errs = append(errs, fmt.Errorf("reservation of unknown availability %s", propShort(aid)))
		}
	}
	q := st.quota
	if q.Reserved != sumFree+sumSize {
		errs = append(errs, fmt.Errorf("I3: reserved %d != Σ freeSize %d + Σ reservation size %d", q.Reserved, sumFree, sumSize))
	}
	if q.Used+q.Reserved > q.Max || q.Used+q.Reserved < q.Used {
		errs = append(errs, fmt.Errorf("I3: used %d + reserved %d > max %d", q.Used, q.Reserved, q.Max))
	}
	var distinct uint64 // each block once per holder
	for _, b := range st.blocks {
		holders := uint64(len(b.Tags))
		if b.Pinned {
			holders++
		}
		distinct += b.Size * holders
	}
	if st.nblock != int64(len(st.blocks)) {
		errs = append(errs, fmt.Errorf("%d blocks stored, %d of them from the test's pool", st.nblock, len(st.blocks)))
	}
	if q.Used != distinct {
		errs = append(errs, fmt.Errorf("I3: used %d != %d bytes of stored blocks by holder", q.Used, distinct))
	}
	return errors.Join(errs...)
}

func propShort(id reservations.ID) string { return id.Hex()[:8] }

// ---- the model ----

type propKey struct{ aid, rid reservations.ID }

func (k propKey) String() string { return propShort(k.aid) + "/" + propShort(k.rid) }

type propBlock struct {
	size    uint64
	holders map[propKey]bool
}

// propModel is the specification: SPEC §2.2 with DESIGN.md's decisions, as
// the package documents them.
type propModel struct {
	max    uint64
	avails map[reservations.ID]reservations.Availability
	res    map[propKey]reservations.Reservation
	blocks map[repostore.Hash]propBlock
}

func newPropModel(max uint64) *propModel {
	return &propModel{max: max, avails: map[reservations.ID]reservations.Availability{},
		res: map[propKey]reservations.Reservation{}, blocks: map[repostore.Hash]propBlock{}}
}

func (m *propModel) clone() *propModel {
	c := &propModel{max: m.max, avails: maps.Clone(m.avails), res: maps.Clone(m.res),
		blocks: make(map[repostore.Hash]propBlock, len(m.blocks))}
	for h, b := range m.blocks {
		c.blocks[h] = propBlock{size: b.size, holders: maps.Clone(b.holders)}
	}
	return c
}

// reserved is the repo's reserved counter as SPEC §1.8 defines it.
func (m *propModel) reserved() uint64 {
	var n uint64
	for _, a := range m.avails {
		n += a.FreeSize
	}
	for _, r := range m.res {
		n += r.Size
	}
	return n
}

// used is each stored block's bytes once per holder.
func (m *propModel) used() uint64 {
	var n uint64
	for _, b := range m.blocks {
		n += b.size * uint64(len(b.holders))
	}
	return n
}

// fits reports whether delta more reserved bytes fit in the quota.
func (m *propModel) fits(delta uint64) bool {
	t := m.used() + m.reserved()
	return t <= m.max && delta <= m.max-t
}

func (m *propModel) liveOf(aid reservations.ID) []reservations.Reservation {
	var out []reservations.Reservation
	for k, r := range m.res {
		if k.aid == aid {
			out = append(out, r)
		}
	}
	return out
}

func (m *propModel) sortedAvails() []reservations.Availability {
	out := slices.Collect(maps.Values(m.avails))
	slices.SortFunc(out, func(a, b reservations.Availability) int { return bytes.Compare(a.ID[:], b.ID[:]) })
	return out
}

func (m *propModel) sortedRes() []reservations.Reservation {
	out := slices.Collect(maps.Values(m.res))
	slices.SortFunc(out, func(a, b reservations.Reservation) int {
		if c := bytes.Compare(a.AvailabilityID[:], b.AvailabilityID[:]); c != 0 {
			return c
		}
		return bytes.Compare(a.ID[:], b.ID[:])
	})
	return out
}

func (m *propModel) liveKeys(aid *reservations.ID) []propKey {
	var out []propKey
	for k := range m.res {
		if aid == nil || k.aid == *aid {
			out = append(out, k)
		}
	}
	slices.SortFunc(out, func(a, b propKey) int { return strings.Compare(a.String(), b.String()) })
	return out
}

// diff compares the stored state with the model.
func (m *propModel) diff(st storedState) error {
	var errs []error
	if want := m.sortedAvails(); !slices.Equal(st.avails, want) {
		errs = append(errs, fmt.Errorf("availabilities:\n  got  %s\n  want %s", propFmtAvails(st.avails), propFmtAvails(want)))
	}
	if want := m.sortedRes(); !slices.Equal(st.res, want) {
		errs = append(errs, fmt.Errorf("reservations:\n  got  %s\n  want %s", propFmtRes(st.res), propFmtRes(want)))
	}
	if want := (repostore.Quota{Max: m.max, Used: m.used(), Reserved: m.reserved()}); st.quota != want {
		errs = append(errs, fmt.Errorf("quota: got %+v, want %+v", st.quota, want))
	}
	if st.nblock != int64(len(m.blocks)) {
		errs = append(errs, fmt.Errorf("TotalBlocks: got %d, want %d", st.nblock, len(m.blocks)))
	}
	for h, b := range m.blocks {
		info, ok := st.blocks[h]
		if !ok {
			errs = append(errs, fmt.Errorf("block %s (%d bytes) is not stored", h.Hex()[:8], b.size))
			continue
		}
		var tags []string
		for k := range b.holders {
			tags = append(tags, k.rid.Hex()+"-"+k.aid.Hex()[:16])
		}
		slices.Sort(tags)
		if info.Size != b.size || info.Pinned || !slices.Equal(info.Tags, tags) {
			errs = append(errs, fmt.Errorf("block %s: got size %d pinned %v tags %v, want size %d tags %v",
				h.Hex()[:8], info.Size, info.Pinned, info.Tags, b.size, tags))
		}
	}
	for h := range st.blocks {
		if _, ok := m.blocks[h]; !ok {
			errs = append(errs, fmt.Errorf("block %s is stored, the model has dropped it", h.Hex()[:8]))
		}
	}
	return errors.Join(errs...)
}

func propFmtAvails(as []reservations.Availability) string {
	var b strings.Builder
	for _, a := range as {
		fmt.Fprintf(&b, "{%s total=%d free=%d dur=%d price=%s coll=%s rem=%s en=%v until=%d} ", propShort(a.ID),
			a.TotalSize, a.FreeSize, a.Duration, a.MinPricePerBytePerSecond.Dec(), a.TotalCollateral.Dec(),
			a.TotalRemainingCollateral.Dec(), a.Enabled, a.Until)
	}
	return b.String()
}

func propFmtRes(rs []reservations.Reservation) string {
	var b strings.Builder
	for _, r := range rs {
		fmt.Fprintf(&b, "{%s/%s size=%d slot=%d coll=%s req=%x idx=%d vu=%d} ", propShort(r.AvailabilityID), propShort(r.ID),
			r.Size, r.SlotSize, r.Collateral.Dec(), r.RequestID[:2], r.SlotIndex, r.ValidUntil)
	}
	return b.String()
}

// ---- operations ----

type propKind int

const (
	propCreateAvailability propKind = iota
	propUpdate
	propDeleteAvailability
	propCreateReservation
	propStoreBlocks
	propEndReservation
	propFindAvailability
)

var propKinds = []propKind{propCreateAvailability, propUpdate, propDeleteAvailability,
	propCreateReservation, propStoreBlocks, propEndReservation, propFindAvailability}

// propOp is one call with its arguments, drawn before it runs.
type propOp struct {
	kind       propKind
	aid, rid   reservations.ID
	avail      reservations.Availability // CreateAvailability
	patch      reservations.Patch        // Update
	size       uint64                    // CreateReservation's slotSize, FindAvailability's size
	req        market.RequestID
	slotIndex  uint64
	cpb        uint256.Int // collateral per byte
	validUntil int64
	blocks     []int // StoreBlocks: indices into propBlockPool
	returned   uint256.Int
	duration   uint64 // FindAvailability
	price      uint256.Int
}

// propOut is what the call returned.
type propOut struct {
	err   error
	avail reservations.Availability
	res   reservations.Reservation
	ended reservations.Ended
	found bool
}

func (op *propOp) String() string {
	switch op.kind {
	case propCreateAvailability:
		a := op.avail
		return fmt.Sprintf("CreateAvailability(total=%d dur=%d price=%s coll=%s en=%v until=%d)", a.TotalSize, a.Duration,
			a.MinPricePerBytePerSecond.Dec(), a.TotalCollateral.Dec(), a.Enabled, a.Until)
	case propUpdate:
		p := op.patch
		var f []string
		if p.TotalSize != nil {
			f = append(f, fmt.Sprintf("total=%d", *p.TotalSize))
		}
		if p.Duration != nil {
			f = append(f, fmt.Sprintf("dur=%d", *p.Duration))
		}
		if p.MinPricePerBytePerSecond != nil {
			f = append(f, "price="+p.MinPricePerBytePerSecond.Dec())
		}
		if p.TotalCollateral != nil {
			f = append(f, "coll="+p.TotalCollateral.Dec())
		}
		if p.Enabled != nil {
			f = append(f, fmt.Sprintf("en=%v", *p.Enabled))
		}
		if p.Until != nil {
			f = append(f, fmt.Sprintf("until=%d", *p.Until))
		}
		return fmt.Sprintf("Update(%s, %s)", propShort(op.aid), strings.Join(f, " "))
	case propDeleteAvailability:
		return fmt.Sprintf("DeleteAvailability(%s)", propShort(op.aid))
	case propCreateReservation:
		return fmt.Sprintf("CreateReservation(%s, slot=%d req=%x idx=%d cpb=%s vu=%d)", propShort(op.aid), op.size,
			op.req[:2], op.slotIndex, op.cpb.Dec(), op.validUntil)
	case propStoreBlocks:
		return fmt.Sprintf("StoreBlocks(%s/%s, blocks=%v)", propShort(op.aid), propShort(op.rid), op.blocks)
	case propEndReservation:
		return fmt.Sprintf("EndReservation(%s/%s, returned=%s)", propShort(op.aid), propShort(op.rid), op.returned.Dec())
	default:
		return fmt.Sprintf("FindAvailability(size=%d dur=%d price=%s cpb=%s vu=%d)", op.size, op.duration,
			op.price.Dec(), op.cpb.Dec(), op.validUntil)
	}
}

func (op *propOp) blockData() [][]byte {
	out := make([][]byte, len(op.blocks))
	for i, b := range op.blocks {
		out[i] = propBlockPool[b]
	}
	return out
}

func (op *propOp) run(r *reservations.Reservations) (out propOut) {
	switch op.kind {
	case propCreateAvailability:
		out.avail, out.err = r.CreateAvailability(ctx, op.avail)
	case propUpdate:
		out.avail, out.err = r.Update(ctx, op.aid, op.patch)
	case propDeleteAvailability:
		out.err = r.DeleteAvailability(ctx, op.aid)
	case propCreateReservation:
		out.res, out.err = r.CreateReservation(ctx, op.aid, op.size, op.req, op.slotIndex, &op.cpb, op.validUntil)
	case propStoreBlocks:
		out.res, out.err = r.StoreBlocks(ctx, op.aid, op.rid, op.blockData(), propExpiry)
	case propEndReservation:
		ret := op.returned
		out.ended, out.err = r.EndReservation(ctx, op.aid, op.rid, &ret)
	case propFindAvailability:
		out.avail, out.found = r.FindAvailability(op.size, op.duration, &op.price, &op.cpb, op.validUntil)
	}
	return out
}

// expectErr checks that got is one of the errors the model allows. When
// several checks fail at once the order in which the package reports them
// is not specified, so any of them is accepted.
func propExpectErr(got error, want []error) error {
	if got == nil {
		return fmt.Errorf("succeeded, want an error matching one of %v", want)
	}
	for _, w := range want {
		if errors.Is(got, w) {
			if w == reservations.ErrReserveFailed && !errors.Is(got, repostore.ErrQuotaExceeded) {
				return fmt.Errorf("ErrReserveFailed does not wrap repostore.ErrQuotaExceeded: %v", got)
			}
			return nil
		}
	}
	return fmt.Errorf("error %q, want one matching %v", got, want)
}

// increased is SPEC §2.2 step 7: the change wakes the sales queue.
func propIncreased(old, a *reservations.Availability) bool {
	return a.FreeSize > old.FreeSize || a.Duration > old.Duration ||
		a.MinPricePerBytePerSecond.Gt(&old.MinPricePerBytePerSecond) ||
		a.TotalRemainingCollateral.Gt(&old.TotalRemainingCollateral)
}

// apply checks out, what the package answered to op, against the model
// and applies op to the model. It returns the availabilities
// OnAvailabilitySaved must have been called with. On a mismatch the model
// may be left half-changed; callers apply to a clone when they need to
// retry.
func (m *propModel) apply(op *propOp, out *propOut) ([]reservations.Availability, error) {
	var want []error
	switch op.kind {
	case propCreateAvailability:
		in := op.avail
		if in.Until < 0 {
			want = append(want, reservations.ErrUntilOutOfBounds)
		}
		if !m.fits(in.TotalSize) {
			want = append(want, reservations.ErrReserveFailed)
		}
		if len(want) > 0 {
			return nil, propExpectErr(out.err, want)
		}
		if out.err != nil {
			return nil, fmt.Errorf("unexpected error: %v", out.err)
		}
		a := in
		a.ID = out.avail.ID
		a.FreeSize = a.TotalSize
		a.TotalRemainingCollateral = a.TotalCollateral
		if _, dup := m.avails[a.ID]; dup || a.ID.IsZero() {
			return nil, fmt.Errorf("new availability got id %s, zero or already in use", a.ID)
		}
		if out.avail != a {
			return nil, fmt.Errorf("returned %s, want %s", propFmtAvails([]reservations.Availability{out.avail}),
				propFmtAvails([]reservations.Availability{a}))
		}
		m.avails[a.ID] = a
		return []reservations.Availability{a}, nil

	case propUpdate:
		p := op.patch
		if p.Until != nil && *p.Until < 0 {
			want = append(want, reservations.ErrUntilOutOfBounds)
		}
		old, ok := m.avails[op.aid]
		if !ok {
			return nil, propExpectErr(out.err, append(want, reservations.ErrNotExists))
		}
		a := old
		live := m.liveOf(op.aid)
		if p.TotalSize != nil {
			committed := old.TotalSize - old.FreeSize
			switch t := *p.TotalSize; {
			case t == 0 || t < committed:
				want = append(want, reservations.ErrBytesOutOfBounds)
			case t > old.TotalSize && !m.fits(t-old.TotalSize):
				want = append(want, reservations.ErrReserveFailed)
			default:
				a.TotalSize, a.FreeSize = t, t-committed
			}
		}
		if p.Duration != nil {
			a.Duration = *p.Duration
		}
		if p.MinPricePerBytePerSecond != nil {
			a.MinPricePerBytePerSecond = *p.MinPricePerBytePerSecond
		}
		if p.TotalCollateral != nil {
			var held uint256.Int
			for _, r := range live {
				held.Add(&held, &r.Collateral)
			}
			if held.Gt(p.TotalCollateral) {
				want = append(want, reservations.ErrCollateralOutOfBounds)
			} else {
				a.TotalCollateral = *p.TotalCollateral
				a.TotalRemainingCollateral.Sub(&a.TotalCollateral, &held)
			}
		}
		if p.Enabled != nil {
			a.Enabled = *p.Enabled
		}
		if p.Until != nil {
			a.Until = *p.Until
			for _, r := range live {
				if a.Until > 0 && r.ValidUntil > a.Until {
					want = append(want, reservations.ErrUntilOutOfBounds)
					break
				}
			}
		}
		if len(want) > 0 {
			return nil, propExpectErr(out.err, want)
		}
		if out.err != nil {
			return nil, fmt.Errorf("unexpected error: %v", out.err)
		}
		if out.avail != a {
			return nil, fmt.Errorf("returned %s, want %s", propFmtAvails([]reservations.Availability{out.avail}),
				propFmtAvails([]reservations.Availability{a}))
		}
		m.avails[a.ID] = a
		if propIncreased(&old, &a) {
			return []reservations.Availability{a}, nil
		}
		return nil, nil

	case propDeleteAvailability:
		if _, ok := m.avails[op.aid]; !ok {
			return nil, propExpectErr(out.err, []error{reservations.ErrNotExists})
		}
		if len(m.liveOf(op.aid)) > 0 {
			return nil, propExpectErr(out.err, []error{reservations.ErrHasReservations})
		}
		if out.err != nil {
			return nil, fmt.Errorf("unexpected error: %v", out.err)
		}
		delete(m.avails, op.aid)
		return nil, nil

	case propCreateReservation:
		var coll uint256.Int
		_, over := coll.MulOverflow(&op.cpb, uint256.NewInt(op.size))
		if over {
			want = append(want, reservations.ErrCollateralOutOfBounds)
		}
		a, ok := m.avails[op.aid]
		if !ok {
			want = append(want, reservations.ErrNotExists)
		} else {
			if a.FreeSize < op.size {
				want = append(want, reservations.ErrBytesOutOfBounds)
			}
			if !over && a.TotalRemainingCollateral.Lt(&coll) {
				want = append(want, reservations.ErrCollateralOutOfBounds)
			}
			if a.Until > 0 && op.validUntil > a.Until {
				want = append(want, reservations.ErrUntilOutOfBounds)
			}
			for _, r := range m.res {
				if r.RequestID == op.req && r.SlotIndex == op.slotIndex {
					want = append(want, reservations.ErrSlotReserved)
					break
				}
			}
		}
		if len(want) > 0 {
			return nil, propExpectErr(out.err, want)
		}
		if out.err != nil {
			return nil, fmt.Errorf("unexpected error: %v", out.err)
		}
		r := reservations.Reservation{ID: out.res.ID, AvailabilityID: op.aid, Size: op.size, SlotSize: op.size,
			Collateral: coll, RequestID: op.req, SlotIndex: op.slotIndex, ValidUntil: op.validUntil}
		for k := range m.res {
			if k.rid == r.ID {
				return nil, fmt.Errorf("new reservation got id %s, already in use", r.ID)
			}
		}
		if r.ID.IsZero() || out.res != r {
			return nil, fmt.Errorf("returned %s, want %s", propFmtRes([]reservations.Reservation{out.res}),
				propFmtRes([]reservations.Reservation{r}))
		}
		a.FreeSize -= op.size
		a.TotalRemainingCollateral.Sub(&a.TotalRemainingCollateral, &coll)
		m.avails[a.ID] = a
		m.res[propKey{op.aid, r.ID}] = r
		return nil, nil

	case propStoreBlocks:
		k := propKey{op.aid, op.rid}
		r, ok := m.res[k]
		if !ok {
			return nil, propExpectErr(out.err, []error{reservations.ErrNotExists})
		}
		// The bytes the call adds: distinct non-empty blocks k does not
		// hold yet (each holder counts a block once).
		var n, counted uint64
		seen := map[int]bool{}
		for _, b := range op.blocks {
			if seen[b] || len(propBlockPool[b]) == 0 {
				continue
			}
			seen[b] = true
			if held, ok := m.blocks[repostore.HashOf(propBlockPool[b])]; ok && held.holders[k] {
				continue
			}
			n += uint64(len(propBlockPool[b]))
			counted++
		}
		if n > r.Size {
			return nil, propExpectErr(out.err, []error{reservations.ErrBytesOutOfBounds})
		}
		if out.err != nil {
			return nil, fmt.Errorf("unexpected error: %v", out.err)
		}
		r.Size -= n
		r.Blocks += counted
		if out.res != r {
			return nil, fmt.Errorf("returned %s, want %s", propFmtRes([]reservations.Reservation{out.res}),
				propFmtRes([]reservations.Reservation{r}))
		}
		m.res[k] = r
		for _, i := range op.blocks {
			if len(propBlockPool[i]) == 0 {
				continue // empty blocks are not stored (they are free)
			}
			h := repostore.HashOf(propBlockPool[i])
			b, ok := m.blocks[h]
			if !ok {
				b = propBlock{size: uint64(len(propBlockPool[i])), holders: map[propKey]bool{}}
			}
			b.holders[k] = true
			m.blocks[h] = b
		}
		return nil, nil

	case propEndReservation:
		k := propKey{op.aid, op.rid}
		r, ok := m.res[k]
		if !ok {
			if out.err != nil || out.ended != (reservations.Ended{}) {
				return nil, fmt.Errorf("ending an unknown reservation: got %+v, %v; want Ended{}, nil", out.ended, out.err)
			}
			return nil, nil
		}
		if out.err != nil {
			return nil, fmt.Errorf("unexpected error: %v", out.err)
		}
		old := m.avails[op.aid]
		a := old
		ret := r.Collateral
		if op.returned.Lt(&ret) {
			ret = op.returned
		}
		var room uint256.Int
		room.Sub(&a.TotalCollateral, &a.TotalRemainingCollateral)
		if ret.Gt(&room) {
			ret = room
		}
		var freed uint64
		for h, b := range m.blocks {
			if b.holders[k] {
				freed += b.size // what the holder was counted for
				delete(b.holders, k)
				if len(b.holders) == 0 {
					delete(m.blocks, h)
				}
			}
		}
		a.FreeSize += r.SlotSize
		a.TotalRemainingCollateral.Add(&a.TotalRemainingCollateral, &ret)
		want := reservations.Ended{Found: true, BytesReturned: r.SlotSize, CollateralReturned: ret,
			BytesFreed: freed, Availability: a}
		if out.ended != want {
			return nil, fmt.Errorf("returned %+v, want %+v", out.ended, want)
		}
		m.avails[a.ID] = a
		delete(m.res, k)
		if propIncreased(&old, &a) {
			return []reservations.Availability{a}, nil
		}
		return nil, nil

	case propFindAvailability:
		var best *reservations.Availability
		for _, a := range m.avails {
			if !a.Enabled || a.FreeSize < op.size || op.duration > a.Duration ||
				op.price.Lt(&a.MinPricePerBytePerSecond) || (a.Until != 0 && a.Until < op.validUntil) {
				continue
			}
			if mx := a.MaxCollateralPerByte(); op.cpb.Gt(&mx) {
				continue
			}
			if best == nil || a.FreeSize < best.FreeSize ||
				(a.FreeSize == best.FreeSize && bytes.Compare(a.ID[:], best.ID[:]) < 0) {
				best = &a
			}
		}
		var wantA reservations.Availability
		if best != nil {
			wantA = *best
		}
		if out.found != (best != nil) || out.avail != wantA {
			return nil, fmt.Errorf("returned %v %s, want %v %s", out.found, propFmtAvails([]reservations.Availability{out.avail}),
				best != nil, propFmtAvails([]reservations.Availability{wantA}))
		}
		return nil, nil
	}
	return nil, fmt.Errorf("unknown op kind %d", op.kind)
}

// sameAvails compares OnAvailabilitySaved calls as multisets.
func propSameAvails(got, want []reservations.Availability) bool {
	key := func(a reservations.Availability) string { return propFmtAvails([]reservations.Availability{a}) }
	g := make([]string, 0, len(got))
	for _, a := range got {
		g = append(g, key(a))
	}
	w := make([]string, 0, len(want))
	for _, a := range want {
		w = append(w, key(a))
	}
	slices.Sort(g)
	slices.Sort(w)
	return slices.Equal(g, w)
}

// propPermutations returns every order of 0..n-1.
func propPermutations(n int) [][]int {
	if n == 0 {
		return [][]int{{}}
	}
	var out [][]int
	for _, p := range propPermutations(n - 1) {
		for i := 0; i <= len(p); i++ {
			q := slices.Insert(slices.Clone(p), i, n-1)
			out = append(out, q)
		}
	}
	return out
}

// ---- the state machine ----

type propMachine struct {
	e    *concEnv
	m    *propModel
	seen []propKey // every reservation ever created, live or ended
}

// propRequests are the requests reservations are made for: few, so that
// ErrSlotReserved happens.
var propRequests = []market.RequestID{{0x01, 0x01}, {0x02, 0x02}, {0x03, 0x03}}

func (s *propMachine) pickAvail(t *rapid.T, focus *reservations.ID) reservations.ID {
	if focus != nil {
		return *focus
	}
	ids := slices.Collect(maps.Keys(s.m.avails))
	slices.SortFunc(ids, func(a, b reservations.ID) int { return bytes.Compare(a[:], b[:]) })
	if len(ids) == 0 || rapid.IntRange(0, 9).Draw(t, "unknownAvailability") == 0 {
		return reservations.ID{0xff, byte(rapid.IntRange(0, 3).Draw(t, "unknownID"))}
	}
	return ids[rapid.IntRange(0, len(ids)-1).Draw(t, "availability")]
}

func (s *propMachine) pickRes(t *rapid.T, focus *reservations.ID) propKey {
	live := s.m.liveKeys(focus)
	var seen []propKey
	for _, k := range s.seen {
		if focus == nil || k.aid == *focus {
			seen = append(seen, k)
		}
	}
	switch c := rapid.IntRange(0, 9).Draw(t, "whichReservation"); {
	case c < 7 && len(live) > 0:
		return live[rapid.IntRange(0, len(live)-1).Draw(t, "live")]
	case c < 9 && len(seen) > 0:
		return seen[rapid.IntRange(0, len(seen)-1).Draw(t, "seen")]
	default:
		return propKey{s.pickAvail(t, focus), reservations.ID{0xee, byte(rapid.IntRange(0, 3).Draw(t, "unknownRes"))}}
	}
}

// sizeNear draws a size, often exactly the free size of an availability
// to hit the boundaries.
func (s *propMachine) sizeNear(t *rapid.T, aid reservations.ID, label string) uint64 {
	if a, ok := s.m.avails[aid]; ok && rapid.IntRange(0, 3).Draw(t, label+"Exact") == 0 {
		return max(a.FreeSize, 1)
	}
	return rapid.Uint64Range(1, 1500).Draw(t, label)
}

func (s *propMachine) genOp(t *rapid.T, kind propKind, focus *reservations.ID) *propOp {
	op := &propOp{kind: kind}
	switch kind {
	case propCreateAvailability:
		total := rapid.Uint64Range(1, 4000).Draw(t, "totalSize")
		op.avail = reservations.Availability{
			// Ignored fields, set to garbage: the package sets them.
			ID:                       reservations.ID{0xaa},
			FreeSize:                 rapid.Uint64Range(0, 5000).Draw(t, "ignoredFree"),
			TotalRemainingCollateral: *uint256.NewInt(rapid.Uint64Range(0, 5000).Draw(t, "ignoredRemaining")),

			TotalSize:                total,
			Duration:                 rapid.Uint64Range(1, 5).Draw(t, "duration"),
			MinPricePerBytePerSecond: *uint256.NewInt(rapid.Uint64Range(0, 3).Draw(t, "price")),
			TotalCollateral:          *uint256.NewInt(rapid.Uint64Range(0, 5*total).Draw(t, "totalCollateral")),
			Enabled:                  rapid.IntRange(0, 3).Draw(t, "enabled") != 0,
			Until:                    rapid.SampledFrom([]int64{-1, 0, 0, 100, 200, 300}).Draw(t, "until"),
		}
	case propUpdate:
		op.aid = s.pickAvail(t, focus)
		p := &op.patch
		if rapid.Bool().Draw(t, "setTotalSize") {
			v := rapid.Uint64Range(0, 5000).Draw(t, "totalSize")
			if a, ok := s.m.avails[op.aid]; ok && rapid.IntRange(0, 3).Draw(t, "totalSizeCommitted") == 0 {
				v = a.TotalSize - a.FreeSize // the smallest allowed, or 0
			}
			p.TotalSize = &v
		}
		if rapid.Bool().Draw(t, "setDuration") {
			v := rapid.Uint64Range(0, 6).Draw(t, "duration")
			p.Duration = &v
		}
		if rapid.Bool().Draw(t, "setPrice") {
			p.MinPricePerBytePerSecond = uint256.NewInt(rapid.Uint64Range(0, 4).Draw(t, "price"))
		}
		if rapid.Bool().Draw(t, "setTotalCollateral") {
			p.TotalCollateral = uint256.NewInt(rapid.Uint64Range(0, 20000).Draw(t, "totalCollateral"))
		}
		if rapid.Bool().Draw(t, "setEnabled") {
			v := rapid.Bool().Draw(t, "enabled")
			p.Enabled = &v
		}
		if rapid.Bool().Draw(t, "setUntil") {
			v := rapid.SampledFrom([]int64{-1, 0, 50, 150, 250, 350}).Draw(t, "until")
			p.Until = &v
		}
	case propDeleteAvailability:
		op.aid = s.pickAvail(t, focus)
	case propCreateReservation:
		op.aid = s.pickAvail(t, focus)
		op.size = s.sizeNear(t, op.aid, "slotSize")
		op.req = rapid.SampledFrom(propRequests).Draw(t, "request")
		op.slotIndex = rapid.Uint64Range(0, 2).Draw(t, "slotIndex")
		if rapid.IntRange(0, 19).Draw(t, "hugeCollateral") == 0 {
			op.cpb.Lsh(uint256.NewInt(1), 255) // slot size × this overflows
		} else {
			op.cpb.SetUint64(rapid.Uint64Range(0, 6).Draw(t, "collateralPerByte"))
		}
		op.validUntil = rapid.Int64Range(0, 400).Draw(t, "validUntil")
	case propStoreBlocks:
		k := s.pickRes(t, focus)
		op.aid, op.rid = k.aid, k.rid
		op.blocks = rapid.SliceOfN(rapid.IntRange(0, len(propBlockPool)-1), 0, 4).Draw(t, "blocks")
	case propEndReservation:
		k := s.pickRes(t, focus)
		op.aid, op.rid = k.aid, k.rid
		hi := uint64(100)
		if r, ok := s.m.res[k]; ok && r.Collateral.IsUint64() {
			hi = 2*r.Collateral.Uint64() + 1
		}
		op.returned.SetUint64(rapid.Uint64Range(0, hi).Draw(t, "returnedCollateral"))
	case propFindAvailability:
		op.size = s.sizeNear(t, s.pickAvail(t, focus), "size")
		op.duration = rapid.Uint64Range(0, 6).Draw(t, "duration")
		op.price.SetUint64(rapid.Uint64Range(0, 4).Draw(t, "price"))
		op.cpb.SetUint64(rapid.Uint64Range(0, 8).Draw(t, "collateralPerByte"))
		op.validUntil = rapid.Int64Range(0, 400).Draw(t, "validUntil")
	}
	return op
}

func (s *propMachine) note(op *propOp, out *propOut) {
	if op.kind == propCreateReservation && out.err == nil {
		s.seen = append(s.seen, propKey{op.aid, out.res.ID})
	}
}

// serial runs one operation and checks it against the model.
func (s *propMachine) serial(t *rapid.T, kind propKind) {
	op := s.genOp(t, kind, nil)
	s.e.takeSaved()
	out := op.run(s.e.res)
	fired, err := s.m.apply(op, &out)
	if err != nil {
		t.Fatalf("%v: %v", op, err)
	}
	if got := s.e.takeSaved(); !propSameAvails(got, fired) {
		t.Fatalf("%v: OnAvailabilitySaved called with %s, want %s", op, propFmtAvails(got), propFmtAvails(fired))
	}
	s.note(op, &out)
}

// concurrent runs 2-5 operations at once from as many goroutines, on one
// availability if focus, and checks that some serial order of them
// explains every answer, the OnAvailabilitySaved calls and the state
// afterwards.
func (s *propMachine) concurrent(t *rapid.T, focus bool) {
	var f *reservations.ID
	if focus {
		id := s.pickAvail(t, nil)
		f = &id
	}
	kinds := propKinds
	if focus {
		// Contention: several reservations and ends on one availability.
		kinds = append(slices.Clone(propKinds), propCreateReservation, propCreateReservation, propEndReservation)
	}
	k := rapid.IntRange(2, 5).Draw(t, "concurrency")
	ops := make([]*propOp, k)
	for i := range ops {
		ops[i] = s.genOp(t, rapid.SampledFrom(kinds).Draw(t, "kind"), f)
	}
	s.e.takeSaved()
	outs := make([]propOut, k)
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i := range ops {
		wg.Go(func() {
			<-start
			outs[i] = ops[i].run(s.e.res)
		})
	}
	close(start)
	wg.Wait()
	saved := s.e.takeSaved()
	st, err := readStoredState(s.e, propBlockPool)
	if err != nil {
		t.Fatalf("reading the state: %v", err)
	}
	var why []string
	for _, perm := range propPermutations(k) {
		m := s.m.clone()
		var fired []reservations.Availability
		err := func() error {
			for _, i := range perm {
				fi, err := m.apply(ops[i], &outs[i])
				if err != nil {
					return fmt.Errorf("%v: %w", ops[i], err)
				}
				fired = append(fired, fi...)
			}
			if err := m.diff(st); err != nil {
				return fmt.Errorf("final state: %w", err)
			}
			if !propSameAvails(saved, fired) {
				return fmt.Errorf("OnAvailabilitySaved called with %s, want %s", propFmtAvails(saved), propFmtAvails(fired))
			}
			return nil
		}()
		if err == nil {
			s.m = m
			for i := range ops {
				s.note(ops[i], &outs[i])
			}
			return
		}
		why = append(why, fmt.Sprintf("order %v: %v", perm, err))
	}
	var b strings.Builder
	for i, op := range ops {
		fmt.Fprintf(&b, "  op %d: %v -> err=%v avail=%s res=%s ended=%+v found=%v\n", i, op, outs[i].err,
			propFmtAvails([]reservations.Availability{outs[i].avail}), propFmtRes([]reservations.Reservation{outs[i].res}),
			outs[i].ended, outs[i].found)
	}
	t.Fatalf("no serial order of %d concurrent operations explains their outcome:\n%s%s", k, b.String(),
		strings.Join(why, "\n"))
}

// check is run after every step.
func (s *propMachine) check(t *rapid.T) {
	st, err := readStoredState(s.e, propBlockPool)
	if err != nil {
		t.Fatalf("reading the state: %v", err)
	}
	if err := checkStoredInvariants(st); err != nil {
		t.Fatalf("invariants: %v", err)
	}
	if err := s.m.diff(st); err != nil {
		t.Fatalf("state differs from the model: %v", err)
	}
	for id := range s.m.avails {
		if !s.e.res.AvailabilityExists(id) {
			t.Fatalf("AvailabilityExists(%s) = false", propShort(id))
		}
	}
}

// TestPropertyModel runs random sequences of every operation, serial and
// concurrent, against propModel, checking every answer and, after every
// step, the whole stored state and invariants I1-I3.
func TestPropertyModel(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		quota := rapid.Uint64Range(3000, 15000).Draw(t, "quota")
		s := &propMachine{e: newConcEnv(t, quota, rapid.Uint64().Draw(t, "idSeed")), m: newPropModel(quota)}
		actions := map[string]func(*rapid.T){
			"":                           s.check,
			"Concurrent":                 func(t *rapid.T) { s.concurrent(t, false) },
			"ConcurrentSameAvailability": func(t *rapid.T) { s.concurrent(t, true) },
		}
		names := []string{"CreateAvailability", "Update", "DeleteAvailability", "CreateReservation",
			"StoreBlocks", "EndReservation", "FindAvailability"}
		for i, kind := range propKinds {
			actions[names[i]] = func(t *rapid.T) { s.serial(t, kind) }
		}
		t.Repeat(actions)
	})
}
