package reservations

import (
	"cmp"
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"

	"github.com/hashicorp/go-multierror"
	ds "github.com/ipfs/go-datastore"
	dsq "github.com/ipfs/go-datastore/query"

	"github.com/hostsales/hostsales/market"
	"github.com/hostsales/hostsales/repostore"
)

// Fsck is the offline consistency checker behind `salesctl fsck`. It reads
// the raw records (not through New, which refuses a store with an
// undecodable availability), checks everything that can be checked
// without the market, and with Repair fixes what is safe to fix, each fix
// one atomic commit through the repo's pipeline.

// ProblemKind names what kind of inconsistency a Problem is.
type ProblemKind string

// The kinds of problem Fsck reports. The invariant kinds (I1, I1c, I2, I3,
// I4) are State.Check's (see Violation); the others are about the raw
// records, the slot index and the blocks.
const (
	// ProblemRecord: a record that does not decode.
	ProblemRecord ProblemKind = "record"
	// ProblemKey: a key under the package's namespaces that no record
	// kind has (unexpected depth, an id that is not lowercase hex, a bad
	// slot number); the record is not read.
	ProblemKey ProblemKind = "key"
	// ProblemIDs: a record whose own ids disagree with its key. Fsck
	// goes by the key, as every lookup does.
	ProblemIDs ProblemKind = "ids"
	// ProblemI1 .. ProblemI4: a broken invariant of DESIGN.md, as
	// State.Check reports it (I4: an orphan reservation, whose
	// availability does not exist).
	ProblemI1  ProblemKind = "I1"
	ProblemI1c ProblemKind = "I1c"
	ProblemI2  ProblemKind = "I2"
	ProblemI3  ProblemKind = "I3"
	ProblemI4  ProblemKind = "I4"
	// ProblemSlotIndex: a slot-index entry that is missing for a
	// reservation, points nowhere, points to another reservation, or does
	// not decode.
	ProblemSlotIndex ProblemKind = "slot-index"
	// ProblemDuplicateSlot: two or more reservations hold the same slot.
	ProblemDuplicateSlot ProblemKind = "duplicate-slot"
	// ProblemBlocks: a reservation's blocks disagree with its record (the
	// bytes or the number of blocks it holds), or a block's metadata and
	// the tag index disagree, or a block's metadata or data is unreadable.
	ProblemBlocks ProblemKind = "blocks"
	// ProblemOrphanBlocks: blocks held (tagged) for a reservation that no
	// longer exists; their bytes stay counted in the used counter.
	ProblemOrphanBlocks ProblemKind = "orphan-blocks"
	// ProblemCounter: the repo's used counter or block count disagrees
	// with the stored blocks.
	ProblemCounter ProblemKind = "counter"
)

// Problem is one inconsistency found by Fsck.
type Problem struct {
	Kind ProblemKind `json:"kind"`
	// Key is the datastore key of the record at fault; "" for the repo's
	// reserved counter as a whole (I3).
	Key string `json:"key,omitempty"`
	Msg string `json:"message"`
}

func (p Problem) String() string {
	if p.Key == "" {
		return string(p.Kind) + ": " + p.Msg
	}
	return string(p.Kind) + " " + p.Key + ": " + p.Msg
}

// Repair is one change Fsck made: one atomic commit (an orphan tag with
// more blocks than one commit drops takes several, each consistent on its
// own, reported together).
type Repair struct {
	// Key is the key changed (for a tag, the tag index prefix).
	Key string `json:"key"`
	// Action says exactly what changed.
	Action string `json:"action"`
}

func (r Repair) String() string { return r.Key + ": " + r.Action }

// FsckOptions configure Fsck. The zero value checks without repairing.
type FsckOptions struct {
	// Repair fixes the problems that are safe to fix (see Fsck).
	Repair bool
	// QuotaMaxBytes is the quota maximum that used+reserved is checked
	// against (I3). 0: the repo's own (repostore.Options.QuotaMaxBytes as
	// the repo was opened). The maximum is not stored in the repo, so a
	// tool that opens the repo with a large maximum (so that Open never
	// refuses it) passes the node's real one here.
	QuotaMaxBytes uint64
}

