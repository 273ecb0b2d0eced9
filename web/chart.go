package web

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/parkd/parkd/store"
)

// barChart is a stacked bar chart laid out in Go, so that the report
// template only writes SVG elements with numbers: no script, no library.
// It carries its figures as a table too, for screen readers and copying.
type barChart struct {
	ID, Title, Desc string
	Width, Height   int
	Plot            box
	Bars            []bar
	XLabels         []text
	YTicks          []text // left axis, with grid lines at Y
	RightTicks      []text // right axis (a rate), when Line is set
	Line            string // polyline points of the rate, or ""
	Dots            []dot
	Legend          []legend
	Head            []string
	Rows            [][]string
}

type box struct{ X, Y, W, H float64 }

// Right is the box's right edge, for the grid lines.
func (b box) Right() float64 { return b.X + b.W }

type bar struct {
	box
	Class, Label string
}

type text struct {
	X, Y float64
	Text string
}

type dot struct {
	X, Y  float64
	Label string
}

type legend struct{ Class, Text string }

// series is one layer of a stacked bar chart.
type series struct {
	Name, Class string
	Values      []int
}

const (
	chartW, chartH                       = 760, 260
	padLeft, padRight, padTop, padBottom = 48, 48, 12, 40
)

// stacked lays out categories with one stacked bar each.
func stacked(id, title, desc string, cats []string, ss []series) *barChart {
	c := &barChart{ID: id, Title: title, Desc: desc, Width: chartW, Height: chartH,
		Plot: box{X: padLeft, Y: padTop, W: chartW - padLeft - padRight, H: chartH - padTop - padBottom}}
	top := 0
	for i := range cats {
		sum := 0
		for _, s := range ss {
			sum += s.Values[i]
		}
		top = max(top, sum)
	}
	scale := niceCeil(top)
	step := c.Plot.W / float64(len(cats))
	y := func(v int) float64 { return c.Plot.Y + c.Plot.H - float64(v)/float64(scale)*c.Plot.H }
	for i, cat := range cats {
		x := c.Plot.X + float64(i)*step
		base := 0
		for _, s := range ss {
			v := s.Values[i]
			if v == 0 {
				continue
			}
			c.Bars = append(c.Bars, bar{box: box{X: round1(x + step*0.15), Y: round1(y(base + v)), W: round1(step * 0.7),
				H: round1(y(base) - y(base+v))}, Class: s.Class, Label: fmt.Sprintf("%s: %d %s", cat, v, s.Name)})
			base += v
		}
		c.XLabels = append(c.XLabels, text{X: round1(x + step/2), Y: c.Plot.Y + c.Plot.H + 16, Text: cat})
	}
	for _, v := range []int{0, scale / 2, scale} {
		c.YTicks = append(c.YTicks, text{X: c.Plot.X - 6, Y: round1(y(v)), Text: strconv.Itoa(v)})
	}
	for _, s := range ss {
		c.Legend = append(c.Legend, legend{Class: s.Class, Text: s.Name})
	}
	return c
}

// niceCeil is the smallest of 2, 4, 10, 20, 40, 100, ... at least n, so
// the axis has round ticks at 0, half and top.
func niceCeil(n int) int {
	for m := 1; ; m *= 10 {
		for _, k := range []int{2, 4, 10} {
			if k*m >= n {
				return k * m
			}
		}
	}
}

func round1(f float64) float64 { return float64(int(f*10+0.5)) / 10 }

// hourChart is the calls parked per hour of the day, and the share of them
// abandoned as a line on a 0 to 100 % axis.
func hourChart(rep store.Report) *barChart {
	byHour := map[string]store.ReportRow{}
	for _, g := range rep.Groups {
		byHour[g.Group] = g
	}
	cats := make([]string, 24)
	picked, other, abandoned := make([]int, 24), make([]int, 24), make([]int, 24)
	for h := range 24 {
		cats[h] = fmt.Sprintf("%02d", h)
		r := byHour[cats[h]]
		picked[h], abandoned[h] = r.PickedUp(), r.Abandoned
		other[h] = r.Parked - r.PickedUp() - r.Abandoned
	}
	c := stacked("hours", "Calls parked per hour of the day",
		"Stacked bars: calls picked up, abandoned and other outcomes (fallback, lost, still parked) per hour; the line is the abandon rate.",
		cats, []series{{"picked up", "s-picked", picked}, {"abandoned", "s-abandoned", abandoned}, {"other", "s-other", other}})
	c.Head = []string{"Hour", "Parked", "Picked up", "Abandoned", "Abandon rate"}
	var pts []string
	step := c.Plot.W / 24
	for h := range 24 {
		r := byHour[cats[h]]
		if r.Parked == 0 {
			continue
		}
		rate := r.AbandonRate()
		x, y := round1(c.Plot.X+step*(float64(h)+0.5)), round1(c.Plot.Y+c.Plot.H-rate*c.Plot.H)
		pts = append(pts, fmt.Sprintf("%g,%g", x, y))
		pct := strconv.FormatFloat(rate*100, 'f', 1, 64) + "%"
		c.Dots = append(c.Dots, dot{X: x, Y: y, Label: cats[h] + ": abandon rate " + pct})
		c.Rows = append(c.Rows, []string{cats[h] + ":00", strconv.Itoa(r.Parked), strconv.Itoa(r.PickedUp()), strconv.Itoa(r.Abandoned), pct})
	}
	c.Line = strings.Join(pts, " ")
	for _, v := range []int{0, 50, 100} {
		c.RightTicks = append(c.RightTicks, text{X: c.Plot.X + c.Plot.W + 6, Y: round1(c.Plot.Y + c.Plot.H - float64(v)/100*c.Plot.H), Text: strconv.Itoa(v) + "%"})
	}
	c.Legend = append(c.Legend, legend{Class: "s-rate", Text: "abandon rate (right axis)"})
	return c
}

// waitChart is the wait distribution: callers picked up and callers who
// hung up, by how long they waited.
func waitChart(buckets []store.WaitBucket) *barChart {
	cats := make([]string, len(buckets))
	picked, abandoned := make([]int, len(buckets)), make([]int, len(buckets))
	for i, b := range buckets {
		switch {
		case b.Max == 0:
			cats[i] = "≥ " + short(b.Min)
		default:
			cats[i] = "< " + short(b.Max)
		}
		picked[i], abandoned[i] = b.PickedUp, b.Abandoned
	}
	c := stacked("waits", "How long callers waited",
		"Stacked bars: callers picked up and callers who hung up, by how long they had waited.",
		cats, []series{{"picked up", "s-picked", picked}, {"abandoned", "s-abandoned", abandoned}})
	c.Head = []string{"Waited", "Picked up", "Abandoned"}
	for i, b := range buckets {
		what := short(b.Min) + " to " + short(b.Max)
		if b.Max == 0 {
			what = short(b.Min) + " or more"
		}
		c.Rows = append(c.Rows, []string{what, strconv.Itoa(picked[i]), strconv.Itoa(abandoned[i])})
	}
	return c
}

// short writes a bucket limit: 15s, 1m, 2m.
func short(d time.Duration) string {
	if d >= time.Minute && d%time.Minute == 0 {
		return strconv.Itoa(int(d/time.Minute)) + "m"
	}
	return strconv.Itoa(int(d/time.Second)) + "s"
}
