package main

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/dustin/go-humanize"
	"github.com/holiman/uint256"

	"github.com/hostsales/hostsales/market"
	"github.com/hostsales/hostsales/reservations"
)

// parseSize reads a byte size in human units (go-humanize: "10GiB",
// "500 MB", "1.5TiB", "4096"); KB/MB/GB and K/M/G are powers of 1000,
// KiB/MiB/GiB powers of 1024.
func parseSize(s string) (uint64, error) {
	s = strings.TrimSpace(s)
	if s == "" || strings.HasPrefix(s, "-") || strings.HasPrefix(s, "+") {
		return 0, fmt.Errorf("%q is not a size (try 10GiB, 500MB or a number of bytes)", s)
	}
	n, err := humanize.ParseBytes(s)
	if err != nil {
		return 0, fmt.Errorf("%q is not a size (try 10GiB, 500MB or a number of bytes)", s)
	}
	return n, nil
}

// durationUnits are the units parseDuration knows, in seconds.
var durationUnits = map[byte]uint64{'d': 86400, 'h': 3600, 'm': 60, 's': 1}

// parseDuration reads a duration in seconds: a plain number of seconds,
// or numbers each followed by a unit, d (86400 s), h, m or s: "30d",
// "12h", "90m", "3600s", "1d12h".
func parseDuration(s string) (uint64, error) {
	s = strings.TrimSpace(s)
	bad := fmt.Errorf("%q is not a duration (try 30d, 12h, 90m, 3600s or a number of seconds)", s)
	if s == "" {
		return 0, bad
	}
	if n, err := strconv.ParseUint(s, 10, 64); err == nil {
		return n, nil
	} else if errors.Is(err, strconv.ErrRange) {
		return 0, fmt.Errorf("%q is too long a duration", s)
	}
	var total uint64
	seen := map[byte]bool{}
	for rest := s; rest != ""; {
		i := 0
		for i < len(rest) && rest[i] >= '0' && rest[i] <= '9' {
			i++
		}
		if i == 0 || i == len(rest) {
			return 0, bad
		}
		unit, ok := durationUnits[rest[i]]
		if !ok || seen[rest[i]] {
			return 0, bad
		}
		seen[rest[i]] = true
		n, err := strconv.ParseUint(rest[:i], 10, 64)
		if err != nil || n > math.MaxUint64/unit || total+n*unit < total {
			return 0, fmt.Errorf("%q is too long a duration", s)
		}
		total += n * unit
		rest = rest[i+1:]
	}
	return total, nil
}

// parseUntil reads the latest end of a hosted slot: "0" (no limit), unix
// seconds, an RFC 3339 time ("2026-01-31T00:00:00Z") or a date
// ("2026-01-31", midnight UTC). It refuses times before 1970.
func parseUntil(s string) (int64, error) {
	s = strings.TrimSpace(s)
	if n, err := strconv.ParseInt(s, 10, 64); err == nil {
		if n < 0 {
			return 0, fmt.Errorf("%q is negative; 0 means no limit", s)
		}
		return n, nil
	}
	for _, layout := range []string{time.RFC3339, time.DateOnly} {
		if t, err := time.Parse(layout, s); err == nil {
			if t.Unix() < 0 {
				return 0, fmt.Errorf("%q is before 1970", s)
			}
			return t.Unix(), nil
		}
	}
	return 0, fmt.Errorf("%q is not a time (try 0, unix seconds, 2026-01-31T00:00:00Z or 2026-01-31)", s)
}

// parseAmount reads a price or collateral: a decimal integer (0x, 0o and
// 0b prefixes work too), up to 2^256-1.
func parseAmount(s string) (uint256.Int, error) {
	n, err := reservations.ParseU256(strings.TrimSpace(s))
	if err != nil {
		return uint256.Int{}, fmt.Errorf("%q is not an amount (a whole number up to 2^256-1)", s)
	}
	return *n, nil
}

// parseAvailabilityID reads an availability id (0x-prefixed or bare hex).
func parseAvailabilityID(s string) (reservations.AvailabilityID, error) {
	id, err := reservations.ParseID(strings.TrimSpace(s))
	if err != nil {
		return id, usagef("%q is not an availability id (64 hex digits, 0x-prefixed)", s)
	}
	return id, nil
}

// parseSlotID reads a slot id (0x-prefixed or bare hex).
func parseSlotID(s string) (market.SlotID, error) {
	t := strings.TrimSpace(s)
	if !strings.HasPrefix(t, "0x") && !strings.HasPrefix(t, "0X") {
		t = "0x" + t
	}
	id, err := market.ParseSlotID(strings.ToLower(t))
	if err != nil {
		return id, usagef("%q is not a slot id (64 hex digits, 0x-prefixed)", s)
	}
	return id, nil
}

// Flag values: each parses its flag's text with the parser above, so a
// bad value is a usage error naming the flag.

type sizeFlag struct{ v uint64 }

func (f *sizeFlag) String() string { return strconv.FormatUint(f.v, 10) }
func (f *sizeFlag) Type() string   { return "size" }
func (f *sizeFlag) Set(s string) (err error) {
	f.v, err = parseSize(s)
	return err
}

type durationFlag struct{ v uint64 }

func (f *durationFlag) String() string { return strconv.FormatUint(f.v, 10) }
func (f *durationFlag) Type() string   { return "duration" }
func (f *durationFlag) Set(s string) (err error) {
	f.v, err = parseDuration(s)
	return err
}

type untilFlag struct{ v int64 }

func (f *untilFlag) String() string { return strconv.FormatInt(f.v, 10) }
func (f *untilFlag) Type() string   { return "time" }
func (f *untilFlag) Set(s string) (err error) {
	f.v, err = parseUntil(s)
	return err
}

type amountFlag struct{ v uint256.Int }

func (f *amountFlag) String() string { return f.v.Dec() }
func (f *amountFlag) Type() string   { return "amount" }
func (f *amountFlag) Set(s string) (err error) {
	f.v, err = parseAmount(s)
	return err
}
