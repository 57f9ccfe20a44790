# Sourced by .ci/run and bench/run.sh: start_redis installs redis-server
# from the distribution's packages if it is missing, starts a private one on
# 127.0.0.1 on a free port without persistence, exports its URL as
# MEMOSTORE_TEST_REDIS (what the Redis tests and benchmarks read).
# start_redis_cluster starts a private Redis Cluster of three masters (no
# replicas, no persistence) on three more free ports and exports it as
# MEMOSTORE_TEST_REDIS_CLUSTER, redis://127.0.0.1:P1?addr=127.0.0.1:P2&addr=127.0.0.1:P3
# (the cluster form of store.Open's URL); start_redis calls it too.
# stop_redis stops them all (and does nothing if none was started): call
# it from the calling script's EXIT trap.

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
	redis_port=$(free_port)
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
	if [ -z "${MEMOSTORE_TEST_REDIS_CLUSTER:-}" ]; then
		start_redis_cluster
	fi
}

# free_port prints a port in 20000-39999 that nothing answers on.
free_port() {
	local port
	while :; do
		port=$((20000 + RANDOM % 20000))
		(echo >"/dev/tcp/127.0.0.1/$port") 2>/dev/null || break
	done
	echo "$port"
}

start_redis_cluster() {
	cluster_dir=$(mktemp -d)
	local ports=() port i _
	for i in 1 2 3; do
		port=$(free_port)
		while [[ " ${ports[*]} $redis_port " == *" $port "* ]]; do port=$(free_port); done
		ports+=("$port")
		mkdir "$cluster_dir/$port"
		redis-server --port "$port" --bind 127.0.0.1 --save '' --appendonly no \
			--cluster-enabled yes --cluster-config-file nodes.conf --cluster-node-timeout 5000 \
			--dir "$cluster_dir/$port" --daemonize yes --pidfile "$cluster_dir/$port/redis.pid" \
			--logfile "$cluster_dir/$port/redis.log"
	done
	for port in "${ports[@]}"; do
		for _ in $(seq 100); do
			redis-cli -p "$port" ping >/dev/null 2>&1 && break
			sleep 0.1
		done
	done
	redis-cli --cluster create "127.0.0.1:${ports[0]}" "127.0.0.1:${ports[1]}" "127.0.0.1:${ports[2]}" \
		--cluster-replicas 0 --cluster-yes >"$cluster_dir/create.log"
	for port in "${ports[@]}"; do
		for _ in $(seq 200); do
			redis-cli -p "$port" cluster info | grep -q '^cluster_state:ok' && break
			sleep 0.1
		done
		if ! redis-cli -p "$port" cluster info | grep -q '^cluster_state:ok'; then
			echo "Redis Cluster node on port $port is not ready:" >&2
			redis-cli -p "$port" cluster info >&2
			return 1
		fi
	done
	echo "Redis Cluster of 3 masters on ports ${ports[*]}: cluster_state:ok"
	export MEMOSTORE_TEST_REDIS_CLUSTER="redis://127.0.0.1:${ports[0]}?addr=127.0.0.1:${ports[1]}&addr=127.0.0.1:${ports[2]}"
}

redis_dir=""
cluster_dir=""

# stop_pidfile kills the server whose pid file is $1, and waits until the
# process is gone: a server removes its pid file before it exits, and a
# cluster node then still rewrites its nodes.conf (through a temporary
# file), which made a removal of its directory fail with "Directory not
# empty" once.
stop_pidfile() {
	local _ pid
	[ -f "$1" ] || return 0
	pid=$(cat "$1")
	kill "$pid" 2>/dev/null || return 0
	for _ in $(seq 100); do
		kill -0 "$pid" 2>/dev/null || return 0
		sleep 0.1
	done
	kill -9 "$pid" 2>/dev/null || true
}

stop_redis() {
	if [ -n "$redis_dir" ]; then
		stop_pidfile "$redis_dir/redis.pid"
		rm -rf "$redis_dir"
		redis_dir=""
	fi
	if [ -n "$cluster_dir" ]; then
		local d
		for d in "$cluster_dir"/*/; do
			stop_pidfile "$d/redis.pid"
		done
		rm -rf "$cluster_dir"
		cluster_dir=""
	fi
}
