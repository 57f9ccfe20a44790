package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"regexp"
	"strings"
	"text/tabwriter"
	"time"
)

// watchConfig is what info --watch was asked for.
type watchConfig struct {
	every time.Duration // time between refreshes
	count int           // refreshes before stopping; 0 = until interrupted
	json  bool          // one JSON object per line instead of a table
}

// durationSyntax matches what time.ParseDuration reads, whatever the
// size: a duration it refuses that matches is out of range.
var durationSyntax = regexp.MustCompile(`^[-+]?([0-9]*(\.[0-9]*)?(ns|us|µs|μs|ms|s|m|h))+$`)

// parseWatch validates --watch INTERVAL and --count N.
func parseWatch(interval string, count int) (watchConfig, error) {
	if interval == "" {
		return watchConfig{}, usagef("--count needs --watch INTERVAL")
	}
	every, err := time.ParseDuration(interval)
	if err != nil {
		if durationSyntax.MatchString(interval) {
			return watchConfig{}, usagef("--watch %s: INTERVAL is out of range (at most %v)", interval, time.Duration(math.MaxInt64))
		}
		return watchConfig{}, usagef("--watch %q: INTERVAL is a duration such as 1s or 500ms", interval)
	}
	if every <= 0 {
		return watchConfig{}, usagef("--watch %s: INTERVAL must be positive", interval)
	}
	if count < 0 {
		return watchConfig{}, usagef("--count %d: N must be positive (0, the default, watches until interrupted)", count)
	}
	return watchConfig{every: every, count: count}, nil
}

// watchJSON is one refresh of info --watch --json: the store's counters,
// with each namespace's rates since the previous refresh.
type watchJSON struct {
	Time       string           `json:"time"`    // when the counters were read, RFC 3339
	Elapsed    float64          `json:"elapsed"` // seconds since the previous refresh read them; 0 on the first
	Path       string           `json:"path"`
	Backend    string           `json:"backend,omitempty"`
	Live       bool             `json:"live"`
	PID        int              `json:"pid,omitempty"`
	Entries    int64            `json:"entries"`
	Bytes      int64            `json:"bytes"`
	Namespaces []watchNamespace `json:"namespaces"`
	Error      string           `json:"error,omitempty"` // this refresh failed; the next may not
}

// watchNamespace is a namespace of info --json, less what only a scan of
// the file's indexes tells (the watch does not scan): the two fields below
// hide their namesakes of namespaceJSON, and are always left out.
type watchNamespace struct {
	namespaceJSON
	rates
	ExpiredPending *int64 `json:"expired_pending,omitempty"`
	Stale          *int64 `json:"stale,omitempty"`
}

// rates are a namespace's rates over one interval. They are nil on the
// first refresh, which has no interval, and the hit ratio is nil when
// there were no calls.
type rates struct {
	CallsPerSec      *float64 `json:"calls_per_sec"`      // (Δhits + Δmisses) / Δt
	IntervalHitRatio *float64 `json:"interval_hit_ratio"` // Δhits / (Δhits + Δmisses)
	DiskHitsPerSec   *float64 `json:"disk_hits_per_sec"`
	WritesPerSec     *float64 `json:"writes_per_sec"`
}

// rateOf returns the rates of a namespace whose counters went from prev
// to cur in dt.
func rateOf(prev, cur namespaceJSON, dt time.Duration) rates {
	secs := dt.Seconds()
	if secs <= 0 {
		return rates{}
	}
	hits, misses := delta(prev.Hits, cur.Hits), delta(prev.Misses, cur.Misses)
	perSec := func(n int64) *float64 { r := float64(n) / secs; return &r }
	r := rates{
		CallsPerSec:    perSec(hits + misses),
		DiskHitsPerSec: perSec(delta(prev.DiskHits, cur.DiskHits)),
		WritesPerSec:   perSec(delta(prev.Writes, cur.Writes)),
	}
	if calls := hits + misses; calls > 0 {
		h := float64(hits) / float64(calls)
		r.IntervalHitRatio = &h
	}
	return r
}

// delta is how much a counter grew from prev to cur. A counter that went
// down was reset (the namespace was cleared) and has counted cur since.
func delta(prev, cur int64) int64 {
	if cur < prev {
		return cur
	}
	return cur - prev
}

// A sample is the store's counters as read at one time.
type sample struct {
	at   time.Time
	info infoJSON
}