// FsckReport is what Fsck found and did.
type FsckReport struct {
	// What the first pass read.
	Availabilities int `json:"availabilities"`
	Reservations   int `json:"reservations"`
	SlotEntries    int `json:"slotEntries"`
	Blocks         int `json:"blocks"`
	// Problems found by the first pass, ordered by key, then kind.
	Problems []Problem `json:"problems"`
	// Repairs made, in order; empty without FsckOptions.Repair.
	Repairs []Repair `json:"repairs"`
	// Remaining are the problems left: after repairs, what a second pass
	// finds; otherwise the same as Problems.
	Remaining []Problem `json:"remaining"`
}

// Clean reports whether no problem is left.
func (r *FsckReport) Clean() bool { return len(r.Remaining) == 0 }

// Fsck checks the repo's sales records, slot index, block tags and
// counters, and returns every problem with the key of the record at fault:
//
//   - records that do not decode, keys of no known shape, records whose
//     ids disagree with their key;
//   - I1, I1c, I2, I3 and the first half of I4 (orphan reservations),
//     by State.Check over the records that decode;
//   - slot-index entries that are missing for a reservation, point
//     nowhere or to another reservation, or do not decode; slots held by
//     more than one reservation;
//   - for each reservation, the blocks tagged with it against the bytes
//     it has written and the number of blocks it counts; blocks tagged for
//     a reservation that no longer exists; block metadata and the tag
//     index against each other; blocks whose data is missing;
//   - the used counter against the blocks (each block once per holder)
//     and the block count against the blocks stored.
//
// With opts.Repair it then fixes, each fix one atomic commit through
// repo.Do that re-checks its premise inside the commit, only what is
// derived data or provably unowned:
//
//   - a missing slot-index entry is written for a reservation that alone
//     holds its slot; an entry that points to no reservation, to one
//     holding another slot, or does not decode, is rewritten to the
//     reservation holding the slot, or deleted when none does. An entry
//     that points to an undecodable reservation is left alone: that
//     record may be the slot's holder;
//   - blocks tagged for a reservation that does not exist (no record
//     under its key, decodable or not) lose that tag (repostore's
//     DropTag): the bytes leave the used counter and blocks no other
//     holder keeps are deleted;
//   - the reserved counter is set to Σ freeSize + Σ unwritten size when
//     that is the only thing wrong with the records (no undecodable or
//     misplaced record, no I1/I2/I4 violation, no duplicate slot, no
//     reservation whose blocks disagree with it).
//
// Everything else needs judgement and is only reported: undecodable and
// misplaced records, orphan reservations (their bytes and collateral have
// no availability to go back to), duplicate slots, wrong availability
// accounting, and the used counter and block count (repostore has no
// primitive to set them). The report then lists what a second pass still
// finds.
//
// Fsck reads committed state with repo.Query and repo.Get, so it is meant
// for a repo no one else writes (a stopped node's); on a live repo,
// commits landing during the scan may show as problems. Repairs need a
// writable repo. The returned error reports a read that failed (the
// report is then nil) or, with the report, the repairs that failed
// (a *multierror.Error); ctx bounds every read and commit.
func Fsck(ctx context.Context, repo *repostore.Store, opts *FsckOptions) (*FsckReport, error) {
	var o FsckOptions
	if opts != nil {
		o = *opts
	}
	sc, err := scanRepo(ctx, repo, o.QuotaMaxBytes)
	if err != nil {
		return nil, err
	}
	rep := &FsckReport{Availabilities: len(sc.avails) + len(sc.badAvails), Reservations: len(sc.resKeys),
		SlotEntries: len(sc.slots), Blocks: sc.blockCount, Problems: sc.problems, Repairs: []Repair{}}
	rep.Remaining = rep.Problems
	if !o.Repair {
		return rep, nil
	}
	var errs *multierror.Error
	for _, fix := range sc.fixes {
		r, err := fix(ctx, repo)
		if err != nil {
			errs = multierror.Append(errs, err)
		}
		rep.Repairs = append(rep.Repairs, r...)
	}
	if len(rep.Repairs) > 0 {
		again, err := scanRepo(ctx, repo, o.QuotaMaxBytes)
		if err != nil {
			return rep, multierror.Append(errs, fmt.Errorf("reservations: fsck: second pass: %w", err))
		}
		rep.Remaining = again.problems
	}
	return rep, errs.ErrorOrNil()
}

