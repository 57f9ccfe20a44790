#!/usr/bin/env bash
# The tests, as the README gives them: go test -race ./... with a private
# redis-server for the Redis tests. The server is the one
# MEMOSTORE_TEST_REDIS names if it is set; otherwise one is started here
# (redis-server is installed from the distribution's packages if it is
# missing) on a free port, without persistence, and stopped at the end.
# So is a Redis Cluster of three masters, for the same tests on a cluster,
# unless MEMOSTORE_TEST_REDIS_CLUSTER names one.
# A Redis test that cannot run fails rather than skips. Extra arguments go
# to go test. Run from anywhere: bash .ci/test.sh
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$PATH:/usr/local/go/bin"

source .ci/redis.sh
trap stop_redis EXIT
if [ -z "${MEMOSTORE_TEST_REDIS:-}" ]; then
	start_redis # and the cluster, unless MEMOSTORE_TEST_REDIS_CLUSTER is set
elif [ -z "${MEMOSTORE_TEST_REDIS_CLUSTER:-}" ]; then
	start_redis_cluster
fi
export MEMOSTORE_REQUIRE_REDIS=1

go test -race -count=1 "$@" ./...

# The exporters are modules of their own (metrics/*), which ./... does not
# reach.
for m in metrics/memoprom metrics/memootel; do
	(cd "$m" && go test -race -count=1 ./...)
done
