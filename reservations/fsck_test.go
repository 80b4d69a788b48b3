package reservations_test

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"

	ds "github.com/ipfs/go-datastore"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hostsales/hostsales/market"
	"github.com/hostsales/hostsales/repostore"
	"github.com/hostsales/hostsales/repostore/crashtest"
	"github.com/hostsales/hostsales/reservations"
)

// fsckFixture is a sound store on a raw datastore the tests corrupt
// directly: two availabilities, three live reservations (two sharing a
// block), one ended reservation, and a pinned block.
type fsckFixture struct {
	d      ds.Datastore
	a1, a2 reservations.Availability
	// r1 holds blocks A and B, r2 holds A too, r3 holds none.
	r1, r2, r3 reservations.Reservation
	req        market.RequestID
	blockA     []byte
}

const fsckQuota = 1 << 20

func newFsckFixture(t *testing.T) *fsckFixture {
	t.Helper()
	f := &fsckFixture{d: dssyncMutexWrap(), req: market.RequestID{0xee, 1}, blockA: make([]byte, 300)}
	repo := f.open(t)
	res, err := reservations.New(ctx, repo, &reservations.Options{Rand: seededReader{rand.New(rand.NewPCG(7, 8))}})
	require.NoError(t, err)
	avail := func(size uint64) reservations.Availability {
		a, err := res.CreateAvailability(ctx, reservations.Availability{TotalSize: size, Duration: 3600,
			MinPricePerBytePerSecond: *u(1), TotalCollateral: *u(size), Enabled: true})
		require.NoError(t, err)
		return a
	}
	reserve := func(a reservations.Availability, size, slot uint64) reservations.Reservation {
		r, err := res.CreateReservation(ctx, a.ID, size, f.req, slot, u(1), 100)
		require.NoError(t, err)
		return r
	}
	f.a1, f.a2 = avail(100000), avail(50000)
	f.r1, f.r2, f.r3 = reserve(f.a1, 1000, 0), reserve(f.a1, 2000, 1), reserve(f.a2, 500, 2)
	blockB := make([]byte, 200)
	blockB[0] = 1
	f.r1, err = res.StoreBlocks(ctx, f.a1.ID, f.r1.ID, [][]byte{f.blockA, blockB}, 1<<40)
	require.NoError(t, err)
	f.r2, err = res.StoreBlocks(ctx, f.a1.ID, f.r2.ID, [][]byte{f.blockA}, 1<<40)
	require.NoError(t, err)
	ended := reserve(f.a2, 700, 3)
	_, err = res.StoreBlocks(ctx, f.a2.ID, ended.ID, [][]byte{[]byte("ended")}, 1<<40)
	require.NoError(t, err)
	_, err = res.EndReservation(ctx, f.a2.ID, ended.ID, &ended.Collateral)
	require.NoError(t, err)
	_, err = repo.PutBlock(ctx, []byte("pinned"), 0)
	require.NoError(t, err)
	f.a1, err = res.Availability(f.a1.ID)
	require.NoError(t, err)
	f.a2, err = res.Availability(f.a2.ID)
	require.NoError(t, err)
	require.Equal(t, uint64(300+200+300+6), repo.Quota().Used)
	require.NoError(t, repo.Close())
	return f
}

// open opens a repo over the fixture's datastore, closed at cleanup.
func (f *fsckFixture) open(t *testing.T) *repostore.Store {
	t.Helper()
	repo, err := repostore.Open("", &repostore.Options{Datastore: f.d, QuotaMaxBytes: fsckQuota})
	require.NoError(t, err)
	t.Cleanup(func() { assert.NoError(t, repo.Close()) })
	return repo
}

func (f *fsckFixture) fsck(t *testing.T, opts *reservations.FsckOptions) *reservations.FsckReport {
	t.Helper()
	rep, err := reservations.Fsck(ctx, f.open(t), opts)
	require.NoError(t, err)
	return rep
}

