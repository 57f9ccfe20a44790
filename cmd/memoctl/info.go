package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"text/tabwriter"
	"time"

	"github.com/memostore/memostore/store"
)

const infoUsage = `usage: memoctl info [--json] [--namespace NAME] [--watch INTERVAL [--count N]] PATH

Shows the store file (size on disk, live bytes, format version, free pages)
and one row per namespace with its counters. It reads counters kept in the
file and never scans entries, so it answers at once on any size of store.
When a running process holds the store, info asks that process through its
control endpoint (PATH.ctl) and also shows its memory tiers.

PATH may be a Redis URL (redis://host:6379/0, ?prefix=NAME if the store
uses a prefix of its own): info then reads the namespaces' counters, summed
over every process sharing the server, from their hashes in two round trips.
Redis expires and evicts keys by itself, so entries are not counted there.

With --watch, info reads the counters again every INTERVAL (a duration:
1s, 500ms) and redraws the table with each namespace's rates over the
last interval: calls per second (hits and misses), the hit ratio of those
calls, disk hits and writes per second. On a terminal it redraws in place
until Ctrl-C; piped, it prints one table per refresh, separated by a blank
line, or with --json one JSON object per line (info --json's fields, but
expired_pending and stale, which only a scan of the file tells). A store
file is opened only while it is read, never held between refreshes. For
example:

  memoctl info --watch 1s cache.db
  memoctl info --watch 500ms --count 20 --json cache.db > rates.ndjson

  --json            print JSON instead of a table
  --namespace NAME  show only this namespace
  --watch INTERVAL  refresh every INTERVAL, with rates, until Ctrl-C
  --count N         with --watch, stop after N refreshes`

// infoJSON is info's machine-readable output.
type infoJSON struct {
	Path          string          `json:"path"`
	Backend       string          `json:"backend"`       // "bbolt" or "redis"
	Live          bool            `json:"live"`          // read from the process holding the store
	PID           int             `json:"pid,omitempty"` // that process
	FileSize      int64           `json:"file_size"`
	FormatVersion int             `json:"format_version"`
	PageSize      int             `json:"page_size"`
	FreePages     int             `json:"free_pages"`
	Entries       int64           `json:"entries"`
	Bytes         int64           `json:"bytes"`
	MaxBytes      int64           `json:"max_bytes"`
	Queued        int             `json:"queued"`
	Namespaces    []namespaceJSON `json:"namespaces"`
}

type namespaceJSON struct {
	Name           string  `json:"name"`
	Version        string  `json:"version"`
	KeyType        string  `json:"key_type"`
	ValueType      string  `json:"value_type"`
	Created        string  `json:"created"`
	Entries        int64   `json:"entries"`
	Bytes          int64   `json:"bytes"`
	Hits           int64   `json:"hits"`
	Misses         int64   `json:"misses"`
	DiskHits       int64   `json:"disk_hits"`
	HitRatio       float64 `json:"hit_ratio"`
	ExpiredPending int64   `json:"expired_pending"`
	Expirations    int64   `json:"expirations"`
	Evictions      int64   `json:"evictions"`
	DecodeErrors   int64   `json:"decode_errors"`
	WriteErrors    int64   `json:"write_errors"`
	ReadErrors     int64   `json:"read_errors"`
	Writes         int64   `json:"writes"`
	Refreshes      int64   `json:"refreshes"`     // runs of fn that refreshed an entry
	StaleReturns   int64   `json:"stale_returns"` // calls answered with a value past its TTL
	CachedErrors   int64   `json:"cached_errors"` // calls answered with a cached error
	Stale          int64   `json:"stale"`         // entries past their TTL kept for the stale windows (files only)
	SavedNs        int64   `json:"saved_ns"`      // computation time the hits saved, in nanoseconds
	OldestStoredAt string  `json:"oldest_stored_at,omitempty"`
	NewestStoredAt string  `json:"newest_stored_at,omitempty"`
	MemSize        int     `json:"mem_size"` // live only: the memory tiers of the processes using the file
	MemMax         int     `json:"mem_max"`
}

// RunInfo runs memoctl info.
func RunInfo(ctx context.Context, args []string, stdout, _ io.Writer) error {
	fs := newFlagSet("info")
	asJSON := fs.Bool("json", false, "print JSON")
	only := fs.String("namespace", "", "show only this namespace")
	watch := fs.String("watch", "", "redraw every INTERVAL")
	count := fs.Int("count", 0, "with --watch, stop after N refreshes")
	path, err := parsePath(fs, args)
	if err != nil {
		return err
	}
	if *watch != "" || *count != 0 {
		w, err := parseWatch(*watch, *count)
		if err != nil {
			return err
		}
		w.json = *asJSON
		return runWatch(ctx, w, path, *only, stdout)
	}
	t, err := openTarget(ctx, path, false)
	if err != nil {
		return err
	}
	isRedis := t.isRedis()
	st, err := readStats(ctx, t, true)
	if cerr := t.close(); err == nil {
		err = cerr
	}
	if err != nil {
		return err
	}
	out, err := summarize(st, path, t.live != nil, isRedis, *only)
	if err != nil {
		return err
	}
	if *asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(out)
	}
	return printInfo(stdout, out)
}

