package codec

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"runtime/debug"
	"testing"
)

// d24Self is a pointer to its own type: its values can only be nil or
// point at themselves. CheckValue accepted it (a pointer, to a type seen);
// it now refuses it (TestCheckValuePointerOnlyCycle).
type d24Self *d24Self

// TestPointerOnlyCycleCrashes: a cycle made of pointers alone adds
// no level to the walk (a pointer is none), so shape.depth recurses on it
// forever and the goroutine's stack overflows, a fatal error: Encode of
// p = &p kills the process, where it must return ErrTooDeep (or NewValues
// refuse the type). Run in a child process, which this test checks did
// not crash.
func TestPointerOnlyCycleCrashes(t *testing.T) {
	if os.Getenv("MEMOSTORE_R24_PTRCYCLE_CHILD") == "1" {
		debug.SetMaxStack(64 << 20) // crash fast rather than at 1 GB
		c, err := NewValues[d24Self]()
		if err != nil {
			fmt.Println("R24 refused by NewValues:", err)
			return
		}
		var p d24Self
		p = &p
		_, err = c.Encode(p, testKey, Meta{StoredAt: 1})
		fmt.Println("R24 Encode returned:", err)
		return
	}
	cmd := exec.Command(os.Args[0], "-test.run=^TestPointerOnlyCycleCrashes$", "-test.count=1")
	cmd.Env = append(os.Environ(), "MEMOSTORE_R24_PTRCYCLE_CHILD=1")
	out, err := cmd.CombinedOutput()
	if err != nil || !bytes.Contains(out, []byte("R24 ")) {
		head := out
		if i := bytes.Index(head, []byte("\ngoroutine ")); i > 0 {
			head = head[:i]
		}
		if len(head) > 2000 {
			head = head[:2000]
		}
		t.Fatalf("Encode of a value of a pointer-only cyclic type killed the process (%v):\n%s", err, head)
	}
	t.Logf("child: %s", bytes.TrimSpace(out))
}
