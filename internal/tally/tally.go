// Package tally holds the counts a backend keeps per namespace, and the
// in-memory deltas the hot path adds to between saves. The bbolt and
// Redis backends share it.
package tally

import (
	"sync/atomic"
	"time"

	"github.com/memostore/memostore/store/driver"
)

// Counts are a namespace's counts, as driver.NamespaceStats reports them.
type Counts struct {
	Entries      int64 // entries stored
	Bytes        int64 // bytes of keys plus records
	Hits         int64 // calls answered without running the function
	Misses       int64 // calls that ran the function
	DiskHits     int64 // hits served from the store
	Expirations  int64 // expired entries removed by the sweeper
	Evictions    int64 // entries removed to keep within WithMaxBytes
	DecodeErrors int64 // records that failed their checksum or no longer decoded
	WriteErrors  int64 // writes that failed or were refused (too large, queue full)
	Writes       int64 // records written
	ReadErrors   int64 // lookups the server did not answer (Redis)
	Refreshes    int64 // runs of the function that refreshed an entry
	StaleReturns int64 // calls answered with a value past its TTL
	CachedErrors int64 // calls answered with a cached error
	Saved        int64 // nanoseconds of computation the hits saved
}

// Fields returns pointers to the counts, in field order.
func (c *Counts) Fields() []*int64 {
	return []*int64{&c.Entries, &c.Bytes, &c.Hits, &c.Misses, &c.DiskHits,
		&c.Expirations, &c.Evictions, &c.DecodeErrors, &c.WriteErrors, &c.Writes, &c.ReadErrors,
		&c.Refreshes, &c.StaleReturns, &c.CachedErrors, &c.Saved}
}

// Add adds o to c.
func (c *Counts) Add(o *Counts) {
	of := o.Fields()
	for i, f := range c.Fields() {
		*f += *of[i]
	}
}

// Minus returns c less o.
func (c *Counts) Minus(o *Counts) Counts {
	d := *c
	df, of := d.Fields(), o.Fields()
	for i := range df {
		*df[i] -= *of[i]
	}
	return d
}

// Deltas are counts gathered in memory between saves: the hot path adds
// to them atomically, and the backend folds them into the saved counts.
// They stay here, and so in Stats, until the save is done: Stats must not
// lose counts while a save is in flight.
type Deltas struct {
	Hits, Misses, DiskHits, DecodeErrors, WriteErrors, ReadErrors atomic.Int64
	Refreshes, StaleReturns, CachedErrors, Saved                  atomic.Int64
}

// Take adds the deltas to c and returns what it added, for Drop once the
// save is done. The deltas themselves are left in place.
func (d *Deltas) Take(c *Counts) Counts {
	t := d.Peek()
	c.Add(&t)
	return t
}

// Drop removes deltas taken by a save that was done. Counts added since
// Take remain.
func (d *Deltas) Drop(t *Counts) {
	d.Hits.Add(-t.Hits)
	d.Misses.Add(-t.Misses)
	d.DiskHits.Add(-t.DiskHits)
	d.DecodeErrors.Add(-t.DecodeErrors)
	d.WriteErrors.Add(-t.WriteErrors)
	d.ReadErrors.Add(-t.ReadErrors)
	d.Refreshes.Add(-t.Refreshes)
	d.StaleReturns.Add(-t.StaleReturns)
	d.CachedErrors.Add(-t.CachedErrors)
	d.Saved.Add(-t.Saved)
}

// AddCounts adds the counts of c that deltas keep (not Entries, Bytes,
// Expirations, Evictions, Writes, which only a save knows).
func (d *Deltas) AddCounts(c *Counts) {
	d.Hits.Add(c.Hits)
	d.Misses.Add(c.Misses)
	d.DiskHits.Add(c.DiskHits)
	d.DecodeErrors.Add(c.DecodeErrors)
	d.WriteErrors.Add(c.WriteErrors)
	d.ReadErrors.Add(c.ReadErrors)
	d.Refreshes.Add(c.Refreshes)
	d.StaleReturns.Add(c.StaleReturns)
	d.CachedErrors.Add(c.CachedErrors)
	d.Saved.Add(c.Saved)
}

// Peek returns the deltas without taking them.
func (d *Deltas) Peek() Counts {
	return Counts{
		Hits:         d.Hits.Load(),
		Misses:       d.Misses.Load(),
		DiskHits:     d.DiskHits.Load(),
		DecodeErrors: d.DecodeErrors.Load(),
		WriteErrors:  d.WriteErrors.Load(),
		ReadErrors:   d.ReadErrors.Load(),
		Refreshes:    d.Refreshes.Load(),
		StaleReturns: d.StaleReturns.Load(),
		CachedErrors: d.CachedErrors.Load(),
		Saved:        d.Saved.Load(),
	}
}

// Tier reads a memory tier's counts since it began, its freshness counts
// too if it keeps them (driver.FreshnessCounter).
func Tier(t driver.MemoryTier) Counts {
	h, m, d := t.Counts()
	c := Counts{Hits: h, Misses: m, DiskHits: d}
	if fc, ok := t.(driver.FreshnessCounter); ok {
		c.Refreshes, c.StaleReturns, c.CachedErrors = fc.FreshnessCounts()
	}
	if sc, ok := t.(driver.SavedCounter); ok {
		c.Saved = sc.Saved()
	}
	return c
}

// Stats copies c into the count fields of ns.
func (c *Counts) Stats(ns *driver.NamespaceStats) {
	ns.Entries, ns.Bytes, ns.Hits, ns.Misses, ns.DiskHits = c.Entries, c.Bytes, c.Hits, c.Misses, c.DiskHits
	ns.Expirations, ns.Evictions, ns.DecodeErrors = c.Expirations, c.Evictions, c.DecodeErrors
	ns.WriteErrors, ns.Writes, ns.ReadErrors = c.WriteErrors, c.Writes, c.ReadErrors
	ns.Refreshes, ns.StaleReturns, ns.CachedErrors = c.Refreshes, c.StaleReturns, c.CachedErrors
	ns.Saved = time.Duration(c.Saved)
}
