package reservations

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"sync"
	"sync/atomic"

	"github.com/holiman/uint256"
	ds "github.com/ipfs/go-datastore"
	dsq "github.com/ipfs/go-datastore/query"

	"github.com/hostsales/hostsales/market"
	"github.com/hostsales/hostsales/repostore"
)

// Options configure Reservations. The zero value is valid.
type Options struct {
	// Rand is the source of availability and reservation ids. Default:
	// crypto/rand. A simulation passes a seeded reader.
	Rand io.Reader
	// OnAvailabilitySaved is called after a commit that created an
	// availability or increased its freeSize, duration,
	// minPricePerBytePerSecond or totalRemainingCollateral (SPEC §2.2 step
	// 7, §2.3). It runs on the goroutine of the call that made the change,
	// after the change is durable and outside every lock, so it may call
	// back into Reservations; it should return quickly.
	OnAvailabilitySaved func(Availability)
	// Logger receives the package's logs. Default: discarded.
	Logger *slog.Logger
}

// Reservations stores availabilities and reservations in a repo and makes
// every change to them one atomic commit through the repo's pipeline,
// together with the quota and block changes it implies. It is safe for
// concurrent use; there is no global lock (DESIGN.md Decision 2): reads
// never wait for writes, and writes meet only in the repo's single writer,
// which re-checks every bound inside the commit.
type Reservations struct {
	repo  *repostore.Store
	opts  Options
	idx   *index
	randM sync.Mutex
	saved atomic.Pointer[func(Availability)] // set by SetOnAvailabilitySaved
}

// New returns Reservations over repo and loads the availabilities into
// memory. The repo stays owned by the caller. It fails with a *DecodeError
// for a stored availability that does not decode.
func New(ctx context.Context, repo *repostore.Store, opts *Options) (*Reservations, error) {
	r := &Reservations{repo: repo, idx: newIndex()}
	if opts != nil {
		r.opts = *opts
	}
	if r.opts.Rand == nil {
		r.opts.Rand = rand.Reader
	}
	if r.opts.Logger == nil {
		r.opts.Logger = slog.New(slog.DiscardHandler)
	}
	r.SetOnAvailabilitySaved(r.opts.OnAvailabilitySaved)
	// Keys only first: a node with a million reservations has only a few
	// availabilities, and only those are read.
	for e, err := range repo.Query(ctx, dsq.Query{Prefix: root.String(), KeysOnly: true}) {
		if err != nil {
			return nil, fmt.Errorf("%w: %w", ErrGetFailed, err)
		}
		k := ds.RawKey(e.Key)
		if len(k.Namespaces()) != availabilityDepth {
			continue
		}
		a, err := r.readAvailability(ctx, k)
		if err != nil {
			return nil, err
		}
		r.idx.put(a)
	}
	return r, nil
}

// Repo returns the repo the reservations live in.
func (r *Reservations) Repo() *repostore.Store { return r.repo }

func (r *Reservations) newID() (ID, error) {
	var id ID
	r.randM.Lock()
	defer r.randM.Unlock()
	if _, err := io.ReadFull(r.opts.Rand, id[:]); err != nil {
		return id, errorf(ErrUpdateFailed, err, "reading a random id")
	}
	return id, nil
}

// SetOnAvailabilitySaved replaces the OnAvailabilitySaved callback (nil
// removes it). Sales installs its own when it starts its queue (SPEC §2.3),
// so that the startup cleanup does not fire it.
func (r *Reservations) SetOnAvailabilitySaved(f func(Availability)) {
	if f == nil {
		r.saved.Store(nil)
		return
	}
	r.saved.Store(&f)
}

func (r *Reservations) fireSaved(fire bool, a Availability) {
	if !fire {
		return
	}
	if f := r.saved.Load(); f != nil {
		(*f)(a)
	}
}

// ---- reads and writes inside an op ----

func decodeAt[T any](key ds.Key, raw []byte, v *T) error {
	if len(raw) == 0 {
		return &DecodeError{Key: key.String(), Err: errors.New("empty record")}
	}
	switch p := any(v).(type) {
	case *Reservation:
		if r, ok := fastReservation(raw); ok {
			*p = r
			return nil
		}
	case *Availability:
		if a, ok := fastAvailability(raw); ok {
			*p = a
			return nil
		}
	}
	if err := jsonUnmarshal(raw, v); err != nil {
		return &DecodeError{Key: key.String(), Err: err}
	}
	return nil
}

func getAt[T any](tx *repostore.Txn, key ds.Key, v *T) error {
	raw, err := tx.Get(key)
	if errors.Is(err, ds.ErrNotFound) {
		return errorf(ErrNotExists, nil, "object with key %s does not exist", key)
	}
	if err != nil {
		return errorf(ErrGetFailed, err, "reading %s", key)
	}
	return decodeAt(key, raw, v)
}

// loadAvailability returns the availability as the op sees it: a write
// pending in its batch, else the committed copy in the index (which equals
// the stored record: only this package writes availabilities, and the
// index follows every commit through OnCommit hooks, run before the next
// batch starts). No datastore read, no decoding.
func (r *Reservations) loadAvailability(tx *repostore.Txn, id AvailabilityID) (Availability, error) {
	k := AvailabilityKey(id)
	if v, deleted, ok := tx.Pending(k); ok {
		if deleted {
			return Availability{}, errorf(ErrNotExists, nil, "object with key %s does not exist", k)
		}
		var a Availability
		err := decodeAt(k, v, &a)
		return a, err
	}
	if a, ok := r.idx.get(id); ok {
		return a, nil
	}
	return Availability{}, errorf(ErrNotExists, nil, "object with key %s does not exist", k)
}

