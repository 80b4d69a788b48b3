package main

import (
	"image/png"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hostsales/hostsales/sim"
)

func TestPlotManyNodesAndGaps(t *testing.T) {
	var samples []sim.Sample
	for i := range int64(100) {
		for n, node := range []string{"alice", "bob", "carol"} {
			if node == "bob" && i >= 40 && i < 50 {
				continue // bob is down: a gap in his lines
			}
			s := sim.Sample{Time: i * 600, Node: node, QueueLength: int(i % 7), ActiveSales: int(i%11) + n}
			for a := range 2 {
				used := uint64(i) << 24
				s.Availabilities = append(s.Availabilities, sim.AvailabilitySample{
					ID: filepath.Join("0xabcdef012345", node, string(rune('a'+a))), Free: 2<<30 - used, Used: used})
			}
			samples = append(samples, s)
		}
	}
	path := filepath.Join(t.TempDir(), "many.png")
	require.NoError(t, writePlot(path, "test, seed 1", samples))
	f, err := os.Open(path)
	require.NoError(t, err)
	defer f.Close()
	img, err := png.Decode(f)
	require.NoError(t, err)
	assert.Equal(t, 1200, img.Bounds().Dx())
}

func TestPlotNeedsSamples(t *testing.T) {
	path := filepath.Join(t.TempDir(), "none.png")
	assert.ErrorContains(t, writePlot(path, "x", nil), "no samples")
	assert.NoFileExists(t, path)
}

func TestPlotUnits(t *testing.T) {
	assert.Equal(t, "KiB", byteUnit(100_000).name)
	assert.Equal(t, "MiB", byteUnit(1<<30).name)
	assert.Equal(t, "GiB", byteUnit(20<<30).name)
	assert.Equal(t, "minutes", timeUnit(1800).name)
	assert.Equal(t, "hours", timeUnit(5000).name)
}

func TestDefaultSampleEvery(t *testing.T) {
	sc := &sim.Scenario{Duration: 3600}
	sc.Clients.Requests.Duration.Max = 1800
	sc.Clients.Requests.MaxExpiry = 600
	assert.Equal(t, int64(20), defaultSampleEvery(sc), "(3600+1800+600)/300")
	assert.Equal(t, int64(1), defaultSampleEvery(&sim.Scenario{Steps: 10, Settle: 1}))
	assert.Equal(t, int64((24*3600+3600)/300), defaultSampleEvery(&sim.Scenario{Steps: 10}))
}

func TestNiceTicks(t *testing.T) {
	labels := func(lo, hi float64) []string {
		var out []string
		for _, tk := range (niceTicks{}).Ticks(lo, hi) {
			if tk.Label != "" {
				out = append(out, tk.Label)
			}
		}
		return out
	}
	assert.Equal(t, []string{"0.0", "0.2", "0.4", "0.6", "0.8", "1.0", "1.2", "1.4"}, labels(0, 1.4))
	assert.Equal(t, []string{"0", "10", "20", "30", "40", "50"}, labels(0, 55))
	assert.Equal(t, []string{"0", "20", "40", "60", "80", "100", "120"}, labels(0, 130))
	assert.Equal(t, []string{"3"}, labels(3, 3))
}
