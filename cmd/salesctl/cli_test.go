package main

import (
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hostsales/hostsales/reservations"
)

// With no node at the address, the error says so in one line and exits 1.
func TestNodeUnreachable(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := "http://" + l.Addr().String()
	require.NoError(t, l.Close())
	out, errOut, code := cli(t, "--api", addr, "space")
	assert.Equal(t, exitFailure, code)
	assert.Empty(t, out)
	assert.Equal(t, "salesctl: cannot reach the node at "+addr+
		": connection refused (is the node running? --api or HOSTSALES_API sets its address)\n", errOut)

	// A node that does not answer in time.
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { <-r.Context().Done() }))
	defer srv.Close()
	_, errOut, code = cli(t, "--api", srv.URL, "--timeout", "50ms", "availability", "list")
	assert.Equal(t, exitFailure, code)
	assert.Equal(t, "salesctl: no answer from the node at "+srv.URL+" within 50ms (--timeout)\n", errOut)
}

// A wrong command line exits 2 with the reason and a pointer to --help,
// before anything is sent.
func TestUsageErrors(t *testing.T) {
	id := reservations.ID{1}.String()
	create := []string{"availability", "create", "--size", "1GiB", "--duration", "1d", "--min-price", "1", "--collateral", "1"}
	cases := []struct {
		name string
		args []string
		want string // the first line, after "salesctl: "
	}{
		{"no command", nil, "salesctl needs a subcommand: availability, fsck, queue, reservations, slots, space"},
		{"unknown command", []string{"bogus"}, `unknown command "bogus" for "salesctl"`},
		{"misspelt command", []string{"availabilty"}, `unknown command "availabilty" for "salesctl"; did you mean availability?`},
		{"no subcommand", []string{"availability"}, "salesctl availability needs a subcommand: create, delete, disable, enable, get, list, update"},
		{"unknown subcommand", []string{"slots", "lisst"}, `unknown command "lisst" for "salesctl slots"; did you mean list?`},
		{"unknown flag", []string{"space", "--nope"}, "unknown flag: --nope"},
		{"extra argument", []string{"queue", "now"}, `salesctl queue takes no arguments, got "now"`},
		{"missing flags", []string{"availability", "create", "--size", "1GiB"},
			`required flag(s) "collateral", "duration", "min-price" not set`},
		{"bad size", append(create, "--size", "ten"),
			`invalid argument "ten" for "--size" flag: "ten" is not a size (try 10GiB, 500MB or a number of bytes)`},
		{"bad duration", append(create, "--duration", "3w"),
			`invalid argument "3w" for "--duration" flag: "3w" is not a duration (try 30d, 12h, 90m, 3600s or a number of seconds)`},
		{"negative until", append(create, "--until", "-5"),
			`invalid argument "-5" for "--until" flag: "-5" is negative; 0 means no limit`},
		{"negative price", append(create, "--min-price", "-1"),
			`invalid argument "-1" for "--min-price" flag: "-1" is not an amount (a whole number up to 2^256-1)`},
		{"missing id", []string{"availability", "get"}, "salesctl availability get needs the availability ID"},
		{"two ids", []string{"availability", "delete", id, id}, "salesctl availability delete takes one availability ID, got 2 arguments"},
		{"bad id", []string{"availability", "get", "0x12"}, `"0x12" is not an availability id (64 hex digits, 0x-prefixed)`},
		{"bad slot id", []string{"slots", "log", "zz"}, `"zz" is not a slot id (64 hex digits, 0x-prefixed)`},
		{"nothing to update", []string{"availability", "update", id},
			"nothing to update: give at least one of --size, --duration, --min-price, --collateral, --until, --enabled, --disabled"},
		{"enabled and disabled", []string{"availability", "update", id, "--enabled", "--disabled"},
			"if any flags in the group [enabled disabled] are set none of the others can be; [disabled enabled] were all set"},
		{"bad api address", []string{"--api", "ftp://node", "space"}, `--api: api: bad base URL "ftp://node": scheme must be http or https`},
		{"bad quota", []string{"fsck", "--quota", "lots"},
			`invalid argument "lots" for "--quota" flag: "lots" is not a size (try 10GiB, 500MB or a number of bytes)`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			// The address is unreachable: a command that got as far as
			// calling the node would fail with exit code 1 instead.
			out, errOut, code := cli(t, append([]string{"--api=http://127.0.0.1:1"}, c.args...)...)
			assert.Equal(t, exitUsage, code, errOut)
			assert.Empty(t, out)
			lines := strings.Split(strings.TrimSuffix(errOut, "\n"), "\n")
			require.Len(t, lines, 2, errOut)
			assert.Equal(t, "salesctl: "+c.want, lines[0])
			assert.Regexp(t, `^Run 'salesctl( \S+)* --help' for usage\.$`, lines[1])
		})
	}
}

// --help prints the usage and succeeds.
func TestHelp(t *testing.T) {
	out := ok(t, "--help")
	assert.Contains(t, out, "Usage:")
	assert.Contains(t, out, "Exit codes: 0 success, 1 failure (or problems found by fsck), 2 usage error.")
	out = ok(t, "availability", "create", "--help")
	assert.Contains(t, out, "--min-price amount")
}
