#!/usr/bin/env bash
# bench/cluster: `cl cluster status` and `cl cluster drift` over 20, 50 and
# 100 real sshd test hosts (e2e/testhost), beside the bare x/crypto/ssh
# fan-out to the same hosts (bench/fanout's floor: dial + `true` on every
# host, a new process).
#
# One fleet of the largest size is brought up, a config repository of
# examples/fleet's tasks with every host is applied once (`cl apply`: every
# host deployed, its worker heartbeating), then each size K gets a copy of
# the repository whose cl.yaml holds the first K hosts. Each command runs
# cold (a new process) ROUNDS times; the median is printed, with its exit
# code (drift: 0 in sync, 2 drifted — the hosts left out of a smaller
# cl.yaml heartbeat as workers cl.yaml does not know, which is drift).
#
# Usage: bench/cluster/run.sh [ROUNDS] [SIZES]   (default 3, "20 50 100"; needs root)
set -euo pipefail
ROUNDS=${1:-3}
SIZES=${2:-20 50 100}
here=$(cd "$(dirname "$0")" && pwd)
cd "$here/../.."
max=0
for k in $SIZES; do [ "$k" -gt "$max" ] && max=$k; done

# shellcheck source=bench/lib.sh
. "$here/../lib.sh"
bench_init cluster "$max"
go build -o "$work/fanout" ./bench/fanout
load_before=$(cut -d' ' -f1-3 /proc/loadavg)
repo="$work/repo"
echo "== config repository with $max hosts, applied" >&2
bench_repo "$repo"
"$CL" -c "$repo/cl.yaml" apply --auto-approve >"$work/apply.log" 2>&1 || { tail -20 "$work/apply.log" >&2; exit 1; }

# subset K: a copy of the repository whose cl.yaml lists the first K hosts.
subset() {
	local k=$1 dir="$work/repo$1"
	rm -rf "$dir"
	cp -a "$repo" "$dir"
	python3 - "$dir/cl.yaml" "$k" <<'PY'
import re, sys
path, k = sys.argv[1], int(sys.argv[2])
text = open(path).read()
head, rest = text.split("hosts:\n", 1)
hosts, tail = re.match(r"((?:  [^\n]*\n)*)(.*)", rest, re.S).groups()
blocks = re.findall(r"  \S+:\n(?:    [^\n]*\n)*", hosts)
open(path, "w").write(head + "hosts:\n" + "".join(blocks[:k]) + tail)
PY
	git -C "$dir" -c user.name=bench -c user.email=bench@localhost commit -q -am "first $k hosts"
	echo "$dir"
}

# timed CMD...: median seconds of ROUNDS runs, and the exit code of the last.
timed() {
	local i t0 t1 code=0 times=()
	for ((i = 0; i < ROUNDS; i++)); do
		t0=$(date +%s.%N)
		"$@" >/dev/null 2>"$work/last.err" && code=0 || code=$?
		t1=$(date +%s.%N)
		times+=("$(echo "$t1 - $t0" | bc -l)")
	done
	[ "$code" = 1 ] && { echo "bench/cluster: $* failed:" >&2; cat "$work/last.err" >&2; }
	printf '%.3f %s\n' "$(printf '%s\n' "${times[@]}" | median)" "$code"
}

rows=()
for k in $SIZES; do
	dir=$repo
	[ "$k" -lt "$max" ] && dir=$(subset "$k")
	echo "== $k hosts" >&2
	read -r st st_code < <(timed "$CL" -c "$dir/cl.yaml" cluster status)
	read -r dr dr_code < <(timed "$CL" -c "$dir/cl.yaml" cluster drift)
	rows+=("$k $st $st_code $dr $dr_code")
done
read -r floor _ < <(timed "$work/fanout" floor "$work/fleet.json")

echo
echo "cl cluster status / drift, cold, median of $ROUNDS runs, $(date -u +%F), load average at start $load_before"
printf '| %5s | %14s | %14s | %12s | %s |\n' "hosts" "status s (exit)" "drift s (exit)" "drift ms/host" "drift / floor"
printf '| %5s | %14s | %14s | %12s | %s |\n' "---" "---" "---" "---" "---"
for r in "${rows[@]}"; do
	read -r k st sc dr dc <<<"$r"
	vs="-"
	[ "$k" = "$max" ] && vs="$(ratio "$dr" "$floor") (floor $floor s)"
	printf '| %5s | %14s | %14s | %12s | %s |\n' "$k" "$st ($sc)" "$dr ($dc)" "$(python3 -c "print('%.1f' % (1000 * $dr / $k))")" "$vs"
done
