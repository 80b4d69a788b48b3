package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"strings"

	"github.com/hashicorp/go-multierror"
	"github.com/spf13/cobra"

	"github.com/hostsales/hostsales/repostore"
	"github.com/hostsales/hostsales/repostore/badgerds"
	"github.com/hostsales/hostsales/reservations"
)

func (a *app) fsckCommand() *cobra.Command {
	var repair bool
	quota := sizeFlag{}
	cmd := &cobra.Command{
		Use:   "fsck [--data-dir DIR] [--repair] [--quota SIZE]",
		Short: "Check (and repair) a stopped node's repo offline",
		Long: `fsck opens the repo in --data-dir directly (the node must be stopped) and
checks every availability, reservation, slot-index entry, block tag and
counter against the invariants. It prints each problem with the key of the
record at fault and exits 1 if there is any.

With --repair it fixes what is safe to fix, each fix one atomic commit, and
prints exactly what it changed: missing, dangling or wrong slot-index
entries; blocks tagged for a reservation that no longer exists; the reserved
counter when the records are otherwise sound. Undecodable records, orphan
reservations, duplicate slots and wrong availability accounting are only
reported. It then checks again and exits 1 if problems remain.

Without --repair the repo is opened read-only, unless the node crashed and
badger must first replay its log (fsck says so).

used+reserved is checked against --quota, or else against the quota the
repo recorded when the node last wrote its counters (0 skips that check).`,
		Example: `  salesctl fsck --data-dir ./hostsales-data
  salesctl fsck --data-dir /srv/hostsales --quota 20GiB --repair`,
		Args: noArgs,
	}
	cmd.Flags().BoolVar(&repair, "repair", false, "fix what is safe to fix")
	cmd.Flags().Var(&quota, "quota", "the node's quota, checked against used+reserved (default: the one the repo recorded; 0: no check)")
	cmd.RunE = a.action(func(ctx context.Context, c *cobra.Command, _ []string) error {
		q := int64(-1) // the repo's record
		if c.Flags().Changed("quota") {
			q = int64(min(quota.v, 1<<62))
		}
		return a.fsck(ctx, repair, q)
	})
	return cmd
}

// errNodeRunning: the node (or another fsck) holds the repo.
var errNodeRunning = errors.New("the node is running")

// fsck checks (and repairs) the repo in a.dataDir; quota < 0 means the
// maximum the repo recorded.
func (a *app) fsck(ctx context.Context, repair bool, quotaArg int64) (err error) {
	dir := a.dataDir
	if err := checkRepoDir(dir); err != nil {
		return err
	}
	repo, err := openForFsck(dir, repair, a.stderr)
	if err != nil {
		return err
	}
	defer func() {
		if cerr := repo.Close(); cerr != nil {
			err = multierror.Append(err, fmt.Errorf("closing the repo: %w", cerr)).ErrorOrNil()
		}
	}()
	quota := uint64(max(quotaArg, 0))
	if quotaArg < 0 {
		quota = repo.RecordedQuotaMax()
	}
	rep, ferr := reservations.Fsck(ctx, repo, &reservations.FsckOptions{Repair: repair, QuotaMaxBytes: quota})
	if rep == nil {
		return fmt.Errorf("checking %s: %w", dir, ferr)
	}
	if a.json {
		if err := printJSON(a.stdout, rep); err != nil {
			return err
		}
	} else {
		a.printFsck(dir, quota, repair, rep)
	}
	if ferr != nil {
		return fmt.Errorf("some repairs failed: %w", ferr)
	}
	if !rep.Clean() {
		return errProblemsFound
	}
	return nil
}

// checkRepoDir refuses a directory that is not a repo, so that fsck never
// creates one.
func checkRepoDir(dir string) error {
	st, err := os.Stat(dir)
	if err != nil {
		return fmt.Errorf("no repo at %s: %w (--data-dir or %s names the node's data directory)", dir, err, envDataDir)
	}
	if !st.IsDir() {
		return fmt.Errorf("no repo at %s: not a directory", dir)
	}
	if _, err := os.Stat(filepath.Join(dir, "MANIFEST")); err != nil {
		return fmt.Errorf("no repo at %s: it has no badger MANIFEST (--data-dir or %s names the node's data directory)",
			dir, envDataDir)
	}
	return nil
}

