package sales_test

import (
	"flag"
	"os"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hostsales/hostsales/sales"
)

var update = flag.Bool("update", false, "rewrite golden files under testdata/")

// golden compares got with the file at path, or rewrites it with -update.
func golden(t *testing.T, path, got string) {
	t.Helper()
	if *update {
		require.NoError(t, os.WriteFile(path, []byte(got), 0o644))
		return
	}
	want, err := os.ReadFile(path)
	require.NoError(t, err, "run go test ./sales -update to create it")
	assert.Equal(t, string(want), got, "the sale machine changed: review the diff, then go test ./sales -update")
}

// The transition table is kept as a reviewable Mermaid diagram (STYLE.md
// §2.8): a change to it shows up as a diff of testdata/sales.mmd.
func TestTableGolden(t *testing.T) {
	d, err := sales.Table.Mermaid(sales.StatePreparing)
	require.NoError(t, err)
	golden(t, "../testdata/sales.mmd", d)
}

// Every state of SPEC §4.3 is in the table, and the external events reach
// the states the SPEC table says.
func TestTableMatchesSpec(t *testing.T) {
	for _, st := range []string{"SalePreparing", "SaleSlotReserving", "SaleDownloading", "SaleInitialProving",
		"SaleFilling", "SaleFilled", "SaleProving", "SalePayout", "SaleFinished", "SaleCancelled", "SaleFailed",
		"SaleIgnored", "SaleErrored", "SaleUnknown"} {
		assert.True(t, sales.Table.HasState(sales.StateOf(st)), st)
	}
	for _, from := range []string{"SalePreparing", "SaleSlotReserving", "SaleDownloading", "SaleInitialProving",
		"SaleFilling", "SaleFilled", "SaleProving", "SalePayout", "SaleUnknown"} {
		to, ok := sales.Table.Next(sales.StateOf(from), sales.EventCancelled)
		assert.True(t, ok, from)
		assert.Equal(t, sales.StateCancelled, to, from)
		to, ok = sales.Table.Next(sales.StateOf(from), sales.EventFailed)
		assert.True(t, ok, from)
		assert.Equal(t, sales.StateFailed, to, from)
	}
	for from, want := range map[string]bool{"SalePreparing": true, "SaleDownloading": true, "SaleSlotReserving": false,
		"SaleFilling": false, "SaleProving": false} {
		_, ok := sales.Table.Next(sales.StateOf(from), sales.EventSlotFilled)
		assert.Equal(t, want, ok, "slotFilled in %s", from)
	}
	for _, term := range []string{"SaleCancelled", "SaleFailed", "SaleIgnored", "SaleErrored", "SaleFinished"} {
		_, ok := sales.Table.Next(sales.StateOf(term), sales.EventCancelled)
		assert.False(t, ok, "%s ignores cancelled", term)
	}
}
