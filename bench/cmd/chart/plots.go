package main

import (
	"fmt"
	"image/color"
	"math"
	"os"
	"slices"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgimg"

	"github.com/memostore/memostore/bench"
)

var (
	ours  = color.RGBA{R: 0x1f, G: 0x77, B: 0xb4, A: 0xff} // blue
	peers = color.RGBA{R: 0x99, G: 0x99, B: 0x99, A: 0xff} // grey
	warm  = color.RGBA{R: 0xd6, G: 0x27, B: 0x28, A: 0xff} // red
)

const mib = 1 << 20

// heapChart draws heap in use over calls: both runs on one scale, after
// two GCs as examples/userdata measures it, and beside it the bounded run
// alone on its own scale, after two GCs and after one.
func heapChart(runs []bench.HeapRun, path string) error {
	both := plot.New()
	both.Title.Text = "userdata: heap in use after Flush and two GCs"
	both.X.Label.Text = "calls (distinct user ids)"
	both.Y.Label.Text = "MiB (HeapAlloc)"
	both.X.Tick.Marker = thousands{}
	both.Legend.Top, both.Legend.Left = true, true
	var bounded bench.HeapRun
	for _, r := range runs {
		line, err := plotter.NewLine(heapXYs(r, true))
		if err != nil {
			return err
		}
		line.Width = vg.Points(2)
		if r.MaxSize < 0 {
			line.Color = warm
			both.Legend.Add("MaxSize(-1): unbounded, as functools.cache", line)
		} else {
			line.Color = ours
			both.Legend.Add(fmt.Sprintf("MaxSize(%d), as lru_cache(maxsize=%d)", r.MaxSize, r.MaxSize), line)
			bounded = r
		}
		both.Add(line)
	}
	both.Add(plotter.NewGrid())
	both.Y.Min = 0

	zoom := plot.New()
	zoom.Title.Text = fmt.Sprintf("MaxSize(%d) alone", bounded.MaxSize)
	zoom.X.Label.Text = "calls (distinct user ids)"
	zoom.Y.Label.Text = "MiB (HeapAlloc)"
	zoom.X.Tick.Marker = thousands{}
	zoom.Legend.Top, zoom.Legend.Left = true, true
	zoom.Add(plotter.NewGrid())
	top := 0.0
	for i, second := range []bool{true, false} {
		xys := heapXYs(bounded, second)
		line, points, err := plotter.NewLinePoints(xys)
		if err != nil {
			return err
		}
		line.Color, line.Width = ours, vg.Points(2)
		points.Color, points.Shape = ours, draw.CircleGlyph{}
		label := "after Flush and two GCs (as examples/userdata)"
		if i == 1 {
			line.Color, points.Color = peers, peers
			line.Dashes = []vg.Length{vg.Points(4), vg.Points(3)}
			label = "after Flush and one GC (sync.Pools still full)"
		}
		zoom.Add(line, points)
		zoom.Legend.Add(label, line, points)
		for _, xy := range xys {
			top = max(top, xy.Y)
		}
	}
	zoom.Y.Min = 0
	zoom.Y.Max = math.Ceil(top * 1.4)
	return savePlots(path, 30*vg.Centimeter, 11*vg.Centimeter, both, zoom)
}

// heapXYs returns calls against MiB of HeapAlloc, after the second GC if
// second is set.
func heapXYs(r bench.HeapRun, second bool) plotter.XYs {
	xys := make(plotter.XYs, len(r.Samples))
	for i, s := range r.Samples {
		h := s.HeapAlloc
		if second {
			h = s.HeapAlloc2
		}
		xys[i].X, xys[i].Y = float64(s.Calls), float64(h)/mib
	}
	return xys
}

// thousands marks an axis of calls in k and M.
type thousands struct{}

func (thousands) Ticks(lo, hi float64) []plot.Tick {
	ticks := plot.DefaultTicks{}.Ticks(lo, hi)
	for i := range ticks {
		if ticks[i].Label == "" {
			continue
		}
		switch v := ticks[i].Value; {
		case v >= 1e6:
			ticks[i].Label = fmt.Sprintf("%gM", v/1e6)
		case v >= 1e3:
			ticks[i].Label = fmt.Sprintf("%gk", v/1e3)
		}
	}
	return ticks
}

// A bar is one row of the latency chart.
type bar struct {
	label string
	name  string // benchmark
	unit  string
	ours  bool
}

