package memootel_test

import (
	"context"
	"fmt"
	"log"
	"os"
	"path/filepath"

	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"

	"github.com/memostore/memostore/memo"
	"github.com/memostore/memostore/metrics/memootel"
	"github.com/memostore/memostore/store"
)

func ExampleRegister() {
	dir, err := os.MkdirTemp("", "memootel")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	s, err := store.Open(filepath.Join(dir, "cache.db"))
	if err != nil {
		log.Fatal(err)
	}
	defer s.Close()

	ctx := context.Background()
	reader := sdkmetric.NewManualReader()
	provider := sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))
	defer provider.Shutdown(ctx)
	reg, err := memootel.Register(s, provider.Meter("github.com/memostore/memostore"))
	if err != nil {
		log.Fatal(err)
	}
	defer reg.Unregister()

	square, err := memo.New(s, "square", func(_ context.Context, k int) (int, error) { return k * k, nil })
	if err != nil {
		log.Fatal(err)
	}
	for _, k := range []int{1, 2, 1, 1} {
		square.Call(ctx, k)
	}

	var rm metricdata.ResourceMetrics
	if err := reader.Collect(ctx, &rm); err != nil {
		log.Fatal(err)
	}
	for _, m := range rm.ScopeMetrics[0].Metrics {
		if sum, ok := m.Data.(metricdata.Sum[int64]); ok && (m.Name == "memostore.hits" || m.Name == "memostore.misses") {
			for _, p := range sum.DataPoints {
				ns, _ := p.Attributes.Value(memootel.NamespaceKey)
				fmt.Printf("%s %s{memostore.namespace=%s} %d\n", m.Name, m.Unit, ns.AsString(), p.Value)
			}
		}
	}
	// Output:
	// memostore.hits {call}{memostore.namespace=square} 2
	// memostore.misses {call}{memostore.namespace=square} 2
}
