package main

import (
	"bytes"
	"context"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestParseBytes(t *testing.T) {
	for in, want := range map[string]uint64{"1": 1, "20GiB": 20 << 30, "500MB": 500e6, "4 KiB": 4096, "7B": 7, "1.5GiB": 3 << 29} {
		got, err := parseBytes(in)
		require.NoError(t, err, in)
		assert.Equal(t, want, got, in)
	}
	for _, bad := range []string{"", "-1", "0", "abc", "99999999999999999999TiB"} {
		_, err := parseBytes(bad)
		assert.Error(t, err, bad)
	}
}

func TestBadFlags(t *testing.T) {
	var out, errOut bytes.Buffer
	err := Run(context.Background(), []string{"--quota", "lots"}, &out, &errOut)
	require.Error(t, err)
	assert.Equal(t, 2, exitCode(err))
	assert.Contains(t, err.Error(), "--quota")
	err = Run(context.Background(), []string{"extra"}, &out, &errOut)
	assert.Equal(t, 2, exitCode(err))
	err = Run(context.Background(), []string{"--speed", "1000"}, &out, &errOut)
	assert.Equal(t, 2, exitCode(err))
	assert.Contains(t, err.Error(), "miss proof periods")
}

// The node runs on the embedded default, sells on the simulated market,
// and stops cleanly; a second start on the same directory restores.
func TestRunSellsAndStops(t *testing.T) {
	dir := t.TempDir()
	var out bytes.Buffer
	// --for is only a safety net; the run ends at its first sale.
	args := []string{"--data-dir", dir, "--quota", "64MiB", "--speed", "5000", "--tick", "5ms", "--for", "5m",
		"--exit-after-sales", "1", "--api-addr", "127.0.0.1:0"}
	require.NoError(t, Run(context.Background(), args, &out, &out))
	log := out.String()
	assert.Contains(t, log, "storagenode running")
	assert.Contains(t, log, "slot filled", "it sold something:\n%s", tail(log))
	assert.Contains(t, log, "--exit-after-sales reached")
	var again bytes.Buffer
	ctx, cancel := context.WithCancel(context.Background())
	cancel() // a signal right away: start, restore, stop
	require.NoError(t, Run(ctx, args, &again, &again))
	assert.NotContains(t, again.String(), "created an availability", "the availability was stored")
	assert.Contains(t, again.String(), "reason=signal")
}

func tail(s string) string {
	lines := strings.Split(s, "\n")
	return strings.Join(lines[max(0, len(lines)-20):], "\n")
}
