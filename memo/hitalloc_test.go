package memo_test

import (
	"context"
	"testing"

	"github.com/memostore/memostore/memo"
)

type ifaceKey struct {
	Kind any
	ID   int
}

// TestMemoryHitOfInterfaceKeyAllocatesNothing: "A call is answered from
// the memory tier if it can (no encoding, no allocation)". The check that
// a key holding an interface can be hashed (args) runs on every call of
// such a key type; made with reflect.Value.Comparable, it allocated on
// every memory hit (3 to 8 times), and took over ten times as long.
func TestMemoryHitOfInterfaceKeyAllocatesNothing(t *testing.T) {
	ctx := context.Background()
	t.Run("any", func(t *testing.T) {
		f, err := memo.New(nil, "hit-any", func(context.Context, any) (int, error) { return 1, nil })
		if err != nil {
			t.Fatal(err)
		}
		var k any = 12345
		mustCall(t, f, k)
		if n := testing.AllocsPerRun(100, func() { f.Call(ctx, k) }); n != 0 {
			t.Errorf("a memory hit of a key of type any allocates %v times", n)
		}
	})
	t.Run("struct", func(t *testing.T) {
		f, err := memo.New(nil, "hit-struct", func(context.Context, ifaceKey) (int, error) { return 1, nil })
		if err != nil {
			t.Fatal(err)
		}
		k := ifaceKey{Kind: "user", ID: 7}
		mustCall(t, f, k)
		if n := testing.AllocsPerRun(100, func() { f.Call(ctx, k) }); n != 0 {
			t.Errorf("a memory hit of a struct key with an interface field allocates %v times", n)
		}
	})
}
