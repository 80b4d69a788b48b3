package badgerds_test

import (
	"bufio"
	"os"
	"runtime"
	"runtime/pprof"
	"strconv"
	"strings"
	"testing"
	"time"
)

func procStatus() map[string]float64 {
	f, _ := os.Open("/proc/self/status")
	defer f.Close()
	m := map[string]float64{}
	s := bufio.NewScanner(f)
	for s.Scan() {
		k, v, ok := strings.Cut(s.Text(), ":")
		if !ok { continue }
		v = strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB"))
		if x, err := strconv.ParseFloat(v, 64); err == nil { m[k] = x / 1024 }
	}
	return m
}

func TestProbeRSS(t *testing.T) {
	if os.Getenv("PROBE") == "" { t.Skip() }
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		var pa, pf, ph float64
		var live float64
		defer func() { t.Logf("max live %.0f MiB", live) }()
		tk := time.NewTicker(50 * time.Millisecond)
		defer tk.Stop()
		for {
			select {
			case <-stop:
				t.Logf("peak anon %.0f MiB, peak file %.0f MiB, peak heapinuse %.0f MiB", pa, pf, ph)
				return
			case <-tk.C:
				m := procStatus()
				pa = max(pa, m["RssAnon"]); pf = max(pf, m["RssFile"])
				var ms runtime.MemStats
				runtime.ReadMemStats(&ms)
				ph = max(ph, float64(ms.HeapInuse)/(1<<20))
				if os.Getenv("LIVEPROF") != "" {
					runtime.GC()
					runtime.ReadMemStats(&ms)
					if l := float64(ms.HeapAlloc) / (1 << 20); l > live {
						live = l
						f, _ := os.Create("/tmp/heap.pprof")
						pprof.Lookup("heap").WriteTo(f, 0)
						f.Close()
					}
				}
			}
		}
	}()
	name := os.Getenv("PROBE")
	for _, c := range benchConfigs {
		if c.name != name { continue }
		r := testing.Benchmark(func(b *testing.B) {})
		_ = r
	}
	res := testing.Benchmark(func(b *testing.B) {
		b.N, _ = strconv.Atoi(os.Getenv("PROBEN"))
		for _, c := range benchConfigs {
			if c.name == name {
				o := c.opts
				for _, kv := range strings.Split(os.Getenv("OPTS"), ",") {
					k, v, _ := strings.Cut(kv, "=")
					n, _ := strconv.Atoi(v)
					switch k {
					case "mt":
						o.MemTableSize = int64(n) << 20
					case "nm":
						o.NumMemtables = n
					case "bc":
						o.BlockCacheSize = int64(n) << 20
					case "ic":
						o.IndexCacheSize = int64(n) << 20
					case "nc":
						o.NumCompactors = n
					}
				}
				benchOne(b, o)
			}
		}
	})
	t.Log(res.String(), res.Extra)
	close(stop)
	<-done
}
