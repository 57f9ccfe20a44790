package boltstore

import (
	"encoding/binary"

	"github.com/memostore/memostore/internal/tally"
)

// counters are a namespace's persisted counts. They live in the "counters"
// bucket as fifteen big-endian int64s in field order (files written
// before the last ones were added have eleven or fourteen: the missing
// ones read as zero) and are rewritten in the same transaction as every
// change to the namespace's entries, so they always agree with the data
// and reading them never needs a scan.
type counters = tally.Counts

const countersSize = 15 * 8

func marshalCounters(c *counters) []byte {
	b := make([]byte, 0, countersSize)
	for _, f := range c.Fields() {
		b = binary.BigEndian.AppendUint64(b, uint64(*f))
	}
	return b
}

// unmarshalCounters decodes b; missing trailing fields (an older, shorter
// layout) read as zero.
func unmarshalCounters(b []byte) counters {
	var c counters
	for i, f := range c.Fields() {
		if len(b) < (i+1)*8 {
			break
		}
		*f = int64(binary.BigEndian.Uint64(b[i*8:]))
	}
	return c
}

// unsaved returns the counts gathered in memory and not yet in sp.c: the
// deltas, and what the attached memory tier counted since it was last
// read. Store.mu must be held.
func (sp *space) unsaved() counters {
	u := sp.d.Peek()
	if sp.tier != nil {
		now := tally.Tier(sp.tier)
		d := now.Minus(&sp.pulled)
		u.Add(&d)
	}
	return u
}
