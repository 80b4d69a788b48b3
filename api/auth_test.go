package api_test

import (
	"context"
	"errors"
	"io"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hostsales/hostsales/api"
)

// everyOperation is one concrete request per documented operation.
func everyOperation() []struct{ method, path, body string } {
	id := "0x" + strings.Repeat("00", 32)
	return []struct{ method, path, body string }{
		{http.MethodGet, api.BasePath + "/sales/slots", ""},
		{http.MethodGet, api.BasePath + "/sales/slots/" + id, ""},
		{http.MethodGet, api.BasePath + "/sales/slots/" + id + "/log", ""},
		{http.MethodGet, api.BasePath + "/sales/availability", ""},
		{http.MethodPost, api.BasePath + "/sales/availability", validCreate},
		{http.MethodGet, api.BasePath + "/sales/availability/" + id, ""},
		{http.MethodPatch, api.BasePath + "/sales/availability/" + id, `{}`},
		{http.MethodDelete, api.BasePath + "/sales/availability/" + id, ""},
		{http.MethodOptions, api.BasePath + "/sales/availability/" + id, ""},
		{http.MethodGet, api.BasePath + "/sales/availability/" + id + "/reservations", ""},
		{http.MethodGet, api.BasePath + "/sales/reservations", ""},
		{http.MethodGet, api.BasePath + "/sales/queue", ""},
		{http.MethodGet, api.BasePath + "/space", ""},
		{http.MethodGet, api.BasePath + "/openapi.yaml", ""},
		{http.MethodGet, "/metrics", ""},
	}
}

func TestAuth(t *testing.T) {
	const token = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
	metrics := http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		_, _ = w.Write([]byte("m 1\n"))
	})
	n := newNode(t, nodeOptions{token: token, metrics: metrics})
	anonymous := newValidatingClient(t, "")
	before := n.snapshot()

	for _, op := range everyOperation() {
		t.Run(op.method+" "+op.path, func(t *testing.T) {
			for _, c := range []struct{ name, header string }{
				{"no token", ""},
				{"wrong token", "Bearer " + strings.Repeat("0", 64)},
				{"token prefix", "Bearer " + token[:63]},
				{"token with suffix", "Bearer " + token + "0"},
				{"wrong scheme", "Basic " + token},
				{"bare token", token},
				{"lowercase scheme", "bearer " + token},
			} {
				req, err := http.NewRequestWithContext(context.Background(), op.method, n.Server.URL+op.path,
					strings.NewReader(op.body))
				require.NoError(t, err)
				if c.header != "" {
					req.Header.Set("Authorization", c.header)
				}
				resp, err := anonymous.Do(req)
				require.NoError(t, err, c.name)
				body := readAll(t, resp)
				assert.Equal(t, http.StatusUnauthorized, resp.StatusCode, c.name)
				assert.Equal(t, "unauthorized", body, c.name)
				assert.Equal(t, "Bearer", resp.Header.Get("WWW-Authenticate"), c.name)
			}
		})
	}
	assert.Equal(t, before, n.snapshot(), "nothing changed without the token")

	// The right token is let through, everywhere.
	st, _, _ := n.do(http.MethodGet, "/sales/availability", nil)
	assert.Equal(t, http.StatusOK, st)
	st, body, _ := doURL(t, n.hc, http.MethodGet, n.Server.URL+"/metrics", nil)
	assert.Equal(t, http.StatusOK, st)
	assert.Equal(t, "m 1\n", body)
	st, _, _ = n.do(http.MethodGet, "/openapi.yaml", nil)
	assert.Equal(t, http.StatusOK, st)
	a, err := n.Client.CreateAvailability(n.ctx, api.CreateAvailabilityRequest{TotalSize: u64(10), Duration: u64(1),
		MinPricePerBytePerSecond: u256(1), TotalCollateral: u256(1)})
	require.NoError(t, err)
	// Unknown paths answer 401 too: nothing is revealed without the token.
	resp, err := anonymous.Get(n.Server.URL + api.BasePath + "/nothing")
	require.NoError(t, err)
	assert.Equal(t, http.StatusUnauthorized, resp.StatusCode)
	_ = readAll(t, resp)

	// A client with the wrong token gets an *api.Error.
	wrong, err := api.NewClient(n.Server.URL, &api.ClientOptions{Token: "nope", HTTPClient: anonymous})
	require.NoError(t, err)
	_, err = wrong.Availability(n.ctx, a.ID)
	apiError(t, err, http.StatusUnauthorized, "unauthorized")
	assert.Equal(t, "Unauthorized (401): unauthorized", err.Error())
}