// Layout of the repo's block records (repostore/keys.go). Fsck only reads
// them; every change goes through repostore's Txn.
var (
	blocksRoot    = ds.NewKey("/blocks")
	blockMetaRoot = ds.NewKey("/meta/blocks")
	tagRoot       = ds.NewKey("/meta/tags")
	quotaKey      = ds.NewKey("/meta/quota/used")
	totalKey      = ds.NewKey("/meta/total")
)

// tagIndexPrefix is repostore's tag index prefix of tag: the tag itself
// when it is a plain token, else "~" and its hex.
func tagIndexPrefix(tag string) ds.Key {
	for _, c := range tag {
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c == '-' || c == '_') {
			return tagRoot.ChildString("~" + hex.EncodeToString([]byte(tag)))
		}
	}
	return tagRoot.ChildString(tag)
}

// parseTagSegment reverses tagIndexPrefix's last segment.
func parseTagSegment(s string) (string, error) {
	if h, ok := strings.CutPrefix(s, "~"); ok {
		b, err := hex.DecodeString(h)
		return string(b), err
	}
	return s, nil
}

// parseBlockTag splits a reservation's block tag (blockTag) into the
// reservation id and the hex prefix of its availability id.
func parseBlockTag(tag string) (rid ReservationID, aidPrefix string, ok bool) {
	ridHex, aidPrefix, found := strings.Cut(tag, "-")
	if !found || len(aidPrefix) != 16 || strings.ToLower(aidPrefix) != aidPrefix {
		return rid, "", false
	}
	if _, err := hex.DecodeString(aidPrefix); err != nil {
		return rid, "", false
	}
	rid, err := ParseID(ridHex)
	if err != nil || rid.Hex() != ridHex {
		return rid, "", false
	}
	return rid, aidPrefix, true
}

func parseHash(s string) (repostore.Hash, bool) {
	var h repostore.Hash
	if len(s) != 64 {
		return h, false
	}
	if _, err := hex.Decode(h[:], []byte(s)); err != nil || h.Hex() != s {
		return h, false
	}
	return h, true
}

// fix is one repair, found by the scan: it commits and says what changed.
type fix func(ctx context.Context, repo *repostore.Store) ([]Repair, error)

// resRef names a reservation record by its key.
type resRef struct {
	aid AvailabilityID
	rid ReservationID
}

func (r resRef) key() ds.Key { return ReservationKey(r.aid, r.rid) }

// tagStat is what the blocks' metadata says a tag holds.
type tagStat struct {
	bytes, blocks uint64
	indexed       uint64 // tag-index entries naming it
}

// scan is one pass over the repo.
type scan struct {
	repo      *repostore.Store
	quota     repostore.Quota
	avails    map[AvailabilityID]Availability // decoded, ids from the key
	badAvails map[AvailabilityID]bool         // records that do not decode
	resKeys   map[resRef]bool                 // every reservation record (true: decodes)
	res       []Reservation                   // decoded, ids from the key
	slots     map[string][]byte               // slot index: canonical key -> value
	tags      map[string]*tagStat
	// blockCount counts block metadata records; usedSum is their bytes,
	// once per holder; usedOverflow is set if that exceeds uint64.
	blockCount   int
	usedSum      uint64
	usedOverflow bool
	problems     []Problem
	fixes        []fix
	// unsound: the records have a problem other than the reserved counter,
	// so the counter is not recomputed from them.
	unsound bool
}

func (s *scan) add(kind ProblemKind, key, format string, args ...any) {
	s.problems = append(s.problems, Problem{Kind: kind, Key: key, Msg: fmt.Sprintf(format, args...)})
}

