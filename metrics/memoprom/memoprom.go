// Package memoprom exports the counters of a memostore Store to
// Prometheus.
//
// NewCollector returns a prometheus.Collector that reads Store.Stats when
// it is scraped and turns it into constant metrics, as client_golang's
// DBStatsCollector does for database/sql: the store keeps its counters
// anyway (memoctl reads them too), so registering the collector adds
// nothing to a call, hit or miss.
//
//	reg := prometheus.NewRegistry()
//	reg.MustRegister(memoprom.NewCollector(s))
//	http.Handle("/metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
//
// Every series of a namespace carries a namespace label (the name given to
// memo.New). The metrics are:
//
//	memostore_up                      1 if the last scrape read the stats, 0 if not (a Redis server that did not answer)
//	memostore_hits_total              calls answered without running the function
//	memostore_misses_total            calls that ran the function
//	memostore_disk_hits_total         the part of the hits served from the store (not the memory tier)
//	memostore_writes_total            records written to the store
//	memostore_write_errors_total      writes that failed or were refused
//	memostore_read_errors_total       lookups the server did not answer (Redis)
//	memostore_decode_errors_total     records that failed their checksum or did not decode
//	memostore_refreshes_total         runs of the function that refreshed an entry (Refresh, RefreshAfter, StaleWhileRevalidate)
//	memostore_stale_returns_total     calls answered with a value past its TTL (StaleWhileRevalidate, StaleIfError)
//	memostore_cached_errors_total     calls answered with an error cached by memo.ErrorTTL
//	memostore_saved_seconds_total     computation time the hits saved: for each hit, how long the function took for its value
//	memostore_evictions_total         entries evicted to keep within the store's MaxBytes (file)
//	memostore_expirations_total       expired entries swept (file)
//	memostore_entries                 entries stored (file)
//	memostore_bytes                   bytes of keys and records stored (file)
//	memostore_memory_entries          entries in the memory tiers (on a file, of every process using it)
//	memostore_memory_max_entries      the memory tier's bound (memo.MaxSize); -1 = unbounded, 0 = off
//	memostore_file_size_bytes         the file's size on disk (file)
//	memostore_max_bytes               the store's WithMaxBytes bound; 0 = none (file)
//	memostore_queued_writes           writes waiting for the writer (file)
//	memostore_queued_bytes            bytes of the writes waiting for the writer (file)
//
// Metrics marked (file) are not reported for a Redis store, which does not
// count them: Redis expires and evicts keys by itself. The memory tier
// metrics are reported for the namespaces claimed by a memo.Func: on a
// file, in any process using it (holder and followers, summed); on Redis,
// in this process.
//
// # Caveats
//
//   - The counters are those of the store, not of the process: on a file
//     they are totals over the life of the file, and on Redis over every
//     process sharing the server. Store.Clear resets a namespace's counters,
//     which Prometheus sees as a counter reset; rate and increase handle it.
//   - On Redis a scrape costs two round trips to the server, bounded by
//     Timeout. If the server does not answer, the scrape reports
//     memostore_up 0 and the memory tier metrics only: the counters this
//     process alone knows would be lower than the server's, and Prometheus
//     would take the drop for a reset.
//   - Two collectors of two stores registered on one registry collide;
//     tell them apart with a label, for example
//     prometheus.WrapRegistererWith(prometheus.Labels{"store": "users"}, reg).
package memoprom

import (
	"context"
	"errors"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/memostore/memostore/store"
)

// Timeout bounds the time a scrape waits for the store's stats (a Redis
// server's answer).
const Timeout = 5 * time.Second

// A nsMetric is one per-namespace metric and the field of NamespaceStats
// it reports.
type nsMetric struct {
	desc     *prometheus.Desc
	kind     prometheus.ValueType
	fileOnly bool
	value    func(*store.NamespaceStats) float64
}

// A storeMetric is one store-wide metric (file only) and the field of
// Stats it reports.
type storeMetric struct {
	desc  *prometheus.Desc
	kind  prometheus.ValueType
	value func(*store.Stats) float64
}

type collector struct {
	s        *store.Store
	up       *prometheus.Desc
	ns       []nsMetric
	memory   []nsMetric
	storeMet []storeMetric
}

