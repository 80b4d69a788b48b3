package badgerds_test

import (
	"bytes"
	"context"
	"errors"
	"os"
	"testing"

	ds "github.com/ipfs/go-datastore"
	dsq "github.com/ipfs/go-datastore/query"
	"go.uber.org/goleak"

	"github.com/hostsales/hostsales/repostore/badgerds"
)

func TestMain(m *testing.M) {
	// The crash-recovery child (see TestCrashRecovery) is this binary
	// re-executed; it is killed, so it must not reach goleak.
	if dir := os.Getenv(crashChildEnv); dir != "" {
		runCrashChild(dir)
		os.Exit(2) // unreachable: runCrashChild blocks until killed
	}
	goleak.VerifyTestMain(m)
}

// mode is a way to open a store for tests.
type mode struct {
	name string
	open func(t testing.TB, opts *badgerds.Options) *badgerds.Datastore
}

// modes are the store configurations every suite runs against.
var modes = []mode{
	{"memory", func(t testing.TB, opts *badgerds.Options) *badgerds.Datastore {
		o := *opts.EnsureDefaults()
		o.InMemory = true
		return openT(t, "", &o)
	}},
	{"disk", func(t testing.TB, opts *badgerds.Options) *badgerds.Datastore {
		return openT(t, t.TempDir(), opts)
	}},
}

// openT opens a store and closes it at the end of the test.
func openT(t testing.TB, path string, opts *badgerds.Options) *badgerds.Datastore {
	t.Helper()
	d, err := badgerds.Open(path, opts)
	if err != nil {
		t.Fatalf("Open(%q): %v", path, err)
	}
	t.Cleanup(func() {
		if err := d.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return d
}

// Small assertion helpers: testify cannot be imported yet, because go.sum
// lacks the checksums of its dependencies (go-spew, go-difflib, yaml.v3).

func noErr(t testing.TB, err error, what string) {
	t.Helper()
	if err != nil {
		t.Fatalf("%s: unexpected error: %v", what, err)
	}
}

func isErr(t testing.TB, err, target error, what string) {
	t.Helper()
	if !errors.Is(err, target) {
		t.Fatalf("%s: got error %v, want %v", what, err, target)
	}
}

func eq[T comparable](t testing.TB, got, want T, what string) {
	t.Helper()
	if got != want {
		t.Fatalf("%s: got %v, want %v", what, got, want)
	}
}

func eqBytes(t testing.TB, got, want []byte, what string) {
	t.Helper()
	if !bytes.Equal(got, want) {
		t.Fatalf("%s: got %q, want %q", what, got, want)
	}
}

// notPanics runs f and fails the test if it panics.
func notPanics(t testing.TB, what string, f func()) {
	t.Helper()
	defer func() {
		if r := recover(); r != nil {
			t.Fatalf("%s panicked: %v", what, r)
		}
	}()
	f()
}

// keysOf drains r and returns its keys in result order.
func keysOf(t testing.TB, r dsq.Results) []string {
	t.Helper()
	es, err := r.Rest()
	noErr(t, err, "Rest")
	keys := make([]string, len(es))
	for i, e := range es {
		keys[i] = e.Key
	}
	return keys
}

func queryKeys(t testing.TB, r ds.Read, q dsq.Query) []string {
	t.Helper()
	res, err := r.Query(context.Background(), q)
	noErr(t, err, "Query")
	defer res.Close()
	return keysOf(t, res)
}

func eqStrings(t testing.TB, got, want []string, what string) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: got %q, want %q", what, got, want)
	}
	for i := range got {
		if got[i] != want[i] {
			t.Fatalf("%s: got %q, want %q", what, got, want)
		}
	}
}
