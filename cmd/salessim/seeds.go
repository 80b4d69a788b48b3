package main

import (
	"cmp"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
)

// maxSeeds bounds how many seeds one --seeds list may name, so that a
// typo such as 1-1000000000000 is refused instead of allocating for ever.
const maxSeeds = 10_000_000

// parseSeeds parses a --seeds list: comma-separated items, each a seed
// ("17") or an inclusive range ("1-1000"), spaces around items allowed.
// It returns the seeds in ascending order. A seed named twice, an empty
// item, a range whose end is below its start, a value that is not an
// unsigned 64-bit integer and a list of more than maxSeeds seeds are
// errors.
func parseSeeds(s string) ([]uint64, error) {
	if strings.TrimSpace(s) == "" {
		return nil, errors.New("no seeds given")
	}
	type span struct{ lo, hi uint64 }
	var spans []span
	var total uint64
	for item := range strings.SplitSeq(s, ",") {
		item = strings.TrimSpace(item)
		if item == "" {
			return nil, fmt.Errorf("%q: empty item", s)
		}
		lo, hi := item, item
		if i := strings.Index(item, "-"); i >= 0 {
			lo, hi = strings.TrimSpace(item[:i]), strings.TrimSpace(item[i+1:])
		}
		a, err := parseSeed(lo)
		if err != nil {
			return nil, fmt.Errorf("%q: %w", item, err)
		}
		b, err := parseSeed(hi)
		if err != nil {
			return nil, fmt.Errorf("%q: %w", item, err)
		}
		if b < a {
			return nil, fmt.Errorf("%q: the range ends below its start", item)
		}
		if b-a >= maxSeeds || total+(b-a+1) > maxSeeds {
			return nil, fmt.Errorf("%q: more than %d seeds", s, maxSeeds)
		}
		total += b - a + 1
		spans = append(spans, span{a, b})
	}
	slices.SortFunc(spans, func(x, y span) int { return cmp.Compare(x.lo, y.lo) })
	seeds := make([]uint64, 0, total)
	for i, sp := range spans {
		if i > 0 && sp.lo <= spans[i-1].hi {
			return nil, fmt.Errorf("%q: seed %d is named twice", s, sp.lo)
		}
		for v := sp.lo; ; v++ {
			seeds = append(seeds, v)
			if v == sp.hi {
				break
			}
		}
	}
	return seeds, nil
}

// parseSeed parses one seed: a decimal unsigned 64-bit integer.
func parseSeed(s string) (uint64, error) {
	if s == "" {
		return 0, errors.New("a seed is missing")
	}
	v, err := strconv.ParseUint(s, 10, 64)
	if err != nil {
		var ne *strconv.NumError
		if errors.As(err, &ne) && errors.Is(ne.Err, strconv.ErrRange) {
			return 0, fmt.Errorf("seed %s is above %d", s, uint64(1<<64-1))
		}
		return 0, fmt.Errorf("%q is not a seed (a whole number from 0)", s)
	}
	return v, nil
}
