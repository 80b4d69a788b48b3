package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/holiman/uint256"
	ds "github.com/ipfs/go-datastore"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hostsales/hostsales/market"
	"github.com/hostsales/hostsales/repostore"
	"github.com/hostsales/hostsales/repostore/badgerds"
	"github.com/hostsales/hostsales/reservations"
)

// soundRepo writes a stopped node's repo in a new directory: one
// availability with one reservation that has written a block.
func soundRepo(t *testing.T) (dir string, a reservations.Availability, r reservations.Reservation) {
	t.Helper()
	ctx := context.Background()
	dir = t.TempDir()
	repo, err := repostore.Open(dir, &repostore.Options{QuotaMaxBytes: 1 << 30})
	require.NoError(t, err)
	res, err := reservations.New(ctx, repo, nil)
	require.NoError(t, err)
	a, err = res.CreateAvailability(ctx, reservations.Availability{TotalSize: 1 << 20, Duration: 3600,
		MinPricePerBytePerSecond: *uint256.NewInt(1), TotalCollateral: *uint256.NewInt(1 << 20), Enabled: true})
	require.NoError(t, err)
	r, err = res.CreateReservation(ctx, a.ID, 4096, market.RequestID{7}, 3, uint256.NewInt(1), 100)
	require.NoError(t, err)
	_, err = res.StoreBlocks(ctx, a.ID, r.ID, [][]byte{[]byte("block")}, 1<<40)
	require.NoError(t, err)
	require.NoError(t, repo.Close())
	return dir, a, r
}

// rawEdit changes the repo's raw records, as a bug or a disk fault could.
func rawEdit(t *testing.T, dir string, edit func(d *badgerds.Datastore)) {
	t.Helper()
	d, err := badgerds.Open(dir, nil)
	require.NoError(t, err)
	edit(d)
	require.NoError(t, d.Close())
}

func slotIndexKey(r reservations.Reservation) string {
	return fmt.Sprintf("/meta/sales/slots/%s/%016x", reservations.ID(r.RequestID).Hex(), r.SlotIndex)
}

// A sound repo: "no problems found", exit 0; --json gives the report.
func TestFsckClean(t *testing.T) {
	dir, _, _ := soundRepo(t)
	out := ok(t, "fsck", "--data-dir", dir)
	assert.Equal(t, "checked "+dir+": 1 availabilities, 1 reservations, 1 slot-index entries, 1 blocks; quota 1 GiB\n"+
		"no problems found\n", out)
	rep := decode[reservations.FsckReport](t, ok(t, "fsck", "--data-dir", dir, "--json"))
	assert.True(t, rep.Clean())
	assert.Equal(t, 1, rep.Reservations)
	assert.Empty(t, rep.Problems)

	// Checking opens the repo read-only: the node can start right after.
	repo, err := repostore.Open(dir, &repostore.Options{QuotaMaxBytes: 1 << 30})
	require.NoError(t, err)
	require.NoError(t, repo.Close())
}

// Each problem is printed with its key and the exit code is 1; --repair
// fixes the repairable ones, prints what it changed, and a second fsck is
// clean.
func TestFsckCorruptAndRepair(t *testing.T) {
	dir, _, r := soundRepo(t)
	sk := slotIndexKey(r)
	rawEdit(t, dir, func(d *badgerds.Datastore) {
		require.NoError(t, d.Delete(context.Background(), ds.NewKey(sk)))
		require.NoError(t, d.Put(context.Background(), ds.NewKey("/meta/quota/used"), []byte(`{"v":1,"used":6,"reserved":7}`)))
	})

	out, errOut, code := cli(t, "fsck", "--data-dir", dir)
	assert.Equal(t, exitFailure, code)
	assert.Empty(t, errOut)
	assert.Contains(t, out, "3 problems:\n")
	assert.Contains(t, out, "  I3: the quota's reserved bytes are 7 but")
	assert.Contains(t, out, "  counter /meta/quota/used: the used counter is 6, but the stored blocks hold 5 bytes (once per holder)\n")
	assert.Contains(t, out, "  slot-index "+sk+": missing: reservation ")
	assert.True(t, strings.HasSuffix(out, "run with --repair to fix what is safe to fix\n"), out)

	out, errOut, code = cli(t, "fsck", "--data-dir", dir, "--repair")
	assert.Empty(t, errOut)
	assert.Contains(t, out, "2 repairs:\n")
	assert.Contains(t, out, "  "+sk+": wrote the missing entry for reservation ")
	assert.Contains(t, out, "  /meta/quota/used: set the reserved counter from 7 to ")
	// The used counter cannot be set by any repair: it is reported still.
	assert.Contains(t, out, "1 problems left:\n  counter /meta/quota/used")
	assert.Equal(t, exitFailure, code)
}

