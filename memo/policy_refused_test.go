package memo_test

import (
	"testing"

	"github.com/memostore/memostore/memo"
)

// TestUnknownPolicyRefusedWithTierOff: New refuses Policy with an unknown
// value ("unknown policy"), but did only when the memory tier was on:
// newMemory returned before it looked at the policy when MaxSize(0) turned
// the tier off, so a bad Policy value was silently accepted there. An
// invalid option value is an error whatever the other options are.
func TestUnknownPolicyRefusedWithTierOff(t *testing.T) {
	for _, p := range []memo.EvictionPolicy{memo.EvictionPolicy(9), memo.EvictionPolicy(-1)} {
		if _, err := memo.New(nil, "p", padded, memo.Policy(p)); err == nil {
			t.Fatalf("%v accepted with the memory tier on", p)
		}
		if f, err := memo.New(nil, "p", padded, memo.Policy(p), memo.MaxSize(0)); err == nil {
			t.Errorf("Policy(%v) with MaxSize(0) accepted without an error (Info = %+v)", p, f.Info())
		}
	}
}