func loadReservation(tx *repostore.Txn, aid AvailabilityID, rid ReservationID) (Reservation, error) {
	var res Reservation
	err := getAt(tx, ReservationKey(aid, rid), &res)
	return res, err
}

func putAvailability(tx *repostore.Txn, a *Availability) error {
	if err := tx.Put(AvailabilityKey(a.ID), a.appendJSON(nil, true)); err != nil {
		return errorf(ErrUpdateFailed, err, "writing availability %s", a.ID)
	}
	return nil
}

func putReservation(tx *repostore.Txn, res *Reservation) error {
	if err := tx.Put(ReservationKey(res.AvailabilityID, res.ID), res.appendJSON(nil, true)); err != nil {
		return errorf(ErrUpdateFailed, err, "writing reservation %s", res.ID)
	}
	return nil
}

func del(tx *repostore.Txn, k ds.Key) error {
	if err := tx.Delete(k); err != nil {
		return errorf(ErrDeleteFailed, err, "deleting %s", k)
	}
	return nil
}

// reservationEntry decodes a listed entry that is a reservation record (a
// key of reservation depth); ok is false for any other record.
func reservationEntry(e dsq.Entry) (res Reservation, ok bool, err error) {
	k := ds.RawKey(e.Key)
	if len(k.Namespaces()) != reservationDepth {
		return Reservation{}, false, nil
	}
	err = decodeAt(k, e.Value, &res)
	return res, err == nil, err
}

// reservationsOf lists an availability's reservations as the op sees them.
func reservationsOf(tx *repostore.Txn, aid AvailabilityID) ([]Reservation, error) {
	entries, err := tx.Query(dsq.Query{Prefix: AvailabilityKey(aid).String()})
	if err != nil {
		return nil, errorf(ErrGetFailed, err, "listing reservations of %s", aid)
	}
	out := make([]Reservation, 0, len(entries))
	for _, e := range entries {
		res, ok, err := reservationEntry(e)
		if err != nil {
			return nil, err
		}
		if ok {
			out = append(out, res)
		}
	}
	return out, nil
}

// kinds are the error kinds every error of this package matches.
var kinds = []error{ErrNotExists, ErrGetFailed, ErrSerialization, ErrUpdateFailed, ErrDeleteFailed,
	ErrReserveFailed, ErrReleaseFailed, ErrBytesOutOfBounds, ErrUntilOutOfBounds, ErrCollateralOutOfBounds,
	ErrHasReservations, ErrSlotReserved, ErrInvalid}

// do runs op through the repo's pipeline. An error that is not one of this
// package's kinds (a commit failure, a closed repo, the caller's context,
// an op too big) is reported as ErrUpdateFailed wrapping its cause.
func (r *Reservations) do(ctx context.Context, op repostore.Op) error {
	err := r.repo.Do(ctx, op)
	if err == nil || errors.Is(err, errIDTaken) {
		return err
	}
	for _, k := range kinds {
		if errors.Is(err, k) {
			return err
		}
	}
	return errorf(ErrUpdateFailed, err, "commit")
}

func untilNegative(until int64) error {
	if until < 0 {
		return errorf(ErrUntilOutOfBounds, nil, "Cannot set until to a negative value")
	}
	return nil
}

// ---- availabilities ----

// CreateAvailability stores a new availability built from a (its ID,
// FreeSize and TotalRemainingCollateral are set here: a fresh id,
// TotalSize and TotalCollateral) and reserves its TotalSize in the repo
// quota, in one commit. It fails with ErrUntilOutOfBounds for a negative
// Until and with ErrReserveFailed (wrapping the *repostore.QuotaError) when
// the quota cannot hold it.
func (r *Reservations) CreateAvailability(ctx context.Context, a Availability) (Availability, error) {
	if err := untilNegative(a.Until); err != nil {
		return Availability{}, err
	}
	a.FreeSize = a.TotalSize
	a.TotalRemainingCollateral = a.TotalCollateral
	var err error
	for attempt := 0; ; attempt++ {
		if a.ID, err = r.newID(); err != nil {
			return Availability{}, err
		}
		err = r.createAvailability(ctx, a)
		if !errors.Is(err, errIDTaken) {
			break
		}
		if attempt >= 8 {
			err = errorf(ErrUpdateFailed, err, "no fresh id after %d draws", attempt+1)
			break
		}
	}
	if err != nil {
		return Availability{}, err
	}
	r.fireSaved(true, a)
	return a, nil
}

func (r *Reservations) createAvailability(ctx context.Context, a Availability) error {
	return r.do(ctx, func(tx *repostore.Txn) error {
		if taken, err := tx.Has(AvailabilityKey(a.ID)); err != nil {
			return errorf(ErrGetFailed, err, "reading %s", AvailabilityKey(a.ID))
		} else if taken {
			return errIDTaken
		}
		if err := tx.Reserve(a.TotalSize); err != nil {
			return errorf(ErrReserveFailed, err, "reserving %d bytes for the availability", a.TotalSize)
		}
		if err := putAvailability(tx, &a); err != nil {
			return err
		}
		tx.OnCommit(func() { r.idx.put(a) })
		return nil
	})
}

// Patch lists the fields Update changes; nil fields stay as they are.
// FreeSize is not among them: it follows TotalSize and the reservations.
type Patch struct {
	TotalSize                *uint64
	Duration                 *uint64
	MinPricePerBytePerSecond *uint256.Int
	TotalCollateral          *uint256.Int
	Enabled                  *bool
	Until                    *int64
}

