package memootel_test

import (
	"context"
	"testing"

	sdkmetric "go.opentelemetry.io/otel/sdk/metric"

	"github.com/memostore/memostore/metrics/memootel"
)

// TestRegisterSameStoreTwice: registering a store's instruments twice on
// one Meter (two init paths, a library and its program) is refused with
// an error. It was accepted, and the SDK added the two callbacks'
// observations: every counter and up-down counter reported twice the
// store's value (memostore.hits, memostore.entries, memostore.file_size,
// ...), where Prometheus's registry refuses the same collector registered
// twice. Once unregistered, the store can be registered again, and its
// series are observed once.
func TestRegisterSameStoreTwice(t *testing.T) {
	s := openFile(t)
	exercise(t, s)
	r := sdkmetric.NewManualReader()
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(r))
	t.Cleanup(func() { mp.Shutdown(context.Background()) })
	m := mp.Meter("github.com/memostore/memostore")
	reg1, err := memootel.Register(s, m)
	if err != nil {
		t.Fatal(err)
	}
	if reg2, err := memootel.Register(s, m); err == nil {
		reg2.Unregister()
		t.Fatal("the same store registered twice on one Meter: no error")
	}
	if err := reg1.Unregister(); err != nil {
		t.Fatal(err)
	}
	reg3, err := memootel.Register(s, m)
	if err != nil {
		t.Fatalf("Register after Unregister: %v", err)
	}
	defer reg3.Unregister()
	got, err := collect(t, r)
	if err != nil {
		t.Fatal(err)
	}
	want := expected(s.Stats())
	for _, k := range []string{"memostore.hits{double}", "memostore.misses{square}", "memostore.entries{double}", "memostore.file_size"} {
		if got[k] != want[k] {
			t.Errorf("%s = %d, want %d", k, got[k].value, want[k].value)
		}
	}
}
