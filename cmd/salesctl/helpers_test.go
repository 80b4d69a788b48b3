package main

import (
	"bytes"
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// decode parses a command's --json output into a T, failing the test if
// it is not exactly one JSON value.
func decode[T any](t *testing.T, out string) T {
	t.Helper()
	var v T
	dec := json.NewDecoder(strings.NewReader(out))
	dec.DisallowUnknownFields()
	require.NoError(t, dec.Decode(&v), "output:\n%s", out)
	require.False(t, dec.More(), "one JSON value")
	return v
}

// ok runs a command that must succeed and print nothing on stderr.
func ok(t *testing.T, args ...string) string {
	t.Helper()
	out, errOut, code := cli(t, args...)
	require.Equal(t, exitOK, code, "salesctl %s\nstderr: %s", strings.Join(args, " "), errOut)
	require.Empty(t, errOut)
	return out
}

// fieldOf returns the value of a "name:  value" line.
func fieldOf(t *testing.T, out, name string) string {
	t.Helper()
	for line := range strings.Lines(out) {
		if v, found := strings.CutPrefix(line, name+":"); found {
			return strings.TrimSpace(v)
		}
	}
	t.Fatalf("no %q in\n%s", name, out)
	return ""
}

// cli runs salesctl in-process with the given arguments, with no
// HOSTSALES_* variable from the environment and a data directory of its
// own unless args name one.
func cli(t *testing.T, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	t.Setenv(envAPI, "")
	t.Setenv(envToken, "")
	if !slicesContainsPrefix(args, "--data-dir") {
		t.Setenv(envDataDir, t.TempDir())
	}
	var out, errOut bytes.Buffer
	code = run(context.Background(), args, &out, &errOut)
	return out.String(), errOut.String(), code
}

func slicesContainsPrefix(args []string, prefix string) bool {
	for _, a := range args {
		if strings.HasPrefix(a, prefix) {
			return true
		}
	}
	return false
}
