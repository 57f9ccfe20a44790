// Package memootel exports the counters of a memostore Store through
// OpenTelemetry metrics.
//
// Register creates asynchronous instruments on a Meter and one callback
// that reads Store.Stats once per collection: the store keeps its counters
// anyway (memoctl reads them too), so registering adds nothing to a call,
// hit or miss.
//
//	reg, err := memootel.Register(s, provider.Meter("github.com/memostore/memostore"))
//	...
//	defer reg.Unregister()
//
// Each observation of a namespace carries the attribute
// memostore.namespace (the name given to memo.New). The instruments are:
//
//	memostore.hits              counter  {call}    calls answered without running the function
//	memostore.misses            counter  {call}    calls that ran the function
//	memostore.disk_hits         counter  {call}    the part of the hits served from the store
//	memostore.writes            counter  {record}  records written to the store
//	memostore.write_errors      counter  {record}  writes that failed or were refused
//	memostore.read_errors       counter  {lookup}  lookups the server did not answer (Redis)
//	memostore.decode_errors     counter  {record}  records that failed their checksum or did not decode
//	memostore.refreshes         counter  {call}    runs of the function that refreshed an entry
//	memostore.stale_returns     counter  {call}    calls answered with a value past its TTL
//	memostore.cached_errors     counter  {call}    calls answered with an error cached by memo.ErrorTTL
//	memostore.saved             counter  s         computation time the hits saved (a Float64ObservableCounter)
//	memostore.evictions         counter  {entry}   entries evicted to keep within MaxBytes (file)
//	memostore.expirations       counter  {entry}   expired entries swept (file)
//	memostore.entries           up-down  {entry}   entries stored (file)
//	memostore.bytes             up-down  By        bytes of keys and records stored (file)
//	memostore.memory_entries    up-down  {entry}   entries in the memory tiers (on a file, of every process using it)
//	memostore.memory_max_entries gauge   {entry}   the memory tier's bound; -1 = unbounded, 0 = off
//	memostore.file_size         up-down  By        the file's size on disk (file)
//	memostore.max_bytes         gauge    By        the WithMaxBytes bound; 0 = none (file)
//	memostore.queued_writes     up-down  {write}   writes waiting for the writer (file)
//	memostore.queued_bytes      up-down  By        bytes of the writes waiting (file)
//
// Counters are Int64ObservableCounter (cumulative totals), levels that add
// up across namespaces or stores are Int64ObservableUpDownCounter, and
// bounds, which do not, are Int64ObservableGauge. Instruments marked
// (file) are not observed for a Redis store, which does not count them.
// The memory tier instruments are observed for the namespaces claimed by
// a memo.Func: on a file, in any process using it (holder and followers,
// summed); on Redis, in this process.
//
// # Caveats
//
//   - The counters are those of the store, not of the process: on a file
//     they are totals over the life of the file, and on Redis over every
//     process sharing the server. Store.Clear resets a namespace's counters.
//   - On Redis a collection costs two round trips to the server, bounded by
//     Timeout. If the server does not answer, the callback observes the
//     memory tiers only and returns the error, which the SDK reports: the
//     counters this process alone knows would be lower than the server's.
//   - Register observes one store; to observe two on one Meter, tell them
//     apart by the Meter's attributes (metric.WithInstrumentationAttributes).
//     Register a store once on a Meter: registered twice, its observations
//     add up, and every counter reports twice the store's values. (Register
//     does not check: it would have to hold every store and Meter it was
//     given, and Meters, noop ones for a start, need not compare as
//     distinct.)
package memootel

import (
	"context"
	"errors"
	"fmt"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"

	"github.com/memostore/memostore/store"
)

// Timeout bounds the time a collection waits for the store's stats (a
// Redis server's answer), within the collection's own deadline.
const Timeout = 5 * time.Second

// NamespaceKey is the attribute that names a namespace.
const NamespaceKey = attribute.Key("memostore.namespace")

