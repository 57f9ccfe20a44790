// Package bench is memostore's benchmark suite: memostore against the
// in-memory caches and the embedded store it competes with, measured in one
// `go test -bench` run.
//
// It is a module of its own, with a replace directive pointing at the
// library, so that the peers it measures (golang-lru, otter, gonum's plot
// for the charts) never become dependencies of the library.
//
//	./run.sh   # the full suite, -count 6, about 6 minutes; rewrites ../BENCHMARKS.md and ../docs/*.png
//	./ci.sh    # every benchmark once, with the big stores scaled down (BENCH_SHORT=1)
//
// The benchmarks, by file:
//
//	memhit_test.go  memory-tier hit on a hot key against a map+RWMutex, golang-lru/v2 and otter/v2
//	hitset_test.go  the same on a working set of 64 keys, off any fast path for the last key
//	diskhit_test.go disk-tier hit against bbolt View+Get+msgpack decode (the floor)
//	miss_test.go    miss-and-store against bbolt: a transaction per put, Batch, 1,000 puts per transaction
//	open_test.go    Open and Stats on stores of 10,000 and 1,000,000 entries
//	sweep_test.go   sweeping 100,000 expired entries among 1,000,000 under concurrent disk hits
//	user_test.go    the ~1 KB user record of examples/userdata: encode, decode, store, disk hit
//	hitratio_test.go hit ratios replaying access traces (traces_test.go): memostore's tiers against
//	                FIFO, golang-lru, otter and S3-FIFO (policies_test.go, s3fifo_test.go)
//	follower_test.go a follower's hit and miss-and-store through a holder in another process
//	                (holder_test.go), against a Unix socket round trip and python-diskcache's
//	                memoize (diskcache_test.go, testdata/diskcache_peer.py; peers.sh installs it)
//
// This package itself holds what the benchmarks and cmd/chart share: the
// value types and the user-record generator.
package bench
