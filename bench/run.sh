#!/usr/bin/env bash
# Runs memostore's benchmark suite against its peers (installing those
# that are not Go modules with peers.sh), summarises it with benchstat,
# draws the charts into ../docs and regenerates ../BENCHMARKS.md.
# About 6 minutes on a 2-core machine, which must be otherwise idle: the CPU
# time other processes take during the run is recorded in BENCHMARKS.md, with
# a warning if it is more than 5% of a core. Then BenchmarkHitRatio replays
# the access traces once (hit ratios do not depend on the machine), about
# 5 more minutes. BenchmarkDiskCostAware and BenchmarkDiskRestart, whose
# results the README quotes, are run on their own (see their comments).
# Run from anywhere:
#
#	bench/run.sh                             # COUNT=6 BENCHTIME=500ms (6 runs: benchstat's minimum for a confidence interval)
#	COUNT=10 BENCH='MemoryHit' bench/run.sh  # more runs of fewer benchmarks
#	HITRATIO=0 bench/run.sh                  # keep the hit ratios of the last run (results/hitratio.txt)
#
# The raw output goes to bench/results/bench.txt; the run before it is kept
# as bench/results/previous.txt, and the two are compared at the end
# (benchstat previous.txt bench.txt), so that a change to the library can
# be judged by running this script before and after it.
set -euo pipefail
cd "$(dirname "$0")"
export PATH="$PATH:/usr/local/go/bin"

COUNT=${COUNT:-6}
BENCHTIME=${BENCHTIME:-500ms}
BENCH=${BENCH:-.}
HEAP_CALLS=${HEAP_CALLS:-1000000}
HITRATIO=${HITRATIO:-1}

# benchstat, installed into GOBIN (or GOPATH/bin) if it is not there.
benchstat=$(command -v benchstat || true)
if [ -z "$benchstat" ]; then
	gobin=$(go env GOBIN)
	[ -n "$gobin" ] || gobin="$(go env GOPATH)/bin"
	if [ ! -x "$gobin/benchstat" ]; then
		echo "--- installing benchstat"
		go install golang.org/x/perf/cmd/benchstat@latest
	fi
	benchstat="$gobin/benchstat"
fi

# BenchmarkRedis needs a server: a private one unless MEMOSTORE_TEST_REDIS
# names one; BenchmarkRedisCluster a cluster, unless
# MEMOSTORE_TEST_REDIS_CLUSTER names one.
source ../.ci/redis.sh
trap stop_redis EXIT
if [ -z "${MEMOSTORE_TEST_REDIS:-}" ]; then
	echo "--- redis-server (and a Redis Cluster) for BenchmarkRedis"
	start_redis
elif [ -z "${MEMOSTORE_TEST_REDIS_CLUSTER:-}" ]; then
	echo "--- a Redis Cluster for BenchmarkRedisCluster"
	start_redis_cluster
fi

# The peers that are not Go modules (python-diskcache, for
# BenchmarkFollower*), installed if they are missing.
peers=$(bash peers.sh | tail -n 1)

# The library's dependencies are the bench module's too: follow them.
go mod tidy

mkdir -p results ../docs
if [ -f results/bench.txt ]; then
	mv results/bench.txt results/previous.txt
fi