// Update changes an availability in one commit (SPEC §2.2 update, §7
// PATCH):
//
//   - TotalSize: FreeSize moves by the same amount and the repo quota
//     reserves or releases the difference. A TotalSize of 0 or below the
//     bytes committed to reservations fails with ErrBytesOutOfBounds; a
//     quota that cannot hold the growth fails with ErrReserveFailed.
//   - TotalCollateral: TotalRemainingCollateral becomes the new total less
//     the collateral of the live reservations (the reference resets it to
//     the total, forgetting what is committed; see DESIGN.md I1). A total
//     below what live reservations hold fails with ErrCollateralOutOfBounds.
//   - Until: negative, or earlier than a hosted slot's end, fails with
//     ErrUntilOutOfBounds.
//
// It fails with ErrNotExists for an unknown id (the reference would write
// a new record without reserving quota). OnAvailabilitySaved fires as SPEC
// §2.2 step 7 says.
func (r *Reservations) Update(ctx context.Context, id AvailabilityID, p Patch) (Availability, error) {
	if p.Until != nil {
		if err := untilNegative(*p.Until); err != nil {
			return Availability{}, err
		}
	}
	var old, a Availability
	err := r.do(ctx, func(tx *repostore.Txn) error {
		var err error
		if old, err = r.loadAvailability(tx, id); err != nil {
			return err
		}
		a = old
		var live []Reservation
		if p.TotalCollateral != nil || (p.Until != nil && *p.Until > 0) {
			if live, err = reservationsOf(tx, id); err != nil {
				return err
			}
		}
		if p.TotalSize != nil {
			total := *p.TotalSize
			committed := old.TotalSize - old.FreeSize
			if total == 0 {
				return errorf(ErrBytesOutOfBounds, nil, "Total size must be larger then zero")
			}
			if total < committed {
				return errorf(ErrBytesOutOfBounds, nil,
					"New totalSize must be larger then current totalSize - freeSize, which is currently: %d", committed)
			}
			if total > old.TotalSize {
				if err := tx.Reserve(total - old.TotalSize); err != nil {
					return errorf(ErrReserveFailed, err, "reserving %d bytes", total-old.TotalSize)
				}
			} else if err := tx.Release(old.TotalSize - total); err != nil {
				return errorf(ErrReleaseFailed, err, "releasing %d bytes", old.TotalSize-total)
			}
			a.TotalSize = total
			a.FreeSize = total - committed
		}
		if p.Duration != nil {
			a.Duration = *p.Duration
		}
		if p.MinPricePerBytePerSecond != nil {
			a.MinPricePerBytePerSecond = *p.MinPricePerBytePerSecond
		}
		if p.TotalCollateral != nil {
			var held uint256.Int
			for i := range live {
				held.Add(&held, &live[i].Collateral)
			}
			if held.Gt(p.TotalCollateral) {
				return errorf(ErrCollateralOutOfBounds, nil,
					"New totalCollateral must be at least the collateral held by reservations, which is currently: %s", held.Dec())
			}
			a.TotalCollateral = *p.TotalCollateral
			a.TotalRemainingCollateral.Sub(p.TotalCollateral, &held)
		}
		if p.Enabled != nil {
			a.Enabled = *p.Enabled
		}
		if p.Until != nil {
			a.Until = *p.Until
			if a.Until > 0 {
				for _, res := range live {
					if res.ValidUntil > a.Until {
						return errorf(ErrUntilOutOfBounds, nil,
							"Until parameter must be greater or equal to the longest currently hosted slot")
					}
				}
			}
		}
		if err := putAvailability(tx, &a); err != nil {
			return err
		}
		tx.OnCommit(func() { r.idx.put(a) })
		return nil
	})
	if err != nil {
		return Availability{}, err
	}
	r.fireSaved(increased(&old, &a), a)
	return a, nil
}

// increased reports whether a change should wake the sales queue: any of
// freeSize, duration, minPricePerBytePerSecond or totalRemainingCollateral
// grew (SPEC §2.2 step 7, including its higher-price quirk).
func increased(old, a *Availability) bool {
	return a.FreeSize > old.FreeSize || a.Duration > old.Duration ||
		a.MinPricePerBytePerSecond.Gt(&old.MinPricePerBytePerSecond) ||
		a.TotalRemainingCollateral.Gt(&old.TotalRemainingCollateral)
}

// DeleteAvailability removes an availability and releases its quota, in
// one commit. It fails with ErrHasReservations while reservations of it
// exist, and with ErrNotExists for an unknown id.
func (r *Reservations) DeleteAvailability(ctx context.Context, id AvailabilityID) error {
	return r.do(ctx, func(tx *repostore.Txn) error {
		a, err := r.loadAvailability(tx, id)
		if err != nil {
			return err
		}
		entries, err := tx.Query(dsq.Query{Prefix: AvailabilityKey(id).String(), KeysOnly: true, Limit: 1})
		if err != nil {
			return errorf(ErrGetFailed, err, "listing reservations of %s", id)
		}
		if len(entries) > 0 {
			return errorf(ErrHasReservations, nil, "availability %s has reservations; end them first", id)
		}
		if err := tx.Release(a.FreeSize); err != nil {
			return errorf(ErrReleaseFailed, err, "releasing %d bytes", a.FreeSize)
		}
		if err := del(tx, AvailabilityKey(id)); err != nil {
			return err
		}
		tx.OnCommit(func() { r.idx.remove(id) })
		return nil
	})
}