// After a repair of everything repairable, fsck exits 0 and a second run
// is clean.
func TestFsckRepairToClean(t *testing.T) {
	dir, a, _ := soundRepo(t)
	dangling := fmt.Sprintf("/meta/sales/slots/%s/%016x", reservations.ID{9}.Hex(), 1)
	rawEdit(t, dir, func(d *badgerds.Datastore) {
		require.NoError(t, d.Put(context.Background(), ds.NewKey(dangling), []byte(a.ID.Hex()+"/"+reservations.ID{8}.Hex())))
	})
	out, errOut, code := cli(t, "fsck", "--data-dir", dir, "--repair", "--json")
	assert.Equal(t, exitOK, code, errOut)
	rep := decode[reservations.FsckReport](t, out)
	require.Len(t, rep.Problems, 1)
	assert.Equal(t, dangling, rep.Problems[0].Key)
	require.Len(t, rep.Repairs, 1)
	assert.Equal(t, dangling, rep.Repairs[0].Key)
	assert.Contains(t, rep.Repairs[0].Action, "deleted the entry")
	assert.True(t, rep.Clean())
	assert.Contains(t, ok(t, "fsck", "--data-dir", dir), "no problems found\n")
}

// What needs judgement is reported, not touched, and fsck exits 1.
func TestFsckUnrepairable(t *testing.T) {
	dir, a, r := soundRepo(t)
	key := reservations.ReservationKey(a.ID, r.ID).String()
	rawEdit(t, dir, func(d *badgerds.Datastore) {
		require.NoError(t, d.Put(context.Background(), ds.NewKey(key), []byte("{broken")))
	})
	out, _, code := cli(t, "fsck", "--data-dir", dir, "--repair")
	assert.Equal(t, exitFailure, code)
	assert.Contains(t, out, "  record "+key+": reservation does not decode: ")
	assert.Contains(t, out, "nothing was safe to repair; no change made\n")
	rawEdit(t, dir, func(d *badgerds.Datastore) {
		v, err := d.Get(context.Background(), ds.NewKey(key))
		require.NoError(t, err)
		assert.Equal(t, "{broken", string(v))
	})
}

// A counter record that does not decode stops repostore from opening the
// repo: fsck says which, and exits 1.
func TestFsckCorruptCounter(t *testing.T) {
	dir, _, _ := soundRepo(t)
	rawEdit(t, dir, func(d *badgerds.Datastore) {
		require.NoError(t, d.Put(context.Background(), ds.NewKey("/meta/quota/used"), []byte("garbage")))
	})
	out, errOut, code := cli(t, "fsck", "--data-dir", dir, "--repair")
	assert.Equal(t, exitFailure, code)
	assert.Empty(t, out)
	assert.True(t, strings.HasPrefix(errOut, "salesctl: cannot open the repo in "+dir+
		", a counter record does not decode: repostore: corrupt record at /meta/quota/used: "), errOut)
	assert.Equal(t, 1, strings.Count(errOut, "\n"))
}

