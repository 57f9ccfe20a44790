package driver

import (
	"fmt"
	"time"
)

// Stats describes a store: its file or server and every namespace in it.
// On Redis, Entries and Bytes are not counted, and the file fields are
// zero.
type Stats struct {
	Path          string           `json:"path"`          // the file, or the Redis URL without its password
	Backend       string           `json:"backend"`       // "bbolt" or "redis"
	PID           int              `json:"pid,omitempty"` // the process that reported these stats
	FileSize      int64            `json:"file_size"`     // bytes on disk
	FormatVersion int              `json:"format_version"`
	Entries       int64            `json:"entries"`   // entries in all namespaces
	Bytes         int64            `json:"bytes"`     // bytes of keys and records in all namespaces
	MaxBytes      int64            `json:"max_bytes"` // the WithMaxBytes bound; 0 = none
	Queued        int              `json:"queued"`    // writes waiting for the writer
	QueuedBytes   int64            `json:"queued_bytes"`
	PageSize      int              `json:"page_size,omitempty"`  // set by Inspect
	FreePages     int              `json:"free_pages,omitempty"` // set by Inspect
	Namespaces    []NamespaceStats `json:"namespaces"`
}

// NamespaceStats describes one namespace. Counts are totals over the life
// of the file (since the namespace was created, last cleared or reset),
// including what this process has counted but not yet written.
type NamespaceStats struct {
	Name      string `json:"name"`
	Version   string `json:"version"`
	KeyType   string `json:"key_type"`
	ValueType string `json:"value_type"`
	Created   int64  `json:"created"` // Unix nanoseconds
	Claimed   bool   `json:"claimed"` // in use by a memo.Func in this process

	Entries      int64 `json:"entries"`
	Bytes        int64 `json:"bytes"`
	Hits         int64 `json:"hits"`          // calls answered without running the function
	Misses       int64 `json:"misses"`        // calls that ran the function
	DiskHits     int64 `json:"disk_hits"`     // the part of Hits served from the file
	Expirations  int64 `json:"expirations"`   // expired entries swept
	Evictions    int64 `json:"evictions"`     // entries evicted to keep within MaxBytes
	DecodeErrors int64 `json:"decode_errors"` // records that failed their checksum or did not decode
	WriteErrors  int64 `json:"write_errors"`  // writes that failed or were refused
	ReadErrors   int64 `json:"read_errors"`   // lookups the server did not answer (Redis)
	Writes       int64 `json:"writes"`        // records written
	Refreshes    int64 `json:"refreshes"`     // runs of the function to refresh an entry (memo.Refresh, RefreshAfter, StaleWhileRevalidate)
	StaleReturns int64 `json:"stale_returns"` // calls answered with a value past its TTL (StaleWhileRevalidate, StaleIfError)
	CachedErrors int64 `json:"cached_errors"` // calls answered with a cached error (memo.ErrorTTL)
	// Saved is the computation time the hits saved: for each hit served
	// from a tier, how long the function took to compute the value (see
	// memo.Info.Saved).
	Saved time.Duration `json:"saved_ns"`

	// The memory tier attached in this process (see Namespace.Attach);
	// zero when none is.
	MemSize int `json:"mem_size"`
	MemMax  int `json:"mem_max"`

	// Set by Inspect, which reads them from the file's indexes.
	OldestStoredAt int64 `json:"oldest_stored_at,omitempty"` // Unix nanoseconds
	NewestStoredAt int64 `json:"newest_stored_at,omitempty"`
	ExpiredPending int64 `json:"expired_pending"` // expired, awaiting the sweeper
	// Stale counts the entries past their TTL that are kept for
	// StaleWhileRevalidate or StaleIfError, not yet expired (on files;
	// Redis does not count them).
	Stale int64 `json:"stale"`
}

// KeyInfo describes one stored entry.
//
// JSON has no NaN or infinities: a float key (or a float inside a key)
// that is one is given as the string "NaN", "+Inf" or "-Inf", with RawKey
// set, so that it is not taken for a string key.
type KeyInfo struct {
	Key       any    `json:"key"`             // the key, decoded from its msgpack encoding
	RawKey    string `json:"raw,omitempty"`   // the key's bytes in hex, when they do not decode or JSON cannot show them as they are
	StoredAt  int64  `json:"stored_at"`       // Unix nanoseconds
	ExpiresAt int64  `json:"expires_at"`      // Unix nanoseconds; 0 = never
	Bytes     int    `json:"bytes"`           // bytes of key and record
	Error     string `json:"error,omitempty"` // why the key or header did not decode
}

// A CheckReport is what Check found, and with fix, what it repaired.
type CheckReport struct {
	Records  int64    `json:"records"`  // records read
	Problems []string `json:"problems"` // one line per problem found
	Fixed    []string `json:"fixed"`    // one line per repair made
}

// OK reports whether the check found no problem.
func (r *CheckReport) OK() bool { return len(r.Problems) == 0 }

// MaxProblems bounds the problems a report lists one by one.
const MaxProblems = 1000

// Problemf adds a problem to the report, up to MaxProblems of them; the
// rest are summed up in one line.
func (r *CheckReport) Problemf(format string, args ...any) {
	if len(r.Problems) == MaxProblems {
		r.Problems = append(r.Problems, "more problems not listed")
	}
	if len(r.Problems) < MaxProblems {
		r.Problems = append(r.Problems, fmt.Sprintf(format, args...))
	}
}