func (f *fsckFixture) put(t *testing.T, key string, value string) {
	t.Helper()
	require.NoError(t, f.d.Put(ctx, ds.NewKey(key), []byte(value)))
}

func (f *fsckFixture) del(t *testing.T, key string) {
	t.Helper()
	require.NoError(t, f.d.Delete(ctx, ds.NewKey(key)))
}

func (f *fsckFixture) get(t *testing.T, key string) string {
	t.Helper()
	v, err := f.d.Get(ctx, ds.NewKey(key))
	require.NoError(t, err)
	return string(v)
}

// editAvailability rewrites an availability record through change.
func (f *fsckFixture) editAvailability(t *testing.T, id reservations.AvailabilityID, change func(*reservations.Availability)) {
	t.Helper()
	key := reservations.AvailabilityKey(id).String()
	var a reservations.Availability
	require.NoError(t, json.Unmarshal([]byte(f.get(t, key)), &a))
	change(&a)
	b, err := json.Marshal(a)
	require.NoError(t, err)
	f.put(t, key, string(b))
}

// putReservation writes r under key (its own ids unless key is given).
func (f *fsckFixture) putReservation(t *testing.T, r reservations.Reservation, key string) {
	t.Helper()
	if key == "" {
		key = reservations.ReservationKey(r.AvailabilityID, r.ID).String()
	}
	b, err := json.Marshal(r)
	require.NoError(t, err)
	f.put(t, key, string(b))
}

// editQuota rewrites the repo's counters.
func (f *fsckFixture) editQuota(t *testing.T, change func(used, reserved *uint64)) {
	t.Helper()
	var q struct{ Used, Reserved uint64 }
	require.NoError(t, json.Unmarshal([]byte(f.get(t, "/meta/quota/used")), &q))
	change(&q.Used, &q.Reserved)
	f.put(t, "/meta/quota/used", fmt.Sprintf(`{"v":1,"used":%d,"reserved":%d}`, q.Used, q.Reserved))
}

// The layouts the tests corrupt directly (reservations/keys.go,
// repostore/keys.go, and the reservation block tag).
func slotKeyOf(req market.RequestID, slot uint64) string {
	return fmt.Sprintf("/meta/sales/slots/%s/%016x", reservations.ID(req).Hex(), slot)
}

func slotValueOf(r reservations.Reservation) string { return r.AvailabilityID.Hex() + "/" + r.ID.Hex() }

func blockTagOf(aid reservations.AvailabilityID, rid reservations.ReservationID) string {
	return rid.Hex() + "-" + aid.Hex()[:16]
}

func tagKeyOf(tag string, data []byte) string {
	return "/meta/tags/" + tag + "/" + repostore.HashOf(data).Hex()
}

func (f *fsckFixture) keyOf(r reservations.Reservation) string {
	return reservations.ReservationKey(r.AvailabilityID, r.ID).String()
}

// kindsAndKeys lists each problem as "kind key".
func kindsAndKeys(ps []reservations.Problem) []string {
	out := make([]string, 0, len(ps))
	for _, p := range ps {
		out = append(out, string(p.Kind)+" "+p.Key)
	}
	return out
}

// A sound store, written only through the package, has no problem.
func TestFsckSoundStore(t *testing.T) {
	f := newFsckFixture(t)
	rep := f.fsck(t, nil)
	assert.Empty(t, rep.Problems)
	assert.True(t, rep.Clean())
	assert.Empty(t, rep.Repairs)
	assert.Equal(t, 2, rep.Availabilities)
	assert.Equal(t, 3, rep.Reservations)
	assert.Equal(t, 3, rep.SlotEntries)
	assert.Equal(t, 3, rep.Blocks) // A, B and the pinned one; the ended one's block is gone

	// Repair on a sound store changes nothing.
	rep = f.fsck(t, &reservations.FsckOptions{Repair: true})
	assert.True(t, rep.Clean())
	assert.Empty(t, rep.Repairs)
}