// NewCollector returns a collector of the metrics of s (see the package
// doc), read from s.StatsContext at each scrape.
func NewCollector(s *store.Store) prometheus.Collector {
	nsDesc := func(name, help string) *prometheus.Desc {
		return prometheus.NewDesc("memostore_"+name, help, []string{"namespace"}, nil)
	}
	counter := func(name, help string, fileOnly bool, v func(*store.NamespaceStats) int64) nsMetric {
		return nsMetric{nsDesc(name, help), prometheus.CounterValue, fileOnly,
			func(n *store.NamespaceStats) float64 { return float64(v(n)) }}
	}
	gauge := func(name, help string, fileOnly bool, v func(*store.NamespaceStats) int64) nsMetric {
		return nsMetric{nsDesc(name, help), prometheus.GaugeValue, fileOnly,
			func(n *store.NamespaceStats) float64 { return float64(v(n)) }}
	}
	storeGauge := func(name, help string, v func(*store.Stats) int64) storeMetric {
		return storeMetric{prometheus.NewDesc("memostore_"+name, help, nil, nil), prometheus.GaugeValue,
			func(s *store.Stats) float64 { return float64(v(s)) }}
	}
	return &collector{
		s: s,
		up: prometheus.NewDesc("memostore_up",
			"Whether the last scrape read the store's stats (1) or the store did not answer (0).", nil, nil),
		ns: []nsMetric{
			counter("hits_total", "Calls answered without running the function.", false,
				func(n *store.NamespaceStats) int64 { return n.Hits }),
			counter("misses_total", "Calls that ran the function.", false,
				func(n *store.NamespaceStats) int64 { return n.Misses }),
			counter("disk_hits_total", "Hits served from the store rather than the memory tier.", false,
				func(n *store.NamespaceStats) int64 { return n.DiskHits }),
			counter("writes_total", "Records written to the store.", false,
				func(n *store.NamespaceStats) int64 { return n.Writes }),
			counter("write_errors_total", "Writes to the store that failed or were refused.", false,
				func(n *store.NamespaceStats) int64 { return n.WriteErrors }),
			counter("read_errors_total", "Lookups the store's server did not answer.", false,
				func(n *store.NamespaceStats) int64 { return n.ReadErrors }),
			counter("decode_errors_total", "Stored records that failed their checksum or did not decode.", false,
				func(n *store.NamespaceStats) int64 { return n.DecodeErrors }),
			counter("refreshes_total", "Runs of the function that refreshed an entry.", false,
				func(n *store.NamespaceStats) int64 { return n.Refreshes }),
			counter("stale_returns_total", "Calls answered with a value past its TTL.", false,
				func(n *store.NamespaceStats) int64 { return n.StaleReturns }),
			counter("cached_errors_total", "Calls answered with a cached error of the function.", false,
				func(n *store.NamespaceStats) int64 { return n.CachedErrors }),
			{nsDesc("saved_seconds_total", "Computation time the hits saved: for each hit, how long the function took to compute its value."),
				prometheus.CounterValue, false,
				func(n *store.NamespaceStats) float64 { return n.Saved.Seconds() }},
			counter("evictions_total", "Entries evicted to keep the store within its maximum size.", true,
				func(n *store.NamespaceStats) int64 { return n.Evictions }),
			counter("expirations_total", "Expired entries swept from the store.", true,
				func(n *store.NamespaceStats) int64 { return n.Expirations }),
			gauge("entries", "Entries in the store.", true,
				func(n *store.NamespaceStats) int64 { return n.Entries }),
			gauge("bytes", "Bytes of keys and records in the store.", true,
				func(n *store.NamespaceStats) int64 { return n.Bytes }),
		},
		memory: []nsMetric{
			gauge("memory_entries", "Entries in the memory tiers of the processes using the namespace.", false,
				func(n *store.NamespaceStats) int64 { return int64(n.MemSize) }),
			gauge("memory_max_entries", "The memory tier's bound in entries; -1 is unbounded, 0 is off.", false,
				func(n *store.NamespaceStats) int64 { return int64(n.MemMax) }),
		},
		storeMet: []storeMetric{
			storeGauge("file_size_bytes", "Size of the store's file on disk.",
				func(s *store.Stats) int64 { return s.FileSize }),
			storeGauge("max_bytes", "The store's bound on stored bytes; 0 is none.",
				func(s *store.Stats) int64 { return s.MaxBytes }),
			storeGauge("queued_writes", "Writes waiting for the store's writer.",
				func(s *store.Stats) int64 { return int64(s.Queued) }),
			storeGauge("queued_bytes", "Bytes of the writes waiting for the store's writer.",
				func(s *store.Stats) int64 { return s.QueuedBytes }),
		},
	}
}

// Describe sends the descriptors of every metric the collector may report.
func (c *collector) Describe(ch chan<- *prometheus.Desc) {
	ch <- c.up
	for _, m := range c.ns {
		ch <- m.desc
	}
	for _, m := range c.memory {
		ch <- m.desc
	}
	for _, m := range c.storeMet {
		ch <- m.desc
	}
}

// Collect reads the store's stats and sends them as constant metrics.
func (c *collector) Collect(ch chan<- prometheus.Metric) {
	if c.s == nil {
		// NewCollector(nil): a scrape says so, rather than panic in the
		// registry's goroutine and end the program.
		ch <- prometheus.NewInvalidMetric(c.up, errors.New("memoprom: NewCollector was given a nil store"))
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), Timeout)
	defer cancel()
	st, err := c.s.StatsContext(ctx)
	up := 1.0
	if err != nil {
		up = 0
	}
	ch <- prometheus.MustNewConstMetric(c.up, prometheus.GaugeValue, up)
	file := st.Backend != "redis"
	for i := range st.Namespaces {
		n := &st.Namespaces[i]
		if n.Claimed {
			for _, m := range c.memory {
				ch <- prometheus.MustNewConstMetric(m.desc, m.kind, m.value(n), n.Name)
			}
		}
		if err != nil {
			continue
		}
		for _, m := range c.ns {
			if m.fileOnly && !file {
				continue
			}
			ch <- prometheus.MustNewConstMetric(m.desc, m.kind, m.value(n), n.Name)
		}
	}
	if err != nil || !file {
		return
	}
	for _, m := range c.storeMet {
		ch <- prometheus.MustNewConstMetric(m.desc, m.kind, m.value(&st))
	}
}
