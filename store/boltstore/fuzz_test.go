package boltstore

import (
	"bytes"
	"testing"
)

// FuzzSavedPolicy: the saved eviction state is read from the file, which
// another build may have written or a disk damaged. Whatever the bytes, it
// decodes or gives an error, never panics; a state that decodes restores
// within the tables' limits and is saved back as it was read.
func FuzzSavedPolicy(f *testing.F) {
	p := newPolicy(0, 1<<20)
	p.noteUse(&space{polHash: 1}, []byte("k"), 3)
	p.pos.hand = []byte("hand")
	f.Add(p.marshal())
	f.Add(p.marshal()[:17])
	f.Fuzz(func(t *testing.T, b []byte) {
		sp, err := parseSavedPolicy(b)
		if err != nil {
			return
		}
		q := newPolicy(0, 1<<20)
		q.salt = sp.salt
		q.restore(sp)
		if w := q.uses.Load().width(); w < sp.width {
			t.Fatalf("use table of %d counters after restoring %d", w, sp.width)
		}
		// Restored into a policy that counted nothing yet, the use counts
		// read as saved (each at most maxNotedUses, the most a counter
		// holds): none lost, none made up.
		saved := sp.words[4*(sp.width/16):]
		for i := range q.uses.Load().w {
			if got, want := q.uses.Load().w[i].Load(), saved[i%len(saved)]; got != want {
				t.Fatalf("use counts %016x after restore, saved %016x", got, want)
			}
		}
		if a := q.sketch.Load().added.Load(); a < 0 || a > q.sketch.Load().period() {
			t.Fatalf("%d additions after restore, period %d", a, q.sketch.Load().period())
		}
		again, err := parseSavedPolicy(q.marshal())
		if err != nil {
			t.Fatalf("the restored state saved does not decode: %v", err)
		}
		if !bytes.Equal(again.hand, sp.hand) || again.salt != sp.salt {
			t.Fatalf("saved back with hand %q salt %x, read %q %x", again.hand, again.salt, sp.hand, sp.salt)
		}
	})
}