// latencyBars are the rows of the latency chart, top to bottom.
var latencyBars = []bar{
	{"memory hit: memostore Call", "BenchmarkMemoryHit/key=int/impl=memostore", "ns/op", true},
	{"memory hit: memostore Call, TTL set", "BenchmarkMemoryHit/key=int/impl=memostore-ttl", "ns/op", true},
	{"memory hit: golang-lru/v2 Get", "BenchmarkMemoryHit/key=int/impl=golang-lru", "ns/op", false},
	{"memory hit: otter/v2 Get", "BenchmarkMemoryHit/key=int/impl=otter", "ns/op", false},
	{"memory hit: map + RWMutex", "BenchmarkMemoryHit/key=int/impl=map-rwmutex", "ns/op", false},
	{"disk hit: memostore Call", "BenchmarkDiskHit/impl=memostore", "ns/op", true},
	{"disk hit: bbolt View+Get+decode", "BenchmarkDiskHit/impl=bbolt-floor", "ns/op", false},
	{"miss: memostore Call, caller p50", "BenchmarkMissStore/impl=memostore", "call-p50-ns", true},
	{"miss: memostore Call, caller p99", "BenchmarkMissStore/impl=memostore", "call-p99-ns", true},
	{"miss: memostore, sustained per call", "BenchmarkMissStore/impl=memostore", "ns/op", true},
	{"miss: bbolt 1,000 puts per tx, per put", "BenchmarkMissStore/impl=bbolt-1000-per-tx", "ns/op", false},
	{"miss: bbolt one tx per put", "BenchmarkMissStore/impl=bbolt-tx-per-put", "ns/op", false},
}

// latencyChart draws one horizontal bar per row of latencyBars, on a log
// scale, from the medians of res.
func latencyChart(res *bench.Results, path string) error {
	p := plot.New()
	p.Title.Text = "One call: memory hit, disk hit, miss (int keys; medians, log scale)"
	p.X.Label.Text = "time per call"
	var labels []string
	oursV, peersV := plotter.Values{}, plotter.Values{}
	var text plotter.XYLabels
	rows := slices.Clone(latencyBars)
	slices.Reverse(rows) // the first row at the top
	for i, r := range rows {
		v, ok := res.Median(r.name, r.unit)
		if !ok {
			return fmt.Errorf("no %s in %s", r.unit, r.name)
		}
		x := math.Max(math.Log10(v), 0)
		labels = append(labels, r.label)
		if r.ours {
			oursV, peersV = append(oursV, x), append(peersV, 0)
		} else {
			oursV, peersV = append(oursV, 0), append(peersV, x)
		}
		text.XYs = append(text.XYs, plotter.XY{X: x, Y: float64(i)})
		text.Labels = append(text.Labels, " "+duration(v))
	}
	for _, c := range []struct {
		vs  plotter.Values
		col color.Color
		leg string
	}{{oursV, ours, "memostore"}, {peersV, peers, "peers"}} {
		bars, err := plotter.NewBarChart(c.vs, vg.Points(11))
		if err != nil {
			return err
		}
		bars.Horizontal = true
		bars.Color = c.col
		bars.LineStyle.Width = 0
		p.Add(bars)
		p.Legend.Add(c.leg, bars)
	}
	lbl, err := plotter.NewLabels(text)
	if err != nil {
		return err
	}
	for i := range lbl.TextStyle {
		lbl.TextStyle[i].YAlign = -0.5
	}
	p.Add(lbl)
	p.NominalY(labels...)
	p.X.Min, p.X.Max = 0, 8
	p.X.Tick.Marker = logTicks{}
	p.Legend.XOffs = -vg.Centimeter
	p.Add(plotter.NewGrid())
	return savePlots(path, 26*vg.Centimeter, 13*vg.Centimeter, p)
}

// logTicks labels an axis of log10(nanoseconds).
type logTicks struct{}

func (logTicks) Ticks(lo, hi float64) []plot.Tick {
	var ticks []plot.Tick
	for e := math.Ceil(lo); e <= hi; e++ {
		ticks = append(ticks, plot.Tick{Value: e, Label: duration(math.Pow(10, e))})
	}
	return ticks
}

// duration formats nanoseconds for a label.
func duration(ns float64) string {
	switch {
	case ns >= 1e6:
		return fmt.Sprintf("%.3g ms", ns/1e6)
	case ns >= 1e3:
		return fmt.Sprintf("%.3g µs", ns/1e3)
	}
	return fmt.Sprintf("%.3g ns", ns)
}

// savePlots draws ps side by side into a PNG image of w by h.
func savePlots(path string, w, h vg.Length, ps ...*plot.Plot) error {
	img := vgimg.NewWith(vgimg.UseWH(w, h), vgimg.UseDPI(144))
	dc := draw.New(img)
	tiles := draw.Tiles{Rows: 1, Cols: len(ps), PadX: vg.Centimeter, PadTop: vg.Millimeter * 3,
		PadBottom: vg.Millimeter * 3, PadLeft: vg.Millimeter * 3, PadRight: vg.Millimeter * 5}
	canvases := plot.Align([][]*plot.Plot{ps}, tiles, dc)
	for i, p := range ps {
		p.Draw(canvases[0][i])
	}
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if _, err := (vgimg.PngCanvas{Canvas: img}).WriteTo(f); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}