// Availability returns the committed availability id, or ErrNotExists.
func (r *Reservations) Availability(id AvailabilityID) (Availability, error) {
	if a, ok := r.idx.get(id); ok {
		return a, nil
	}
	return Availability{}, errorf(ErrNotExists, nil, "object with key %s does not exist", AvailabilityKey(id))
}

// AvailabilityExists reports whether availability id exists.
func (r *Reservations) AvailabilityExists(id AvailabilityID) bool {
	_, ok := r.idx.get(id)
	return ok
}

// Availabilities returns every availability in key order, from the
// in-memory copy. That copy follows each commit a moment after the store
// does, so a reader that also lists reservations while commits land may
// see a reservation change just before its availability's.
func (r *Reservations) Availabilities() []Availability {
	r.idx.mu.RLock()
	out := make([]Availability, 0, len(r.idx.byID))
	for _, a := range r.idx.byID {
		out = append(out, *a)
	}
	r.idx.mu.RUnlock()
	slices.SortFunc(out, func(a, b Availability) int { return compareIDs(a.ID, b.ID) })
	return out
}

func compareIDs(a, b ID) int {
	for i := range a {
		if a[i] != b[i] {
			return int(a[i]) - int(b[i])
		}
	}
	return 0
}

func (r *Reservations) readAvailability(ctx context.Context, k ds.Key) (Availability, error) {
	raw, err := r.repo.Get(ctx, k)
	if errors.Is(err, ds.ErrNotFound) {
		return Availability{}, errorf(ErrNotExists, nil, "object with key %s does not exist", k)
	}
	if err != nil {
		return Availability{}, errorf(ErrGetFailed, err, "reading %s", k)
	}
	var a Availability
	if err := decodeAt(k, raw, &a); err != nil {
		return Availability{}, err
	}
	return a, nil
}

// FindAvailability returns an enabled availability that can host a slot
// of size bytes for duration seconds at price, with collateralPerByte
// within its remaining collateral per free byte and validUntil within its
// Until (SPEC §2.2 findAvailability).
//
// When several match, the one with the smallest FreeSize wins (ties: the
// lowest id). This best fit keeps large availabilities for large slots and
// is deterministic, and the in-memory index ordered by FreeSize finds it
// without a scan of the datastore; the reference takes the first in key
// order, which is random. The answer reflects committed state;
// CreateReservation re-checks it inside its commit.
func (r *Reservations) FindAvailability(size, duration uint64, price, collateralPerByte *uint256.Int, validUntil int64) (Availability, bool) {
	return r.idx.find(size, func(a *Availability) bool {
		if !a.Enabled || duration > a.Duration || price.Lt(&a.MinPricePerBytePerSecond) {
			return false
		}
		if a.Until != 0 && a.Until < validUntil {
			return false
		}
		max := a.MaxCollateralPerByte()
		return !collateralPerByte.Gt(&max)
	})
}

// Available returns the repo's free quota (max - used - reserved).
func (r *Reservations) Available() uint64 { return r.repo.Available() }

// HasAvailable reports whether n < Available() (strict, as the reference).
func (r *Reservations) HasAvailable(n uint64) bool { return r.repo.Quota().HasAvailable(n) }

// ---- reservations ----

// CreateReservation commits a reservation of slotSize bytes of
// availability aid for slot slotIndex of request req, in one commit:
// the reservation and the slot index are written and the availability's
// FreeSize and TotalRemainingCollateral are debited (by slotSize and
// slotSize × collateralPerByte). Inside the commit it re-checks, against
// the latest state, that the availability exists (ErrNotExists), has the
// bytes (ErrBytesOutOfBounds) and the collateral
// (ErrCollateralOutOfBounds), that validUntil is within its Until
// (ErrUntilOutOfBounds) and that the slot has no reservation yet
// (ErrSlotReserved).
func (r *Reservations) CreateReservation(ctx context.Context, aid AvailabilityID, slotSize uint64,
	req market.RequestID, slotIndex uint64, collateralPerByte *uint256.Int, validUntil int64) (Reservation, error) {
	for attempt := 0; ; attempt++ {
		res, err := r.createReservation(ctx, aid, slotSize, req, slotIndex, collateralPerByte, validUntil)
		if errors.Is(err, errIDTaken) {
			if attempt < 8 {
				continue // an injected, seeded source repeated an id: draw again
			}
			err = errorf(ErrUpdateFailed, err, "no fresh id after %d draws", attempt+1)
		}
		return res, err
	}
}

// errIDTaken: a freshly drawn id names an existing record.
var errIDTaken = errors.New("reservations: id already in use")