// Each kind of corruption, injected into the raw datastore, is reported
// with the key of the record at fault, and with nothing else.
func TestFsckReportsEachCorruption(t *testing.T) {
	type fixture = fsckFixture
	otherID := reservations.ID{0xab, 0xcd}
	cases := []struct {
		name    string
		corrupt func(t *testing.T, f *fixture)
		want    func(f *fixture) []string
		opts    *reservations.FsckOptions
	}{
		{"undecodable availability", func(t *testing.T, f *fixture) {
			f.put(t, reservations.AvailabilityKey(f.a2.ID).String(), `{"id":`)
		}, func(f *fixture) []string {
			// Its reservation is an orphan as far as the records go, and
			// the reserved counter no longer adds up.
			return []string{"I3 ", "record " + reservations.AvailabilityKey(f.a2.ID).String(), "I4 " + f.keyOf(f.r3)}
		}, nil},
		{"undecodable reservation", func(t *testing.T, f *fixture) {
			f.put(t, f.keyOf(f.r3), "not json")
		}, func(f *fixture) []string {
			return []string{"I3 ", "I2 " + reservations.AvailabilityKey(f.a2.ID).String(), "record " + f.keyOf(f.r3),
				// its slot entry points to a record that may be its holder: left alone
				"slot-index " + slotKeyOf(f.req, 2)}
		}, nil},
		{"empty record", func(t *testing.T, f *fixture) {
			f.put(t, f.keyOf(f.r3), "")
		}, func(f *fixture) []string {
			return []string{"I3 ", "I2 " + reservations.AvailabilityKey(f.a2.ID).String(), "record " + f.keyOf(f.r3),
				"slot-index " + slotKeyOf(f.req, 2)}
		}, nil},
		{"availability id disagrees with its key", func(t *testing.T, f *fixture) {
			f.editAvailability(t, f.a2.ID, func(a *reservations.Availability) { a.ID = otherID })
		}, func(f *fixture) []string { return []string{"ids " + reservations.AvailabilityKey(f.a2.ID).String()} }, nil},
		{"reservation ids disagree with its key", func(t *testing.T, f *fixture) {
			r := f.r3
			r.ID = otherID
			f.putReservation(t, r, f.keyOf(f.r3))
		}, func(f *fixture) []string { return []string{"ids " + f.keyOf(f.r3)} }, nil},
		{"unexpected key depth", func(t *testing.T, f *fixture) {
			f.put(t, f.keyOf(f.r3)+"/extra", "{}")
		}, func(f *fixture) []string { return []string{"key " + f.keyOf(f.r3) + "/extra"} }, nil},
		{"id that is not lowercase hex", func(t *testing.T, f *fixture) {
			f.put(t, "/meta/sales/reservations/"+strings.ToUpper(otherID.Hex()), "{}")
		}, func(f *fixture) []string {
			return []string{"key /meta/sales/reservations/" + strings.ToUpper(otherID.Hex())}
		}, nil},
		{"orphan reservation", func(t *testing.T, f *fixture) {
			r := f.r3
			r.AvailabilityID = otherID
			f.putReservation(t, r, "")
			f.del(t, f.keyOf(f.r3))
			f.put(t, slotKeyOf(f.req, 2), slotValueOf(r))
		}, func(f *fixture) []string {
			orphan := f.r3
			orphan.AvailabilityID = otherID
			return []string{"I2 " + reservations.AvailabilityKey(f.a2.ID).String(), "I4 " + f.keyOf(orphan)}
		}, nil},
		{"dangling slot-index entry", func(t *testing.T, f *fixture) {
			f.put(t, slotKeyOf(market.RequestID{9}, 4), slotValueOf(reservations.Reservation{AvailabilityID: f.a1.ID, ID: otherID}))
		}, func(f *fixture) []string { return []string{"slot-index " + slotKeyOf(market.RequestID{9}, 4)} }, nil},
		{"slot-index entry pointing to another slot's reservation", func(t *testing.T, f *fixture) {
			f.put(t, slotKeyOf(market.RequestID{9}, 4), slotValueOf(f.r1))
		}, func(f *fixture) []string { return []string{"slot-index " + slotKeyOf(market.RequestID{9}, 4)} }, nil},
		{"missing slot-index entry", func(t *testing.T, f *fixture) {
			f.del(t, slotKeyOf(f.req, 1))
		}, func(f *fixture) []string { return []string{"slot-index " + slotKeyOf(f.req, 1)} }, nil},
		{"slot-index entry pointing to the wrong reservation", func(t *testing.T, f *fixture) {
			f.put(t, slotKeyOf(f.req, 1), slotValueOf(f.r1))
		}, func(f *fixture) []string { return []string{"slot-index " + slotKeyOf(f.req, 1)} }, nil},
		{"undecodable slot-index entry", func(t *testing.T, f *fixture) {
			f.put(t, slotKeyOf(f.req, 1), "garbage")
		}, func(f *fixture) []string { return []string{"slot-index " + slotKeyOf(f.req, 1)} }, nil},
		{"bad slot-index key", func(t *testing.T, f *fixture) {
			f.put(t, "/meta/sales/slots/zz/1", "x")
		}, func(f *fixture) []string { return []string{"key /meta/sales/slots/zz/1"} }, nil},
		{"duplicate slot reservations", func(t *testing.T, f *fixture) {
			dup := f.r3
			dup.ID = otherID
			f.putReservation(t, dup, "")
		}, func(f *fixture) []string {
			// The copy also breaks the availability's and the repo's sums.
			k := reservations.AvailabilityKey(f.a2.ID).String()
			return []string{"I3 ", "I2 " + k, "I1c " + k, "duplicate-slot " + slotKeyOf(f.req, 2)}
		}, nil},
		{"I1 freeSize above totalSize", func(t *testing.T, f *fixture) {
			f.editAvailability(t, f.a2.ID, func(a *reservations.Availability) { a.FreeSize = a.TotalSize + 1 })
			f.editQuota(t, func(_, reserved *uint64) { *reserved += f.a2.TotalSize + 1 - f.a2.FreeSize })
		}, func(f *fixture) []string { return []string{"I1 " + reservations.AvailabilityKey(f.a2.ID).String()} }, nil},
		{"I1 remaining collateral above total", func(t *testing.T, f *fixture) {
			f.editAvailability(t, f.a2.ID, func(a *reservations.Availability) {
				a.TotalRemainingCollateral.AddUint64(&a.TotalCollateral, 1)
			})
		}, func(f *fixture) []string {
			k := reservations.AvailabilityKey(f.a2.ID).String()
			return []string{"I1 " + k, "I1c " + k}
		}, nil},
		{"I2 bytes leaked", func(t *testing.T, f *fixture) {
			f.editAvailability(t, f.a1.ID, func(a *reservations.Availability) { a.FreeSize -= 10 })
			f.editQuota(t, func(_, reserved *uint64) { *reserved -= 10 })
		}, func(f *fixture) []string { return []string{"I2 " + reservations.AvailabilityKey(f.a1.ID).String()} }, nil},
		{"I3 reserved counter off", func(t *testing.T, f *fixture) {
			f.editQuota(t, func(_, reserved *uint64) { *reserved += 7 })
		}, func(f *fixture) []string { return []string{"I3 "} }, nil},
		{"I3 over the node's quota", func(t *testing.T, f *fixture) {},
			func(f *fixture) []string { return []string{"I3 "} }, &reservations.FsckOptions{QuotaMaxBytes: 1000}},
		{"used counter off", func(t *testing.T, f *fixture) {
			f.editQuota(t, func(used, _ *uint64) { *used += 5 })
		}, func(f *fixture) []string { return []string{"counter /meta/quota/used"} }, nil},
		{"block count off", func(t *testing.T, f *fixture) {
			f.put(t, "/meta/total", "9")
		}, func(f *fixture) []string { return []string{"counter /meta/total"} }, nil},
		{"blocks tagged for a reservation that does not exist", func(t *testing.T, f *fixture) {
			tagBlocks(t, f, blockTagOf(f.a1.ID, otherID), []byte("orphan one"), []byte("orphan two"))
		}, func(f *fixture) []string {
			return []string{"orphan-blocks /meta/tags/" + blockTagOf(f.a1.ID, otherID)}
		}, nil},
		{"blocks a reservation does not account for", func(t *testing.T, f *fixture) {
			tagBlocks(t, f, blockTagOf(f.a2.ID, f.r3.ID), []byte("unaccounted"))
		}, func(f *fixture) []string { return []string{"blocks " + f.keyOf(f.r3), "blocks " + f.keyOf(f.r3)} }, nil},
		{"stale tag index entry", func(t *testing.T, f *fixture) {
			f.put(t, tagKeyOf(blockTagOf(f.a1.ID, f.r1.ID), []byte("never stored")), "")
		}, func(f *fixture) []string {
			return []string{"blocks " + tagKeyOf(blockTagOf(f.a1.ID, f.r1.ID), []byte("never stored"))}
		}, nil},
		{"tag index entry missing", func(t *testing.T, f *fixture) {
			f.del(t, tagKeyOf(blockTagOf(f.a1.ID, f.r2.ID), f.blockA))
		}, func(f *fixture) []string {
			return []string{"blocks /meta/blocks/" + repostore.HashOf(f.blockA).Hex()}
		}, nil},
		{"block data missing", func(t *testing.T, f *fixture) {
			f.del(t, "/blocks/"+repostore.HashOf(f.blockA).Hex())
		}, func(f *fixture) []string {
			return []string{"blocks /meta/blocks/" + repostore.HashOf(f.blockA).Hex()}
		}, nil},
		{"undecodable block metadata", func(t *testing.T, f *fixture) {
			f.put(t, "/meta/blocks/"+repostore.HashOf([]byte("pinned")).Hex(), "\x09")
		}, func(f *fixture) []string {
			// Its bytes are no longer accounted for in the tally.
			return []string{"blocks /meta/blocks/" + repostore.HashOf([]byte("pinned")).Hex(), "counter /meta/quota/used"}
		}, nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			f := newFsckFixture(t)
			c.corrupt(t, f)
			rep := f.fsck(t, c.opts)
			want := c.want(f)
			assert.ElementsMatch(t, want, kindsAndKeys(rep.Problems), "%v", rep.Problems)
			assert.Equal(t, rep.Problems, rep.Remaining)
			assert.False(t, rep.Clean())
			for _, p := range rep.Problems {
				assert.NotEmpty(t, p.Msg)
			}
		})
	}
}

