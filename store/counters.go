package store

import (
	"encoding/binary"
	"sync/atomic"
)

// counters are a namespace's persisted counts. They live in the "counters"
// bucket as eleven big-endian int64s in field order and are rewritten in the
// same transaction as every change to the namespace's entries, so they
// always agree with the data and reading them never needs a scan.
type counters struct {
	Entries      int64 // entries stored
	Bytes        int64 // bytes of keys plus records
	Hits         int64 // calls answered without running the function
	Misses       int64 // calls that ran the function
	DiskHits     int64 // hits served from the file
	Expirations  int64 // expired entries removed by the sweeper
	Evictions    int64 // entries removed to keep within WithMaxBytes
	DecodeErrors int64 // records that failed their checksum or no longer decoded
	WriteErrors  int64 // writes that failed or were refused (too large, queue full)
	Writes       int64 // records written
	ReadErrors   int64 // lookups the server did not answer (Redis)
}

const countersSize = 11 * 8

func (c *counters) fields() []*int64 {
	return []*int64{&c.Entries, &c.Bytes, &c.Hits, &c.Misses, &c.DiskHits,
		&c.Expirations, &c.Evictions, &c.DecodeErrors, &c.WriteErrors, &c.Writes, &c.ReadErrors}
}

func (c *counters) marshal() []byte {
	b := make([]byte, 0, countersSize)
	for _, f := range c.fields() {
		b = binary.BigEndian.AppendUint64(b, uint64(*f))
	}
	return b
}

// unmarshalCounters decodes b; missing trailing fields (an older, shorter
// layout) read as zero.
func unmarshalCounters(b []byte) counters {
	var c counters
	for i, f := range c.fields() {
		if len(b) < (i+1)*8 {
			break
		}
		*f = int64(binary.BigEndian.Uint64(b[i*8:]))
	}
	return c
}

// deltas are counts gathered in memory between commits: the hot path adds
// to them atomically, and the writer folds them into the persisted counters
// with its next transaction. They stay here, and so in Stats, until that
// transaction has committed and its counters are installed: Stats must not
// lose counts while a commit is in flight.
type deltas struct {
	hits, misses, diskHits, decodeErrors, writeErrors, readErrors atomic.Int64
}

// take adds the deltas to c and returns what it added, for drop once the
// transaction commits. The deltas themselves are left in place.
func (d *deltas) take(c *counters) counters {
	t := d.peek()
	c.add(&t)
	return t
}

// drop removes deltas taken by a transaction that committed. Counts added
// since take remain.
func (d *deltas) drop(t *counters) {
	d.hits.Add(-t.Hits)
	d.misses.Add(-t.Misses)
	d.diskHits.Add(-t.DiskHits)
	d.decodeErrors.Add(-t.DecodeErrors)
	d.writeErrors.Add(-t.WriteErrors)
	d.readErrors.Add(-t.ReadErrors)
}

// peek returns the deltas without taking them.
func (d *deltas) peek() counters {
	return counters{
		Hits:         d.hits.Load(),
		Misses:       d.misses.Load(),
		DiskHits:     d.diskHits.Load(),
		DecodeErrors: d.decodeErrors.Load(),
		WriteErrors:  d.writeErrors.Load(),
		ReadErrors:   d.readErrors.Load(),
	}
}

func (c *counters) add(o *counters) {
	of := o.fields()
	for i, f := range c.fields() {
		*f += *of[i]
	}
}

func (c *counters) minus(o *counters) counters {
	d := *c
	df, of := d.fields(), o.fields()
	for i := range df {
		*df[i] -= *of[i]
	}
	return d
}

// tierCounts reads a memory tier's counts since it began.
func tierCounts(t MemoryTier) counters {
	h, m, d := t.Counts()
	return counters{Hits: h, Misses: m, DiskHits: d}
}

// unsaved returns the counts gathered in memory and not yet in sp.c: the
// deltas, and what the attached memory tier counted since it was last
// read. Store.mu must be held.
func (sp *space) unsaved() counters {
	u := sp.d.peek()
	if sp.tier != nil {
		now := tierCounts(sp.tier)
		d := now.minus(&sp.pulled)
		u.add(&d)
	}
	return u
}