func scanRepo(ctx context.Context, repo *repostore.Store, quotaMax uint64) (*scan, error) {
	s := &scan{repo: repo, quota: repo.Quota(), avails: map[AvailabilityID]Availability{},
		badAvails: map[AvailabilityID]bool{}, resKeys: map[resRef]bool{}, slots: map[string][]byte{},
		tags: map[string]*tagStat{}, problems: []Problem{}}
	if quotaMax != 0 {
		s.quota.Max = quotaMax
	}
	if err := s.records(ctx); err != nil {
		return nil, err
	}
	s.invariants()
	if err := s.slotIndex(ctx); err != nil {
		return nil, err
	}
	s.slotClaims()
	if err := s.blocks(ctx); err != nil {
		return nil, err
	}
	if err := s.tagIndex(ctx); err != nil {
		return nil, err
	}
	s.tagHolders()
	s.counters()
	if f := s.fixReserved(); f != nil {
		s.fixes = append(s.fixes, f)
	}
	slices.SortStableFunc(s.problems, func(a, b Problem) int {
		return cmp.Or(strings.Compare(a.Key, b.Key), strings.Compare(string(a.Kind), string(b.Kind)),
			strings.Compare(a.Msg, b.Msg))
	})
	return s, nil
}

// decodeCause is the cause a *DecodeError carries (the key is reported
// separately).
func decodeCause(err error) error {
	var de *DecodeError
	if errors.As(err, &de) {
		return de.Err
	}
	return err
}

func readFailed(what string, err error) error {
	return errorf(ErrGetFailed, err, "fsck: reading %s", what)
}

// records reads every availability and reservation record.
func (s *scan) records(ctx context.Context) error {
	for e, err := range s.repo.Query(ctx, dsq.Query{Prefix: root.String()}) {
		if err != nil {
			return readFailed(root.String(), err)
		}
		k := ds.RawKey(e.Key)
		aid, rid, depth, err := parseIDs(k)
		if err != nil {
			s.add(ProblemKey, e.Key, "not a record key: %v", err)
			s.unsound = true
			continue
		}
		want := AvailabilityKey(aid)
		if depth == reservationDepth {
			want = ReservationKey(aid, rid)
		}
		if want.String() != e.Key {
			s.add(ProblemKey, e.Key, "not a record key: ids must be lowercase hex (%s)", want)
			s.unsound = true
			continue
		}
		switch depth {
		case availabilityDepth:
			var a Availability
			if err := decodeAt(k, e.Value, &a); err != nil {
				s.add(ProblemRecord, e.Key, "availability does not decode: %v", decodeCause(err))
				s.badAvails[aid] = true
				s.unsound = true
				continue
			}
			if a.ID != aid {
				s.add(ProblemIDs, e.Key, "the record's id is %s", a.ID)
				s.unsound = true
				a.ID = aid
			}
			s.avails[aid] = a
		case reservationDepth:
			ref := resRef{aid, rid}
			var r Reservation
			if err := decodeAt(k, e.Value, &r); err != nil {
				s.add(ProblemRecord, e.Key, "reservation does not decode: %v", decodeCause(err))
				s.resKeys[ref] = false
				s.unsound = true
				continue
			}
			if r.ID != rid || r.AvailabilityID != aid {
				s.add(ProblemIDs, e.Key, "the record says reservation %s of availability %s", r.ID, r.AvailabilityID)
				s.unsound = true
				r.ID, r.AvailabilityID = rid, aid
			}
			s.resKeys[ref] = true
			s.res = append(s.res, r)
		}
	}
	return nil
}

// invariants runs State.Check over the decoded records.
func (s *scan) invariants() {
	st := State{Quota: s.quota, Reservations: s.res}
	for _, id := range slices.SortedFunc(maps.Keys(s.avails), compareIDs) {
		st.Availabilities = append(st.Availabilities, s.avails[id])
	}
	for _, v := range st.Check() {
		kind := ProblemKind(v.Invariant)
		msg := v.Msg
		switch kind {
		case ProblemI3: // the counters: recomputed below if the records are sound
		case ProblemI4:
			s.unsound = true
			if aid, _, _, err := parseIDs(ds.RawKey(v.Key)); err == nil && s.badAvails[aid] {
				msg = fmt.Sprintf("belongs to availability %s, whose record does not decode", aid)
			}
		default:
			s.unsound = true
		}
		s.add(kind, v.Key, "%s", msg)
	}
}

