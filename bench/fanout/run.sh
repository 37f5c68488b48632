#!/usr/bin/env bash
# bench/fanout: SSH fan-out over N real sshd test hosts (e2e/testhost).
#
#   bench/fanout/run.sh [N] [ROUNDS] [status|exec]
#
# status (default): `cl host status --all` against `ansible all -m ping`
# (forks N, ControlPersist on), N OpenSSH clients in parallel, and a bare
# x/crypto/ssh fan-out (the floor: sshd's own cost).
# exec: `cl host exec --all -- true`, cold (a new process, no open
# connection), against the same bare x/crypto/ssh floor (a new process too),
# `ansible all -m command -a true` (forks N, ControlMaster off: cold),
# `parallel-ssh` (package pssh) and Fabric's ThreadingGroup (package
# python3-fabric, run with /usr/bin/python3; `apt-get install -y pssh
# python3-fabric ansible` if missing), each with strict host key checking.
# cl audits each run into a redis-server the script starts. The tools run
# interleaved, round by round; PEER_ROUNDS (default ROUNDS) limits the
# rounds Ansible runs in: it takes minutes on 100 hosts.
# Needs root (network namespaces). Median of ROUNDS runs of each.
set -euo pipefail
N=${1:-20}
ROUNDS=${2:-3}
MODE=${3:-status}
case $MODE in status | exec) ;; *) echo "usage: bench/fanout/run.sh [N] [ROUNDS] [status|exec]" >&2; exit 2 ;; esac
cd "$(dirname "$0")/../.."
work=$(mktemp -d /tmp/cl-bench-fanout-XXXX)
cleanup() {
	[ -n "${redis_pid:-}" ] && kill "$redis_pid" 2>/dev/null && wait "$redis_pid" 2>/dev/null
	[ -n "${th_pid:-}" ] && kill "$th_pid" 2>/dev/null && wait "$th_pid" 2>/dev/null
	rm -rf "$work"
}
trap cleanup EXIT INT TERM

go build -o "$work/cl" ./cmd/cl
go build -o "$work/testhosts" ./e2e/cmd/testhosts
go build -o "$work/fanout" ./bench/fanout
"$work/testhosts" up -n "$N" -o "$work/fleet.json" >"$work/testhosts.log" 2>&1 &
th_pid=$!
for _ in $(seq 1200); do [ -s "$work/fleet.json" ] && break; sleep 0.1; done # 100 hosts take a while
[ -s "$work/fleet.json" ] || { cat "$work/testhosts.log"; exit 1; }

python3 - "$work" <<'PY'
import json, sys
w = sys.argv[1]
d = json.load(open(w + "/fleet.json"))
with open(w + "/cl.yaml", "w") as f:
    f.write("cluster: {name: bench}\nssh:\n  default_user: %s\n  default_key: %s\n  known_hosts: %s\n  timeout: 10s\nhosts:\n" % (d["user"], d["key_path"], d["known_hosts_path"]))
    for h in d["hosts"]:
        f.write("  %s: {role: web, address: %s}\n" % (h["name"], h["address"]))
    f.write("workers:\n  web: {}\n")
with open(w + "/hosts.txt", "w") as f:
    for h in d["hosts"]:
        f.write(h["address"] + "\n")
print(d["key_path"], d["known_hosts_path"], d["user"], file=open(w + "/ssh.txt", "w"))
PY
"$work/testhosts" inventory -f "$work/fleet.json" --format ansible >"$work/inventory.ini"
read -r key kh user <"$work/ssh.txt"

now() { date +%s.%N; }
# median of ROUNDS runs of a command, in seconds
measure() {
	local times=() t0 t1
	for _ in $(seq "$ROUNDS"); do
		t0=$(now); "$@" >/dev/null 2>&1 || { echo "failed: $*" >&2; return 1; }; t1=$(now)
		times+=("$(echo "$t1 - $t0" | bc -l)")
	done
	printf '%s\n' "${times[@]}" | sort -n | awk '{a[NR]=$1} END {printf "%.3f\n", a[int((NR+1)/2)]}'
}
openssh_parallel() {
	local pids=()
	while read -r addr; do
		ssh -n -i "$key" -o UserKnownHostsFile="$kh" -o StrictHostKeyChecking=yes -o BatchMode=yes "$user@$addr" true &
		pids+=($!)
	done <"$work/hosts.txt"
	for p in "${pids[@]}"; do wait "$p" || return 1; done
}
ansible_ping() {
	ANSIBLE_HOST_KEY_CHECKING=True ANSIBLE_SSH_ARGS="-o ControlMaster=auto -o ControlPersist=60s -o UserKnownHostsFile=$kh" \
		ANSIBLE_CONTROL_PATH_DIR="$work/cp" ansible all -i "$work/inventory.ini" -m ping -f "$N"
}
floor() { "$work/fanout" floor "$work/fleet.json" | awk '{print $2}'; }

if [ "$MODE" = exec ]; then
	. bench/fanout/exec.sh
	exit
fi

export -f openssh_parallel ansible_ping
cl_t=$(measure "$work/cl" -c "$work/cl.yaml" host status --all)
ssh_t=$(measure openssh_parallel)
floor_t=$(for _ in $(seq "$ROUNDS"); do floor; done | sort -n | awk '{a[NR]=$1} END {printf "%.3f\n", a[int((NR+1)/2)]}')
warm=$("$work/fanout" warm "$work/cl.yaml")
warm_t=$(echo "$warm" | awk '/cl_probe_warm/ {print $2}')
if command -v ansible >/dev/null; then
	ansible_ping >/dev/null 2>&1 || true # first run opens the ControlPersist masters
	ans_t=$(measure ansible_ping)
else
	ans_t=""
fi

ratio() { [ -n "$2" ] && echo "scale=1; $1 / $2" | bc -l || echo "-"; }
echo
echo "fan-out over $N sshd test hosts (median of $ROUNDS runs), $(date -u +%F)"
printf '| %-44s | %8s | %s |\n' "what" "seconds" "vs cl host status"
printf '| %-44s | %8s | %s |\n' "---" "---" "---"
printf '| %-44s | %8s | %s |\n' "cl host status --all (cold, new process)" "$cl_t" "1.0"
printf '| %-44s | %8s | %s |\n' "bare x/crypto/ssh dial + true (floor)" "$floor_t" "cl / floor = $(ratio "$cl_t" "$floor_t")"
printf '| %-44s | %8s | %s |\n' "$N OpenSSH clients in parallel" "$ssh_t" "$(ratio "$ssh_t" "$cl_t")x slower"
printf '| %-44s | %8s | %s |\n' "ansible all -m ping (forks $N, ControlPersist)" "${ans_t:--}" "$(ratio "${ans_t:-}" "$cl_t")x slower"
printf '| %-44s | %8s | %s |\n' "cl probe, connections already open (warm)" "$warm_t" "ansible / warm = $(ratio "${ans_t:-}" "$warm_t")"
