#!/usr/bin/env bash
# Installs the peers of the benchmark suite that are not Go modules, if
# they are missing: python-diskcache, from the distribution's packages
# (python3-diskcache, for its /usr/bin/python3), which BenchmarkFollowerHit
# and BenchmarkFollowerMissStore measure beside memostore's followers.
# BENCH_PYTHON names another interpreter to use instead (one that can
# import diskcache: nothing is installed for it). Prints the versions
# measured. bench/run.sh and bench/ci.sh run it. Run from anywhere:
# bash bench/peers.sh
set -euo pipefail

py=${BENCH_PYTHON:-/usr/bin/python3}
if ! "$py" -c 'import diskcache' 2>/dev/null; then
	if [ -n "${BENCH_PYTHON:-}" ]; then
		echo "BENCH_PYTHON=$py cannot import diskcache" >&2
		exit 1
	fi
	echo "--- installing python3-diskcache"
	sudo=""
	[ "$(id -u)" -eq 0 ] || sudo="sudo"
	$sudo apt-get update -qq
	DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq python3-diskcache >/dev/null
fi
"$py" -c 'import diskcache, platform, sqlite3; print("diskcache %s, Python %s (%s), SQLite %s" % (diskcache.__version__, platform.python_version(), "'"$py"'", sqlite3.sqlite_version))'