func (r *Reservations) createReservation(ctx context.Context, aid AvailabilityID, slotSize uint64,
	req market.RequestID, slotIndex uint64, collateralPerByte *uint256.Int, validUntil int64) (Reservation, error) {
	rid, err := r.newID()
	if err != nil {
		return Reservation{}, err
	}
	res := Reservation{ID: rid, AvailabilityID: aid, Size: slotSize, SlotSize: slotSize,
		RequestID: req, SlotIndex: slotIndex, ValidUntil: validUntil}
	if _, over := res.Collateral.MulOverflow(collateralPerByte, uint256.NewInt(slotSize)); over {
		return Reservation{}, errorf(ErrCollateralOutOfBounds, nil, "collateral per byte × slot size overflows")
	}
	err = r.do(ctx, func(tx *repostore.Txn) error {
		if taken, err := tx.Has(ReservationKey(aid, rid)); err != nil {
			return errorf(ErrGetFailed, err, "reading %s", ReservationKey(aid, rid))
		} else if taken {
			return errIDTaken
		}
		a, err := r.loadAvailability(tx, aid)
		if err != nil {
			return err
		}
		if a.FreeSize < slotSize {
			return errorf(ErrBytesOutOfBounds, nil,
				"trying to reserve an amount of bytes that is greater than the free size of the Availability")
		}
		if a.TotalRemainingCollateral.Lt(&res.Collateral) {
			return errorf(ErrCollateralOutOfBounds, nil,
				"collateral %s exceeds the availability's remaining collateral %s",
				res.Collateral.Dec(), a.TotalRemainingCollateral.Dec())
		}
		if a.Until > 0 && validUntil > a.Until {
			return errorf(ErrUntilOutOfBounds, nil,
				"Until parameter must be greater or equal to the longest currently hosted slot")
		}
		sk := slotKey(req, slotIndex)
		if has, err := tx.Has(sk); err != nil {
			return errorf(ErrGetFailed, err, "reading %s", sk)
		} else if has {
			return errorf(ErrSlotReserved, nil, "slot %d of request %s already has a reservation", slotIndex, ID(req))
		}
		a.FreeSize -= slotSize
		a.TotalRemainingCollateral.Sub(&a.TotalRemainingCollateral, &res.Collateral)
		if err := putReservation(tx, &res); err != nil {
			return err
		}
		if err := tx.Put(sk, slotValue(aid, rid)); err != nil {
			return errorf(ErrUpdateFailed, err, "writing %s", sk)
		}
		if err := putAvailability(tx, &a); err != nil {
			return err
		}
		tx.OnCommit(func() { r.idx.put(a) })
		return nil
	})
	if err != nil {
		return Reservation{}, err
	}
	return res, nil
}

// Reservation returns a committed reservation, or ErrNotExists.
func (r *Reservations) Reservation(ctx context.Context, aid AvailabilityID, rid ReservationID) (Reservation, error) {
	k := ReservationKey(aid, rid)
	raw, err := r.repo.Get(ctx, k)
	if errors.Is(err, ds.ErrNotFound) {
		return Reservation{}, errorf(ErrNotExists, nil, "object with key %s does not exist", k)
	}
	if err != nil {
		return Reservation{}, errorf(ErrGetFailed, err, "reading %s", k)
	}
	var res Reservation
	return res, decodeAt(k, raw, &res)
}

// ReservationExists reports whether the reservation exists.
func (r *Reservations) ReservationExists(ctx context.Context, aid AvailabilityID, rid ReservationID) (bool, error) {
	ok, err := r.repo.Has(ctx, ReservationKey(aid, rid))
	if err != nil {
		return false, errorf(ErrGetFailed, err, "reading %s", ReservationKey(aid, rid))
	}
	return ok, nil
}

// ReservationForSlot returns the reservation of slot slotIndex of request
// req, or ErrNotExists.
func (r *Reservations) ReservationForSlot(ctx context.Context, req market.RequestID, slotIndex uint64) (Reservation, error) {
	sk := slotKey(req, slotIndex)
	raw, err := r.repo.Get(ctx, sk)
	if errors.Is(err, ds.ErrNotFound) {
		return Reservation{}, errorf(ErrNotExists, nil, "slot %d of request %s has no reservation", slotIndex, ID(req))
	}
	if err != nil {
		return Reservation{}, errorf(ErrGetFailed, err, "reading %s", sk)
	}
	aid, rid, err := parseSlotValue(raw)
	if err != nil {
		return Reservation{}, &DecodeError{Key: sk.String(), Err: err}
	}
	return r.Reservation(ctx, aid, rid)
}

// Reservations returns every reservation, in key order. A record that does
// not decode fails the listing with a *DecodeError naming its key.
func (r *Reservations) Reservations(ctx context.Context) ([]Reservation, error) {
	return r.list(ctx, root)
}

// ReservationsOf returns availability aid's reservations in key order, or
// ErrNotExists for an unknown availability.
func (r *Reservations) ReservationsOf(ctx context.Context, aid AvailabilityID) ([]Reservation, error) {
	if !r.AvailabilityExists(aid) {
		return nil, errorf(ErrNotExists, nil, "object with key %s does not exist", AvailabilityKey(aid))
	}
	return r.list(ctx, AvailabilityKey(aid))
}

// Each calls f for every reservation in key order, stopping at the first
// error (returned). It holds no lock and reads committed state.
func (r *Reservations) Each(ctx context.Context, f func(Reservation) error) error {
	for e, err := range r.repo.Query(ctx, dsq.Query{Prefix: root.String()}) {
		if err != nil {
			return errorf(ErrGetFailed, err, "listing reservations")
		}
		res, ok, err := reservationEntry(e)
		if err != nil {
			return err
		}
		if !ok {
			continue
		}
		if err := f(res); err != nil {
			return err
		}
	}
	return nil
}

func (r *Reservations) list(ctx context.Context, prefix ds.Key) ([]Reservation, error) {
	var out []Reservation
	for e, err := range r.repo.Query(ctx, dsq.Query{Prefix: prefix.String(), Orders: []dsq.Order{dsq.OrderByKey{}}}) {
		if err != nil {
			return nil, errorf(ErrGetFailed, err, "listing %s", prefix)
		}
		res, ok, err := reservationEntry(e)
		if err != nil {
			return nil, err
		}
		if ok {
			out = append(out, res)
		}
	}
	return out, nil
}

