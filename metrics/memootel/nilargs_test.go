package memootel_test

import (
	"context"
	"fmt"
	"testing"

	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"

	"github.com/memostore/memostore/metrics/memootel"
)

// TestRegisterNilStore: Register has an error result, and a nil
// store is no store to observe: Register must refuse it with an error
// that says so. It accepted it, and the first collection then panicked
// with a nil pointer dereference inside the callback.
func TestRegisterNilStore(t *testing.T) {
	reader := sdkmetric.NewManualReader()
	provider := sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))
	defer provider.Shutdown(context.Background())

	reg, err := memootel.Register(nil, provider.Meter("test"))
	if err != nil {
		return // refused: what the test wants
	}
	defer reg.Unregister()
	var rm metricdata.ResourceMetrics
	panicked := func() (p any) {
		defer func() { p = recover() }()
		err = reader.Collect(context.Background(), &rm)
		return nil
	}()
	if panicked != nil {
		t.Fatalf("Register(nil store) returned no error, and the next collection panicked: %v", panicked)
	}
	t.Fatalf("Register(nil store) returned no error (collection gave %v)", fmt.Sprint(err))
}

// TestRegisterNilMeter: a nil Meter must be refused with an
// error from Register, which has an error result for what it cannot do.
// Register panicked with a nil pointer dereference instead.
func TestRegisterNilMeter(t *testing.T) {
	s := openFile(t)
	var err error
	panicked := func() (p any) {
		defer func() { p = recover() }()
		var reg interface{ Unregister() error }
		reg, err = memootel.Register(s, nil)
		if reg != nil {
			reg.Unregister()
		}
		return nil
	}()
	if panicked != nil {
		t.Fatalf("Register(s, nil Meter) panicked: %v; want an error", panicked)
	}
	if err == nil {
		t.Fatal("Register(s, nil Meter) returned no error")
	}
}
