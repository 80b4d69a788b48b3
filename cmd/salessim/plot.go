package main

import (
	"cmp"
	"errors"
	"fmt"
	"image/color"
	"math"
	"os"
	"slices"
	"strconv"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgimg"

	"github.com/hostsales/hostsales/sim"
)

// The PNG's size, in points at 96 dpi: 1200 × 960 pixels.
const (
	plotWidth  = 900 * vg.Length(1)
	plotHeight = 720 * vg.Length(1)
	plotDPI    = 96
)

// maxDashed is how many availabilities (or nodes) get a dash pattern of
// their own, and an entry in the legend; beyond it every line is solid
// and only the kinds are in the legend.
const maxDashed = 4

var (
	colFree     = color.RGBA{R: 0x2c, G: 0xa0, B: 0x2c, A: 0xff} // green
	colReserved = color.RGBA{R: 0xff, G: 0x7f, B: 0x0e, A: 0xff} // orange
	colUsed     = color.RGBA{R: 0x1f, G: 0x77, B: 0xb4, A: 0xff} // blue
	colQueue    = color.RGBA{R: 0x94, G: 0x67, B: 0xbd, A: 0xff} // purple
	colActive   = color.RGBA{R: 0xd6, G: 0x27, B: 0x28, A: 0xff} // red
	colKey      = color.Gray{Y: 0x60}                            // the dash legend

	dashes = [][]vg.Length{nil, {vg.Points(6), vg.Points(3)}, {vg.Points(2), vg.Points(2)},
		{vg.Points(8), vg.Points(3), vg.Points(2), vg.Points(3)}}
)

// unit is a scale for an axis: values are divided by div.
type unit struct {
	name string
	div  float64
}

// byteUnit picks the unit the byte panel reads best in: MiB, or KiB/GiB
// for runs far below or above it.
func byteUnit(maxBytes uint64) unit {
	switch {
	case maxBytes < 1<<20:
		return unit{"KiB", 1 << 10}
	case maxBytes >= 10<<30:
		return unit{"GiB", 1 << 30}
	}
	return unit{"MiB", 1 << 20}
}

// timeUnit picks hours, or minutes for a run shorter than an hour.
func timeUnit(span int64) unit {
	if span < 3600 {
		return unit{"minutes", 60}
	}
	return unit{"hours", 3600}
}

// seriesKey names one line: a node's availability (avail "" for the
// node-wide series of the second panel) and what it shows.
type seriesKey struct {
	node, avail string
	kind        int
}

// Kinds of series.
const (
	kindFree = iota
	kindReserved
	kindUsed
	kindQueue
	kindActive
)

var kindNames = [...]string{"free", "reserved", "used", "queue length", "active sales"}
var kindColors = [...]color.Color{colFree, colReserved, colUsed, colQueue, colActive}

// series is one line, split into segments where samples are missing (a
// node that was down).
type series struct {
	segs []plotter.XYs
	last int // index in the sample times of the last point, -1 at first
}

func (s *series) add(ti int, x, y float64) {
	if len(s.segs) == 0 || s.last != ti-1 {
		s.segs = append(s.segs, nil)
	}
	s.segs[len(s.segs)-1] = append(s.segs[len(s.segs)-1], plotter.XY{X: x, Y: y})
	s.last = ti
}

// writePlot draws samples as a PNG at path: a panel of the free, reserved
// and used bytes of every availability over simulated time, and below it,
// on the same time axis, a panel of every node's slot-queue length and
// active sales.
func writePlot(path, title string, samples []sim.Sample) error {
	if len(samples) == 0 {
		return errors.New("the run took no samples")
	}
	c, err := drawPlot(title, samples)
	if err != nil {
		return err
	}
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if _, err := (vgimg.PngCanvas{Canvas: c}).WriteTo(f); err != nil {
		f.Close()
		os.Remove(path)
		return fmt.Errorf("writing %s: %w", path, err)
	}
	return f.Close()
}