// tagBlocks stores blocks held by tag without touching any reservation, as
// a bug or a half-restored backup could leave them.
func tagBlocks(t *testing.T, f *fsckFixture, tag string, blocks ...[]byte) {
	t.Helper()
	repo, err := repostore.Open("", &repostore.Options{Datastore: f.d, QuotaMaxBytes: fsckQuota})
	require.NoError(t, err)
	defer func() { require.NoError(t, repo.Close()) }()
	require.NoError(t, repo.Do(ctx, func(tx *repostore.Txn) error {
		for _, b := range blocks {
			if _, err := tx.PutBlock(b, 1<<40, tag); err != nil {
				return err
			}
		}
		return nil
	}))
}

// Repair fixes every repairable problem, each in its own commit, says
// what it changed, and leaves a store that a second fsck finds clean and
// the package opens and runs on.
func TestFsckRepair(t *testing.T) {
	f := newFsckFixture(t)
	otherID := reservations.ID{0xab, 0xcd}
	orphanTag := blockTagOf(f.a1.ID, otherID)
	tagBlocks(t, f, orphanTag, []byte("orphan one"), []byte("orphan two"), f.blockA)
	f.del(t, slotKeyOf(f.req, 0))                                                                                            // missing
	f.put(t, slotKeyOf(f.req, 1), slotValueOf(f.r3))                                                                         // wrong target
	f.put(t, slotKeyOf(f.req, 2), "garbage")                                                                                 // undecodable
	f.put(t, slotKeyOf(market.RequestID{9}, 0), slotValueOf(reservations.Reservation{AvailabilityID: f.a1.ID, ID: otherID})) // dangling
	f.put(t, slotKeyOf(market.RequestID{9}, 1), slotValueOf(f.r1))                                                           // another slot's
	f.editQuota(t, func(_, reserved *uint64) { *reserved -= 123 })
	before := f.open(t).Quota()

	rep := f.fsck(t, &reservations.FsckOptions{Repair: true})
	assert.ElementsMatch(t, []string{
		"I3 ",
		"slot-index " + slotKeyOf(f.req, 0), "slot-index " + slotKeyOf(f.req, 1), "slot-index " + slotKeyOf(f.req, 2),
		"slot-index " + slotKeyOf(market.RequestID{9}, 0), "slot-index " + slotKeyOf(market.RequestID{9}, 1),
		"orphan-blocks /meta/tags/" + orphanTag,
	}, kindsAndKeys(rep.Problems))
	var changed []string
	for _, r := range rep.Repairs {
		assert.NotEmpty(t, r.Action)
		changed = append(changed, r.Key)
	}
	assert.Equal(t, []string{
		slotKeyOf(f.req, 0), slotKeyOf(f.req, 1), slotKeyOf(f.req, 2),
		slotKeyOf(market.RequestID{9}, 0), slotKeyOf(market.RequestID{9}, 1),
		"/meta/tags/" + orphanTag, "/meta/quota/used",
	}, changed, "%v", rep.Repairs)
	assert.Empty(t, rep.Remaining)
	assert.True(t, rep.Clean())

	// A second fsck is clean, and the store is the sound one again.
	assert.Empty(t, f.fsck(t, nil).Problems)
	repo := f.open(t)
	q := repo.Quota()
	assert.Equal(t, before.Reserved+123, q.Reserved)
	assert.Equal(t, before.Used-uint64(len("orphan one")+len("orphan two")+len(f.blockA)), q.Used,
		"the orphan's holdings left the used counter; block A stays for r1 and r2")
	res, err := reservations.New(ctx, repo, nil)
	require.NoError(t, err)
	st, err := res.Snapshot(ctx)
	require.NoError(t, err)
	assert.Empty(t, st.Check())
	for _, r := range []reservations.Reservation{f.r1, f.r2, f.r3} {
		got, err := res.ReservationForSlot(ctx, f.req, r.SlotIndex)
		require.NoError(t, err)
		assert.Equal(t, r.ID, got.ID)
	}
	for _, data := range [][]byte{[]byte("orphan one"), []byte("orphan two")} {
		has, err := repo.HasBlock(ctx, repostore.HashOf(data))
		require.NoError(t, err)
		assert.False(t, has, "a block only the orphan held is deleted")
	}
	ended, err := res.EndReservation(ctx, f.a1.ID, f.r1.ID, &f.r1.Collateral)
	require.NoError(t, err)
	assert.True(t, ended.Found)
}