type nsInstrument struct {
	inst     metric.Int64Observable
	fileOnly bool
	value    func(*store.NamespaceStats) int64
}

type storeInstrument struct {
	inst  metric.Int64Observable
	value func(*store.Stats) int64
}

// instruments creates the instruments on a Meter, keeping the first
// error.
type instruments struct {
	m      metric.Meter
	err    error
	ns     []nsInstrument
	memory []nsInstrument
	store  []storeInstrument
	saved  metric.Float64ObservableCounter
	all    []metric.Observable
}

func (in *instruments) add(o metric.Int64Observable, err error) metric.Int64Observable {
	if err != nil && in.err == nil {
		in.err = err
	}
	in.all = append(in.all, o)
	return o
}

func (in *instruments) counter(name, unit, desc string, fileOnly bool, v func(*store.NamespaceStats) int64) {
	o := in.add(in.m.Int64ObservableCounter(name, metric.WithUnit(unit), metric.WithDescription(desc)))
	in.ns = append(in.ns, nsInstrument{o, fileOnly, v})
}

func (in *instruments) upDown(name, unit, desc string, fileOnly bool, v func(*store.NamespaceStats) int64) {
	o := in.add(in.m.Int64ObservableUpDownCounter(name, metric.WithUnit(unit), metric.WithDescription(desc)))
	in.ns = append(in.ns, nsInstrument{o, fileOnly, v})
}

