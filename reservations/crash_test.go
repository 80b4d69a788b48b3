package reservations_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/hostsales/hostsales/market"
	"github.com/hostsales/hostsales/repostore"
	"github.com/hostsales/hostsales/repostore/crashtest"
	"github.com/hostsales/hostsales/reservations"
)

const (
	crashDirEnv   = "HOSTSALES_RESERVATIONS_CRASH_DIR"
	crashStateEnv = "HOSTSALES_RESERVATIONS_CRASH_STATE"
	crashWorkers  = 3
	crashQuota    = 1 << 30
)

func TestMain(m *testing.M) {
	if dir := os.Getenv(crashDirEnv); dir != "" {
		crashChild(dir, os.Getenv(crashStateEnv)) // never returns
	}
	goleak.VerifyTestMain(m)
}

// The crash workload: each worker owns one availability and cycles through
// every composite operation on it: reserve a slot, store two blocks for it,
// resize the availability, end the reservation (all collateral back). A
// worker's ops are sequential, so after a crash its availability must be
// exactly the model after some prefix of its ops: every acknowledged op,
// plus perhaps the one in flight.
func crashReq(w int) market.RequestID { return market.RequestID{byte(w + 1)} }

func crashBlocks(w, seq int) [][]byte {
	return [][]byte{[]byte(fmt.Sprintf("w%d s%d a", w, seq)), []byte(fmt.Sprintf("w%d s%d bb", w, seq))}
}

func crashOp(ctx context.Context, res *reservations.Reservations, aid reservations.AvailabilityID, w, seq int) error {
	switch seq % 4 {
	case 0:
		_, err := res.CreateReservation(ctx, aid, 1000, crashReq(w), uint64(seq), u(1), 100)
		return err
	case 1:
		r, err := res.ReservationForSlot(ctx, crashReq(w), uint64(seq-1))
		if err != nil {
			return err
		}
		_, err = res.StoreBlocks(ctx, aid, r.ID, crashBlocks(w, seq-1), 1<<40)
		return err
	case 2:
		size := uint64(10000)
		if (seq/4)%2 == 0 {
			size = 12000
		}
		_, err := res.Update(ctx, aid, reservations.Patch{TotalSize: &size})
		return err
	default:
		r, err := res.ReservationForSlot(ctx, crashReq(w), uint64(seq-3))
		if err != nil {
			return err
		}
		_, err = res.EndReservation(ctx, aid, r.ID, &r.Collateral)
		return err
	}
}

// crashModel is a worker's availability after its ops 0..n-1.
type crashModelState struct {
	total, free, remaining, used uint64
	live                         map[uint64]uint64 // slot -> unwritten size
}

func crashModel(w, n int) crashModelState {
	m := crashModelState{total: 10000, free: 10000, remaining: 1 << 20, live: map[uint64]uint64{}}
	for seq := range n {
		switch seq % 4 {
		case 0:
			m.free -= 1000
			m.remaining -= 1000
			m.live[uint64(seq)] = 1000
		case 1:
			var n uint64
			for _, b := range crashBlocks(w, seq-1) {
				n += uint64(len(b))
			}
			m.live[uint64(seq-1)] -= n
			m.used += n
		case 2:
			size := uint64(10000)
			if (seq/4)%2 == 0 {
				size = 12000
			}
			m.free = m.free + size - m.total
			m.total = size
		default:
			m.used -= 1000 - m.live[uint64(seq-3)]
			delete(m.live, uint64(seq-3))
			m.free += 1000
			m.remaining += 1000
		}
	}
	return m
}

