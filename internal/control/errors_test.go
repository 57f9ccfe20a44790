package control

import (
	"errors"
	"fmt"
	"testing"

	"github.com/memostore/memostore/store/driver"
)

// TestSentinelsSurviveTheWire: an error that wraps a sentinel on the
// server matches that sentinel on the client, with the same text.
func TestSentinelsSurviveTheWire(t *testing.T) {
	for _, s := range sentinels {
		sent := fmt.Errorf("store: clear cache.db: %w", s.err)
		var r Msg
		r.setErr(sent)
		got := r.err()
		if !errors.Is(got, s.err) || got.Error() != sent.Error() {
			t.Errorf("%s: got %v (is = %v), want %v", s.code, got, errors.Is(got, s.err), sent)
		}
	}
	if got := (wireError{Error: "plain"}).err(); errors.Is(got, driver.ErrLocked) || got.Error() != "plain" {
		t.Errorf("plain error came back as %v", got)
	}
	var ok Msg
	ok.setErr(nil)
	if ok.err() != nil {
		t.Errorf("a reply without error carries %v", ok.err())
	}
}
