package badgerds_test

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"

	badger "github.com/dgraph-io/badger/v4"
	ds "github.com/ipfs/go-datastore"
	dsq "github.com/ipfs/go-datastore/query"

	"github.com/hostsales/hostsales/repostore/badgerds"
)

func TestTxnTooBig(t *testing.T) {
	for _, m := range modes {
		t.Run(m.name, func(t *testing.T) {
			ctx := t.Context()
			d := m.open(t, &badgerds.Options{NoSync: true})
			txn, err := d.NewTransaction(ctx, false)
			noErr(t, err, "NewTransaction")
			defer txn.Discard(ctx)

			val := bytes.Repeat([]byte{7}, 100<<10) // kept in the LSM tree, counted in full
			const limit = 1000
			n := 0
			for ; n < limit; n++ {
				err := txn.Put(ctx, ds.NewKey(fmt.Sprintf("/big/%04d", n)), val)
				if err != nil {
					isErr(t, err, badgerds.ErrTxnTooBig, "Put into a full txn")
					isErr(t, err, badger.ErrTxnTooBig, "Put into a full txn")
					break
				}
			}
			if n == limit || n == 0 {
				t.Fatalf("accepted %d puts of 100 KiB; want ErrTxnTooBig before %d (MaxBatchSize %d)", n, limit, d.MaxBatchSize())
			}
			// The transaction is still usable and commits what it holds.
			v, err := txn.Get(ctx, ds.NewKey("/big/0000"))
			noErr(t, err, "Get in the full txn")
			eq(t, len(v), len(val), "value size")
			noErr(t, txn.Commit(ctx), "Commit of a full txn")
			eq(t, len(queryKeys(t, d, dsq.Query{Prefix: "/big", KeysOnly: true})), n, "committed keys")
		})
	}
}

func TestMaxBatchLimits(t *testing.T) {
	d := openT(t, "", &badgerds.Options{InMemory: true})
	eq(t, d.MaxBatchSize(), int64(badgerds.DefaultMemTableSize*15/100), "MaxBatchSize")
	if c := d.MaxBatchCount(); c <= 1000 || c >= d.MaxBatchSize() {
		t.Fatalf("MaxBatchCount %d out of range", c)
	}
	t.Logf("defaults: MaxBatchSize %d bytes, MaxBatchCount %d", d.MaxBatchSize(), d.MaxBatchCount())
	noErr(t, d.Close(), "Close")
	eq(t, d.MaxBatchSize(), int64(badgerds.DefaultMemTableSize*15/100), "MaxBatchSize after Close")
}

func TestBatch(t *testing.T) {
	for _, m := range modes {
		t.Run(m.name, func(t *testing.T) {
			ctx := t.Context()
			d := m.open(t, &badgerds.Options{NoSync: true})

			// Larger than one transaction: Commit splits it.
			b, err := d.Batch(ctx)
			noErr(t, err, "Batch")
			val := bytes.Repeat([]byte{1}, 200<<10)
			const n = 40 // 8 MB, > MaxBatchSize
			for i := range n {
				noErr(t, b.Put(ctx, ds.NewKey(fmt.Sprintf("/b/%02d", i)), val), "batch Put")
			}
			noErr(t, b.Delete(ctx, ds.NewKey("/b/00")), "batch Delete")
			noErr(t, b.Put(ctx, ds.NewKey("/b/01"), []byte("last write wins")), "batch Put")
			eq(t, len(queryKeys(t, d, dsq.Query{KeysOnly: true})), 0, "keys visible before Commit")
			noErr(t, b.Commit(ctx), "batch Commit")
			eq(t, len(queryKeys(t, d, dsq.Query{Prefix: "/b", KeysOnly: true})), n-1, "keys after Commit")
			v, err := d.Get(ctx, ds.NewKey("/b/01"))
			noErr(t, err, "Get")
			eqBytes(t, v, []byte("last write wins"), "Get")
			isErr(t, b.Put(ctx, ds.NewKey("/b/x"), nil), badgerds.ErrTxnDone, "Put after Commit")
			isErr(t, b.Commit(ctx), badgerds.ErrTxnDone, "second Commit")

			// Cancel drops everything.
			b, err = d.Batch(ctx)
			noErr(t, err, "Batch")
			noErr(t, b.Put(ctx, ds.NewKey("/c/1"), []byte("x")), "batch Put")
			canceller, ok := b.(interface{ Cancel() error })
			eq(t, ok, true, "batch has Cancel")
			noErr(t, canceller.Cancel(), "Cancel")
			noErr(t, canceller.Cancel(), "second Cancel")
			isErr(t, b.Commit(ctx), badgerds.ErrTxnDone, "Commit after Cancel")
			_, err = d.Get(ctx, ds.NewKey("/c/1"))
			eq(t, err, ds.ErrNotFound, "Get after Cancel")
		})
	}
}

