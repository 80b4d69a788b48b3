package statemachine_test

import (
	"flag"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
)

// update rewrites the golden files under testdata/ instead of comparing
// with them: go test ./statemachine -update, then review the diff.
var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

// TestMain fails the run if any test leaves a goroutine behind.
func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// golden compares got with testdata/name, or rewrites the file with -update.
func golden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		require.NoError(t, os.WriteFile(path, []byte(got), 0o644))
		return
	}
	want, err := os.ReadFile(path)
	require.NoError(t, err, "missing golden file; run go test ./statemachine -update")
	assert.Equal(t, string(want), got, "golden file %s differs; run go test ./statemachine -update and review the diff", path)
}
