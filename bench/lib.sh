# bench/lib.sh: the setup that bench/deploy and bench/gitops share, sourced
# by their run.sh (not run by itself): build cl and the test hosts, bring up
# N real sshd test hosts (e2e/cmd/testhosts) and a redis-server on their
# bridge, write a config repository of examples/fleet's tasks with the N
# hosts, deploy it with `cl host deploy`, and small helpers (median, ratio).
#
#   . bench/lib.sh
#   bench_init NAME N [TOOL...]  # work dir $work, $CL, fleet vars, redis; cleanup on exit
#   bench_repo DIR           # config repository with the N hosts (role webserver), committed
#   bench_deploy DIR         # one `cl host deploy --all`: prints the stats line below
#   bench_change DIR TAG     # one task script of the webserver role edited and committed
#   bench_fresh_hosts        # workers stopped, target dirs removed, Redis flushed
#
# Variables after bench_init: work CL N bridge user key known addrs[] names[]
# redis_url ssh_opts. bench_on_exit+=("cmd ...") runs cmd at exit, before the
# hosts and Redis go down (latest first).

bench_on_exit=()
hosts_pid="" redis_pid="" work=""

bench_cleanup() {
	local i
	for ((i = ${#bench_on_exit[@]} - 1; i >= 0; i--)); do eval "${bench_on_exit[$i]}" || true; done
	[ -n "$redis_pid" ] && kill "$redis_pid" 2>/dev/null && wait "$redis_pid" 2>/dev/null
	[ -n "$hosts_pid" ] && kill -TERM "$hosts_pid" 2>/dev/null && wait "$hosts_pid" 2>/dev/null
	[ -n "$work" ] && rm -rf "$work"
}

# bench_init NAME N: checks the tools, builds, starts the hosts and Redis.
bench_init() {
	local name=$1 cmd port
	N=$2
	for cmd in redis-server redis-cli git python3 go ssh curl "${@:3}"; do
		command -v "$cmd" >/dev/null || { echo "bench/$name: $cmd not found (apt-get install redis-server redis-tools git python3 openssh-client curl $cmd)" >&2; exit 1; }
	done
	[ "$(id -u)" = 0 ] || { echo "bench/$name: needs root (network namespaces)" >&2; exit 1; }
	work=$(mktemp -d "/tmp/cl-bench-$name-XXXX")
	chmod 755 "$work"
	trap bench_cleanup EXIT
	trap 'exit 130' INT TERM

	echo "== build cl and the test hosts" >&2
	CGO_ENABLED=0 go build -trimpath -ldflags '-s -w' -o "$work/cl" ./cmd/cl
	go build -o "$work/testhosts" ./e2e/cmd/testhosts
	CL="$work/cl"

	echo "== $N test hosts" >&2
	"$work/testhosts" up -n "$N" -o "$work/fleet.json" 2>"$work/testhosts.log" &
	hosts_pid=$!
	for _ in $(seq 600); do [ -f "$work/fleet.json" ] && break; sleep 0.1; done
	[ -f "$work/fleet.json" ] || { cat "$work/testhosts.log" >&2; exit 1; }
	bridge=$(bench_fleet "d['bridge_ip']")
	user=$(bench_fleet "d['user']")
	key=$(bench_fleet "d['key_path']")
	known=$(bench_fleet "d['known_hosts_path']")
	mapfile -t addrs < <(bench_fleet "'\n'.join(h['address'] for h in d['hosts'])")
	mapfile -t names < <(bench_fleet "'\n'.join(h['name'] for h in d['hosts'])")
	ssh_opts="-i $key -o UserKnownHostsFile=$known -o StrictHostKeyChecking=yes -o BatchMode=yes -o IdentitiesOnly=yes"

	port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("'"$bridge"'",0)); print(s.getsockname()[1])')
	redis-server --bind "$bridge" --port "$port" --save "" --appendonly no --protected-mode no --dir "$work" >"$work/redis.log" 2>&1 &
	redis_pid=$!
	for _ in $(seq 100); do redis-cli -h "$bridge" -p "$port" ping >/dev/null 2>&1 && break; sleep 0.05; done
	redis_url="redis://$bridge:$port/0"
}

bench_fleet() { python3 -c "import json,sys; d=json.load(open('$work/fleet.json')); print($1)"; }

# bench_hosts_yaml [EXTRA]: the hosts: section with the test hosts, then
# EXTRA more on 127.0.x.y loopback addresses with `connection: ssh` (the
# default, auto, would run their commands on this machine; nothing listens
# on their port 22, so an observation fails at once, connection refused).
bench_hosts_yaml() {
	local i extra=${1:-0}
	printf 'hosts:\n'
	for i in "${!names[@]}"; do printf '  %s:\n    role: webserver\n    address: %s\n' "${names[$i]}" "${addrs[$i]}"; done
	for ((i = 0; i < extra; i++)); do
		printf '  lo%d:\n    role: webserver\n    address: 127.0.%d.%d\n    connection: ssh\n' "$i" $((1 + i / 250)) $((1 + i % 250))
	done
}

# bench_repo DIR [CLUSTER] [EXTRA]: a config repository with examples/fleet's
# tasks and the hosts (see bench_hosts_yaml), committed on main.
bench_repo() {
	local repo=$1 cluster=${2:-bench} extra=${3:-0}
	mkdir -p "$repo"
	git archive HEAD:examples/fleet tasks environments | tar -x -C "$repo"
	{
		printf 'cluster:\n  name: %s\nredis:\n  url: %s\n' "$cluster" "$redis_url"
		printf 'ssh:\n  default_user: %s\n  default_key: %s\n  known_hosts: %s\n  timeout: 5s\n' "$user" "$key" "$known"
		bench_hosts_yaml "$extra"
		printf 'workers:\n  webserver:\n    concurrency: 2\n    tasks: [apt_management, nginx_management, ssl_management]\n'
		printf 'deployment:\n  strategy: all\n  health_timeout: 30s\n  keep_releases: 3\n'
	} >"$repo/cl.yaml"
	printf 'cluster:\n  name: %s\n' "$cluster" >"$repo/environments/dev.yaml"
	git -C "$repo" init -q -b main
	git -C "$repo" add -A
	git -C "$repo" -c user.name=bench -c user.email=bench@localhost commit -q -m initial
	"$CL" -c "$repo/cl.yaml" config validate >/dev/null
}

# bench_deploy DIR runs one `cl host deploy --all` of the repository at DIR and
# prints "seconds bytes_sent_total files_sent_per_host probe_ms transfer_ms
# health_ms slowest_health_ms" (per-host step durations: medians over hosts).
bench_deploy() {
	local repo=$1 start end
	start=$(date +%s.%N)
	"$CL" -c "$repo/cl.yaml" -o json host deploy --all --strategy all >"$work/out.json" 2>"$work/err.txt" || {
		echo "bench: deploy failed:" >&2; cat "$work/err.txt" >&2; tail -1 "$work/out.json" >&2; exit 1; }
	end=$(date +%s.%N)
	python3 - "$work/out.json" "$start" "$end" <<'EOF'
import json, sys
rep = [json.loads(l) for l in open(sys.argv[1]) if '"report"' in l][-1]["report"]
hosts = rep["hosts"]
assert all(h["outcome"] == "deployed" for h in hosts), [h["outcome"] for h in hosts]
med = lambda k: sorted(h["durations"][k] for h in hosts)[len(hosts) // 2]
top = lambda k: max(h["durations"][k] for h in hosts)
print("%.3f %d %d %d %d %d %d" % (float(sys.argv[3]) - float(sys.argv[2]), sum(h["bytes_sent"] for h in hosts), hosts[0]["files_sent"],
      med("probe_ms"), med("transfer_ms"), med("health_ms"), top("health_ms")))
EOF
}

# bench_change DIR TAG edits one task script of the webserver role (one line
# appended) and commits it.
bench_change() {
	printf '# change %s\n' "$2" >>"$1/tasks/nginx_management/reload.sh"
	git -C "$1" -c user.name=bench -c user.email=bench@localhost commit -q -am "change $2"
}

# bench_fresh_hosts makes the hosts new again: every worker stopped, the
# target directory's content (/opt/celeroot, a bind mount on the test
# hosts) and the supervisor's state removed, and
# Redis flushed (no heartbeat, lock or applied state left).
bench_fresh_hosts() {
	local i pids=()
	for i in "${!addrs[@]}"; do
		ssh $ssh_opts "$user@${addrs[$i]}" 'c=/opt/celeroot/current/bin/cl; [ -x $c ] && $c supervise stop celeroot-worker --state-dir /var/lib/celeroot >/dev/null; find /opt/celeroot -mindepth 1 -delete; rm -f /var/lib/celeroot/celeroot-worker.*' </dev/null &
		pids+=($!)
	done
	wait "${pids[@]}"
	redis-cli -u "$redis_url" flushall >/dev/null
}

median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
ratio() { python3 -c "print('%.2f' % ($1 / $2))"; }
# runs lists column C of FILE, comma-separated, in run order.
runs() { awk -v c="$1" '{print $c}' "$2" | paste -sd, | sed 's/,/, /g'; }
