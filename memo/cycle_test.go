package memo_test

import (
	"bytes"
	"context"
	"log/slog"
	"strings"
	"testing"

	"github.com/memostore/memostore/memo"
	"github.com/memostore/memostore/store"
)

// ring is a recursive value type: a list that may close on itself.
type ring struct {
	N    int
	Next *ring
}

// TestCyclicValueServedNotStored: a result that holds a cycle cannot be
// encoded. Call must return it, with no error, keep it in the memory tier,
// and leave the store without it, saying why in the log; before, msgpack
// recursed until the stack overflowed and the process died, in front of a
// store and under MaxBytes (which measures values by encoding them) alike.
func TestCyclicValueServedNotStored(t *testing.T) {
	fn := func(_ context.Context, k int) (*ring, error) {
		r := &ring{N: k}
		r.Next = &ring{N: k + 1, Next: r}
		return r, nil
	}
	t.Run("store", func(t *testing.T) {
		var log bytes.Buffer
		s := openStore(t, store.WithLogger(slog.New(slog.NewTextHandler(&log, nil))))
		f, err := memo.New(s, "ring", fn)
		if err != nil {
			t.Fatal(err)
		}
		r := mustCall(t, f, 1)
		if r.N != 1 || r.Next.Next != r {
			t.Fatalf("Call returned %+v, not the ring fn made", r)
		}
		if again := mustCall(t, f, 1); again != r {
			t.Error("the second Call did not get the ring from the memory tier")
		}
		if err := s.Flush(context.Background()); err != nil {
			t.Fatal(err)
		}
		st, err := s.StatsContext(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		if st.Entries != 0 {
			t.Errorf("the store holds %d entries, want 0", st.Entries)
		}
		if !strings.Contains(log.String(), "cycle") {
			t.Errorf("the log does not say why the result was not stored:\n%s", log.String())
		}
	})
	t.Run("MaxBytes", func(t *testing.T) {
		f, err := memo.New(nil, "ring", fn, memo.MaxBytes(1<<20))
		if err != nil {
			t.Fatal(err)
		}
		if r := mustCall(t, f, 1); r.Next.Next != r {
			t.Fatalf("Call returned %+v, not the ring fn made", r)
		}
	})
}