// TestReverseQueryPrefix covers the case badger gets wrong on its own: a
// reverse iterator with a Prefix starts before the prefix range. Keys
// that sort just around "/a/" ("/a-", "/a.x", "/a0") must stay out.
func TestReverseQueryPrefix(t *testing.T) {
	keys := []string{"/a", "/a-x", "/a.x", "/a/1", "/a/2", "/a/2/z", "/a0", "/a0/1", "/ab", "/b"}
	desc := []dsq.Order{dsq.OrderByKeyDescending{}}
	for _, m := range modes {
		t.Run(m.name, func(t *testing.T) {
			ctx := t.Context()
			d := m.open(t, &badgerds.Options{NoSync: true})
			for _, k := range keys {
				noErr(t, d.Put(ctx, ds.NewKey(k), []byte(k)), "Put")
			}
			eqStrings(t, queryKeys(t, d, dsq.Query{Prefix: "/a", Orders: desc}), []string{"/a/2/z", "/a/2", "/a/1"}, "desc /a")
			eqStrings(t, queryKeys(t, d, dsq.Query{Prefix: "/a/", Orders: []dsq.Order{&dsq.OrderByKey{}}}), []string{"/a/1", "/a/2", "/a/2/z"}, "asc /a/")
			eqStrings(t, queryKeys(t, d, dsq.Query{Prefix: "/a/2", Orders: desc}), []string{"/a/2/z"}, "desc /a/2")
			eqStrings(t, queryKeys(t, d, dsq.Query{Prefix: "/a0", Orders: desc}), []string{"/a0/1"}, "desc /a0")
			eqStrings(t, queryKeys(t, d, dsq.Query{Prefix: "/b", Orders: desc}), nil, "desc /b")
			eqStrings(t, queryKeys(t, d, dsq.Query{Prefix: "/a", Orders: desc, Offset: 1, Limit: 1}), []string{"/a/2"}, "desc /a offset 1 limit 1")
			all := queryKeys(t, d, dsq.Query{Prefix: "/", Orders: desc, KeysOnly: true})
			eqStrings(t, all, []string{"/b", "/ab", "/a0/1", "/a0", "/a/2/z", "/a/2", "/a/1", "/a.x", "/a-x", "/a"}, "desc all")

			// The same through a transaction's pending writes.
			txn, err := d.NewTransaction(ctx, false)
			noErr(t, err, "NewTransaction")
			defer txn.Discard(ctx)
			noErr(t, txn.Put(ctx, ds.NewKey("/a/3"), nil), "txn Put")
			noErr(t, txn.Put(ctx, ds.NewKey("/a/"+"\xff"), nil), "txn Put")
			noErr(t, txn.Delete(ctx, ds.NewKey("/a/1")), "txn Delete")
			eqStrings(t, queryKeys(t, txn, dsq.Query{Prefix: "/a", Orders: desc}), []string{"/a/\xff", "/a/3", "/a/2/z", "/a/2"}, "txn desc /a")
		})
	}
}