func readAll(t testing.TB, resp *http.Response) string {
	t.Helper()
	defer func() { _ = resp.Body.Close() }()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return string(b)
}

func TestLoadOrCreateToken(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data", "node")
	tok, err := api.LoadOrCreateToken(dir)
	require.NoError(t, err)
	assert.Regexp(t, "^[0-9a-f]{64}$", tok)

	st, err := os.Stat(filepath.Join(dir, api.TokenFile))
	require.NoError(t, err)
	assert.Equal(t, os.FileMode(0o600), st.Mode().Perm())
	dst, err := os.Stat(dir)
	require.NoError(t, err)
	assert.Equal(t, os.FileMode(0o700), dst.Mode().Perm(), "the data directory is created private")

	again, err := api.LoadOrCreateToken(dir)
	require.NoError(t, err)
	assert.Equal(t, tok, again, "idempotent")
	read, err := api.ReadToken(dir)
	require.NoError(t, err)
	assert.Equal(t, tok, read)

	entries, err := os.ReadDir(dir)
	require.NoError(t, err)
	require.Len(t, entries, 1, "no temporary file left behind")

	other, err := api.LoadOrCreateToken(t.TempDir())
	require.NoError(t, err)
	assert.NotEqual(t, tok, other, "random per node")
}

func TestLoadOrCreateToken_Concurrent(t *testing.T) {
	dir := t.TempDir()
	var wg sync.WaitGroup
	toks := make([]string, 8)
	errs := make([]error, 8)
	for i := range toks {
		wg.Add(1)
		go func() {
			defer wg.Done()
			toks[i], errs[i] = api.LoadOrCreateToken(dir)
		}()
	}
	wg.Wait()
	for i := range toks {
		require.NoError(t, errs[i])
		assert.Equal(t, toks[0], toks[i], "one token wins")
	}
}

func TestLoadOrCreateToken_RefusesOpenPermissions(t *testing.T) {
	for _, mode := range []os.FileMode{0o640, 0o604, 0o666, 0o660} {
		dir := t.TempDir()
		path := filepath.Join(dir, api.TokenFile)
		require.NoError(t, os.WriteFile(path, []byte(strings.Repeat("a", 64)), 0o600))
		require.NoError(t, os.Chmod(path, mode))
		_, err := api.LoadOrCreateToken(dir)
		require.Error(t, err, "mode %o", mode)
		assert.ErrorIs(t, err, fs.ErrPermission)
		var te *api.TokenError
		assert.True(t, errors.As(err, &te))
		// A client may still read it.
		tok, err := api.ReadToken(dir)
		require.NoError(t, err)
		assert.Equal(t, strings.Repeat("a", 64), tok)
	}
}

func TestLoadOrCreateToken_RefusesMalformed(t *testing.T) {
	dir := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(dir, api.TokenFile), []byte("  \n"), 0o600))
	_, err := api.LoadOrCreateToken(dir)
	require.Error(t, err)
	_, err = api.ReadToken(dir)
	require.Error(t, err)
}

func TestReadToken_Missing(t *testing.T) {
	_, err := api.ReadToken(t.TempDir())
	require.Error(t, err)
	assert.ErrorIs(t, err, fs.ErrNotExist)
	var te *api.TokenError
	require.True(t, errors.As(err, &te))
	assert.Contains(t, te.Path, api.TokenFile)
}

func TestNeedsToken(t *testing.T) {
	for _, c := range []struct {
		addr string
		want bool
	}{
		{"127.0.0.1:8080", false},
		{"127.0.0.1", false},
		{"127.1.2.3:80", false},
		{"127.255.255.255:1", false},
		{"[::1]:8080", false},
		{"::1", false},
		{"[::1]", false},
		{"localhost:8080", false},
		{"LOCALHOST:8080", false},
		{"localhost", false},
		{":8080", true},
		{"", true},
		{"0.0.0.0:8080", true},
		{"[::]:8080", true},
		{"192.168.1.10:8080", true},
		{"10.0.0.1:80", true},
		{"128.0.0.1:80", true},
		{"example.com:8080", true},
		{"localhost.example.com:8080", true},
		{"[fe80::1]:80", true},
		{"not an address", true},
	} {
		t.Run(c.addr, func(t *testing.T) {
			assert.Equal(t, c.want, api.NeedsToken(c.addr))
		})
	}
}
