package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/holiman/uint256"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hostsales/hostsales/api"
	"github.com/hostsales/hostsales/market"
	"github.com/hostsales/hostsales/reservations"
)

// An availability through its whole life: create, list, get, update (only
// the flags given change), disable, enable, delete.
func TestAvailabilityLifecycle(t *testing.T) {
	n := startNode(t, "")
	apiFlag := "--api=" + n.url

	out := ok(t, apiFlag, "availability", "create", "--size", "10MiB", "--duration", "12h", "--min-price", "2",
		"--collateral", "1000", "--until", "2030-01-01")
	assert.Equal(t, "10 MiB", fieldOf(t, out, "total size"))
	assert.Equal(t, "10 MiB", fieldOf(t, out, "free size"))
	assert.Equal(t, "12h", fieldOf(t, out, "duration"))
	assert.Equal(t, "2030-01-01T00:00:00Z", fieldOf(t, out, "until"))
	assert.Equal(t, "yes", fieldOf(t, out, "enabled"))
	id := fieldOf(t, out, "id")

	created := decode[reservations.Availability](t, ok(t, apiFlag, "--json", "availability", "create",
		"--size", "500MB", "--duration", "3600", "--min-price", "0x10", "--collateral", "5", "--disabled"))
	assert.Equal(t, uint64(500e6), created.TotalSize)
	assert.Equal(t, uint64(3600), created.Duration)
	assert.Equal(t, uint64(16), created.MinPricePerBytePerSecond.Uint64())
	assert.False(t, created.Enabled)
	assert.Equal(t, int64(0), created.Until)

	out = ok(t, apiFlag, "availability", "list")
	lines := strings.Split(strings.TrimSpace(out), "\n")
	require.Len(t, lines, 4)
	assert.Regexp(t, `^ID\s+TOTAL\s+FREE\s+DURATION\s+MIN PRICE\s+COLLATERAL LEFT\s+ENABLED\s+UNTIL$`, lines[0])
	assert.Contains(t, out, id)
	assert.Contains(t, out, created.ID.String())
	list := decode[[]reservations.Availability](t, ok(t, apiFlag, "availability", "list", "--json"))
	assert.Len(t, list, 3)

	got := decode[reservations.Availability](t, ok(t, apiFlag, "--json", "availability", "get", strings.TrimPrefix(id, "0x")))
	assert.Equal(t, id, got.ID.String())
	assert.Equal(t, uint64(10<<20), got.TotalSize)

	// Only the flags given are sent: the duration and price stay.
	upd := decode[reservations.Availability](t, ok(t, apiFlag, "--json", "availability", "update", id,
		"--size", "20MiB", "--until", "0"))
	assert.Equal(t, uint64(20<<20), upd.TotalSize)
	assert.Equal(t, uint64(20<<20), upd.FreeSize)
	assert.Equal(t, int64(0), upd.Until)
	assert.Equal(t, uint64(12*3600), upd.Duration)
	assert.Equal(t, uint64(2), upd.MinPricePerBytePerSecond.Uint64())
	upd = decode[reservations.Availability](t, ok(t, apiFlag, "--json", "availability", "update", id,
		"--duration", "1d12h", "--min-price", "3", "--collateral", "700"))
	assert.Equal(t, uint64(36*3600), upd.Duration)
	assert.Equal(t, uint64(3), upd.MinPricePerBytePerSecond.Uint64())
	assert.Equal(t, uint64(700), upd.TotalCollateral.Uint64())
	assert.Equal(t, uint64(20<<20), upd.TotalSize)

	out = ok(t, apiFlag, "availability", "disable", id)
	assert.Equal(t, "no", fieldOf(t, out, "enabled"))
	upd = decode[reservations.Availability](t, ok(t, apiFlag, "--json", "availability", "enable", id))
	assert.True(t, upd.Enabled)
	upd = decode[reservations.Availability](t, ok(t, apiFlag, "--json", "availability", "update", id, "--disabled"))
	assert.False(t, upd.Enabled)
	upd = decode[reservations.Availability](t, ok(t, apiFlag, "--json", "availability", "update", id, "--enabled"))
	assert.True(t, upd.Enabled)

	assert.Equal(t, "deleted availability "+id+"\n", ok(t, apiFlag, "availability", "delete", id))
	assert.Empty(t, ok(t, apiFlag, "--json", "availability", "delete", created.ID.String()))
	_, errOut, code := cli(t, apiFlag, "availability", "get", id)
	assert.Equal(t, exitFailure, code)
	assert.Equal(t, "salesctl: 404 Not Found: Availability not found\n", errOut)
}

