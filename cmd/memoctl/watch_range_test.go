package main

import (
	"strings"
	"testing"
)

// TestWatchHugeIntervalSaysOutOfRange: --watch 9999999999h is
// written as a duration, but longer than a time.Duration holds (about
// 2562047h). memoctl answered "INTERVAL is a duration such as 1s or 500ms",
// which tells the user the syntax is wrong when it is the size: the
// message must say the interval is too long (time.ParseDuration's own
// error does: invalid duration, out of range).
func TestWatchHugeIntervalSaysOutOfRange(t *testing.T) {
	path := makeStore(t, 1)
	_, errOut, code := runCmd(t, "info", "--watch", "9999999999h", "--count", "1", path)
	if code != 2 {
		t.Fatalf("exit %d, want 2 (usage)", code)
	}
	first, _, _ := strings.Cut(errOut, "\n")
	if !strings.Contains(first, "range") && !strings.Contains(first, "too long") && !strings.Contains(first, "too large") {
		t.Fatalf("error %q does not say the interval is out of range", first)
	}
}
