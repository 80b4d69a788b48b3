package repostore_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"

	ds "github.com/ipfs/go-datastore"
	dsq "github.com/ipfs/go-datastore/query"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/hostsales/hostsales/repostore"
	"github.com/hostsales/hostsales/repostore/crashtest"
)

const crashEnv = "HOSTSALES_REPOSTORE_CRASH_CHILD"

func TestMain(m *testing.M) {
	if dir := os.Getenv(crashEnv); dir != "" {
		crashChild(dir) // never returns: the parent kills it
	}
	goleak.VerifyTestMain(m)
}

const crashWorkers = 4

// crashStartEnv tells the child at which op each worker resumes.
const crashStartEnv = "HOSTSALES_REPOSTORE_CRASH_START"

// crashOp is op number seq of worker w. Every op writes its record, holds
// one byte of reservation per live record and stores a block tagged with
// the record; every fourth op instead ends the record before it (record,
// reservation and block in one op). The state after a prefix of a worker's
// ops is therefore known exactly (see crashModel).
func crashOp(w, seq int) repostore.Op {
	return func(tx *repostore.Txn) error {
		if seq%4 == 3 {
			prev := crashKey(w, seq-1)
			if err := tx.Delete(prev); err != nil {
				return err
			}
			if _, _, err := tx.DropTag(prev.String(), 0); err != nil {
				return err
			}
			return tx.Release(1)
		}
		k := crashKey(w, seq)
		if err := tx.Put(k, []byte(strconv.Itoa(seq))); err != nil {
			return err
		}
		if _, err := tx.PutBlock(crashBlock(w, seq), 1<<40, k.String()); err != nil {
			return err
		}
		return tx.Reserve(1)
	}
}

func crashKey(w, seq int) ds.Key { return ds.NewKey(fmt.Sprintf("/meta/crash/%d/%08d", w, seq)) }

func crashBlock(w, seq int) []byte {
	return []byte(fmt.Sprintf("block %d %d %s", w, seq, strings.Repeat("x", seq%50)))
}

// crashModel returns the live records after worker w applied ops 0..n-1.
func crashModel(w, n int) map[string]bool {
	live := map[string]bool{}
	for seq := range n {
		if seq%4 == 3 {
			delete(live, crashKey(w, seq-1).String())
		} else {
			live[crashKey(w, seq).String()] = true
		}
	}
	return live
}

// crashChild runs the workload until killed, printing "I w seq" before and
// "A w seq" after each op. Each line is one write.
func crashChild(dir string) {
	s, err := repostore.Open(dir, &repostore.Options{QuotaMaxBytes: 1 << 40})
	if err != nil {
		fmt.Fprintln(os.Stderr, "open:", err)
		os.Exit(2)
	}
	log := crashtest.NewLog(os.Stdout)
	start := make([]int, crashWorkers)
	for i, f := range strings.Split(os.Getenv(crashStartEnv), ",") {
		start[i], _ = strconv.Atoi(f)
	}
	var wg sync.WaitGroup
	for w := range crashWorkers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for seq := start[w]; ; seq++ {
				log.Intent(w, seq)
				if err := s.Do(context.Background(), crashOp(w, seq)); err != nil {
					fmt.Fprintln(os.Stderr, "op:", err)
					os.Exit(3)
				}
				log.Ack(w, seq)
			}
		}()
	}
	wg.Wait()
}

// crashPoints is how many kill points the crash test runs.
func crashPoints(t *testing.T) int {
	if v := os.Getenv("HOSTSALES_CRASH_POINTS"); v != "" {
		n, err := strconv.Atoi(v)
		require.NoError(t, err)
		return n
	}
	if testing.Short() {
		return 10
	}
	return 100
}

// TestCrashLosesNothingAcknowledged kills a child process that commits
// through the pipeline at many random points and checks, after each kill,
// that every acknowledged op is there, that each worker's state is exactly
// a prefix of its ops (nothing half-applied), and that the quota counters
// equal what the stored records imply.
func TestCrashLosesNothingAcknowledged(t *testing.T) {
	dir := t.TempDir()
	rng := rand.New(rand.NewPCG(1, 2))
	points := crashPoints(t)
	total := make([]int, crashWorkers) // ops acknowledged so far, per worker
	for point := range points {
		killAfter := 1 + rng.IntN(200) // acknowledgements before the kill
		run, err := crashtest.Run([]string{crashEnv + "=" + dir, crashStartEnv + "=" + startArg(total)}, crashWorkers, killAfter)
		require.NoError(t, err, "point %d", point)
		acked, intended := run.Acked, run.Intended
		s, err := repostore.Open(dir, &repostore.Options{QuotaMaxBytes: 1 << 40})
		require.NoError(t, err, "point %d", point)

		var wantReserved, wantUsed uint64
		var wantBlocks int64
		for w := range crashWorkers {
			live := liveRecords(t, s, w)
			// Each run resumes worker w at op total[w].
			lo := crashModel(w, total[w]+acked[w])
			hi := crashModel(w, total[w]+intended[w])
			switch {
			case equalSets(live, lo):
				total[w] += acked[w]
			case equalSets(live, hi):
				total[w] += intended[w]
			default:
				t.Fatalf("point %d worker %d: stored records are no prefix of the ops: have %d, want %d or %d",
					point, w, len(live), len(lo), len(hi))
			}
			wantReserved += uint64(len(live))
			for k := range live {
				seq, _ := strconv.Atoi(k[strings.LastIndex(k, "/")+1:])
				wantUsed += uint64(len(crashBlock(w, seq)))
				wantBlocks++
			}
		}
		q := s.Quota()
		assert.Equal(t, wantReserved, q.Reserved, "point %d: reserved equals the records", point)
		assert.Equal(t, wantUsed, q.Used, "point %d: used equals the blocks", point)
		assert.Equal(t, wantBlocks, s.TotalBlocks(), "point %d", point)
		require.NoError(t, s.Close())
		if t.Failed() {
			return
		}
	}
	t.Logf("%d kill points, %v ops acknowledged per worker", points, total)
}

func startArg(total []int) string {
	parts := make([]string, len(total))
	for i, n := range total {
		parts[i] = strconv.Itoa(n)
	}
	return strings.Join(parts, ",")
}

func equalSets(a, b map[string]bool) bool {
	if len(a) != len(b) {
		return false
	}
	for k := range a {
		if !b[k] {
			return false
		}
	}
	return true
}

func liveRecords(t *testing.T, s *repostore.Store, w int) map[string]bool {
	live := map[string]bool{}
	for e, err := range s.Query(context.Background(), dsq.Query{Prefix: fmt.Sprintf("/meta/crash/%d", w), KeysOnly: true}) {
		require.NoError(t, err)
		live[e.Key] = true
	}
	return live
}
