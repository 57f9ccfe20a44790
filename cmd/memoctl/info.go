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

const infoUsage = `usage: memoctl info [--json] [--namespace NAME] PATH

Shows the store file (size on disk, live bytes, format version) and one row
per namespace with its counters. It reads counters kept in the file and never
scans entries, so it answers at once on any size of store.

  --json            print JSON instead of a table
  --namespace NAME  show only this namespace`

// infoJSON is info's machine-readable output.
type infoJSON struct {
	Path          string          `json:"path"`
	FileSize      int64           `json:"file_size"`
	FormatVersion int             `json:"format_version"`
	Entries       int64           `json:"entries"`
	Bytes         int64           `json:"bytes"`
	Namespaces    []namespaceJSON `json:"namespaces"`
}

type namespaceJSON struct {
	Name         string  `json:"name"`
	Version      string  `json:"version"`
	KeyType      string  `json:"key_type"`
	ValueType    string  `json:"value_type"`
	Created      string  `json:"created"`
	Entries      int64   `json:"entries"`
	Bytes        int64   `json:"bytes"`
	Hits         int64   `json:"hits"`
	Misses       int64   `json:"misses"`
	DiskHits     int64   `json:"disk_hits"`
	HitRatio     float64 `json:"hit_ratio"`
	Expirations  int64   `json:"expirations"`
	Evictions    int64   `json:"evictions"`
	DecodeErrors int64   `json:"decode_errors"`
	WriteErrors  int64   `json:"write_errors"`
}

// RunInfo runs memoctl info.
func RunInfo(_ context.Context, args []string, stdout, _ io.Writer) error {
	fs := newFlagSet("info")
	asJSON := fs.Bool("json", false, "print JSON")
	only := fs.String("namespace", "", "show only this namespace")
	path, err := parsePath(fs, args)
	if err != nil {
		return err
	}
	if err := requireFile(path); err != nil {
		return err
	}
	s, err := store.Open(path, store.WithReadOnly(), store.WithLogger(nil))
	if err != nil {
		return err
	}
	st := s.Stats()
	if err := s.Close(); err != nil {
		return err
	}
	out := infoJSON{Path: st.Path, FileSize: st.FileSize, FormatVersion: st.FormatVersion, Namespaces: []namespaceJSON{}}
	for _, ns := range st.Namespaces {
		if *only != "" && ns.Name != *only {
			continue
		}
		out.Entries += ns.Entries
		out.Bytes += ns.Bytes
		out.Namespaces = append(out.Namespaces, namespaceJSON{
			Name: ns.Name, Version: ns.Version, KeyType: ns.KeyType, ValueType: ns.ValueType,
			Created: time.Unix(0, ns.Created).UTC().Format(time.RFC3339),
			Entries: ns.Entries, Bytes: ns.Bytes, Hits: ns.Hits, Misses: ns.Misses, DiskHits: ns.DiskHits,
			HitRatio: ratio(ns.Hits, ns.Hits+ns.Misses), Expirations: ns.Expirations, Evictions: ns.Evictions,
			DecodeErrors: ns.DecodeErrors, WriteErrors: ns.WriteErrors,
		})
	}
	if *only != "" && len(out.Namespaces) == 0 {
		return fmt.Errorf("%s: no namespace %q", path, *only)
	}
	if *asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(out)
	}
	return printInfo(stdout, out)
}

func ratio(a, b int64) float64 {
	if b == 0 {
		return 0
	}
	return float64(a) / float64(b)
}

func printInfo(w io.Writer, in infoJSON) error {
	fmt.Fprintf(w, "store    %s\nformat   %d\nfile     %s on disk\nentries  %d (%s of keys and records)\n",
		in.Path, in.FormatVersion, humanBytes(in.FileSize), in.Entries, humanBytes(in.Bytes))
	if len(in.Namespaces) == 0 {
		_, err := fmt.Fprintln(w, "\nno namespaces")
		return err
	}
	fmt.Fprintln(w)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "NAMESPACE\tVERSION\tKEY\tVALUE\tENTRIES\tBYTES\tHITS\tMISSES\tDISK HITS\tHIT RATIO\tEXPIRED\tEVICTED\tBAD")
	for _, ns := range in.Namespaces {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%d\t%s\t%d\t%d\t%d\t%.1f%%\t%d\t%d\t%d\n",
			ns.Name, orDash(ns.Version), ns.KeyType, ns.ValueType, ns.Entries, humanBytes(ns.Bytes),
			ns.Hits, ns.Misses, ns.DiskHits, 100*ns.HitRatio, ns.Expirations, ns.Evictions, ns.DecodeErrors)
	}
	return tw.Flush()
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
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTPE"[exp])
}
