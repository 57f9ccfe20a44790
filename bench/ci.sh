#!/usr/bin/env bash
# CI for the benchmark suite, so that it cannot rot: gofmt and vet the bench
# module, run every benchmark once with the big stores scaled down
# (BENCH_SHORT=1: 20,000 entries instead of 1,000,000; BenchmarkHitRatio on
# the first 100,000 requests of each trace, at two capacities or one), and
# run the chart and report programs on that output, into a temporary
# directory. About a minute. Run from anywhere: bash bench/ci.sh
set -euo pipefail
cd "$(dirname "$0")"
export PATH="$PATH:/usr/local/go/bin"
tmp=$(mktemp -d)
source ../.ci/redis.sh
trap 'rm -rf "$tmp"; stop_redis' EXIT

echo "--- bench: go.mod, gofmt, go vet"
if ! go mod tidy -diff >/dev/null; then
	echo "bench/go.mod or go.sum is out of date (the library's dependencies changed?): run (cd bench && go mod tidy)"
	exit 1
fi
unformatted=$(gofmt -l .)
if [ -n "$unformatted" ]; then
	echo "gofmt would change:"
	echo "$unformatted"
	exit 1
fi
go vet ./...

echo "--- bench: python-diskcache for BenchmarkFollower* (bench/peers.sh)"
bash peers.sh

if [ -z "${MEMOSTORE_TEST_REDIS:-}" ]; then
	echo "--- bench: redis-server (and a Redis Cluster) for BenchmarkRedis"
	start_redis
elif [ -z "${MEMOSTORE_TEST_REDIS_CLUSTER:-}" ]; then
	echo "--- bench: a Redis Cluster for BenchmarkRedisCluster"
	start_redis_cluster
fi
export MEMOSTORE_REQUIRE_REDIS=1

echo "--- bench: every benchmark once (BENCH_SHORT=1)"
BENCH_SHORT=1 go test -run '^$' -bench . -benchtime=1x -count=1 -timeout 5m | tee "$tmp/bench.txt"

echo "--- bench: charts and report"
go run ./cmd/chart -bench "$tmp/bench.txt" -hitratio "$tmp/bench.txt" -out "$tmp" -json "$tmp/heap.json" -n 20000 -every 5000
go run ./cmd/report -bench "$tmp/bench.txt" -hitratio "$tmp/bench.txt" -heap "$tmp/heap.json" -benchstat "" -machine "" -o "$tmp/BENCHMARKS.md"
