package main

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestParseSeeds(t *testing.T) {
	good := []struct {
		name string
		in   string
		want []uint64
	}{
		{"one", "17", []uint64{17}},
		{"zero", "0", []uint64{0}},
		{"range", "1-5", []uint64{1, 2, 3, 4, 5}},
		{"range of one", "4-4", []uint64{4}},
		{"list", "1,5,9-12", []uint64{1, 5, 9, 10, 11, 12}},
		{"unsorted", "9-10,3,1", []uint64{1, 3, 9, 10}},
		{"spaces", " 1 , 3 - 4 ", []uint64{1, 3, 4}},
		{"top of uint64", "18446744073709551614-18446744073709551615",
			[]uint64{18446744073709551614, 18446744073709551615}},
	}
	for _, tt := range good {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parseSeeds(tt.in)
			require.NoError(t, err)
			assert.Equal(t, tt.want, got)
		})
	}
	t.Run("a thousand", func(t *testing.T) {
		got, err := parseSeeds("1-1000")
		require.NoError(t, err)
		require.Len(t, got, 1000)
		assert.Equal(t, uint64(1), got[0])
		assert.Equal(t, uint64(1000), got[999])
	})

	bad := []struct {
		name, in, want string
	}{
		{"empty", "", "no seeds given"},
		{"blank", "  ", "no seeds given"},
		{"empty item", "1,,2", `"1,,2": empty item`},
		{"trailing comma", "1,", `"1,": empty item`},
		{"not a number", "x", `"x": "x" is not a seed`},
		{"negative", "-3", `"-3": a seed is missing`},
		{"open range", "5-", `"5-": a seed is missing`},
		{"backwards", "5-1", `"5-1": the range ends below its start`},
		{"too big", "18446744073709551616", "seed 18446744073709551616 is above 18446744073709551615"},
		{"two dashes", "1-2-3", `"1-2-3": "2-3" is not a seed`},
		{"twice", "1-5,3", `"1-5,3": seed 3 is named twice`},
		{"same twice", "2,2", `"2,2": seed 2 is named twice`},
		{"too many", "1-100000000", "more than 10000000 seeds"},
		{"too many in all", "1-6000000,10000001-16000000", "more than 10000000 seeds"},
		{"whole range", "0-18446744073709551615", "more than 10000000 seeds"},
		{"float", "1.5", `"1.5" is not a seed`},
		{"hex", "0x10", `"0x10" is not a seed`},
	}
	for _, tt := range bad {
		t.Run(tt.name, func(t *testing.T) {
			_, err := parseSeeds(tt.in)
			require.Error(t, err)
			assert.Contains(t, err.Error(), tt.want)
		})
	}
}
