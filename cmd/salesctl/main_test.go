package main

import (
	"context"
	"fmt"
	"os"
	"testing"

	"github.com/holiman/uint256"
	"go.uber.org/goleak"

	"github.com/hostsales/hostsales/repostore"
	"github.com/hostsales/hostsales/reservations"
)

// crashChildEnv makes the test binary a child that holds a repo open
// until it is killed (see TestFsckAfterCrash).
const crashChildEnv = "SALESCTL_TEST_CRASH_DIR"

func TestMain(m *testing.M) {
	if dir := os.Getenv(crashChildEnv); dir != "" {
		crashChild(dir) // never returns
	}
	goleak.VerifyTestMain(m)
}

// crashChild opens the repo in dir, writes an availability and a
// reservation without closing anything, says "ready" and waits to be
// killed.
func crashChild(dir string) {
	fail := func(err error) {
		fmt.Fprintln(os.Stderr, "child:", err)
		os.Exit(3)
	}
	ctx := context.Background()
	repo, err := repostore.Open(dir, &repostore.Options{QuotaMaxBytes: 1 << 30})
	if err != nil {
		fail(err)
	}
	res, err := reservations.New(ctx, repo, nil)
	if err != nil {
		fail(err)
	}
	a, err := res.CreateAvailability(ctx, reservations.Availability{TotalSize: 1 << 20, Duration: 3600,
		MinPricePerBytePerSecond: *uint256.NewInt(1), TotalCollateral: *uint256.NewInt(1 << 20), Enabled: true})
	if err != nil {
		fail(err)
	}
	r, err := res.CreateReservation(ctx, a.ID, 4096, [32]byte{1}, 0, uint256.NewInt(1), 100)
	if err != nil {
		fail(err)
	}
	if _, err := res.StoreBlocks(ctx, a.ID, r.ID, [][]byte{[]byte("crash")}, 1<<40); err != nil {
		fail(err)
	}
	fmt.Println("ready")
	_, _ = os.Stdin.Read(make([]byte, 1)) // until killed
	fail(fmt.Errorf("stdin closed before the kill"))
}