// What needs judgement is reported and left alone: an orphan reservation,
// an undecodable record, a slot entry pointing to it, and the reserved
// counter, which is not recomputed from records that are not sound.
func TestFsckRepairLeavesJudgementAlone(t *testing.T) {
	f := newFsckFixture(t)
	otherID := reservations.ID{0xab, 0xcd}
	orphan := f.r3
	orphan.AvailabilityID = otherID
	f.putReservation(t, orphan, "")
	f.del(t, f.keyOf(f.r3))
	f.put(t, slotKeyOf(f.req, 2), slotValueOf(orphan))
	f.put(t, f.keyOf(f.r2), "{broken")
	f.editQuota(t, func(_, reserved *uint64) { *reserved += 1 })
	raw := map[string]string{}
	for _, k := range []string{f.keyOf(orphan), f.keyOf(f.r2), slotKeyOf(f.req, 1), slotKeyOf(f.req, 2), "/meta/quota/used"} {
		raw[k] = f.get(t, k)
	}

	rep := f.fsck(t, &reservations.FsckOptions{Repair: true})
	assert.Empty(t, rep.Repairs)
	assert.Equal(t, rep.Problems, rep.Remaining)
	assert.Contains(t, kindsAndKeys(rep.Problems), "I4 "+f.keyOf(orphan))
	assert.Contains(t, kindsAndKeys(rep.Problems), "record "+f.keyOf(f.r2))
	assert.Contains(t, kindsAndKeys(rep.Problems), "slot-index "+slotKeyOf(f.req, 1))
	// r2's blocks have no decodable record to compare with: no claim
	// either way, and they are not dropped.
	assert.NotContains(t, kindsAndKeys(rep.Problems), "orphan-blocks /meta/tags/"+blockTagOf(f.a1.ID, f.r2.ID))
	for k, v := range raw {
		assert.Equal(t, v, f.get(t, k), "%s is unchanged", k)
	}
}