// blockTag is the tag that marks a block as held by a reservation: short,
// because the tag index has one key per block.
func blockTag(aid AvailabilityID, rid ReservationID) string { return rid.Hex() + "-" + aid.Hex()[:16] }

// blockChunk bounds the blocks one commit drops or extends, so that a
// reservation of any size fits in transactions.
const blockChunk = 1024

// StoreBlocks writes blocks downloaded for a reservation and accounts for
// them, in one commit (DESIGN.md Decision 11): each non-empty block is
// stored, tagged with the reservation and expiring at expiry, its bytes
// move from the repo's reserved counter to used, and the reservation's Size
// shrinks by them. A block the reservation already holds (sent twice) is
// not counted again; a block another holder also holds is counted for this
// one too, so that ending either never needs the other's quota. It fails
// with ErrNotExists for an unknown reservation, ErrBytesOutOfBounds when
// the blocks exceed the reservation's remaining Size, and ErrUpdateFailed
// (wrapping the cause) when a block cannot be stored. It returns the
// reservation as committed.
func (r *Reservations) StoreBlocks(ctx context.Context, aid AvailabilityID, rid ReservationID, blocks [][]byte, expiry int64) (Reservation, error) {
	var res Reservation
	err := r.do(ctx, func(tx *repostore.Txn) error {
		var err error
		if res, err = loadReservation(tx, aid, rid); err != nil {
			return err
		}
		tag := blockTag(aid, rid)
		// Make room first: release what the distinct non-empty blocks of
		// the call could add (at most what is left unwritten); each put
		// then counts only a block the reservation did not hold yet, and
		// what was not counted is reserved again.
		seen := map[repostore.Hash]bool{}
		var total uint64
		for _, b := range blocks {
			if h := repostore.HashOf(b); len(b) > 0 && !seen[h] {
				seen[h] = true
				total += uint64(len(b))
			}
		}
		released := min(total, res.Size)
		if err := tx.Release(released); err != nil {
			return errorf(ErrReleaseFailed, err, "releasing %d bytes", released)
		}
		var n uint64
		tooMany := false
		for _, b := range blocks {
			if len(b) == 0 {
				continue // empty blocks are free and need no holder (SPEC §4.3)
			}
			p, err := tx.PutBlock(b, expiry, tag)
			if errors.Is(err, repostore.ErrQuotaExceeded) && n+uint64(len(b)) > res.Size {
				tooMany = true // it could only fit in room the reservation does not have
				break
			}
			if err != nil {
				return errorf(ErrUpdateFailed, err, "storing block")
			}
			if p.Counted {
				n += p.Size
				res.Blocks++
			}
			if tooMany = n > res.Size; tooMany {
				break
			}
		}
		if tooMany {
			return errorf(ErrBytesOutOfBounds, nil,
				"trying to release an amount of bytes (%d) that is greater than the reserved size of the Reservation (%d)", n, res.Size)
		}
		if err := tx.Reserve(released - n); err != nil {
			return errorf(ErrReserveFailed, err, "reserving %d bytes again", released-n)
		}
		res.Size -= n
		return putReservation(tx, &res)
	})
	if err != nil {
		return Reservation{}, err
	}
	return res, nil
}

// MarkFilled records, in one commit, that the reservation's slot was
// filled (its collateral is now with the market). It fails with
// ErrNotExists for an unknown reservation.
func (r *Reservations) MarkFilled(ctx context.Context, aid AvailabilityID, rid ReservationID) (Reservation, error) {
	var res Reservation
	err := r.do(ctx, func(tx *repostore.Txn) error {
		var err error
		if res, err = loadReservation(tx, aid, rid); err != nil {
			return err
		}
		if res.Filled {
			return nil
		}
		res.Filled, res.FillingSince = true, 0
		return putReservation(tx, &res)
	})
	return res, err
}

// MarkFilling records, in one commit, that the reservation's slot is
// about to be filled, at market time at (> 0): from then until MarkFilled
// (or the reservation's end) whether the market holds the collateral is
// known only to the market, which a settlement of the reservation must
// ask. A filled reservation is left as it is. It fails with ErrNotExists
// for an unknown reservation and ErrInvalid for at <= 0.
func (r *Reservations) MarkFilling(ctx context.Context, aid AvailabilityID, rid ReservationID, at int64) (Reservation, error) {
	if at <= 0 {
		return Reservation{}, fmt.Errorf("%w: fill time %d", ErrInvalid, at)
	}
	var res Reservation
	err := r.do(ctx, func(tx *repostore.Txn) error {
		var err error
		if res, err = loadReservation(tx, aid, rid); err != nil {
			return err
		}
		if res.Filled || res.FillingSince == at {
			return nil
		}
		res.FillingSince = at
		return putReservation(tx, &res)
	})
	return res, err
}

// ExtendBlocks moves the expiry of every block held by the reservation to
// at least expiry (a filled sale keeps its data until the request ends),
// in commits of at most blockChunk blocks. It fails with ErrNotExists for
// an unknown reservation.
func (r *Reservations) ExtendBlocks(ctx context.Context, aid AvailabilityID, rid ReservationID, expiry int64) error {
	tag := blockTag(aid, rid)
	for offset := 0; ; offset += blockChunk {
		var n int
		err := r.do(ctx, func(tx *repostore.Txn) error {
			if _, err := loadReservation(tx, aid, rid); err != nil {
				return err
			}
			hashes, err := tx.TaggedBlocks(tag, offset, blockChunk)
			if err != nil {
				return errorf(ErrGetFailed, err, "listing the reservation's blocks")
			}
			n = len(hashes)
			for _, h := range hashes {
				if err := tx.EnsureExpiry(h, expiry); err != nil && !errors.Is(err, repostore.ErrBlockNotFound) {
					return errorf(ErrUpdateFailed, err, "extending block %s", h)
				}
			}
			return nil
		})
		if err != nil || n < blockChunk {
			return err
		}
	}
}