// refresh returns what a refresh shows: cur, with rates since prev (nil on
// the first refresh). A namespace that prev lacks was created since, and
// counts from zero.
func refresh(prev *sample, cur sample) watchJSON {
	in := cur.info
	out := watchJSON{Time: cur.at.UTC().Format(time.RFC3339Nano), Path: in.Path, Backend: in.Backend, Live: in.Live,
		PID: in.PID, Entries: in.Entries, Bytes: in.Bytes, Namespaces: []watchNamespace{}}
	before := map[string]namespaceJSON{}
	if prev != nil {
		out.Elapsed = cur.at.Sub(prev.at).Seconds()
		for _, ns := range prev.info.Namespaces {
			before[ns.Name] = ns
		}
	}
	for _, ns := range in.Namespaces {
		w := watchNamespace{namespaceJSON: ns}
		if prev != nil {
			w.rates = rateOf(before[ns.Name], ns, cur.at.Sub(prev.at))
		}
		out.Namespaces = append(out.Namespaces, w)
	}
	return out
}

// runWatch runs info --watch: it reads the store and prints it every
// cfg.every, until ctx is done (Ctrl-C, which is no failure) or cfg.count
// refreshes. A refresh that fails after the first is shown, and the watch
// goes on: the store may be changing hands between processes.
func runWatch(ctx context.Context, cfg watchConfig, path, only string, stdout io.Writer) error {
	src := &source{path: path, only: only}
	defer src.close()
	scr := newScreen(stdout)
	defer scr.close()
	tick := time.NewTicker(cfg.every)
	defer tick.Stop()
	var prev *sample
	for n := 1; ; n++ {
		info, err := src.read(ctx)
		cur := sample{at: time.Now(), info: info}
		if ctx.Err() != nil {
			return nil
		}
		if err != nil && n == 1 {
			return err
		}
		out := refresh(prev, cur)
		if err != nil {
			out = watchJSON{Time: cur.at.UTC().Format(time.RFC3339Nano), Path: hidePassword(path), Namespaces: []watchNamespace{}, Error: err.Error()}
		} else {
			prev = &cur
		}
		var buf bytes.Buffer
		if cfg.json {
			json.NewEncoder(&buf).Encode(out)
		} else {
			printWatch(&buf, out, cfg.every)
		}
		if err := scr.draw(buf.Bytes(), cfg.json); err != nil {
			return err
		}
		if cfg.count > 0 && n >= cfg.count {
			return nil
		}
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
		}
	}
}

// A source reads a store for info --watch. It opens a store file anew at
// each refresh and closes it at once, so that memoctl holds the file's lock
// only while it reads: a program may open the store in between, and is
// then read through its control endpoint. A Redis server has no lock, and
// its connection is kept.
type source struct {
	path, only string
	redis      *target
}

func (s *source) read(ctx context.Context) (infoJSON, error) {
	t := s.redis
	if t == nil {
		var err error
		if t, err = openTarget(ctx, s.path, false); err != nil {
			return infoJSON{}, err
		}
		if t.isRedis() {
			s.redis = t
		}
	}
	isRedis := t.isRedis()
	st, err := readStats(ctx, t, false)
	if !isRedis {
		if cerr := t.close(); err == nil {
			err = cerr
		}
	}
	if err != nil {
		return infoJSON{}, err
	}
	return summarize(st, s.path, t.live != nil, isRedis, s.only)
}

func (s *source) close() {
	if s.redis != nil {
		s.redis.close()
	}
}