// fixReserved returns the repair of the reserved counter, or nil when it
// is right or the records it derives from are not sound.
func (s *scan) fixReserved() fix {
	if s.unsound {
		return nil
	}
	var free, unwritten uint64
	for _, a := range s.avails {
		if free+a.FreeSize < free {
			return nil
		}
		free += a.FreeSize
	}
	for _, r := range s.res {
		if unwritten+r.Size < unwritten {
			return nil
		}
		unwritten += r.Size
	}
	want, have := free+unwritten, s.quota.Reserved
	if want < free || want == have {
		return nil
	}
	return func(ctx context.Context, repo *repostore.Store) ([]Repair, error) {
		err := repo.Do(ctx, func(tx *repostore.Txn) error {
			if got := tx.Quota().Reserved; got != have {
				return fmt.Errorf("the counter changed during fsck (%d, was %d)", got, have)
			}
			if want > have {
				return tx.Reserve(want - have)
			}
			return tx.Release(have - want)
		})
		if err != nil {
			return nil, fmt.Errorf("reservations: fsck: setting the reserved counter to %d: %w", want, err)
		}
		return []Repair{{Key: quotaKey.String(), Action: fmt.Sprintf(
			"set the reserved counter from %d to %d (free sizes %d + unwritten reservation bytes %d)",
			have, want, free, unwritten)}}, nil
	}
}

// slotIndex reads the slot index.
func (s *scan) slotIndex(ctx context.Context) error {
	for e, err := range s.repo.Query(ctx, dsq.Query{Prefix: slotRoot.String()}) {
		if err != nil {
			return readFailed(slotRoot.String(), err)
		}
		ns := ds.RawKey(e.Key).Namespaces()
		if len(ns) != 5 {
			s.add(ProblemKey, e.Key, "not a slot-index key: unexpected key depth %d", len(ns))
			continue
		}
		req, err := ParseID(ns[3])
		slot, serr := strconv.ParseUint(ns[4], 16, 64)
		if err != nil || serr != nil || slotKey(market.RequestID(req), slot).String() != e.Key {
			s.add(ProblemKey, e.Key, "not a slot-index key: want /meta/sales/slots/<requestIdHex>/<slotIndex:016x>")
			continue
		}
		s.slots[e.Key] = e.Value
	}
	return nil
}

