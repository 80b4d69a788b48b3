// go-datastore's own conformance suite, run unmodified over the adapter.

package badgerds_test

import (
	"testing"

	dstest "github.com/ipfs/go-datastore/test"

	"github.com/hostsales/hostsales/repostore/badgerds"
)

// TestDstestSuite runs go-datastore's conformance suite, unmodified, over
// the adapter in memory and on disk.
func TestDstestSuite(t *testing.T) {
	for _, m := range modes {
		t.Run(m.name, func(t *testing.T) {
			dstest.SubtestAll(t, m.open(t, &badgerds.Options{NoSync: true}))
		})
	}
}