// readStats reads the stats of the store t reaches: from its holder when
// it is live, else from the store itself. With inspect, the file is
// inspected (see store.Store.Inspect); without, only its counters are
// read, which never scans (for info --watch).
func readStats(ctx context.Context, t *target, inspect bool) (store.Stats, error) {
	switch {
	case t.live != nil && inspect:
		return t.live.Info(ctx)
	case t.live != nil:
		return t.live.Stats(ctx, time.Minute)
	case t.isRedis() || !inspect:
		return t.s.StatsContext(ctx)
	}
	return t.s.Inspect(ctx)
}

// summarize turns st into info's output, keeping only namespace only if
// it is set.
func summarize(st store.Stats, path string, live, isRedis bool, only string) (infoJSON, error) {
	out := infoJSON{Path: path, Backend: st.Backend, Live: live, FileSize: st.FileSize, FormatVersion: st.FormatVersion,
		PageSize: st.PageSize, FreePages: st.FreePages, MaxBytes: st.MaxBytes, Queued: st.Queued,
		Namespaces: []namespaceJSON{}}
	if out.Live {
		out.PID = st.PID
	}
	if isRedis {
		out.Path = st.Path // without the password
	}
	for _, ns := range st.Namespaces {
		if only != "" && ns.Name != only {
			continue
		}
		out.Entries += ns.Entries
		out.Bytes += ns.Bytes
		out.Namespaces = append(out.Namespaces, namespaceJSON{
			Name: ns.Name, Version: ns.Version, KeyType: ns.KeyType, ValueType: ns.ValueType,
			Created: timestamp(ns.Created), Entries: ns.Entries, Bytes: ns.Bytes,
			Hits: ns.Hits, Misses: ns.Misses, DiskHits: ns.DiskHits, HitRatio: ratio(ns.Hits, ns.Hits+ns.Misses),
			ExpiredPending: ns.ExpiredPending, Expirations: ns.Expirations, Evictions: ns.Evictions,
			DecodeErrors: ns.DecodeErrors, WriteErrors: ns.WriteErrors, ReadErrors: ns.ReadErrors, Writes: ns.Writes,
			Refreshes: ns.Refreshes, StaleReturns: ns.StaleReturns, CachedErrors: ns.CachedErrors,
			Stale: ns.Stale, SavedNs: int64(ns.Saved),
			OldestStoredAt: timestamp(ns.OldestStoredAt), NewestStoredAt: timestamp(ns.NewestStoredAt),
			MemSize: ns.MemSize, MemMax: ns.MemMax,
		})
	}
	if only != "" && len(out.Namespaces) == 0 {
		return out, fmt.Errorf("%s: no namespace %q", path, only)
	}
	return out, nil
}

// timestamp formats Unix nanoseconds as RFC 3339 in UTC; 0 is "".
func timestamp(ns int64) string {
	if ns == 0 {
		return ""
	}
	return time.Unix(0, ns).UTC().Format(time.RFC3339)
}

func ratio(a, b int64) float64 {
	if b == 0 {
		return 0
	}
	return float64(a) / float64(b)
}

func printInfo(w io.Writer, in infoJSON) error {
	if in.Backend == "redis" {
		return printRedisInfo(w, in)
	}
	state := "offline (opened read-only by memoctl)"
	if in.Live {
		state = fmt.Sprintf("live: held by process %d, read through its control endpoint", in.PID)
	}
	fmt.Fprintf(w, "store    %s\nstate    %s\nformat   %d\n", in.Path, state, in.FormatVersion)
	fmt.Fprintf(w, "file     %s on disk, %d free pages of %s\n", humanBytes(in.FileSize), in.FreePages, humanBytes(int64(in.PageSize)))
	bound := "no bound"
	if in.MaxBytes > 0 {
		bound = "bound " + humanBytes(in.MaxBytes)
	}
	fmt.Fprintf(w, "entries  %d (%s of keys and records; %s)\n", in.Entries, humanBytes(in.Bytes), bound)
	if len(in.Namespaces) == 0 {
		_, err := fmt.Fprintln(w, "\nno namespaces")
		return err
	}
	fmt.Fprintln(w)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	mem := ""
	if in.Live {
		mem = "\tMEMORY"
	}
	fresh := ""
	if usesFreshness(in.Namespaces) {
		fresh = "\tSTALE\tREFRESHES\tSTALE SERVED\tERRORS CACHED"
	}
	fmt.Fprintln(tw, "NAMESPACE\tVERSION\tKEY\tVALUE\tENTRIES\tBYTES\tHITS\tMISSES\tDISK HITS\tHIT RATIO\tSAVED\tEXPIRED\tEVICTED\tBAD\tOLDEST\tNEWEST"+fresh+mem)
	now := time.Now()
	for _, ns := range in.Namespaces {
		if in.Live {
			mem = fmt.Sprintf("\t%d/%s", ns.MemSize, maxSize(ns.MemMax))
		}
		if fresh != "" {
			fresh = fmt.Sprintf("\t%d\t%d\t%d\t%d", ns.Stale, ns.Refreshes, ns.StaleReturns, ns.CachedErrors)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%d\t%s\t%d\t%d\t%d\t%.1f%%\t%s\t%d\t%d\t%d\t%s\t%s%s%s\n",
			ns.Name, orDash(ns.Version), ns.KeyType, ns.ValueType, ns.Entries, humanBytes(ns.Bytes),
			ns.Hits, ns.Misses, ns.DiskHits, 100*ns.HitRatio, humanDuration(time.Duration(ns.SavedNs)),
			ns.ExpiredPending, ns.Evictions, ns.DecodeErrors,
			age(now, ns.OldestStoredAt), age(now, ns.NewestStoredAt), fresh, mem)
	}
	return tw.Flush()
}

