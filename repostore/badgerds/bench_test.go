package badgerds_test

import (
	"bufio"
	"fmt"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	ds "github.com/ipfs/go-datastore"

	"github.com/hostsales/hostsales/repostore/badgerds"
)

// benchConfigs compares this package's defaults with badger's own (as
// far as Options can express them; level-0 tuning stays ours).
var benchConfigs = []struct {
	name string
	opts badgerds.Options
}{
	{"defaults", badgerds.Options{NoSync: true}},
	{"badger", badgerds.Options{
		NoSync: true, MemTableSize: 64 << 20, NumMemtables: 5, BlockCacheSize: 256 << 20,
		IndexCacheSize: -1, ValueLogFileSize: 1<<30 - 1, NumCompactors: 4,
	}},
}

// BenchmarkWriteRSS writes b.N records of 256 bytes (keys shaped like
// reservation records, 100 per transaction, NoSync), then reads every
// 7th back, and reports write and read throughput and the process's peak
// RSS. VmHWM is process-wide and never goes down, so run one
// configuration per process, with a large fixed N:
//
//	go test -run '^$' -bench 'WriteRSS/defaults' -benchtime 1000000x ./repostore/badgerds/
//	go test -run '^$' -bench 'WriteRSS/badger' -benchtime 1000000x ./repostore/badgerds/
func BenchmarkWriteRSS(b *testing.B) {
	for _, c := range benchConfigs {
		b.Run(c.name, func(b *testing.B) { benchOne(b, c.opts) })
	}
}

func benchOne(b *testing.B, opts badgerds.Options) {
	ctx := b.Context()
	d := openT(b, b.TempDir(), &opts)
	key := func(i int) ds.Key {
		return ds.NewKey(fmt.Sprintf("/meta/sales/reservations/%064x/%064x", i%1000, i))
	}
	val := make([]byte, 256)
	b.ResetTimer()
	start := time.Now()
	for i := 0; i < b.N; {
		txn, err := d.NewTransaction(ctx, false)
		noErr(b, err, "NewTransaction")
		for j := 0; j < 100 && i < b.N; j, i = j+1, i+1 {
			val[0], val[1] = byte(i), byte(i>>8)
			noErr(b, txn.Put(ctx, key(i), append([]byte(nil), val...)), "Put")
		}
		noErr(b, txn.Commit(ctx), "Commit")
	}
	writeSecs := time.Since(start).Seconds()
	start = time.Now()
	reads := 0
	for i := 0; i < b.N; i += 7 {
		_, err := d.Get(ctx, key(i))
		noErr(b, err, "Get")
		reads++
	}
	readSecs := time.Since(start).Seconds()
	b.StopTimer()
	b.ReportMetric(float64(b.N)/writeSecs, "writes/s")
	b.ReportMetric(float64(reads)/readSecs, "reads/s")
	if hwm := peakRSSMiB(); hwm > 0 {
		b.ReportMetric(hwm, "peak-RSS-MiB")
	}
}

// peakRSSMiB returns the process's peak resident set size (Linux VmHWM),
// or 0 if unknown.
func peakRSSMiB() float64 {
	f, err := os.Open("/proc/self/status")
	if err != nil {
		return 0
	}
	defer f.Close()
	s := bufio.NewScanner(f)
	for s.Scan() {
		if rest, ok := strings.CutPrefix(s.Text(), "VmHWM:"); ok {
			kb, err := strconv.ParseFloat(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 64)
			if err != nil {
				return 0
			}
			return kb / 1024
		}
	}
	return 0
}
