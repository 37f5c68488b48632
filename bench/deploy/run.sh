#!/usr/bin/env bash
# bench/deploy: `cl host deploy` to 20 real sshd test hosts (e2e/testhost),
# side by side with `rsync -a --checksum` of the same two release trees to
# the same hosts:
#   - the full first deploy (tree + bin/cl to every host, workers started,
#     all healthy) vs rsync of the first tree into an empty directory;
#   - a one-file change (one task script edited and committed): wall time
#     until every host's worker reports the new SHA and its health URL
#     answers, and bytes sent, vs rsync of the second tree over the first.
# Every measure is taken RUNS times (default 5); the table shows medians.
# Prints a markdown table with cl/rsync ratios (docs/benchmarks.md keeps one).
#
# Usage: bench/deploy/run.sh [HOSTS]      (default 20; needs root)
# Needs: sshd, ip (openssh-server, iproute2), redis-server, rsync, git, python3, go.
set -euo pipefail
N=${1:-20}
RUNS=${RUNS:-5}
here=$(cd "$(dirname "$0")" && pwd)
cd "$here/../.."

for cmd in redis-server redis-cli rsync git python3 go ssh; do
	command -v "$cmd" >/dev/null || { echo "bench/deploy: $cmd not found (apt-get install redis-server redis-tools rsync git python3 openssh-client)" >&2; exit 1; }
done
[ "$(id -u)" = 0 ] || { echo "bench/deploy: needs root (network namespaces)" >&2; exit 1; }

work=$(mktemp -d /tmp/cl-bench-deploy-XXXX)
chmod 755 "$work"
hosts_pid="" redis_pid=""
cleanup() {
	[ -n "$redis_pid" ] && kill "$redis_pid" 2>/dev/null && wait "$redis_pid" 2>/dev/null
	[ -n "$hosts_pid" ] && kill -TERM "$hosts_pid" 2>/dev/null && wait "$hosts_pid" 2>/dev/null
	rm -rf "$work"
}
trap cleanup EXIT INT TERM

echo "== build cl and the test hosts" >&2
CGO_ENABLED=0 go build -trimpath -ldflags '-s -w' -o "$work/cl" ./cmd/cl
go build -o "$work/testhosts" ./e2e/cmd/testhosts
CL="$work/cl"

"$work/testhosts" up -n "$N" -o "$work/fleet.json" 2>"$work/testhosts.log" &
hosts_pid=$!
for _ in $(seq 600); do [ -f "$work/fleet.json" ] && break; sleep 0.1; done
[ -f "$work/fleet.json" ] || { cat "$work/testhosts.log" >&2; exit 1; }
fleet() { python3 -c "import json,sys; d=json.load(open('$work/fleet.json')); print($1)"; }
bridge=$(fleet "d['bridge_ip']")
user=$(fleet "d['user']")
key=$(fleet "d['key_path']")
known=$(fleet "d['known_hosts_path']")
mapfile -t addrs < <(fleet "'\n'.join(h['address'] for h in d['hosts'])")
mapfile -t names < <(fleet "'\n'.join(h['name'] for h in d['hosts'])")

port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("'"$bridge"'",0)); print(s.getsockname()[1])')
redis-server --bind "$bridge" --port "$port" --save "" --appendonly no --protected-mode no --dir "$work" >"$work/redis.log" 2>&1 &
redis_pid=$!
for _ in $(seq 100); do redis-cli -h "$bridge" -p "$port" ping >/dev/null 2>&1 && break; sleep 0.05; done

echo "== config repository: examples/fleet's tasks, $N hosts" >&2
repo="$work/repo"
mkdir -p "$repo"
git archive HEAD:examples/fleet tasks environments | tar -x -C "$repo"
{
	printf 'cluster:\n  name: bench\nredis:\n  url: redis://%s:%s/0\n' "$bridge" "$port"
	printf 'ssh:\n  default_user: %s\n  default_key: %s\n  known_hosts: %s\n  timeout: 5s\n' "$user" "$key" "$known"
	printf 'hosts:\n'
	for i in "${!names[@]}"; do printf '  %s:\n    role: webserver\n    address: %s\n' "${names[$i]}" "${addrs[$i]}"; done
	printf 'workers:\n  webserver:\n    concurrency: 2\n    tasks: [apt_management, nginx_management, ssl_management]\n'
	printf 'deployment:\n  strategy: all\n  health_timeout: 30s\n  keep_releases: 3\n'
} >"$repo/cl.yaml"
cat >"$repo/environments/dev.yaml" <<'EOF'
cluster:
  name: bench
EOF
git -C "$repo" init -q -b main
git -C "$repo" add -A
git -C "$repo" -c user.name=bench -c user.email=bench@localhost commit -q -m initial
"$CL" -c "$repo/cl.yaml" config validate >/dev/null

