package main

import (
	"testing"

	"go.uber.org/goleak"

	"github.com/hostsales/hostsales/sim"
)

func TestMain(m *testing.M) {
	// A sigkill scenario re-runs the test binary as its child.
	sim.MaybeRunChild()
	goleak.VerifyTestMain(m)
}
