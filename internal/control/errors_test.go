package control

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http/httptest"
	"testing"

	"github.com/memostore/memostore/store/driver"
)

// TestSentinelsSurviveTheWire: an error that wraps a sentinel on the
// server matches that sentinel on the client, with the same text.
func TestSentinelsSurviveTheWire(t *testing.T) {
	for _, s := range sentinels {
		sent := fmt.Errorf("store: clear cache.db: %w", s.err)
		w := httptest.NewRecorder()
		httpError(w, 500, sent)
		var e wireError
		if err := json.Unmarshal(w.Body.Bytes(), &e); err != nil {
			t.Fatal(err)
		}
		got := e.err()
		if !errors.Is(got, s.err) || got.Error() != sent.Error() {
			t.Errorf("%s: got %v (is = %v), want %v", s.code, got, errors.Is(got, s.err), sent)
		}
	}
	if got := (wireError{Error: "plain"}).err(); errors.Is(got, driver.ErrLocked) || got.Error() != "plain" {
		t.Errorf("plain error came back as %v", got)
	}
}
