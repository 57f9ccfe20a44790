package breaker

import (
	"testing"
	"time"
)

// TestBreaker: failures of operations already under way when the breaker
// opened do not lengthen its back-off; after it, one probe at a time is
// let through; a failed probe doubles the back-off, a success closes it.
func TestBreaker(t *testing.T) {
	b := New(time.Second)
	if !b.Allow() {
		t.Fatal("a closed breaker refused")
	}
	if !b.Fail() {
		t.Fatal("the first failure did not open the breaker")
	}
	for range 10 {
		if b.Fail() {
			t.Fatal("a later failure opened the breaker again")
		}
	}
	if b.backoff != minBackoff || b.Allow() {
		t.Fatalf("after 11 concurrent failures: back-off %v, allow %v; want %v and false", b.backoff, b.Allow(), minBackoff)
	}
	time.Sleep(minBackoff)
	if !b.Allow() || b.Allow() {
		t.Fatal("want exactly one probe after the back-off")
	}
	b.Fail()
	if b.backoff != 2*minBackoff {
		t.Errorf("a failed probe: back-off %v, want %v", b.backoff, 2*minBackoff)
	}
	time.Sleep(2 * minBackoff)
	if !b.Allow() {
		t.Fatal("no probe after the second back-off")
	}
	if !b.OK() || !b.Allow() || !b.Allow() {
		t.Error("a successful probe did not close the breaker")
	}
}