func crashChild(dir, state string) {
	repo, err := repostore.Open(dir, &repostore.Options{QuotaMaxBytes: crashQuota})
	if err != nil {
		fmt.Fprintln(os.Stderr, "open:", err)
		os.Exit(2)
	}
	res, err := reservations.New(context.Background(), repo, nil)
	if err != nil {
		fmt.Fprintln(os.Stderr, "new:", err)
		os.Exit(2)
	}
	log := crashtest.NewLog(os.Stdout)
	var wg sync.WaitGroup
	for w, f := range strings.Split(state, ",") {
		parts := strings.Split(f, ":")
		aid, err := reservations.ParseID(parts[0])
		if err != nil {
			fmt.Fprintln(os.Stderr, "state:", err)
			os.Exit(2)
		}
		start, _ := strconv.Atoi(parts[1])
		wg.Add(1)
		go func() {
			defer wg.Done()
			for seq := start; ; seq++ {
				log.Intent(w, seq)
				if err := crashOp(context.Background(), res, aid, w, seq); err != nil {
					fmt.Fprintln(os.Stderr, "op:", w, seq, err)
					os.Exit(3)
				}
				log.Ack(w, seq)
			}
		}()
	}
	wg.Wait()
}

// TestCrashMixedWorkload kills a child running every composite operation
// at random moments; after each kill the reopened repo holds every
// acknowledged operation, each availability is exactly the model after a
// prefix of its ops, and I1-I3 hold.
func TestCrashMixedWorkload(t *testing.T) {
	dir := t.TempDir()
	repo, err := repostore.Open(dir, &repostore.Options{QuotaMaxBytes: crashQuota})
	require.NoError(t, err)
	res, err := reservations.New(ctx, repo, nil)
	require.NoError(t, err)
	aids := make([]reservations.AvailabilityID, crashWorkers)
	for w := range aids {
		a, err := res.CreateAvailability(ctx, reservations.Availability{TotalSize: 10000, Duration: 10,
			MinPricePerBytePerSecond: *u(1), TotalCollateral: *u(1 << 20), Enabled: true})
		require.NoError(t, err)
		aids[w] = a.ID
	}
	require.NoError(t, repo.Close())

	points := 40
	if testing.Short() {
		points = 8
	}
	if v := os.Getenv("HOSTSALES_CRASH_POINTS"); v != "" {
		points, err = strconv.Atoi(v)
		require.NoError(t, err)
	}
	rng := rand.New(rand.NewPCG(5, 6))
	done := make([]int, crashWorkers)
	for point := range points {
		state := make([]string, len(aids))
		for w, aid := range aids {
			state[w] = fmt.Sprintf("%s:%d", aid, done[w])
		}
		run, err := crashtest.Run([]string{crashDirEnv + "=" + dir, crashStateEnv + "=" + strings.Join(state, ",")},
			crashWorkers, 1+rng.IntN(120))
		require.NoError(t, err, "point %d", point)
		acked, intended := run.Acked, run.Intended
		repo, err := repostore.Open(dir, &repostore.Options{QuotaMaxBytes: crashQuota})
		require.NoError(t, err)
		res, err := reservations.New(ctx, repo, nil)
		require.NoError(t, err)
		var used uint64
		for w, aid := range aids {
			a, err := res.Availability(aid)
			require.NoError(t, err)
			live, err := res.ReservationsOf(ctx, aid)
			require.NoError(t, err)
			got := crashModelState{total: a.TotalSize, free: a.FreeSize, remaining: a.TotalRemainingCollateral.Uint64(),
				live: map[uint64]uint64{}}
			for _, r := range live {
				got.live[r.SlotIndex] = r.Size
			}
			matched := false
			for _, n := range []int{done[w] + acked[w], done[w] + intended[w]} {
				want := crashModel(w, n)
				got.used = want.used
				if assert.ObjectsAreEqual(want, got) {
					done[w], matched = n, true
					used += want.used
					break
				}
			}
			require.True(t, matched, "point %d worker %d: %+v is no prefix state (acked %d of %d)",
				point, w, got, done[w]+acked[w], done[w]+intended[w])
		}
		assert.Equal(t, used, repo.Quota().Used, "point %d: used equals the live reservations' blocks", point)
		checkInvariants(t, repo, res)
		require.NoError(t, repo.Close())
	}
	t.Logf("%d kill points; ops per worker: %v", points, done)
}