// unwrite gives back, in commits of at most blockChunk blocks, all but the
// last blockChunk blocks a reservation holds: each commit drops their tags
// (used shrinks), reserves their bytes again and grows the reservation's
// Size by them, so every commit keeps I2 and I3 and needs no quota. Then
// the final end fits one commit whatever the slot's size.
func (r *Reservations) unwrite(ctx context.Context, aid AvailabilityID, rid ReservationID) error {
	tag := blockTag(aid, rid)
	for {
		var more bool
		err := r.do(ctx, func(tx *repostore.Txn) error {
			more = false
			res, err := loadReservation(tx, aid, rid)
			if errors.Is(err, ErrNotExists) {
				return nil
			}
			if err != nil {
				return err
			}
			beyond, err := tx.TaggedBlocks(tag, blockChunk, 1)
			if err != nil {
				return errorf(ErrGetFailed, err, "listing the reservation's blocks")
			}
			if len(beyond) == 0 {
				return nil // what is left fits the final commit
			}
			more = true
			freed, dropped, err := tx.DropTag(tag, blockChunk)
			if err != nil {
				return errorf(ErrDeleteFailed, err, "dropping the reservation's blocks")
			}
			back := min(freed, res.Written()) // never more than was written
			if err := tx.Reserve(back); err != nil {
				return errorf(ErrReserveFailed, err, "re-reserving %d bytes", back)
			}
			res.Size += back
			res.Blocks -= min(res.Blocks, uint64(dropped))
			return putReservation(tx, &res)
		})
		if err != nil || !more {
			return err
		}
	}
}

// Ended reports what EndReservation did.
type Ended struct {
	// Found is false when the reservation did not exist (nothing changed).
	Found bool
	// BytesReturned is the slot size handed back to the availability's
	// FreeSize: written and unwritten bytes.
	BytesReturned uint64
	// CollateralReturned is what went back to TotalRemainingCollateral.
	CollateralReturned uint256.Int
	// BytesFreed is what the reservation's blocks were counted for in the
	// used counter, given back (a block another holder keeps stays stored).
	BytesFreed uint64
	// Availability is the availability as committed.
	Availability Availability
}

// EndReservation ends a reservation in one commit (it replaces the
// reference's returnBytesToAvailability + deleteReservation): the blocks
// only it held are deleted (their bytes leave used), its whole slot size
// goes back to the availability's FreeSize and into the repo's reserved
// counter, returnedCollateral (capped at the collateral the reservation
// took) goes back to TotalRemainingCollateral, and the reservation and its
// slot index are deleted. Ending a reservation that does not exist changes
// nothing and returns Ended{Found: false}: the operation is idempotent.
//
// The caller decides returnedCollateral by DESIGN.md Decision 6: all of
// Reservation.Collateral if the fill never succeeded, what the market paid
// back if it did, zero if the request failed.
func (r *Reservations) EndReservation(ctx context.Context, aid AvailabilityID, rid ReservationID, returnedCollateral *uint256.Int) (Ended, error) {
	out, err := r.endReservation(ctx, aid, rid, returnedCollateral)
	if errors.Is(err, errManyBlocks) {
		// More blocks than one commit drops: give them back in parts first.
		if err := r.unwrite(ctx, aid, rid); err != nil {
			return Ended{}, err
		}
		out, err = r.endReservation(ctx, aid, rid, returnedCollateral)
	}
	return out, err
}

// errManyBlocks: the reservation holds more blocks than one commit drops.
var errManyBlocks = errors.New("reservations: more blocks than one commit drops")

func (r *Reservations) endReservation(ctx context.Context, aid AvailabilityID, rid ReservationID, returnedCollateral *uint256.Int) (Ended, error) {
	var out Ended
	var old Availability
	err := r.do(ctx, func(tx *repostore.Txn) error {
		var err error
		out, old, err = r.endIn(tx, aid, rid, returnedCollateral, nil, nil)
		if err == nil && out.Found {
			a := out.Availability
			tx.OnCommit(func() { r.idx.put(a) })
		}
		return err
	})
	if err != nil {
		return Ended{}, err
	}
	if out.Found {
		r.fireSaved(increased(&old, &out.Availability), out.Availability)
	}
	return out, nil
}