echo "--- machine"
{
	library_changes=$(git -C .. status --porcelain --untracked-files=no -- . ':(exclude)bench' ':(exclude)docs' ':(exclude)BENCHMARKS.md' 2>/dev/null || true)
	echo "date      $(date -u '+%Y-%m-%d %H:%M UTC')"
	echo "commit    $(git -C .. rev-parse --short HEAD 2>/dev/null || echo unknown)${library_changes:+ with uncommitted changes to the library}"
	echo "cpu       $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//'), $(nproc) cores (GOMAXPROCS $(nproc))"
	echo "memory    $(awk '/MemTotal/ {printf "%.0f GiB", $2 / 1048576}' /proc/meminfo)"
	echo "os        $(uname -srm), $(systemd-detect-virt 2>/dev/null || echo 'virtualization unknown')"
	echo "disk      $(df -T "${TMPDIR:-/tmp}" | awk 'NR == 2 {print $2 " (" $1 "), where the benchmarks keep their files"}')"
	echo "go        $(go version | cut -d' ' -f3-)"
	echo "python    $peers"
	echo "command   go test -run '^\$' -bench '$BENCH' -skip '^Benchmark(HitRatio|DiskCostAware|DiskRestart)\$' -count $COUNT -benchtime $BENCHTIME -timeout 60m"
	echo "load      $(cut -d' ' -f1-3 /proc/loadavg) (1, 5, 15 min) before go test"
} | tee results/machine.txt
if awk '{exit !($1 > 0.5)}' /proc/loadavg; then
	echo "WARNING: load average $(cut -d' ' -f1 /proc/loadavg) before the run: other work on this machine will skew the results" >&2
fi

# What other processes do during the run skews it: measure their CPU time,
# the machine's busy time (/proc/stat) less that of this script's children
# (go test and the compiler, from the times builtin, run in this shell).
busy() { awk -v hz="$(getconf CLK_TCK)" '/^cpu / {printf "%.2f\n", ($2 + $3 + $4 + $7 + $8) / hz}' /proc/stat; }
children() { awk 'NR == 2 {split($0, t, /[ms ]+/); printf "%.2f\n", t[1] * 60 + t[2] + t[3] * 60 + t[4]}' "$1"; }
busy0=$(busy)
times > results/.times0
start=$(date +%s)

echo "--- go test -bench (count $COUNT, benchtime $BENCHTIME)"
go test -run '^$' -bench "$BENCH" -skip '^Benchmark(HitRatio|DiskCostAware|DiskRestart)$' -count "$COUNT" -benchtime "$BENCHTIME" -timeout 60m | tee results/bench.txt

times > results/.times1
others=$(awk -v b0="$busy0" -v b1="$(busy)" -v c0="$(children results/.times0)" -v c1="$(children results/.times1)" \
	'BEGIN {x = (b1 - b0) - (c1 - c0); printf "%.1f", x < 0 ? 0 : x}')
rm -f results/.times0 results/.times1
echo "others    $others CPU seconds used by other processes during the $(($(date +%s) - start)) s of go test" | tee -a results/machine.txt

if [ "$HITRATIO" = 1 ]; then
	echo "--- go test -bench HitRatio (one replay of each trace)"
	go test -run '^$' -bench '^BenchmarkHitRatio$' -benchtime 1x -count 1 -timeout 60m | tee results/hitratio.txt
fi

echo "--- benchstat"
"$benchstat" results/bench.txt | tee results/benchstat.txt

echo "--- charts"
go run ./cmd/chart -bench results/bench.txt -hitratio results/hitratio.txt -out ../docs -json results/heap.json -n "$HEAP_CALLS"

echo "--- BENCHMARKS.md"
command="bench/run.sh"
if [ "$COUNT" != 6 ] || [ "$BENCHTIME" != 500ms ] || [ "$BENCH" != . ] || [ "$HEAP_CALLS" != 1000000 ] || [ "$HITRATIO" != 1 ]; then
	command="COUNT=$COUNT BENCHTIME=$BENCHTIME BENCH='$BENCH' HEAP_CALLS=$HEAP_CALLS HITRATIO=$HITRATIO bench/run.sh"
fi
go run ./cmd/report -bench results/bench.txt -benchstat results/benchstat.txt -heap results/heap.json -hitratio results/hitratio.txt \
	-machine results/machine.txt -command "$command" -o ../BENCHMARKS.md

if [ -f results/previous.txt ]; then
	echo "--- benchstat previous.txt bench.txt (not in BENCHMARKS.md)"
	(cd results && "$benchstat" previous.txt bench.txt) || true
fi