// used+reserved is checked against --quota (the repo does not store the
// node's quota); 0 skips the check.
func TestFsckQuota(t *testing.T) {
	dir, _, _ := soundRepo(t)
	out, _, code := cli(t, "fsck", "--data-dir", dir, "--quota", "1KiB")
	assert.Equal(t, exitFailure, code)
	assert.Contains(t, out, "quota 1 KiB\n")
	assert.Contains(t, out, "  I3: used 5 plus reserved 1048571 exceeds the quota's max 1024\n")
	out = ok(t, "fsck", "--data-dir", dir, "--quota", "0")
	assert.Contains(t, out, "quota not checked\n")
}

// A repo the node still holds is refused at once with a clear message.
func TestFsckNodeRunning(t *testing.T) {
	dir, _, _ := soundRepo(t)
	repo, err := repostore.Open(dir, &repostore.Options{QuotaMaxBytes: 1 << 30})
	require.NoError(t, err)
	defer func() { require.NoError(t, repo.Close()) }()
	for _, args := range [][]string{{"fsck"}, {"fsck", "--repair"}} {
		out, errOut, code := cli(t, append(args, "--data-dir", dir)...)
		assert.Equal(t, exitFailure, code)
		assert.Empty(t, out)
		assert.Equal(t, "salesctl: the node is running: "+dir+" is in use by another process; stop the node first, then run fsck again\n",
			errOut)
	}
}

// A directory that is not a repo is refused, and not created.
func TestFsckNoRepo(t *testing.T) {
	missing := filepath.Join(t.TempDir(), "nope")
	_, errOut, code := cli(t, "fsck", "--data-dir", missing, "--repair")
	assert.Equal(t, exitFailure, code)
	assert.True(t, strings.HasPrefix(errOut, "salesctl: no repo at "+missing+": "), errOut)
	_, err := os.Stat(missing)
	assert.True(t, errors.Is(err, os.ErrNotExist))

	empty := t.TempDir()
	_, errOut, code = cli(t, "fsck", "--data-dir", empty)
	assert.Equal(t, exitFailure, code)
	assert.Equal(t, "salesctl: no repo at "+empty+": it has no badger MANIFEST (--data-dir or HOSTSALES_DATA_DIR names the node's data directory)\n", errOut)
}

// A repo left by a node killed with SIGKILL: badger must replay its log,
// which a read-only open cannot, so fsck opens it for writing (and says
// so); every acknowledged write is there and the repo is consistent.
func TestFsckAfterCrash(t *testing.T) {
	dir := t.TempDir()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), crashChildEnv+"="+dir)
	stdin, err := cmd.StdinPipe()
	require.NoError(t, err)
	defer stdin.Close()
	stdout, err := cmd.StdoutPipe()
	require.NoError(t, err)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	require.NoError(t, cmd.Start())
	line, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil || line != "ready\n" {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		t.Fatalf("child not ready: %q %v; stderr:\n%s", line, err, stderr.String())
	}

	// While the child holds the repo, fsck refuses.
	_, errOut, code := cli(t, "fsck", "--data-dir", dir)
	assert.Equal(t, exitFailure, code)
	assert.Contains(t, errOut, "the node is running")

	require.NoError(t, cmd.Process.Kill())
	var exitErr *exec.ExitError
	require.ErrorAs(t, cmd.Wait(), &exitErr)

	out, errOut, code := cli(t, "fsck", "--data-dir", dir)
	assert.Equal(t, exitOK, code, "stdout:\n%s\nstderr:\n%s", out, errOut)
	assert.Equal(t, "salesctl: note: "+dir+" was not closed cleanly; opened it for writing so that badger replayed its log (no record was changed)\n", errOut)
	assert.Equal(t, "checked "+dir+": 1 availabilities, 1 reservations, 1 slot-index entries, 1 blocks; quota 1 GiB\n"+
		"no problems found\n", out)
	// Replayed once, the repo now opens read-only too.
	out, errOut, code = cli(t, "fsck", "--data-dir", dir)
	assert.Equal(t, exitOK, code, out)
	assert.Empty(t, errOut)
}
