package main

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"pgregory.net/rapid"
)

func TestParseSize(t *testing.T) {
	cases := []struct {
		in   string
		want uint64
		err  bool
	}{
		{"10GiB", 10 << 30, false},
		{"10 GiB", 10 << 30, false},
		{"10gib", 10 << 30, false},
		{"500MB", 500e6, false},
		{"500M", 500e6, false},
		{"1.5KiB", 1536, false},
		{"1048576", 1 << 20, false},
		{"0", 0, false},
		{"16EiB", 0, true}, // 2^64 does not fit
		{"", 0, true},
		{"-1", 0, true},
		{"+5", 0, true},
		{"ten", 0, true},
		{"10 parsecs", 0, true},
	}
	for _, c := range cases {
		t.Run(c.in, func(t *testing.T) {
			got, err := parseSize(c.in)
			if c.err {
				assert.Error(t, err)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, c.want, got)
		})
	}
}

func TestParseDuration(t *testing.T) {
	cases := []struct {
		in   string
		want uint64
		err  bool
	}{
		{"30d", 30 * 86400, false},
		{"12h", 12 * 3600, false},
		{"90m", 5400, false},
		{"3600s", 3600, false},
		{"3600", 3600, false},
		{"1d12h", 36 * 3600, false},
		{"1d2h3m4s", 86400 + 7200 + 180 + 4, false},
		{" 7d ", 7 * 86400, false},
		{"0", 0, false},
		{"18446744073709551615", 1<<64 - 1, false},
		{"18446744073709551616", 0, true},
		{"213503982334602d", 0, true}, // overflows
		{"", 0, true},
		{"d", 0, true},
		{"12", 12, false},
		{"12x", 0, true},
		{"3w", 0, true},
		{"1h1h", 0, true},
		{"1.5h", 0, true},
		{"-1h", 0, true},
		{"1H", 0, true},
	}
	for _, c := range cases {
		t.Run(c.in, func(t *testing.T) {
			got, err := parseDuration(c.in)
			if c.err {
				assert.Error(t, err)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, c.want, got)
		})
	}
}

func TestParseUntil(t *testing.T) {
	cases := []struct {
		in   string
		want int64
		err  bool
	}{
		{"0", 0, false},
		{"1750000000", 1750000000, false},
		{"2026-01-31T00:00:00Z", 1769817600, false},
		{"2026-01-31T01:00:00+01:00", 1769817600, false},
		{"2026-01-31", 1769817600, false},
		{"-1", 0, true},
		{"1969-12-31T23:59:59Z", 0, true},
		{"tomorrow", 0, true},
		{"2026-13-01", 0, true},
		{"", 0, true},
	}
	for _, c := range cases {
		t.Run(c.in, func(t *testing.T) {
			got, err := parseUntil(c.in)
			if c.err {
				assert.Error(t, err)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, c.want, got)
		})
	}
}

func TestParseAmount(t *testing.T) {
	for in, want := range map[string]string{"0": "0", "1": "1", "1000000": "1000000", "0x10": "16",
		"115792089237316195423570985008687907853269984665640564039457584007913129639935": "115792089237316195423570985008687907853269984665640564039457584007913129639935"} {
		got, err := parseAmount(in)
		require.NoError(t, err, in)
		assert.Equal(t, want, got.Dec(), in)
	}
	for _, in := range []string{"", "-1", "1.5", "1e6", "ten",
		"115792089237316195423570985008687907853269984665640564039457584007913129639936"} {
		_, err := parseAmount(in)
		assert.Error(t, err, in)
	}
}

func TestParseIDs(t *testing.T) {
	const hex = "7ea916840b57bbe0446772058a6531c1a8b4253674e96755aabcf7b7377394c1"
	for _, in := range []string{hex, "0x" + hex, " 0x" + hex + " "} {
		a, err := parseAvailabilityID(in)
		require.NoError(t, err)
		assert.Equal(t, "0x"+hex, a.String())
		s, err := parseSlotID(in)
		require.NoError(t, err)
		assert.Equal(t, "0x"+hex, s.String())
	}
	for _, in := range []string{"", "0x", "0x12", hex + "00", "zz" + hex[2:]} {
		_, err := parseAvailabilityID(in)
		assert.Error(t, err, in)
		_, err = parseSlotID(in)
		assert.Error(t, err, in)
	}
}

func TestFormat(t *testing.T) {
	for n, want := range map[uint64]string{0: "0 B", 512: "512 B", 1024: "1 KiB", 1536: "1.5 KiB (1536)",
		10 << 30: "10 GiB", 100000: "98 KiB (100000)", 1<<64 - 1: "16 EiB (18446744073709551615)"} {
		assert.Equal(t, want, size(n), "%d", n)
	}
	for sec, want := range map[uint64]string{0: "0s", 59: "59s", 3600: "1h", 86400 * 30: "30d", 90061: "1d1h1m1s"} {
		assert.Equal(t, want, duration(sec), "%d", sec)
	}
	assert.Equal(t, "-", unixTime(0, "-"))
	assert.Equal(t, "2026-01-31T00:00:00Z", unixTime(1769817600, "-"))
}

// What salesctl prints, it reads back: durations and sizes round-trip.
func TestFormatRoundTrip(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		sec := rapid.Uint64().Draw(t, "seconds")
		got, err := parseDuration(duration(sec))
		require.NoError(t, err)
		require.Equal(t, sec, got)
		n := rapid.Uint64Range(0, 1<<50).Draw(t, "bytes") << rapid.IntRange(0, 13).Draw(t, "shift")
		s := size(n)
		if i := len(s) - 1; s[i] == ')' { // "1.5 KiB (1536)": the exact count
			return
		}
		got, err = parseSize(s)
		require.NoError(t, err)
		require.Equal(t, n, got)
	})
}
