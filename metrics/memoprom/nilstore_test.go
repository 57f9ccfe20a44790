package memoprom_test

import (
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/memostore/memostore/metrics/memoprom"
)

// TestNilStoreCollectorDoesNotPanic: NewCollector(nil) returns a
// collector that registers without complaint, and its every scrape
// panicked with a nil pointer dereference (in Collect's StatsContext). A
// registry's Gather runs Collect in a goroutine of its own, where such a
// panic kills the program at its first scrape. A scrape now reports an
// invalid metric that says the store is nil. Collect is called here
// directly, so that a panic fails this test alone.
func TestNilStoreCollectorDoesNotPanic(t *testing.T) {
	c := memoprom.NewCollector(nil)
	ch := make(chan prometheus.Metric, 100)
	panicked := func() (p any) {
		defer func() { p = recover() }()
		c.Collect(ch)
		return nil
	}()
	if panicked != nil {
		t.Fatalf("Collect of NewCollector(nil) panicked: %v", panicked)
	}
}