// slotClaims compares the slot index with the reservations holding slots.
func (s *scan) slotClaims() {
	claims := map[string][]Reservation{}
	for _, r := range s.res {
		sk := slotKey(r.RequestID, r.SlotIndex).String()
		claims[sk] = append(claims[sk], r)
	}
	for _, sk := range slices.Sorted(maps.Keys(claims)) {
		rs := claims[sk]
		if len(rs) > 1 {
			keys := make([]string, len(rs))
			for i, r := range rs {
				keys[i] = ReservationKey(r.AvailabilityID, r.ID).String()
			}
			s.add(ProblemDuplicateSlot, sk, "slot %d of request %s is held by %d reservations: %s",
				rs[0].SlotIndex, ID(rs[0].RequestID), len(rs), strings.Join(keys, ", "))
			s.unsound = true
			continue
		}
		r := rs[0]
		ref := resRef{r.AvailabilityID, r.ID}
		val, ok := s.slots[sk]
		if !ok {
			s.add(ProblemSlotIndex, sk, "missing: reservation %s holds the slot", ref.key())
			s.fixes = append(s.fixes, s.fixSlot(sk, nil, false, &ref))
			continue
		}
		aid, rid, err := parseSlotValue(val)
		if err != nil {
			s.add(ProblemSlotIndex, sk, "does not decode (%v); reservation %s holds the slot", err, ref.key())
			s.fixes = append(s.fixes, s.fixSlot(sk, val, true, &ref))
			continue
		}
		if got := (resRef{aid, rid}); got != ref {
			if decodes, exists := s.resKeys[got]; exists && !decodes {
				s.add(ProblemSlotIndex, sk, "points to %s, which does not decode, but reservation %s holds the slot",
					got.key(), ref.key())
				continue
			}
			s.add(ProblemSlotIndex, sk, "points to %s, but reservation %s holds the slot", got.key(), ref.key())
			s.fixes = append(s.fixes, s.fixSlot(sk, val, true, &ref))
		}
	}
	for _, sk := range slices.Sorted(maps.Keys(s.slots)) {
		if _, ok := claims[sk]; ok {
			continue
		}
		val := s.slots[sk]
		aid, rid, err := parseSlotValue(val)
		if err != nil {
			s.add(ProblemSlotIndex, sk, "does not decode (%v), and no reservation holds the slot", err)
			s.fixes = append(s.fixes, s.fixSlot(sk, val, true, nil))
			continue
		}
		got := resRef{aid, rid}
		decodes, exists := s.resKeys[got]
		switch {
		case exists && !decodes:
			s.add(ProblemSlotIndex, sk, "points to %s, which does not decode", got.key())
		case exists:
			s.add(ProblemSlotIndex, sk, "points to %s, which holds another slot", got.key())
			s.fixes = append(s.fixes, s.fixSlot(sk, val, true, nil))
		default:
			s.add(ProblemSlotIndex, sk, "points to %s, which does not exist", got.key())
			s.fixes = append(s.fixes, s.fixSlot(sk, val, true, nil))
		}
	}
}

// fixSlot returns the repair of slot-index entry sk: found (with its value
// old) or not, it is made to point to the reservation to, or deleted when
// to is nil. Inside the commit it re-checks that the entry still holds old
// and that the reservation still exists.
func (s *scan) fixSlot(sk string, old []byte, found bool, to *resRef) fix {
	return func(ctx context.Context, repo *repostore.Store) ([]Repair, error) {
		key := ds.RawKey(sk)
		var action string
		err := repo.Do(ctx, func(tx *repostore.Txn) error {
			cur, err := tx.Get(key)
			switch {
			case errors.Is(err, ds.ErrNotFound):
				if found {
					return fmt.Errorf("the entry was deleted during fsck")
				}
			case err != nil:
				return err
			case !found || string(cur) != string(old):
				return fmt.Errorf("the entry changed during fsck")
			}
			if to == nil {
				action = fmt.Sprintf("deleted the entry (it held %s)", strconv.Quote(string(old)))
				return tx.Delete(key)
			}
			if ok, err := tx.Has(to.key()); err != nil {
				return err
			} else if !ok {
				return fmt.Errorf("reservation %s was deleted during fsck", to.key())
			}
			if found {
				action = fmt.Sprintf("pointed the entry to reservation %s (it held %s)", to.key(), strconv.Quote(string(old)))
			} else {
				action = fmt.Sprintf("wrote the missing entry for reservation %s", to.key())
			}
			return tx.Put(key, slotValue(to.aid, to.rid))
		})
		if err != nil {
			return nil, fmt.Errorf("reservations: fsck: repairing slot-index entry %s: %w", sk, err)
		}
		return []Repair{{Key: sk, Action: action}}, nil
	}
}