# deploy runs one deploy and prints "seconds bytes_sent_total files_sent_per_host".
deploy() {
	local start end
	start=$(date +%s.%N)
	"$CL" -c "$repo/cl.yaml" -o json host deploy --all --strategy all >"$work/out.json" 2>"$work/err.txt" || {
		echo "bench/deploy: deploy failed:" >&2; cat "$work/err.txt" >&2; tail -1 "$work/out.json" >&2; exit 1; }
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

# change edits one task script (one line appended) and commits it.
change() {
	printf '# change %s\n' "$1" >>"$repo/tasks/nginx_management/reload.sh"
	git -C "$repo" -c user.name=bench -c user.email=bench@localhost commit -q -am "change $1"
}

ssh_opts="-i $key -o UserKnownHostsFile=$known -o StrictHostKeyChecking=yes -o BatchMode=yes -o IdentitiesOnly=yes"
# rsync_all SRC DEST prints "seconds bytes_sent_total" for SRC synced to DEST on every host in parallel.
rsync_all() {
	local start end i pids=()
	start=$(date +%s.%N)
	for i in "${!addrs[@]}"; do
		rsync -a --checksum --stats -e "ssh $ssh_opts" "$1/" "$user@${addrs[$i]}:$2/" >"$work/rsync.$i" 2>&1 </dev/null &
		pids+=($!)
	done
	wait "${pids[@]}"
	end=$(date +%s.%N)
	python3 - "$start" "$end" "$work"/rsync.* <<'EOF'
import re, sys
total = 0
for f in sys.argv[3:]:
    m = re.search(r"Total bytes sent: ([\d,]+)", open(f).read())
    assert m, open(f).read()
    total += int(m.group(1).replace(",", ""))
print("%.3f %d" % (float(sys.argv[2]) - float(sys.argv[1]), total))
EOF
}

median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }

echo "== cl: first deploy to $N hosts" >&2
read -r first_s first_b first_f _ < <(deploy)
echo "first deploy: ${first_s}s, $first_b bytes, $first_f files per host" >&2

echo "== cl: one-file change, $RUNS runs" >&2
: >"$work/cl_runs"
for r in $(seq "$RUNS"); do
	change "$r"
	deploy | tee -a "$work/cl_runs" >&2
done
v_before=$(git -C "$repo" rev-parse HEAD~1)
v_after=$(git -C "$repo" rev-parse HEAD)

echo "== rsync: the same two release trees (as on ${names[0]}) to the same hosts" >&2
rsync -a -e "ssh $ssh_opts" "$user@${addrs[0]}:/opt/celeroot/releases/$v_before/" "$work/tree1/"
rsync -a -e "ssh $ssh_opts" "$user@${addrs[0]}:/opt/celeroot/releases/$v_after/" "$work/tree2/"
diff -rq "$work/tree1" "$work/tree2" >&2 || true
: >"$work/rs_first" ; : >"$work/rs_runs"
for r in $(seq "$RUNS"); do
	pids=()
	for i in "${!addrs[@]}"; do ssh $ssh_opts "$user@${addrs[$i]}" 'rm -rf ~/rsync-bench' </dev/null & pids+=($!); done
	wait "${pids[@]}"
	rsync_all "$work/tree1" "~/rsync-bench" | tee -a "$work/rs_first" >&2
	rsync_all "$work/tree2" "~/rsync-bench" | tee -a "$work/rs_runs" >&2
done

tree_files=$(find "$work/tree2" -type f | wc -l)
tree_bytes=$(du -sb "$work/tree2" | cut -f1)
changed_bytes=$(stat -c %s "$repo/tasks/nginx_management/reload.sh")
cl_s=$(awk '{print $1}' "$work/cl_runs" | median)
cl_b=$(awk '{print $2}' "$work/cl_runs" | median)
rs_first_s=$(awk '{print $1}' "$work/rs_first" | median)
rs_first_b=$(awk '{print $2}' "$work/rs_first" | median)
rs_s=$(awk '{print $1}' "$work/rs_runs" | median)
rs_b=$(awk '{print $2}' "$work/rs_runs" | median)
ratio() { python3 -c "print('%.2f' % ($1 / $2))"; }
col() { awk -v c="$1" '{print $c}' "$work/cl_runs" | median; }

cat <<EOF

$N test hosts, release tree of $tree_files files ($((tree_bytes / 1024)) KiB, of which bin/cl $(( $(stat -c %s "$CL") / 1024 )) KiB); the one-file change edits tasks/nginx_management/reload.sh ($changed_bytes bytes). Medians of $RUNS runs.

| measure | cl host deploy --all --strategy all | rsync -a --checksum (20 in parallel) | cl / rsync |
| --- | --- | --- | --- |
| first deploy: wall time | ${first_s} s (to all healthy) | ${rs_first_s} s (copy only) | $(ratio "$first_s" "$rs_first_s") |
| first deploy: bytes sent, all hosts | $first_b | $rs_first_b | $(ratio "$first_b" "$rs_first_b") |
| one-file change: wall time | ${cl_s} s (to all healthy) | ${rs_s} s (copy only) | $(ratio "$cl_s" "$rs_s") |
| one-file change: bytes sent, all hosts | $cl_b | $rs_b | $(ratio "$cl_b" "$rs_b") |
| one-file change: bytes sent per host | $((cl_b / N)) | $((rs_b / N)) | |

cl's one-file deploy per host (medians over hosts, then over runs): probe $(col 4) ms, transfer and switch $(col 5) ms,
health $(col 6) ms (slowest host $(col 7) ms). Load average during the run: $(cut -d' ' -f1-3 /proc/loadavg).
EOF
