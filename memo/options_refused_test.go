package memo_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/memostore/memostore/memo"
)

func ident(_ context.Context, k int) (int, error) { return k, nil }

// TestTTLFuncNilRefused: New refuses nil fn, and refuses
// StaleWhileRevalidate without TTL or TTLFunc. A nil TTLFunc is no TTL
// function, but New took it as one: TTLFunc[int, int](nil) with
// StaleWhileRevalidate and no TTL was accepted, and the Func then never
// expired anything (New stored the nil func, and ttlOf fell back to TTL
// 0), so the stale window it was asked for was silently void. New must
// refuse a nil TTLFunc, as it refuses a nil fn.
func TestTTLFuncNilRefused(t *testing.T) {
	f, err := memo.New(nil, "nilttl", ident, memo.TTLFunc[int, int](nil), memo.StaleWhileRevalidate(time.Minute))
	if err == nil {
		f.Close()
		t.Fatal("New with TTLFunc(nil) and StaleWhileRevalidate, no TTL: accepted; want an error (a nil TTLFunc, or StaleWhileRevalidate without a TTL)")
	}
}

// TestNegativeDurationOptionsRefused: New refuses TTL(-1s) ("want
// 0 (never expire) or more") and MaxBytes(-1), but ErrorTTL,
// RefreshAfter, StaleWhileRevalidate, StaleIfError and RefreshTimeout
// took a negative duration silently, as 0 (or, for RefreshTimeout, as
// the default minute): a setting silently dropped where the caller, who
// gets an error for the same mistake in TTL, expects one.
func TestNegativeDurationOptionsRefused(t *testing.T) {
	cases := []struct {
		name string
		opts []memo.Option
	}{
		{"ErrorTTL(-1s)", []memo.Option{memo.ErrorTTL(-time.Second)}},
		{"RefreshAfter(-1s)", []memo.Option{memo.TTL(time.Hour), memo.RefreshAfter(-time.Second)}},
		{"StaleWhileRevalidate(-1s)", []memo.Option{memo.TTL(time.Hour), memo.StaleWhileRevalidate(-time.Second)}},
		{"StaleIfError(-1s)", []memo.Option{memo.TTL(time.Hour), memo.StaleIfError(-time.Second)}},
		{"RefreshTimeout(-1s)", []memo.Option{memo.TTL(time.Hour), memo.RefreshAfter(time.Minute), memo.RefreshTimeout(-time.Second)}},
	}
	var accepted []string
	for _, c := range cases {
		f, err := memo.New(nil, "neg", ident, c.opts...)
		if err == nil {
			f.Close()
			accepted = append(accepted, c.name)
		}
	}
	if _, err := memo.New(nil, "neg", ident, memo.TTL(-time.Second)); err == nil {
		t.Fatal("TTL(-1s) accepted too")
	}
	if len(accepted) > 0 {
		t.Fatalf("New accepted %s without an error, while it refuses TTL(-1s)", strings.Join(accepted, ", "))
	}
}