// drawPlot draws the two panels onto an image canvas.
func drawPlot(title string, samples []sim.Sample) (*vgimg.Canvas, error) {
	// The distinct sample times, to find gaps.
	var times []int64
	for _, s := range samples {
		times = append(times, s.Time)
	}
	slices.Sort(times)
	times = slices.Compact(times)
	tIndex := make(map[int64]int, len(times))
	for i, t := range times {
		tIndex[t] = i
	}
	span := times[len(times)-1] - times[0]
	tu := timeUnit(span)

	var maxBytes uint64
	for _, s := range samples {
		for _, a := range s.Availabilities {
			maxBytes = max(maxBytes, a.Free+a.Reserved+a.Used, a.Free, a.Reserved, a.Used)
		}
	}
	bu := byteUnit(maxBytes)

	lines := map[seriesKey]*series{}
	var nodes []string
	var avails []seriesKey // node and avail, in order of first appearance
	get := func(k seriesKey) *series {
		s := lines[k]
		if s == nil {
			s = &series{last: -1}
			lines[k] = s
		}
		return s
	}
	for _, s := range samples {
		ti := tIndex[s.Time]
		x := float64(s.Time) / tu.div
		if !slices.Contains(nodes, s.Node) {
			nodes = append(nodes, s.Node)
		}
		get(seriesKey{node: s.Node, kind: kindQueue}).add(ti, x, float64(s.QueueLength))
		get(seriesKey{node: s.Node, kind: kindActive}).add(ti, x, float64(s.ActiveSales))
		for _, a := range s.Availabilities {
			ak := seriesKey{node: s.Node, avail: a.ID}
			if !slices.Contains(avails, ak) {
				avails = append(avails, ak)
			}
			for kind, v := range map[int]uint64{kindFree: a.Free, kindReserved: a.Reserved, kindUsed: a.Used} {
				get(seriesKey{node: s.Node, avail: a.ID, kind: kind}).add(ti, x, float64(v)/bu.div)
			}
		}
	}
	slices.SortStableFunc(avails, func(a, b seriesKey) int { return cmp.Compare(a.node, b.node) })

	top := plot.New()
	top.Title.Text = fmt.Sprintf("%s: space of each availability", title)
	top.X.Label.Text = "simulated time (" + tu.name + ")"
	top.Y.Label.Text = bu.name
	bottom := plot.New()
	bottom.Title.Text = "slot queue and sales of each node"
	bottom.X.Label.Text = top.X.Label.Text
	bottom.Y.Label.Text = "count"

	dashedAvails := len(avails) > 1 && len(avails) <= maxDashed
	width := vg.Points(1.5)
	if len(avails) > maxDashed {
		width = vg.Points(1)
	}
	for i, ak := range avails {
		dash := []vg.Length(nil)
		if dashedAvails {
			dash = dashes[i]
		}
		for _, kind := range []int{kindFree, kindReserved, kindUsed} {
			if err := addSeries(top, lines[seriesKey{node: ak.node, avail: ak.avail, kind: kind}], kindColors[kind], dash, width); err != nil {
				return nil, err
			}
		}
	}
	for _, kind := range []int{kindFree, kindReserved, kindUsed} {
		addKey(top, kindNames[kind], kindColors[kind], nil)
	}
	if dashedAvails {
		for i, ak := range avails {
			addKey(top, availLabel(ak, len(nodes) > 1), colKey, dashes[i])
		}
	}

	dashedNodes := len(nodes) > 1 && len(nodes) <= maxDashed
	width = vg.Points(1.5)
	if len(nodes) > maxDashed {
		width = vg.Points(1)
	}
	for i, n := range nodes {
		dash := []vg.Length(nil)
		if dashedNodes {
			dash = dashes[i]
		}
		for _, kind := range []int{kindQueue, kindActive} {
			if err := addSeries(bottom, lines[seriesKey{node: n, kind: kind}], kindColors[kind], dash, width); err != nil {
				return nil, err
			}
		}
	}
	for _, kind := range []int{kindQueue, kindActive} {
		addKey(bottom, kindNames[kind], kindColors[kind], nil)
	}
	if dashedNodes {
		for i, n := range nodes {
			addKey(bottom, n, colKey, dashes[i])
		}
	}
	if len(avails) > maxDashed {
		top.Title.Text += fmt.Sprintf(" (%d availabilities)", len(avails))
	}
	if len(nodes) > maxDashed {
		bottom.Title.Text += fmt.Sprintf(" (%d nodes)", len(nodes))
	}

	// Same time axis on both; room above the data for the legend.
	x0, x1 := float64(times[0])/tu.div, float64(times[len(times)-1])/tu.div
	if x1 == x0 {
		x1 = x0 + 1
	}
	topKeys, bottomKeys := 3, 2
	if dashedAvails {
		topKeys += len(avails)
	}
	if dashedNodes {
		bottomKeys += len(nodes)
	}
	for i, p := range []*plot.Plot{top, bottom} {
		p.X.Min, p.X.Max = x0, x1
		p.X.Tick.Marker = niceTicks{}
		p.Y.Tick.Marker = niceTicks{}
		p.Y.Min = 0
		p.Y.Max = max(p.Y.Max, 1) * legendRoom([]int{topKeys, bottomKeys}[i])
		p.Legend.Top = true
		p.Legend.Left = true
		p.Legend.XOffs = vg.Points(6)
		p.Add(plotter.NewGrid())
	}

	c := vgimg.NewWith(vgimg.UseWH(plotWidth, plotHeight), vgimg.UseDPI(plotDPI))
	dc := draw.New(c)
	tiles := draw.Tiles{Rows: 2, Cols: 1, PadTop: vg.Points(6), PadBottom: vg.Points(6),
		PadLeft: vg.Points(6), PadRight: vg.Points(12), PadY: vg.Points(18)}
	canvases := plot.Align([][]*plot.Plot{{top}, {bottom}}, tiles, dc)
	top.Draw(canvases[0][0])
	bottom.Draw(canvases[1][0])
	return c, nil
}