// printWatch prints one refresh of info --watch as a table.
func printWatch(w io.Writer, in watchJSON, every time.Duration) {
	at, _ := time.Parse(time.RFC3339Nano, in.Time)
	over := "rates from the next refresh"
	if in.Elapsed > 0 {
		over = fmt.Sprintf("rates over the last %.3fs", in.Elapsed)
	}
	fmt.Fprintf(w, "store    %s\n", in.Path)
	redis := in.Backend == "redis"
	switch {
	case in.Error != "":
	case redis:
		fmt.Fprintln(w, "state    shared (Redis): counters of every process using it")
	case in.Live:
		fmt.Fprintf(w, "state    live: held by process %d\nentries  %d (%s)\n", in.PID, in.Entries, humanBytes(in.Bytes))
	default:
		fmt.Fprintf(w, "state    offline\nentries  %d (%s)\n", in.Entries, humanBytes(in.Bytes))
	}
	fmt.Fprintf(w, "time     %s, every %s; %s\n", at.Local().Format("15:04:05"), every, over)
	if in.Error != "" {
		fmt.Fprintf(w, "error    %s\n", in.Error)
		return
	}
	if len(in.Namespaces) == 0 {
		fmt.Fprintln(w, "\nno namespaces")
		return
	}
	fmt.Fprintln(w)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	head := []string{"NAMESPACE", "ENTRIES", "BYTES", "HITS", "MISSES", "CALLS/S", "HIT RATIO", "DISK HITS/S", "WRITES/S"}
	if redis {
		head = []string{"NAMESPACE", "HITS", "MISSES", "CALLS/S", "HIT RATIO", "STORE HITS/S", "WRITES/S"}
	}
	if in.Live {
		head = append(head, "MEMORY")
	}
	fmt.Fprintln(tw, strings.Join(head, "\t"))
	for _, ns := range in.Namespaces {
		row := []string{ns.Name}
		if !redis {
			row = append(row, fmt.Sprint(ns.Entries), humanBytes(ns.Bytes))
		}
		row = append(row, fmt.Sprint(ns.Hits), fmt.Sprint(ns.Misses), perSec(ns.CallsPerSec),
			percent(ns.IntervalHitRatio), perSec(ns.DiskHitsPerSec), perSec(ns.WritesPerSec))
		if in.Live {
			row = append(row, fmt.Sprintf("%d/%s", ns.MemSize, maxSize(ns.MemMax)))
		}
		fmt.Fprintln(tw, strings.Join(row, "\t"))
	}
	tw.Flush()
}

func perSec(r *float64) string {
	if r == nil {
		return "-"
	}
	return fmt.Sprintf("%.1f", *r)
}

func percent(r *float64) string {
	if r == nil {
		return "-"
	}
	return fmt.Sprintf("%.1f%%", 100**r)
}

// ANSI sequences for drawing on a terminal.
const (
	hideCursor  = "\x1b[?25l"
	showCursor  = "\x1b[?25h"
	home        = "\x1b[H"
	clearScreen = "\x1b[2J"
	clearLine   = "\x1b[K" // to the end of the line
	clearBelow  = "\x1b[J" // to the end of the screen
)

// A screen shows refreshes: on a terminal, each over the last, with the
// cursor hidden until close; elsewhere one after the other, separated by a
// blank line.
type screen struct {
	w      io.Writer
	tty    bool
	drawn  int
	hidden bool // the cursor, until close
}

func newScreen(w io.Writer) *screen { return &screen{w: w, tty: isTerminal(w)} }

// draw shows one refresh, in one write so that no half-drawn frame is ever
// seen. Lines (JSON) are appended, never redrawn.
func (s *screen) draw(frame []byte, lines bool) error {
	var buf bytes.Buffer
	switch {
	case lines:
		buf.Write(frame)
	case !s.tty:
		if s.drawn > 0 {
			buf.WriteByte('\n')
		}
		buf.Write(frame)
	default:
		if !s.hidden {
			buf.WriteString(hideCursor + clearScreen)
			s.hidden = true
		}
		buf.WriteString(home)
		width, height := terminalSize(s.w)
		for _, line := range fit(strings.Split(strings.TrimSuffix(string(frame), "\n"), "\n"), width, height-1) {
			buf.WriteString(line + clearLine + "\n")
		}
		buf.WriteString(clearBelow)
	}
	s.drawn++
	_, err := s.w.Write(buf.Bytes())
	return err
}

// close leaves the terminal as it was: the cursor shown again, on a blank
// line below the last frame (where the terminal may have echoed ^C).
func (s *screen) close() {
	if s.hidden {
		io.WriteString(s.w, "\r"+clearLine+showCursor)
	}
}

// fit cuts lines to a terminal of width columns and height rows (ignored
// when not positive), so that a redraw never scrolls.
func fit(lines []string, width, height int) []string {
	if height > 0 && len(lines) > height {
		more := len(lines) - height + 1
		lines = append(lines[:height-1:height-1], fmt.Sprintf("(%d more lines; enlarge the terminal)", more))
	}
	if width <= 0 {
		return lines
	}
	for i, line := range lines {
		if r := []rune(line); len(r) > width {
			lines[i] = string(r[:width])
		}
	}
	return lines
}