// Every refusal of the API is one line on stderr, "salesctl: <status>
// <text>: <message>", nothing on stdout, and exit code 1.
// Reference: SPEC.md §7.
func TestAPIErrors(t *testing.T) {
	n := startNode(t, "")
	unknown := reservations.ID{0x99}.String()
	cases := []struct {
		name string
		args []string
		want string
	}{
		{"zero price", []string{"availability", "create", "--size", "1MiB", "--duration", "1h", "--min-price", "0", "--collateral", "1"},
			"422 Unprocessable Entity: minPricePerBytePerSecond must be larger then zero"},
		{"zero size", []string{"availability", "create", "--size", "0", "--duration", "1h", "--min-price", "1", "--collateral", "1"},
			"422 Unprocessable Entity: Total size must be larger then zero"},
		{"no quota", []string{"availability", "create", "--size", "2GiB", "--duration", "1h", "--min-price", "1", "--collateral", "1"},
			"422 Unprocessable Entity: Not enough storage quota"},
		{"shrink below what is reserved", []string{"availability", "update", n.avail.ID.String(), "--size", "1KiB"},
			"422 Unprocessable Entity: New totalSize must be larger then current totalSize - freeSize, which is currently: 65536"},
		{"unknown availability", []string{"availability", "get", unknown}, "404 Not Found: Availability not found"},
		{"update unknown availability", []string{"availability", "disable", unknown}, "404 Not Found: Availability not found"},
		{"reservations of unknown availability", []string{"reservations", "list", "--availability", unknown},
			"404 Not Found: Availability not found"},
		{"slot not filled here", []string{"slots", "get", market.SlotID{1}.String()}, "404 Not Found: Provider not filling slot"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			out, errOut, code := cli(t, append([]string{"--api", n.url}, c.args...)...)
			assert.Equal(t, exitFailure, code)
			assert.Empty(t, out)
			assert.Equal(t, "salesctl: "+c.want+"\n", errOut)
		})
	}

	// Deleting an availability that has reservations is refused (409).
	_, errOut, code := cli(t, "--api", n.url, "availability", "delete", n.avail.ID.String())
	assert.Equal(t, exitFailure, code)
	assert.True(t, strings.HasPrefix(errOut, "salesctl: 409 Conflict: "), errOut)
	assert.Equal(t, 1, strings.Count(errOut, "\n"))
}

