# Sourced by .ci/run and bench/run.sh: start_redis installs redis-server
# from the distribution's packages if it is missing, starts a private one on
# 127.0.0.1 on a free port without persistence, exports its URL as
# MEMOSTORE_TEST_REDIS (what the Redis tests and benchmarks read).
# stop_redis stops it (and does nothing if none was started): call it from
# the calling script's EXIT trap.

start_redis() {
	if ! command -v redis-server >/dev/null; then
		local sudo=""
		[ "$(id -u)" -eq 0 ] || sudo="sudo"
		$sudo apt-get update -qq
		DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq redis-server >/dev/null
		# The package may start a system-wide server; ours is private.
		$sudo service redis-server stop >/dev/null 2>&1 || true
	fi
	redis-server --version
	# A free port: one that nothing answers on.
	while :; do
		redis_port=$((20000 + RANDOM % 20000))
		(echo >"/dev/tcp/127.0.0.1/$redis_port") 2>/dev/null || break
	done
	redis_dir=$(mktemp -d)
	redis-server --port "$redis_port" --bind 127.0.0.1 --save '' --appendonly no \
		--dir "$redis_dir" --daemonize yes --pidfile "$redis_dir/redis.pid" --logfile "$redis_dir/redis.log"
	local _
	for _ in $(seq 100); do
		redis-cli -p "$redis_port" ping >/dev/null 2>&1 && break
		sleep 0.1
	done
	redis-cli -p "$redis_port" ping
	export MEMOSTORE_TEST_REDIS="redis://127.0.0.1:$redis_port/0"
}

redis_dir=""

stop_redis() {
	[ -n "$redis_dir" ] || return 0
	for _ in $(seq 50); do
		[ -f "$redis_dir/redis.pid" ] || break
		kill "$(cat "$redis_dir/redis.pid")" 2>/dev/null || break
		sleep 0.1
	done
	rm -rf "$redis_dir"
}