// Register creates the instruments of s on m (see the package doc) and a
// callback that observes them from s.StatsContext at each collection. Its
// Registration's Unregister stops the observations; the instruments stay.
func Register(s *store.Store, m metric.Meter) (metric.Registration, error) {
	switch {
	case s == nil:
		return nil, errors.New("memootel: Register: the store is nil")
	case m == nil:
		return nil, errors.New("memootel: Register: the Meter is nil")
	}
	in := &instruments{m: m}
	in.counter("memostore.hits", "{call}", "Calls answered without running the function.", false,
		func(n *store.NamespaceStats) int64 { return n.Hits })
	in.counter("memostore.misses", "{call}", "Calls that ran the function.", false,
		func(n *store.NamespaceStats) int64 { return n.Misses })
	in.counter("memostore.disk_hits", "{call}", "Hits served from the store rather than the memory tier.", false,
		func(n *store.NamespaceStats) int64 { return n.DiskHits })
	in.counter("memostore.writes", "{record}", "Records written to the store.", false,
		func(n *store.NamespaceStats) int64 { return n.Writes })
	in.counter("memostore.write_errors", "{record}", "Writes to the store that failed or were refused.", false,
		func(n *store.NamespaceStats) int64 { return n.WriteErrors })
	in.counter("memostore.read_errors", "{lookup}", "Lookups the store's server did not answer.", false,
		func(n *store.NamespaceStats) int64 { return n.ReadErrors })
	in.counter("memostore.decode_errors", "{record}", "Stored records that failed their checksum or did not decode.", false,
		func(n *store.NamespaceStats) int64 { return n.DecodeErrors })
	in.counter("memostore.refreshes", "{call}", "Runs of the function that refreshed an entry.", false,
		func(n *store.NamespaceStats) int64 { return n.Refreshes })
	in.counter("memostore.stale_returns", "{call}", "Calls answered with a value past its TTL.", false,
		func(n *store.NamespaceStats) int64 { return n.StaleReturns })
	in.counter("memostore.cached_errors", "{call}", "Calls answered with a cached error of the function.", false,
		func(n *store.NamespaceStats) int64 { return n.CachedErrors })
	saved, err := m.Float64ObservableCounter("memostore.saved", metric.WithUnit("s"),
		metric.WithDescription("Computation time the hits saved: for each hit, how long the function took to compute its value."))
	if err != nil && in.err == nil {
		in.err = err
	}
	in.saved = saved
	in.all = append(in.all, saved)
	in.counter("memostore.evictions", "{entry}", "Entries evicted to keep the store within its maximum size.", true,
		func(n *store.NamespaceStats) int64 { return n.Evictions })
	in.counter("memostore.expirations", "{entry}", "Expired entries swept from the store.", true,
		func(n *store.NamespaceStats) int64 { return n.Expirations })
	in.upDown("memostore.entries", "{entry}", "Entries in the store.", true,
		func(n *store.NamespaceStats) int64 { return n.Entries })
	in.upDown("memostore.bytes", "By", "Bytes of keys and records in the store.", true,
		func(n *store.NamespaceStats) int64 { return n.Bytes })

	memEntries := in.add(m.Int64ObservableUpDownCounter("memostore.memory_entries", metric.WithUnit("{entry}"),
		metric.WithDescription("Entries in the memory tiers of the processes using the namespace.")))
	memMax := in.add(m.Int64ObservableGauge("memostore.memory_max_entries", metric.WithUnit("{entry}"),
		metric.WithDescription("The memory tier's bound in entries; -1 is unbounded, 0 is off.")))
	in.memory = []nsInstrument{
		{memEntries, false, func(n *store.NamespaceStats) int64 { return int64(n.MemSize) }},
		{memMax, false, func(n *store.NamespaceStats) int64 { return int64(n.MemMax) }},
	}

	storeInst := func(o metric.Int64Observable, v func(*store.Stats) int64) {
		in.store = append(in.store, storeInstrument{o, v})
	}
	storeInst(in.add(m.Int64ObservableUpDownCounter("memostore.file_size", metric.WithUnit("By"),
		metric.WithDescription("Size of the store's file on disk."))),
		func(s *store.Stats) int64 { return s.FileSize })
	storeInst(in.add(m.Int64ObservableGauge("memostore.max_bytes", metric.WithUnit("By"),
		metric.WithDescription("The store's bound on stored bytes; 0 is none."))),
		func(s *store.Stats) int64 { return s.MaxBytes })
	storeInst(in.add(m.Int64ObservableUpDownCounter("memostore.queued_writes", metric.WithUnit("{write}"),
		metric.WithDescription("Writes waiting for the store's writer."))),
		func(s *store.Stats) int64 { return int64(s.Queued) })
	storeInst(in.add(m.Int64ObservableUpDownCounter("memostore.queued_bytes", metric.WithUnit("By"),
		metric.WithDescription("Bytes of the writes waiting for the store's writer."))),
		func(s *store.Stats) int64 { return s.QueuedBytes })

	if in.err != nil {
		return nil, fmt.Errorf("memootel: create instruments: %w", in.err)
	}
	reg, err := m.RegisterCallback(func(ctx context.Context, o metric.Observer) error {
		return in.observe(ctx, s, o)
	}, in.all...)
	if err != nil {
		return nil, fmt.Errorf("memootel: register callback: %w", err)
	}
	return reg, nil
}

// observe reads the store's stats once and observes every instrument.
func (in *instruments) observe(ctx context.Context, s *store.Store, o metric.Observer) error {
	ctx, cancel := context.WithTimeout(ctx, Timeout)
	defer cancel()
	st, err := s.StatsContext(ctx)
	file := st.Backend != "redis"
	for i := range st.Namespaces {
		n := &st.Namespaces[i]
		attrs := metric.WithAttributeSet(attribute.NewSet(NamespaceKey.String(n.Name)))
		if n.Claimed {
			for _, m := range in.memory {
				o.ObserveInt64(m.inst, m.value(n), attrs)
			}
		}
		if err != nil {
			continue
		}
		for _, m := range in.ns {
			if !m.fileOnly || file {
				o.ObserveInt64(m.inst, m.value(n), attrs)
			}
		}
		o.ObserveFloat64(in.saved, n.Saved.Seconds(), attrs)
	}
	if err != nil {
		return fmt.Errorf("memootel: %w", err)
	}
	if file {
		for _, m := range in.store {
			o.ObserveInt64(m.inst, m.value(&st))
		}
	}
	return nil
}