// The read commands print tables, and with --json the API's JSON, which
// decodes into the API's types.
func TestReadCommands(t *testing.T) {
	n := startNode(t, "")
	apiFlag := "--api=" + n.url
	slot := n.slot.String()

	t.Run("reservations", func(t *testing.T) {
		out := ok(t, apiFlag, "reservations", "list")
		assert.Regexp(t, `(?m)^ID\s+AVAILABILITY\s+REQUEST\s+SLOT\s+SLOT SIZE\s+UNWRITTEN\s+COLLATERAL\s+VALID UNTIL\s+FILLED$`, out)
		assert.Contains(t, out, n.avail.ID.String())
		all := decode[[]reservations.Reservation](t, ok(t, apiFlag, "--json", "reservations", "list"))
		require.Len(t, all, 1)
		assert.Equal(t, n.request.ID(), all[0].RequestID)
		assert.Equal(t, uint64(testSlotSize), all[0].SlotSize)
		assert.True(t, all[0].Filled)
		one := decode[[]reservations.Reservation](t, ok(t, apiFlag, "--json", "reservations", "list",
			"--availability", n.avail.ID.String()))
		assert.Equal(t, all, one)
		// An availability with none lists none: [] in JSON.
		other, err := n.res.CreateAvailability(t.Context(), reservations.Availability{TotalSize: 1 << 20, Duration: 1,
			MinPricePerBytePerSecond: *uint256.NewInt(1), TotalCollateral: *uint256.NewInt(1), Enabled: true})
		require.NoError(t, err)
		assert.Equal(t, "[]\n", ok(t, apiFlag, "--json", "reservations", "list", "--availability", other.ID.String()))
		out, errOut, code := cli(t, apiFlag, "reservations", "list", "--availability", other.ID.String())
		assert.Equal(t, exitOK, code)
		assert.Empty(t, out)
		assert.Equal(t, "no reservations\n", errOut)
		require.NoError(t, n.res.DeleteAvailability(t.Context(), other.ID))
	})
	t.Run("slots", func(t *testing.T) {
		out := ok(t, apiFlag, "slots", "list")
		assert.Regexp(t, `(?m)^SLOT ID\s+REQUEST\s+INDEX\s+SLOT SIZE\s+DURATION\s+PRICE/BYTE/S$`, out)
		assert.Regexp(t, `(?m)^`+slot+`\s+`+n.request.ID().String()+`\s+0\s+64 KiB\s+1h\s+1$`, out)
		slots := decode[[]api.Slot](t, ok(t, apiFlag, "--json", "slots", "list"))
		require.Len(t, slots, 1)
		assert.Equal(t, n.slot, slots[0].ID)
		assert.Equal(t, n.request.ID(), slots[0].Request.ID())

		out = ok(t, apiFlag, "slots", "get", slot)
		assert.Equal(t, "SaleProving", fieldOf(t, out, "state"))
		assert.Equal(t, "64 KiB", fieldOf(t, out, "slot size"))
		assert.Equal(t, "yes", fieldOf(t, out, "filled"))
		d := decode[api.SlotDetail](t, ok(t, apiFlag, "--json", "slots", "get", strings.TrimPrefix(slot, "0x")))
		assert.Equal(t, "SaleProving", d.State)
		require.NotNil(t, d.Reservation)
		assert.Equal(t, n.avail.ID, d.Reservation.AvailabilityID)

		out = ok(t, apiFlag, "slots", "log", slot)
		assert.Regexp(t, `(?m)^TIME\s+FROM\s+TO\s+EVENT\s+REASON$`, out)
		assert.Regexp(t, `(?m)^\S+\s+SaleFilled\s+SaleProving\s+\S+$`, out)
		log := decode[[]api.LogEntry](t, ok(t, apiFlag, "--json", "slots", "log", slot))
		require.NotEmpty(t, log)
		assert.Equal(t, "SalePreparing", string(log[0].To))
		assert.Equal(t, "SaleProving", string(log[len(log)-1].To))
	})
	t.Run("queue", func(t *testing.T) {
		out := ok(t, apiFlag, "queue")
		assert.Equal(t, "2 of 128", fieldOf(t, out, "queued"))
		assert.Equal(t, "yes", fieldOf(t, out, "paused"))
		assert.Regexp(t, `(?m)^REQUEST\s+SLOT\s+SLOT SIZE\s+DURATION\s+PRICE/BYTE/S\s+COLLATERAL\s+EXPIRY\s+SEEN$`, out)
		assert.Regexp(t, `(?m)\s2d\s+1\s+65536\s+\S+Z\s+yes$`, out)
		q := decode[api.QueueStatus](t, ok(t, apiFlag, "--json", "queue"))
		assert.Equal(t, 2, q.Length)
		assert.True(t, q.Paused)
		require.Len(t, q.Items, 2)
		assert.True(t, q.Items[0].Seen)
	})
	t.Run("space", func(t *testing.T) {
		out := ok(t, apiFlag, "space")
		assert.Equal(t, "1 GiB", fieldOf(t, out, "quota"))
		assert.Equal(t, "64 KiB", fieldOf(t, out, "used"))
		assert.Equal(t, "1", fieldOf(t, out, "blocks"))
		s := decode[api.Space](t, ok(t, apiFlag, "--json", "space"))
		assert.Equal(t, api.Space{TotalBlocks: 1, QuotaMaxBytes: testQuota, QuotaUsedBytes: testSlotSize,
			QuotaReservedBytes: 100<<20 - testSlotSize}, s)
	})
}

// The token comes from --token, from HOSTSALES_API_TOKEN, or from the
// node's data directory; without it a node that wants one answers 401,
// with a hint.
func TestToken(t *testing.T) {
	dir := t.TempDir()
	token, err := api.LoadOrCreateToken(dir)
	require.NoError(t, err)
	n := startNode(t, token)

	_, errOut, code := cli(t, "--api", n.url, "space")
	assert.Equal(t, exitFailure, code)
	assert.Equal(t, "salesctl: 401 Unauthorized: unauthorized (the node wants its API token: --token, "+
		"HOSTSALES_API_TOKEN, or the api-token file in --data-dir)\n", errOut)

	ok(t, "--api", n.url, "--token", token, "space")
	ok(t, "--api", n.url, "--data-dir", dir, "space")
	t.Setenv(envDataDir, dir)
	var out strings.Builder
	require.Equal(t, exitOK, run(t.Context(), []string{"--api", n.url, "space"}, &out, &out), out.String())
	t.Setenv(envDataDir, t.TempDir())
	t.Setenv(envToken, token)
	out.Reset()
	require.Equal(t, exitOK, run(t.Context(), []string{"--api", n.url, "space"}, &out, &out), out.String())

	// A token file that is not a token is an error, not silently ignored.
	bad := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(bad, api.TokenFile), []byte("not a token\n"), 0o600))
	_, errOut, code = cli(t, "--api", n.url, "--data-dir", bad, "space")
	assert.Equal(t, exitFailure, code)
	assert.True(t, strings.HasPrefix(errOut, "salesctl: reading the API token: "), errOut)
	assert.Equal(t, 1, strings.Count(errOut, "\n"))
}