// endIn is EndReservation inside an op. It returns what it did and the
// availability as it was before.
//
// With avails non-nil (bulk ends), availabilities are read from and kept in
// it instead of being written: the caller writes each once at the end.
func (r *Reservations) endIn(tx *repostore.Txn, aid AvailabilityID, rid ReservationID, returnedCollateral *uint256.Int,
	avails map[AvailabilityID]*Availability, listed *Reservation) (Ended, Availability, error) {
	var res Reservation
	if _, _, pending := tx.Pending(ReservationKey(aid, rid)); listed != nil && !pending {
		res = *listed
	} else {
		var err error
		res, err = loadReservation(tx, aid, rid)
		if errors.Is(err, ErrNotExists) {
			return Ended{}, Availability{}, nil
		}
		if err != nil {
			return Ended{}, Availability{}, err
		}
	}
	var err error
	var a Availability
	if c, ok := avails[aid]; ok {
		a = *c
	} else if a, err = r.loadAvailability(tx, aid); err != nil {
		return Ended{}, Availability{}, err
	}
	old := a
	var freed uint64
	if res.Written() > 0 { // only StoreBlocks tags blocks, and only non-empty ones
		if res.Blocks > blockChunk {
			return Ended{}, Availability{}, errManyBlocks
		}
		if freed, _, err = tx.DropTag(blockTag(aid, rid), 0); err != nil {
			return Ended{}, Availability{}, errorf(ErrDeleteFailed, err, "dropping the reservation's blocks")
		}
	}
	if err := tx.Reserve(res.Written()); err != nil {
		return Ended{}, Availability{}, errorf(ErrReserveFailed, err, "returning %d written bytes to the availability", res.Written())
	}
	ret := res.Collateral
	if returnedCollateral != nil && returnedCollateral.Lt(&ret) {
		ret = *returnedCollateral
	}
	// Keep I1 even for records from before per-reservation collateral.
	var room uint256.Int
	room.Sub(&a.TotalCollateral, &a.TotalRemainingCollateral)
	if ret.Gt(&room) {
		ret = room
	}
	a.FreeSize += res.SlotSize
	if a.FreeSize > a.TotalSize {
		return Ended{}, Availability{}, errorf(ErrBytesOutOfBounds, nil, "returning %d bytes would make freeSize exceed totalSize", res.SlotSize)
	}
	a.TotalRemainingCollateral.Add(&a.TotalRemainingCollateral, &ret)
	if avails != nil {
		avails[aid] = &a
	} else if err := putAvailability(tx, &a); err != nil {
		return Ended{}, Availability{}, err
	}
	if err := del(tx, ReservationKey(aid, rid)); err != nil {
		return Ended{}, Availability{}, err
	}
	if err := del(tx, slotKey(res.RequestID, res.SlotIndex)); err != nil {
		return Ended{}, Availability{}, err
	}
	return Ended{Found: true, BytesReturned: res.SlotSize, CollateralReturned: ret, BytesFreed: freed, Availability: a}, old, nil
}

// EndRequest names one reservation to end and the collateral to return
// (see EndReservation).
type EndRequest struct {
	AvailabilityID     AvailabilityID
	ReservationID      ReservationID
	ReturnedCollateral *uint256.Int
	// Listed, when set, is the reservation as the caller just listed it;
	// the record is then not read again. Only for callers that know
	// nothing changed it since (start-up, before any sale runs).
	Listed *Reservation
}

// EndReservations ends many reservations, each exactly as EndReservation
// does, in commits of up to perCommit (0: 512) at a time: the start-up
// cleanup of a node with many leftovers. A reservation that fails is
// skipped and reported in the returned error (a failing commit is halved
// until only the failing reservations are left, so the others still end);
// it returns how many it ended. OnAvailabilitySaved is not fired.
func (r *Reservations) EndReservations(ctx context.Context, reqs []EndRequest, perCommit int) (int, error) {
	if perCommit <= 0 {
		perCommit = 512
	}
	var errs []error
	ended := 0
	var chunks [][]EndRequest
	for len(reqs) > 0 {
		n := min(len(reqs), perCommit)
		chunks = append(chunks, reqs[:n])
		reqs = reqs[n:]
	}
	for len(chunks) > 0 {
		chunk := chunks[0]
		chunks = chunks[1:]
		n, err := r.endChunk(ctx, chunk)
		switch {
		case err == nil:
			ended += n
		case ctx.Err() != nil || errors.Is(err, repostore.ErrClosed):
			// Not about one record: nothing more will end.
			return ended, errors.Join(append(errs, err)...)
		case len(chunk) > 1:
			// Too big for one transaction, or one record that cannot end:
			// halve it, so that every other reservation still ends.
			mid := len(chunk) / 2
			chunks = append([][]EndRequest{chunk[:mid], chunk[mid:]}, chunks...)
		case errors.Is(err, errManyBlocks) || errors.Is(err, repostore.ErrOpTooBig) || errors.Is(err, ErrUpdateFailed):
			// One reservation holding many blocks: end it in parts.
			e := chunk[0]
			out, err := r.EndReservation(ctx, e.AvailabilityID, e.ReservationID, e.ReturnedCollateral)
			if err != nil {
				errs = append(errs, fmt.Errorf("reservation %s: %w", e.ReservationID, err))
			} else if out.Found {
				ended++
			}
		default:
			errs = append(errs, fmt.Errorf("reservation %s: %w", chunk[0].ReservationID, err))
		}
	}
	return ended, errors.Join(errs...)
}

// endChunk ends reqs in one commit and returns how many existed.
func (r *Reservations) endChunk(ctx context.Context, reqs []EndRequest) (int, error) {
	var count int
	err := r.repo.Do(ctx, func(tx *repostore.Txn) error {
		count = 0
		touched := map[AvailabilityID]*Availability{}
		for _, e := range reqs {
			out, _, err := r.endIn(tx, e.AvailabilityID, e.ReservationID, e.ReturnedCollateral, touched, e.Listed)
			if err != nil {
				// A datastore failure, or a record that breaks the
				// accounting, fails the whole chunk so nothing is
				// half-applied.
				return err
			}
			if out.Found {
				count++
			}
		}
		for _, a := range touched {
			if err := putAvailability(tx, a); err != nil {
				return err
			}
		}
		tx.OnCommit(func() {
			for _, a := range touched {
				r.idx.put(*a)
			}
		})
		return nil
	})
	if err != nil && errors.Is(err, repostore.ErrCommit) {
		err = errorf(ErrUpdateFailed, err, "commit")
	}
	return count, err
}