// openForFsck opens the repo at dir: read-only to check, read-write to
// repair or when badger must first replay the log of a node that did not
// close it (a crash). The quota maximum is set as high as it goes so that
// Open never refuses the stored counters (fsck checks them against the
// node's quota itself).
func openForFsck(dir string, repair bool, stderr io.Writer) (*repostore.Store, error) {
	open := func(readOnly bool) (*repostore.Store, error) {
		return repostore.Open(dir, &repostore.Options{QuotaMaxBytes: math.MaxUint64,
			Badger: &badgerds.Options{ReadOnly: readOnly}})
	}
	readOnly := !repair
	replay := readOnly && uncleanShutdown(dir)
	repo, err := open(readOnly && !replay)
	if err != nil && readOnly && !replay && needsReplay(err) {
		replay = true
		repo, err = open(false)
	}
	switch {
	case err == nil:
		if replay {
			fmt.Fprintf(stderr, "salesctl: note: %s was not closed cleanly; opened it for writing so that badger replayed its log (no record was changed)\n", dir)
		}
		return repo, nil
	case errors.Is(err, badgerds.ErrLocked):
		return nil, fmt.Errorf("%w: %s is in use by another process; stop the node first, then run fsck again",
			errNodeRunning, dir)
	case errors.Is(err, repostore.ErrCorrupt):
		var ce *repostore.CorruptError
		if errors.As(err, &ce) { // Open wraps it in a one-error multierror
			err = ce
		}
		return nil, fmt.Errorf("cannot open the repo in %s, a counter record does not decode: %w", dir, err)
	default:
		return nil, fmt.Errorf("cannot open the repo in %s: %w", dir, err)
	}
}

// uncleanShutdown reports whether badger left memtable logs (*.mem) in
// dir: it removes them when it closes cleanly, and cannot replay them in
// read-only mode. Checking first avoids a read-only open that fails that
// way, which also leaks badger's goroutines.
func uncleanShutdown(dir string) bool {
	mems, err := filepath.Glob(filepath.Join(dir, "*.mem"))
	return err == nil && len(mems) > 0
}

// needsReplay reports badger's refusal to open a crashed store read-only
// ("Log truncate required to run DB"), should the check above miss it;
// badgerds does not map it to a sentinel, and badger's own wrapping hides
// it from errors.Is.
func needsReplay(err error) bool {
	return strings.Contains(err.Error(), "Log truncate required")
}

func (a *app) printFsck(dir string, quota uint64, repair bool, rep *reservations.FsckReport) {
	w := a.stdout
	q := "not checked"
	if quota != 0 {
		q = size(quota)
	}
	fmt.Fprintf(w, "checked %s: %d availabilities, %d reservations, %d slot-index entries, %d blocks; quota %s\n",
		dir, rep.Availabilities, rep.Reservations, rep.SlotEntries, rep.Blocks, q)
	if len(rep.Problems) == 0 {
		fmt.Fprintln(w, "no problems found")
		return
	}
	fmt.Fprintf(w, "%d problems:\n", len(rep.Problems))
	for _, p := range rep.Problems {
		fmt.Fprintf(w, "  %s\n", p)
	}
	if !repair {
		fmt.Fprintln(w, "run with --repair to fix what is safe to fix")
		return
	}
	if len(rep.Repairs) == 0 {
		fmt.Fprintln(w, "nothing was safe to repair; no change made")
	} else {
		fmt.Fprintf(w, "%d repairs:\n", len(rep.Repairs))
		for _, r := range rep.Repairs {
			fmt.Fprintf(w, "  %s\n", r)
		}
	}
	if rep.Clean() {
		fmt.Fprintln(w, "no problems left")
		return
	}
	fmt.Fprintf(w, "%d problems left:\n", len(rep.Remaining))
	for _, p := range rep.Remaining {
		fmt.Fprintf(w, "  %s\n", p)
	}
}
