//go:build dstest

// This file needs github.com/ipfs/go-datastore/test, which imports
// github.com/ipfs/go-detect-race: a module go.mod does not require yet.
// Once it does (go get github.com/ipfs/go-datastore/test@v0.9.2), delete
// the build constraint above. Until then run it with
//
//	go test -tags dstest -modfile=<a go.mod that requires it> ./repostore/badgerds/

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
