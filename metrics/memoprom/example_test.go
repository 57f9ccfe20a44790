package memoprom_test

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/memostore/memostore/memo"
	"github.com/memostore/memostore/metrics/memoprom"
	"github.com/memostore/memostore/store"
)

func ExampleNewCollector() {
	dir, err := os.MkdirTemp("", "memoprom")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	s, err := store.Open(filepath.Join(dir, "cache.db"))
	if err != nil {
		log.Fatal(err)
	}
	defer s.Close()

	reg := prometheus.NewRegistry()
	reg.MustRegister(memoprom.NewCollector(s))
	srv := httptest.NewServer(promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	defer srv.Close()

	ctx := context.Background()
	square, err := memo.New(s, "square", func(_ context.Context, k int) (int, error) { return k * k, nil })
	if err != nil {
		log.Fatal(err)
	}
	for _, k := range []int{1, 2, 1, 1} {
		square.Call(ctx, k)
	}

	resp, err := http.Get(srv.URL)
	if err != nil {
		log.Fatal(err)
	}
	defer resp.Body.Close()
	printLines(resp.Body, "memostore_hits_total", "memostore_misses_total", "memostore_memory_entries")
	// Output:
	// memostore_hits_total{namespace="square"} 2
	// memostore_memory_entries{namespace="square"} 2
	// memostore_misses_total{namespace="square"} 2
}

// printLines prints the lines of r that start with one of prefixes.
func printLines(r io.Reader, prefixes ...string) {
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		for _, p := range prefixes {
			if strings.HasPrefix(sc.Text(), p+"{") {
				fmt.Println(sc.Text())
			}
		}
	}
}