// printRedisInfo prints info for a Redis store: counters only, as the
// server does not say what it holds per namespace.
func printRedisInfo(w io.Writer, in infoJSON) error {
	fmt.Fprintf(w, "store    %s\nstate    shared (Redis): counters of every process using it\nformat   %d\n", in.Path, in.FormatVersion)
	fmt.Fprintln(w, "entries  not counted: Redis expires and evicts keys by itself")
	if len(in.Namespaces) == 0 {
		_, err := fmt.Fprintln(w, "\nno namespaces")
		return err
	}
	fmt.Fprintln(w)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fresh := ""
	if usesFreshness(in.Namespaces) {
		fresh = "\tREFRESHES\tSTALE SERVED\tERRORS CACHED"
	}
	fmt.Fprintln(tw, "NAMESPACE\tVERSION\tKEY\tVALUE\tWRITES\tHITS\tMISSES\tSTORE HITS\tHIT RATIO\tSAVED\tBAD\tWRITE ERRORS\tREAD ERRORS\tCREATED"+fresh)
	now := time.Now()
	for _, ns := range in.Namespaces {
		if fresh != "" {
			fresh = fmt.Sprintf("\t%d\t%d\t%d", ns.Refreshes, ns.StaleReturns, ns.CachedErrors)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%d\t%d\t%d\t%d\t%.1f%%\t%s\t%d\t%d\t%d\t%s%s\n",
			ns.Name, orDash(ns.Version), ns.KeyType, ns.ValueType, ns.Writes, ns.Hits, ns.Misses, ns.DiskHits,
			100*ns.HitRatio, humanDuration(time.Duration(ns.SavedNs)), ns.DecodeErrors, ns.WriteErrors, ns.ReadErrors, age(now, ns.Created), fresh)
	}
	return tw.Flush()
}

func maxSize(n int) string {
	if n < 0 {
		return "unbounded"
	}
	return fmt.Sprint(n)
}

// age formats an RFC 3339 time as how long ago it was: "3m ago".
func age(now time.Time, ts string) string {
	t, err := time.Parse(time.RFC3339, ts)
	if err != nil {
		return "-"
	}
	d := now.Sub(t)
	switch {
	case d < time.Second:
		return "now"
	case d < time.Minute:
		return fmt.Sprintf("%ds ago", int(d.Seconds()))
	case d < time.Hour:
		return fmt.Sprintf("%dm ago", int(d.Minutes()))
	case d < 48*time.Hour:
		return fmt.Sprintf("%dh ago", int(d.Hours()))
	}
	return fmt.Sprintf("%dd ago", int(d.Hours()/24))
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// humanBytes formats n in binary units: 512 B, 1.5 KiB, 3.2 MiB.
func humanBytes(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit; m /= unit {
		div *= unit
		exp++
	}
	// A value that rounds to 1024.0 is shown in the next unit.
	if float64(n)/float64(div) >= unit-0.05 && exp < len("KMGTPE")-1 {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTPE"[exp])
}

// humanDuration formats d to about three figures: 870µs, 340ms, 12.35s,
// 1h2m3s, 3.5d.
func humanDuration(d time.Duration) string {
	switch {
	case d <= 0:
		return "0s"
	case d < time.Millisecond:
		return d.Round(time.Microsecond).String()
	case d < time.Second:
		return d.Round(time.Millisecond).String()
	case d < time.Minute:
		return d.Round(10 * time.Millisecond).String()
	case d < 48*time.Hour:
		return d.Round(time.Second).String()
	}
	return fmt.Sprintf("%.1fd", d.Hours()/24)
}

// usesFreshness reports whether any namespace counted refreshes, stale
// returns or cached errors, or holds stale entries: info shows those
// columns only then.
func usesFreshness(nss []namespaceJSON) bool {
	for _, ns := range nss {
		if ns.Refreshes+ns.StaleReturns+ns.CachedErrors+ns.Stale > 0 {
			return true
		}
	}
	return false
}
