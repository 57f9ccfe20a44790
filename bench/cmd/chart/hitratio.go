package main

import (
	"fmt"
	"image/color"
	"os"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgimg"

	"github.com/memostore/memostore/bench"
)

// hitStyles draws each policy of the hit-ratio chart: memostore's in
// colour, the references in grey shades and dashes.
var hitStyles = map[string]struct {
	col    color.Color
	dashes []vg.Length
}{
	"fifo":               {color.RGBA{R: 0x66, G: 0x66, B: 0x66, A: 0xff}, []vg.Length{vg.Points(1), vg.Points(2)}},
	"lru":                {color.RGBA{R: 0x99, G: 0x99, B: 0x99, A: 0xff}, nil},
	"otter":              {color.RGBA{R: 0x33, G: 0x33, B: 0x33, A: 0xff}, []vg.Length{vg.Points(5), vg.Points(3)}},
	"s3-fifo":            {color.RGBA{R: 0xbb, G: 0xbb, B: 0xbb, A: 0xff}, []vg.Length{vg.Points(2), vg.Points(2)}},
	"memostore-lru":      {ours, []vg.Length{vg.Points(4), vg.Points(4)}},
	"memostore-wtinylfu": {color.RGBA{R: 0x2c, G: 0xa0, B: 0x2c, A: 0xff}, nil},
	"memostore-disk":     {warm, nil},
	"opt":                {color.Black, []vg.Length{vg.Points(1), vg.Points(1)}},
}

// hitChart draws hit% against capacity for each trace replayed whole, one
// panel per trace, three to a row.
func hitChart(res *bench.Results, path string) error {
	groups := res.HitGroups()
	var plots []*plot.Plot
	for _, g := range groups {
		if !g.Whole(groups) {
			continue
		}
		p := plot.New()
		p.Title.Text = fmt.Sprintf("%s (%s requests)", g.Trace, count(g.Requests))
		p.X.Label.Text = "capacity (entries)"
		p.Y.Label.Text = "hit %"
		p.X.Tick.Marker = thousands{}
		p.Y.Min, p.Y.Max = 0, 100
		p.Add(plotter.NewGrid())
		p.Legend.Top, p.Legend.Left = true, true
		p.Legend.TextStyle.Font.Size = vg.Points(7)
		for _, pol := range bench.HitPolicies {
			if !g.Has(pol.Name) {
				continue
			}
			var xys plotter.XYs
			for _, c := range g.Caps {
				if v, ok := g.Hit[c][pol.Name]; ok {
					xys = append(xys, plotter.XY{X: float64(c), Y: v})
				}
			}
			line, points, err := plotter.NewLinePoints(xys)
			if err != nil {
				return err
			}
			st := hitStyles[pol.Name]
			line.Color, line.Dashes, line.Width = st.col, st.dashes, vg.Points(1.5)
			points.Color, points.Shape, points.Radius = st.col, draw.CircleGlyph{}, vg.Points(1.5)
			p.Add(line, points)
			p.Legend.Add(pol.Label, line)
		}
		plots = append(plots, p)
	}
	if len(plots) == 0 {
		return fmt.Errorf("no BenchmarkHitRatio results")
	}
	const cols = 3
	var grid [][]*plot.Plot
	for i := 0; i < len(plots); i += cols {
		row := make([]*plot.Plot, cols)
		copy(row, plots[i:min(i+cols, len(plots))])
		grid = append(grid, row)
	}
	img := vgimg.NewWith(vgimg.UseWH(36*vg.Centimeter, vg.Length(len(grid))*12*vg.Centimeter), vgimg.UseDPI(144))
	dc := draw.New(img)
	tiles := draw.Tiles{Rows: len(grid), Cols: cols, PadX: vg.Centimeter, PadY: vg.Centimeter,
		PadTop: vg.Millimeter * 3, PadBottom: vg.Millimeter * 3, PadLeft: vg.Millimeter * 3, PadRight: vg.Millimeter * 5}
	canvases := plot.Align(grid, tiles, dc)
	for i, row := range grid {
		for j, p := range row {
			if p != nil {
				p.Draw(canvases[i][j])
			}
		}
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

// count formats n with thousands separators.
func count(n int) string {
	s := fmt.Sprint(n)
	for i := len(s) - 3; i > 0; i -= 3 {
		s = s[:i] + "," + s[i:]
	}
	return s
}
