package api_test

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hostsales/hostsales/reservations"
)

// fuzzNode is one node per fuzz target: it is reused across inputs, each
// input checked against the state it found.
func fuzzNode(f *testing.F) (*node, reservations.Availability) {
	n := newNode(f, nodeOptions{maxBody: 4096})
	a := n.createAvailability(10000)
	n.reserve(a, 100, marketStart+10)
	return n, a
}

// send posts body and returns the status and message; it fails the input
// on a transport error (which includes an answer that does not validate
// against openapi.yaml).
func send(t *testing.T, n *node, method, path string, body []byte) (int, string) {
	req, err := http.NewRequestWithContext(context.Background(), method, url(n, path), bytes.NewReader(body))
	require.NoError(t, err)
	resp, err := n.hc.Do(req)
	require.NoError(t, err)
	defer func() { _ = resp.Body.Close() }()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return resp.StatusCode, string(b)
}

// FuzzCreateAvailability: arbitrary POST bodies never get a 500 and never
// panic; a refused one changes nothing; an accepted one is stored (and
// deleted again, so the next input finds the same state).
func FuzzCreateAvailability(f *testing.F) {
	for _, c := range badCreateBodies {
		f.Add([]byte(c.body))
	}
	f.Add([]byte(validCreate))
	f.Add([]byte(createBody(map[string]any{"until": -1})))
	f.Add([]byte(createBody(map[string]any{"totalSize": defaultQuota})))
	f.Add([]byte(`{"totalSize":1,"duration":1,"minPricePerBytePerSecond":"0b1","totalCollateral":"0o7","enabled":false,"until":"3"}`))
	n, _ := fuzzNode(f)
	f.Fuzz(func(t *testing.T, body []byte) {
		before, err := n.Reservations.Snapshot(n.ctx)
		require.NoError(t, err)
		st, msg := send(t, n, http.MethodPost, "/sales/availability", body)
		require.Less(t, st, 500, "POST %q: %d %s", body, st, msg)
		switch st {
		case http.StatusCreated:
			var a reservations.Availability
			require.NoError(t, a.UnmarshalJSON([]byte(msg)))
			require.NoError(t, n.Reservations.DeleteAvailability(n.ctx, a.ID))
		default:
			require.NotEmpty(t, msg)
			after, err := n.Reservations.Snapshot(n.ctx)
			require.NoError(t, err)
			assert.Equal(t, before, after, "POST %q: %d %s changed the store", body, st, msg)
		}
	})
}

// FuzzUpdateAvailability: arbitrary PATCH bodies never get a 500 and never
// panic; a refused one changes nothing; an accepted one keeps the
// accounting invariants (and is undone).
func FuzzUpdateAvailability(f *testing.F) {
	for _, c := range badCreateBodies {
		f.Add([]byte(c.body))
	}
	for _, s := range []string{`{}`, `{"totalSize":50}`, `{"totalSize":99}`, `{"totalSize":0}`, `{"freeSize":1}`,
		`{"until":-1}`, `{"until":5}`, `{"until":"0"}`, `{"totalCollateral":"0x10"}`, `{"enabled":false}`,
		`{"duration":0,"minPricePerBytePerSecond":0}`, `{"totalSize":"` + maxU64 + `"}`} {
		f.Add([]byte(s))
	}
	n, a := fuzzNode(f)
	path := availPath(a.ID)
	f.Fuzz(func(t *testing.T, body []byte) {
		before, err := n.Reservations.Snapshot(n.ctx)
		require.NoError(t, err)
		st, msg := send(t, n, http.MethodPatch, path, body)
		require.Less(t, st, 500, "PATCH %q: %d %s", body, st, msg)
		after, err := n.Reservations.Snapshot(n.ctx)
		require.NoError(t, err)
		if st != http.StatusNoContent {
			require.NotEmpty(t, msg)
			assert.Equal(t, before, after, "PATCH %q: %d %s changed the store", body, st, msg)
			return
		}
		assert.Empty(t, after.Check(), "PATCH %q broke an invariant", body)
		// Undo, so every input starts from the same availability.
		old := before.Availabilities[0]
		until := old.Until
		_, err = n.Reservations.Update(n.ctx, a.ID, reservations.Patch{TotalSize: &old.TotalSize, Duration: &old.Duration,
			MinPricePerBytePerSecond: &old.MinPricePerBytePerSecond, TotalCollateral: &old.TotalCollateral,
			Enabled: &old.Enabled, Until: &until})
		require.NoError(t, err)
		restored, err := n.Reservations.Snapshot(n.ctx)
		require.NoError(t, err)
		require.Equal(t, before, restored)
	})
}