// blocks reads every block's metadata and tallies each tag's holdings.
func (s *scan) blocks(ctx context.Context) error {
	for e, err := range s.repo.Query(ctx, dsq.Query{Prefix: blockMetaRoot.String(), KeysOnly: true}) {
		if err != nil {
			return readFailed(blockMetaRoot.String(), err)
		}
		ns := ds.RawKey(e.Key).Namespaces()
		if len(ns) != 3 {
			s.add(ProblemKey, e.Key, "not a block metadata key: unexpected key depth %d", len(ns))
			continue
		}
		h, ok := parseHash(ns[2])
		if !ok {
			s.add(ProblemKey, e.Key, "not a block metadata key")
			continue
		}
		s.blockCount++
		info, err := s.repo.BlockInfo(ctx, h)
		if errors.Is(err, repostore.ErrCorrupt) || errors.Is(err, repostore.ErrBlockNotFound) {
			s.add(ProblemBlocks, e.Key, "block metadata does not decode: %v", err)
			continue
		}
		if err != nil {
			return readFailed(e.Key, err)
		}
		if has, err := s.repo.Has(ctx, blocksRoot.ChildString(h.Hex())); err != nil {
			return readFailed(e.Key, err)
		} else if !has {
			s.add(ProblemBlocks, e.Key, "the block's data (%s) is missing", blocksRoot.ChildString(h.Hex()))
		}
		holders := uint64(len(info.Tags))
		if info.Pinned {
			holders++
		}
		if n := info.Size * holders; holders != 0 && n/holders != info.Size {
			s.usedOverflow = true
		} else if s.usedSum+n < s.usedSum {
			s.usedOverflow = true
		} else {
			s.usedSum += n
		}
		for _, tag := range info.Tags {
			st := s.tag(tag)
			st.bytes += info.Size
			st.blocks++
			ik := tagIndexPrefix(tag).ChildString(h.Hex())
			if has, err := s.repo.Has(ctx, ik); err != nil {
				return readFailed(ik.String(), err)
			} else if !has {
				s.add(ProblemBlocks, e.Key, "the block is held by %q, but the tag index has no entry %s", tag, ik)
			}
		}
	}
	return nil
}

func (s *scan) tag(tag string) *tagStat {
	st := s.tags[tag]
	if st == nil {
		st = &tagStat{}
		s.tags[tag] = st
	}
	return st
}

// tagIndex reads the tag index and checks each entry against the block's
// metadata.
func (s *scan) tagIndex(ctx context.Context) error {
	for e, err := range s.repo.Query(ctx, dsq.Query{Prefix: tagRoot.String(), KeysOnly: true}) {
		if err != nil {
			return readFailed(tagRoot.String(), err)
		}
		ns := ds.RawKey(e.Key).Namespaces()
		if len(ns) != 4 {
			s.add(ProblemKey, e.Key, "not a tag index key: unexpected key depth %d", len(ns))
			continue
		}
		tag, err := parseTagSegment(ns[2])
		h, ok := parseHash(ns[3])
		if err != nil || !ok || tagIndexPrefix(tag).ChildString(h.Hex()).String() != e.Key {
			s.add(ProblemKey, e.Key, "not a tag index key")
			continue
		}
		s.tag(tag).indexed++
		info, err := s.repo.BlockInfo(ctx, h)
		switch {
		case errors.Is(err, repostore.ErrBlockNotFound):
			s.add(ProblemBlocks, e.Key, "the tag index names block %s, which is not stored", h)
		case errors.Is(err, repostore.ErrCorrupt):
			// Reported with the block's metadata.
		case err != nil:
			return readFailed(e.Key, err)
		case !slices.Contains(info.Tags, tag):
			s.add(ProblemBlocks, e.Key, "the tag index names block %s, which %q does not hold", h, tag)
		}
	}
	return nil
}