func TestQueryValueOrderAndSizes(t *testing.T) {
	ctx := t.Context()
	d := openT(t, "", &badgerds.Options{InMemory: true})
	for i, v := range []string{"c", "", "bb", "a"} {
		noErr(t, d.Put(ctx, ds.NewKey(fmt.Sprintf("/v/%d", i)), []byte(v)), "Put")
	}
	res, err := d.Query(ctx, dsq.Query{Prefix: "/v", Orders: []dsq.Order{dsq.OrderByValue{}}, Offset: 1})
	noErr(t, err, "Query")
	es, err := res.Rest()
	noErr(t, err, "Rest")
	var got []string
	for _, e := range es {
		got = append(got, fmt.Sprintf("%s=%s/%d", e.Key, e.Value, e.Size))
	}
	eqStrings(t, got, []string{"/v/3=a/1", "/v/2=bb/2", "/v/0=c/1"}, "by value, offset 1")
	if es[0].Value == nil {
		t.Fatal("query value is nil")
	}

	res, err = d.Query(ctx, dsq.Query{Prefix: "/v", KeysOnly: true, ReturnsSizes: true, Orders: []dsq.Order{dsq.OrderByKey{}}})
	noErr(t, err, "Query")
	es, err = res.Rest()
	noErr(t, err, "Rest")
	for i, want := range []int{1, 0, 2, 1} {
		eq(t, es[i].Size, want, "size of "+es[i].Key)
		if es[i].Value != nil {
			t.Fatalf("KeysOnly returned a value for %s", es[i].Key)
		}
	}
	res, err = d.Query(ctx, dsq.Query{KeysOnly: true})
	noErr(t, err, "Query")
	es, err = res.Rest()
	noErr(t, err, "Rest")
	eq(t, es[0].Size, -1, "KeysOnly size without ReturnsSizes")

	v, err := d.Get(ctx, ds.NewKey("/v/1"))
	noErr(t, err, "Get empty")
	if v == nil || len(v) != 0 {
		t.Fatalf("Get of an empty value = %#v, want []byte{}", v)
	}
	size, err := d.GetSize(ctx, ds.NewKey("/v/2"))
	noErr(t, err, "GetSize")
	eq(t, size, 2, "GetSize")
	size, err = d.GetSize(ctx, ds.NewKey("/nope"))
	eq(t, err, ds.ErrNotFound, "GetSize missing")
	eq(t, size, -1, "GetSize missing")
	noErr(t, d.Delete(ctx, ds.NewKey("/nope")), "Delete missing")
}

func TestOpenLocked(t *testing.T) {
	dir := t.TempDir()
	d := openT(t, dir, nil)
	_, err := badgerds.Open(dir, nil)
	isErr(t, err, badgerds.ErrLocked, "second Open")
	if !strings.Contains(err.Error(), "in use by another process") {
		t.Fatalf("ErrLocked message %q does not say the directory is in use", err)
	}
	noErr(t, d.Close(), "Close")
	d2, err := badgerds.Open(dir, nil)
	noErr(t, err, "Open after Close")
	noErr(t, d2.Close(), "Close")
}

const crashChildEnv = "BADGERDS_TEST_CRASH_CHILD_DIR"

// runCrashChild is the child of TestCrashRecovery: it commits data to a
// durable store in dir, leaves a transaction uncommitted, reports "ready"
// on stdout and blocks until killed (its stdin stays open until then).
func runCrashChild(dir string) {
	fail := func(err error) {
		fmt.Fprintln(os.Stderr, "crash child:", err)
		os.Exit(3)
	}
	ctx := context.Background()
	d, err := badgerds.Open(dir, nil)
	if err != nil {
		fail(err)
	}
	for i := range 100 {
		if err := d.Put(ctx, ds.NewKey(fmt.Sprintf("/put/%03d", i)), []byte(fmt.Sprint(i))); err != nil {
			fail(err)
		}
	}
	if err := d.Delete(ctx, ds.NewKey("/put/000")); err != nil {
		fail(err)
	}
	txn, err := d.NewTransaction(ctx, false)
	if err != nil {
		fail(err)
	}
	if err := txn.Put(ctx, ds.NewKey("/txn/committed"), []byte("yes")); err != nil {
		fail(err)
	}
	if err := txn.Commit(ctx); err != nil {
		fail(err)
	}
	open, err := d.NewTransaction(ctx, false)
	if err != nil {
		fail(err)
	}
	if err := open.Put(ctx, ds.NewKey("/txn/uncommitted"), []byte("no")); err != nil {
		fail(err)
	}
	fmt.Println("ready")
	_, _ = io.Copy(io.Discard, os.Stdin) // until killed
	fail(errors.New("stdin closed before the kill"))
}