// A cancelled context stops the scan with a read error.
func TestFsckCancelled(t *testing.T) {
	f := newFsckFixture(t)
	c, cancel := context.WithCancel(ctx)
	cancel()
	_, err := reservations.Fsck(c, f.open(t), nil)
	require.ErrorIs(t, err, context.Canceled)
	require.ErrorIs(t, err, reservations.ErrGetFailed)
}

// A repo left by processes killed in the middle of every composite
// operation is consistent: every commit is atomic, so fsck finds nothing.
func TestFsckAfterCrash(t *testing.T) {
	dir := t.TempDir()
	repo, err := repostore.Open(dir, &repostore.Options{QuotaMaxBytes: crashQuota})
	require.NoError(t, err)
	res, err := reservations.New(ctx, repo, nil)
	require.NoError(t, err)
	aids := make([]reservations.AvailabilityID, crashWorkers)
	for w := range aids {
		a, err := res.CreateAvailability(ctx, reservations.Availability{TotalSize: 10000, Duration: 10,
			MinPricePerBytePerSecond: *u(1), TotalCollateral: *u(1 << 20), Enabled: true})
		require.NoError(t, err)
		aids[w] = a.ID
	}
	require.NoError(t, repo.Close())
	rng := rand.New(rand.NewPCG(9, 10))
	done := make([]int, crashWorkers)
	for point := range 4 {
		state := make([]string, len(aids))
		for w, aid := range aids {
			state[w] = fmt.Sprintf("%s:%d", aid, done[w])
		}
		run, err := crashtest.Run([]string{crashDirEnv + "=" + dir, crashStateEnv + "=" + strings.Join(state, ",")},
			crashWorkers, 1+rng.IntN(60))
		require.NoError(t, err, "point %d", point)
		repo, err := repostore.Open(dir, &repostore.Options{QuotaMaxBytes: crashQuota})
		require.NoError(t, err)
		rep, err := reservations.Fsck(ctx, repo, nil)
		require.NoError(t, err)
		assert.Empty(t, rep.Problems, "point %d", point)
		// Continue each worker from the op its state shows it reached.
		res, err := reservations.New(ctx, repo, nil)
		require.NoError(t, err)
		for w, aid := range aids {
			a, err := res.Availability(aid)
			require.NoError(t, err)
			live, err := res.ReservationsOf(ctx, aid)
			require.NoError(t, err)
			got := crashModelState{total: a.TotalSize, free: a.FreeSize, remaining: a.TotalRemainingCollateral.Uint64(),
				live: map[uint64]uint64{}}
			for _, r := range live {
				got.live[r.SlotIndex] = r.Size
			}
			matched := false
			for _, n := range []int{done[w] + run.Acked[w], done[w] + run.Intended[w]} {
				want := crashModel(w, n)
				got.used = want.used
				if assert.ObjectsAreEqual(want, got) {
					done[w], matched = n, true
					break
				}
			}
			require.True(t, matched, "point %d worker %d", point, w)
		}
		require.NoError(t, repo.Close())
	}
}