// addSeries adds the segments of s as lines of one style.
func addSeries(p *plot.Plot, s *series, c color.Color, dash []vg.Length, width vg.Length) error {
	if s == nil {
		return nil
	}
	for _, seg := range s.segs {
		l, err := plotter.NewLine(seg)
		if err != nil {
			return fmt.Errorf("plotting: %w", err)
		}
		l.Color = c
		l.Width = width
		l.Dashes = dash
		p.Add(l)
	}
	return nil
}

// addKey adds a legend entry: a line of colour c and dash pattern dash.
func addKey(p *plot.Plot, name string, c color.Color, dash []vg.Length) {
	p.Legend.Add(name, keyThumb{draw.LineStyle{Color: c, Width: vg.Points(2), Dashes: dash}})
}

// keyThumb draws a legend entry's line.
type keyThumb struct{ style draw.LineStyle }

// Thumbnail implements plot.Thumbnailer.
func (k keyThumb) Thumbnail(c *draw.Canvas) {
	y := c.Center().Y
	c.StrokeLine2(k.style, c.Min.X, y, c.Max.X, y)
}

// availLabel names an availability in the legend by its id's first
// bytes (and its node's name when there are several nodes).
func availLabel(ak seriesKey, withNode bool) string {
	id := ak.avail
	if len(id) > 10 {
		id = id[:10] + "…"
	}
	if withNode {
		return ak.node + " " + id
	}
	return "availability " + id
}

// legendRoom is the factor to stretch a panel's y range by so that its
// legend (top left, entries lines) sits above the data.
func legendRoom(entries int) float64 {
	// Each entry takes about 3.6% of a panel's height at this size.
	used := 0.04 + 0.036*float64(entries)
	return 1 / (1 - min(used, 0.6))
}

// niceTicks places about six labelled ticks at 1, 2 or 5 times a power of
// ten, labelled with no more digits than the step needs, and four
// unlabelled ticks between each pair.
type niceTicks struct{}

// Ticks implements plot.Ticker.
func (niceTicks) Ticks(lo, hi float64) []plot.Tick {
	if !(hi > lo) {
		return []plot.Tick{{Value: lo, Label: strconv.FormatFloat(lo, 'f', -1, 64)}}
	}
	raw := (hi - lo) / 6
	mag := math.Pow(10, math.Floor(math.Log10(raw)))
	step := mag
	for _, m := range []float64{2, 5, 10} {
		if math.Abs(math.Log(m*mag/raw)) < math.Abs(math.Log(step/raw)) {
			step = m * mag
		}
	}
	digits := max(0, -int(math.Floor(math.Log10(step))))
	var ticks []plot.Tick
	minor := step / 5
	for i := math.Ceil(lo / minor); i*minor <= hi+minor*1e-9; i++ {
		v := i * minor
		t := plot.Tick{Value: v}
		if math.Abs(math.Remainder(v, step)) < minor*1e-6 {
			t.Label = strconv.FormatFloat(v, 'f', digits, 64)
		}
		ticks = append(ticks, t)
	}
	return ticks
}