// TestCrashRecovery kills (SIGKILL) a child process holding a durable
// store and checks that the directory opens again with every committed
// write and nothing uncommitted; while the child lives, Open fails with
// ErrLocked.
func TestCrashRecovery(t *testing.T) {
	dir := t.TempDir()
	cmd := exec.Command(os.Args[0], "-test.run=^TestCrashRecovery$")
	cmd.Env = append(os.Environ(), crashChildEnv+"="+dir)
	stdin, err := cmd.StdinPipe()
	noErr(t, err, "StdinPipe")
	defer stdin.Close()
	stdout, err := cmd.StdoutPipe()
	noErr(t, err, "StdoutPipe")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	noErr(t, cmd.Start(), "start child")
	line, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil || line != "ready\n" {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		t.Fatalf("child did not get ready: %q, %v; stderr:\n%s", line, err, stderr.String())
	}

	_, err = badgerds.Open(dir, nil)
	isErr(t, err, badgerds.ErrLocked, "Open while another process holds the store")

	noErr(t, cmd.Process.Kill(), "kill child") // SIGKILL: no Close, no flush
	err = cmd.Wait()
	var exitErr *exec.ExitError
	if !errors.As(err, &exitErr) || exitErr.ExitCode() != -1 {
		t.Fatalf("child did not die by the kill: %v; stderr:\n%s", err, stderr.String())
	}

	ctx := t.Context()
	d := openT(t, dir, nil)
	eq(t, len(queryKeys(t, d, dsq.Query{Prefix: "/put", KeysOnly: true})), 99, "recovered puts")
	v, err := d.Get(ctx, ds.NewKey("/put/099"))
	noErr(t, err, "Get recovered")
	eqBytes(t, v, []byte("99"), "recovered value")
	_, err = d.Get(ctx, ds.NewKey("/put/000"))
	eq(t, err, ds.ErrNotFound, "recovered delete")
	v, err = d.Get(ctx, ds.NewKey("/txn/committed"))
	noErr(t, err, "Get committed txn")
	eqBytes(t, v, []byte("yes"), "committed txn value")
	_, err = d.Get(ctx, ds.NewKey("/txn/uncommitted"))
	eq(t, err, ds.ErrNotFound, "uncommitted txn write")
	noErr(t, d.Put(ctx, ds.NewKey("/after"), []byte("crash")), "Put after recovery")
}

// TestCloseWithOpenResults checks that Close neither waits for nor panics
// on Results nobody consumes, including one whose dsq collector goroutine
// is blocked sending.
func TestCloseWithOpenResults(t *testing.T) {
	for _, m := range modes {
		t.Run(m.name, func(t *testing.T) {
			ctx := t.Context()
			d := m.open(t, &badgerds.Options{NoSync: true})
			for i := range 50 {
				noErr(t, d.Put(ctx, ds.NewKey(fmt.Sprintf("/r/%02d", i)), []byte{byte(i)}), "Put")
			}
			var open []dsq.Results
			for range 3 {
				r, err := d.Query(ctx, dsq.Query{})
				noErr(t, err, "Query")
				open = append(open, r)
			}
			_, _ = open[1].NextSync()
			<-open[2].Next()
			noErr(t, d.Close(), "Close")
			for _, r := range open {
				noErr(t, r.Close(), "Results Close after Close")
			}
		})
	}
}