// tagHolders checks each tag against the reservation it names.
func (s *scan) tagHolders() {
	byTag := make(map[string]*Reservation, len(s.res))
	for i := range s.res {
		byTag[blockTag(s.res[i].AvailabilityID, s.res[i].ID)] = &s.res[i]
	}
	exists := make(map[string]bool, len(s.resKeys))
	for ref := range s.resKeys {
		exists[blockTag(ref.aid, ref.rid)] = true
	}
	// Reservations with written bytes and no tagged block.
	for tag, r := range byTag {
		if _, ok := s.tags[tag]; !ok && (r.Written() > 0 || r.Blocks > 0) {
			s.tags[tag] = &tagStat{}
		}
	}
	for _, tag := range slices.Sorted(maps.Keys(s.tags)) {
		st := s.tags[tag]
		prefix := tagIndexPrefix(tag).String()
		if r, ok := byTag[tag]; ok {
			key := ReservationKey(r.AvailabilityID, r.ID).String()
			if st.bytes != r.Written() {
				s.add(ProblemBlocks, key, "has written %d bytes (slotSize %d - size %d), but its blocks (%s) hold %d",
					r.Written(), r.SlotSize, r.Size, prefix, st.bytes)
				s.unsound = true
			}
			if st.blocks != r.Blocks {
				s.add(ProblemBlocks, key, "counts %d blocks, but %d blocks are tagged with it (%s)", r.Blocks, st.blocks, prefix)
				s.unsound = true
			}
			continue
		}
		if exists[tag] {
			continue // its reservation does not decode: reported there
		}
		rid, aidPrefix, ok := parseBlockTag(tag)
		if !ok {
			s.add(ProblemBlocks, prefix, "%d blocks (%d bytes) are held by %q, which is not a reservation's tag",
				st.blocks, st.bytes, tag)
			continue
		}
		s.add(ProblemOrphanBlocks, prefix,
			"%d blocks (%d bytes, %d index entries) are held by reservation %s of availability %s..., which does not exist",
			st.blocks, st.bytes, st.indexed, rid, "0x"+aidPrefix)
		if st.indexed > 0 {
			s.fixes = append(s.fixes, s.fixOrphanTag(tag, rid, aidPrefix))
		}
	}
}

// fixOrphanTag drops tag from the blocks it holds, blockChunk blocks a
// commit, each commit re-checking that no reservation the tag could name
// exists.
func (s *scan) fixOrphanTag(tag string, rid ReservationID, aidPrefix string) fix {
	var candidates []AvailabilityID
	for aid := range s.avails {
		if strings.HasPrefix(aid.Hex(), aidPrefix) {
			candidates = append(candidates, aid)
		}
	}
	for aid := range s.badAvails {
		if strings.HasPrefix(aid.Hex(), aidPrefix) {
			candidates = append(candidates, aid)
		}
	}
	for ref := range s.resKeys {
		if strings.HasPrefix(ref.aid.Hex(), aidPrefix) {
			candidates = append(candidates, ref.aid)
		}
	}
	return func(ctx context.Context, repo *repostore.Store) ([]Repair, error) {
		var freed uint64
		var entries int
		for {
			var f uint64
			var n int
			err := repo.Do(ctx, func(tx *repostore.Txn) error {
				for _, aid := range candidates {
					if ok, err := tx.Has(ReservationKey(aid, rid)); err != nil {
						return err
					} else if ok {
						return fmt.Errorf("reservation %s appeared during fsck", ReservationKey(aid, rid))
					}
				}
				var err error
				f, n, err = tx.DropTag(tag, blockChunk)
				return err
			})
			if err != nil {
				err = fmt.Errorf("reservations: fsck: dropping blocks of missing reservation %s: %w", rid, err)
				if entries == 0 {
					return nil, err
				}
				return []Repair{dropped(tag, entries, freed)}, err
			}
			freed += f
			entries += n
			if n < blockChunk {
				return []Repair{dropped(tag, entries, freed)}, nil
			}
		}
	}
}

func dropped(tag string, entries int, freed uint64) Repair {
	return Repair{Key: tagIndexPrefix(tag).String(), Action: fmt.Sprintf(
		"dropped the tag from %d blocks held for a reservation that does not exist; %d bytes left the used counter, blocks no one else holds were deleted",
		entries, freed)}
}

// counters checks the used counter and the block count against the
// blocks.
func (s *scan) counters() {
	switch {
	case s.usedOverflow:
		s.add(ProblemCounter, quotaKey.String(), "the stored blocks' bytes (once per holder) overflow uint64")
	case s.usedSum != s.quota.Used:
		s.add(ProblemCounter, quotaKey.String(), "the used counter is %d, but the stored blocks hold %d bytes (once per holder)",
			s.quota.Used, s.usedSum)
	}
	if n := s.repo.TotalBlocks(); n != int64(s.blockCount) {
		s.add(ProblemCounter, totalKey.String(), "the block count is %d, but %d blocks are stored", n, s.blockCount)
	}
}