// TestConcurrentClose races Close against every kind of operation; each
// must either succeed or fail with ErrClosed (or a transaction error),
// and nothing may panic or deadlock.
func TestConcurrentClose(t *testing.T) {
	for _, m := range modes {
		t.Run(m.name, func(t *testing.T) {
			ctx := t.Context()
			d := m.open(t, &badgerds.Options{NoSync: true})
			for i := range 20 {
				noErr(t, d.Put(ctx, ds.NewKey(fmt.Sprintf("/k/%02d", i)), []byte{byte(i)}), "Put")
			}
			ok := func(err error) bool {
				return err == nil || errors.Is(err, badgerds.ErrClosed) ||
					errors.Is(err, badgerds.ErrTxnDone) || errors.Is(err, badgerds.ErrConflict)
			}
			workers := []func(i int) error{
				func(i int) error { return d.Put(ctx, ds.NewKey(fmt.Sprintf("/k/%02d", i%20)), []byte{1}) },
				func(i int) error { _, err := d.Get(ctx, ds.NewKey("/k/01")); return err },
				func(i int) error {
					r, err := d.Query(ctx, dsq.Query{Prefix: "/k", Orders: []dsq.Order{dsq.OrderByKeyDescending{}}})
					if err != nil {
						return err
					}
					defer r.Close()
					_, err = r.Rest()
					return err
				},
				func(i int) error {
					txn, err := d.NewTransaction(ctx, false)
					if err != nil {
						return err
					}
					defer txn.Discard(ctx)
					if _, err := txn.Query(ctx, dsq.Query{}); err != nil { // left open
						return err
					}
					if err := txn.Put(ctx, ds.NewKey(fmt.Sprintf("/t/%d", i)), []byte{2}); err != nil {
						return err
					}
					return txn.Commit(ctx)
				},
				func(i int) error {
					b, err := d.Batch(ctx)
					if err != nil {
						return err
					}
					if err := b.Put(ctx, ds.NewKey(fmt.Sprintf("/b/%d", i)), []byte{3}); err != nil {
						return err
					}
					return b.Commit(ctx)
				},
			}
			var started, done sync.WaitGroup
			errs := make(chan error, len(workers))
			for _, w := range workers {
				started.Add(1)
				done.Add(1)
				go func() {
					defer done.Done()
					first := true
					for i := 0; ; i++ {
						err := w(i)
						if first {
							first = false
							started.Done()
						}
						if !ok(err) {
							errs <- err
							return
						}
						if errors.Is(err, badgerds.ErrClosed) {
							return
						}
					}
				}()
			}
			started.Wait()
			noErr(t, d.Close(), "Close")
			done.Wait()
			close(errs)
			for err := range errs {
				t.Errorf("operation failed with an unexpected error: %v", err)
			}
		})
	}
}

func TestOptions(t *testing.T) {
	def := (*badgerds.Options)(nil).EnsureDefaults()
	want := badgerds.Options{
		MemTableSize:     badgerds.DefaultMemTableSize,
		NumMemtables:     badgerds.DefaultNumMemtables,
		BlockCacheSize:   badgerds.DefaultBlockCacheSize,
		IndexCacheSize:   badgerds.DefaultIndexCacheSize,
		ValueLogFileSize: badgerds.DefaultValueLogFileSize,
		NumCompactors:    badgerds.DefaultNumCompactors,
	}
	eq(t, *def, want, "nil EnsureDefaults")
	o := &badgerds.Options{MemTableSize: 32 << 20, NoSync: true}
	c := o.EnsureDefaults()
	if c == o || o.NumMemtables != 0 {
		t.Fatal("EnsureDefaults modified its receiver")
	}
	eq(t, c.MemTableSize, int64(32<<20), "kept MemTableSize")
	eq(t, c.NoSync, true, "kept NoSync")

	valid := []*badgerds.Options{nil, {}, def, {InMemory: true, IndexCacheSize: -1}}
	for _, o := range valid {
		noErr(t, o.Validate(), fmt.Sprintf("Validate(%+v)", o))
	}
	invalid := map[string]badgerds.Options{
		"small memtable":   {MemTableSize: 1 << 20},
		"one compactor":    {NumCompactors: 1},
		"negative memtabs": {NumMemtables: -1},
		"negative cache":   {BlockCacheSize: -1},
		"huge vlog":        {ValueLogFileSize: 3 << 30},
		"tiny vlog":        {ValueLogFileSize: 1 << 10},
		"memory readonly":  {InMemory: true, ReadOnly: true},
	}
	for name, o := range invalid {
		if err := o.Validate(); err == nil {
			t.Errorf("%s: Validate accepted %+v", name, o)
		}
		if _, err := badgerds.Open(t.TempDir(), &o); err == nil {
			t.Errorf("%s: Open accepted %+v", name, o)
		}
	}
	_, err := badgerds.Open("", nil)
	if err == nil {
		t.Fatal(`Open("", nil) succeeded`)
	}
}

// recordHandler collects slog records.
type recordHandler struct {
	mu      sync.Mutex
	records []slog.Record
}

func (h *recordHandler) Enabled(context.Context, slog.Level) bool { return true }
func (h *recordHandler) Handle(_ context.Context, r slog.Record) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.records = append(h.records, r)
	return nil
}
func (h *recordHandler) WithAttrs([]slog.Attr) slog.Handler { return h }
func (h *recordHandler) WithGroup(string) slog.Handler      { return h }

func TestLogger(t *testing.T) {
	h := &recordHandler{}
	d := openT(t, t.TempDir(), &badgerds.Options{Logger: slog.New(h)})
	noErr(t, d.Close(), "Close")
	h.mu.Lock()
	defer h.mu.Unlock()
	if len(h.records) == 0 {
		t.Fatal("badger logged nothing through the slog logger")
	}
	for _, r := range h.records {
		if r.Level != slog.LevelDebug {
			t.Errorf("routine badger line at %v: %q", r.Level, r.Message)
		}
		if strings.HasSuffix(r.Message, "\n") {
			t.Errorf("message keeps its newline: %q", r.Message)
		}
	}
}

func TestReadOnly(t *testing.T) {
	ctx := t.Context()
	dir := t.TempDir()
	d := openT(t, dir, nil)
	noErr(t, d.Put(ctx, ds.NewKey("/k"), []byte("v")), "Put")
	noErr(t, d.Close(), "Close")

	ro := openT(t, dir, &badgerds.Options{ReadOnly: true})
	v, err := ro.Get(ctx, ds.NewKey("/k"))
	noErr(t, err, "Get read-only")
	eqBytes(t, v, []byte("v"), "Get read-only")
	if err := ro.Put(ctx, ds.NewKey("/k2"), nil); err == nil {
		t.Fatal("Put on a read-only store succeeded")
	}
	noErr(t, ro.CollectGarbage(ctx), "CollectGarbage read-only")
	noErr(t, ro.Sync(ctx, ds.NewKey("/")), "Sync read-only")
}

func TestSyncDiskUsageGC(t *testing.T) {
	ctx := t.Context()
	for _, noSync := range []bool{false, true} {
		t.Run(fmt.Sprintf("NoSync=%v", noSync), func(t *testing.T) {
			dir := t.TempDir()
			d := openT(t, dir, &badgerds.Options{NoSync: noSync, ValueLogFileSize: 4 << 20})
			big := bytes.Repeat([]byte{9}, 2<<20) // > ValueThreshold: goes to the value log
			for i := range 3 {
				noErr(t, d.Put(ctx, ds.NewKey(fmt.Sprintf("/big/%d", i)), big), "Put big")
			}
			for i := range 3 {
				noErr(t, d.Delete(ctx, ds.NewKey(fmt.Sprintf("/big/%d", i))), "Delete big")
			}
			noErr(t, d.Sync(ctx, ds.NewKey("/")), "Sync")
			noErr(t, d.CollectGarbage(ctx), "CollectGarbage")
			noErr(t, d.Close(), "Close")

			d = openT(t, dir, nil)
			usage, err := d.DiskUsage(ctx)
			noErr(t, err, "DiskUsage")
			if usage == 0 {
				t.Fatal("DiskUsage of a store that holds data is 0")
			}
		})
	}
	m := openT(t, "", &badgerds.Options{InMemory: true})
	noErr(t, m.Put(ctx, ds.NewKey("/k"), []byte("v")), "Put")
	usage, err := m.DiskUsage(ctx)
	noErr(t, err, "DiskUsage in memory")
	eq(t, usage, uint64(0), "DiskUsage in memory")
	noErr(t, m.Sync(ctx, ds.NewKey("/")), "Sync in memory")
	noErr(t, m.CollectGarbage(ctx), "CollectGarbage in memory")
}
