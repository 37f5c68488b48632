#!/usr/bin/env bash
# bench/deploy: `cl host deploy` to 20 real sshd test hosts (e2e/testhost),
# side by side with `rsync -a --checksum` of the same two release trees to
# the same hosts:
#   - the full first deploy (tree + bin/cl to every host, workers started,
#     all healthy; before each run but the first the hosts are made fresh:
#     workers stopped, target directories emptied, Redis flushed) vs rsync
#     of the first tree into an empty directory;
#   - a one-file change (one task script edited and committed): wall time
#     until every host's worker reports the new SHA and its health URL
#     answers, and bytes sent, vs rsync of the second tree over the first.
# Every measure is taken RUNS times (default 5), each cl run followed by
# its rsync run (the same load for both); the table shows medians.
# Prints a markdown table with cl/rsync ratios (docs/benchmarks.md keeps one).
#
# Usage: bench/deploy/run.sh [HOSTS]      (default 20; needs root)
# Env:   RUNS (5); REUSE=1 keeps SSH connections between commands on both
#        sides (cl's mux, rsync's ssh ControlPersist); default: fresh ones
# Needs: sshd, ip (openssh-server, iproute2), redis-server, rsync, git, python3, go.
set -euo pipefail
N=${1:-20}
RUNS=${RUNS:-5}
here=$(cd "$(dirname "$0")" && pwd)
cd "$here/../.."

. "$here/../lib.sh"
bench_init deploy "$N" rsync
repo="$work/repo"
echo "== config repository: examples/fleet's tasks, $N hosts" >&2
bench_repo "$repo"
# Like for like: by default every cl command and every rsync opens fresh SSH
# connections (cl with ssh.persist: 0, rsync as it comes); REUSE=1 lets both
# keep them between commands (cl's mux with ssh.persist 60s, rsync through
# OpenSSH's ControlMaster with ControlPersist 60s).
rsync_ssh="ssh $ssh_opts"
if [ "${REUSE:-0}" = 1 ]; then
	rsync_ssh="$rsync_ssh -o ControlMaster=auto -o ControlPersist=60 -o ControlPath=$work/cm-%C"
	reuse_note="Connections kept between commands: cl's mux (ssh.persist 60 s), rsync's ssh with ControlPersist 60 s."
else
	sed -i 's/^ssh:$/ssh:\n  persist: 0s/' "$repo/cl.yaml"
	git -C "$repo" -c user.name=bench -c user.email=bench@localhost commit -qam "fresh connections"
	reuse_note="Fresh connections for every command: cl with ssh.persist: 0, rsync's ssh without ControlMaster (REUSE=1 keeps them on both sides)."
fi
deploy() { bench_deploy "$repo"; }
change() { bench_change "$repo" "$1"; }

# rsync_all SRC DEST prints "seconds bytes_sent_total" for SRC synced to DEST on every host in parallel.
rsync_all() {
	local start end i pids=()
	start=$(date +%s.%N)
	for i in "${!addrs[@]}"; do
		rsync -a --checksum --stats -e "$rsync_ssh" "$1/" "$user@${addrs[$i]}:$2/" >"$work/rsync.$i" 2>&1 </dev/null &
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

# fetch_tree VERSION DIR copies the release VERSION from the first host.
fetch_tree() { rsync -a -e "ssh $ssh_opts" "$user@${addrs[0]}:/opt/celeroot/releases/$1/" "$2/"; }
# clear_rsync empties the rsync target on every host.
clear_rsync() {
	local i pids=()
	for i in "${!addrs[@]}"; do ssh $ssh_opts "$user@${addrs[$i]}" 'rm -rf ~/rsync-bench' </dev/null & pids+=($!); done
	wait "${pids[@]}"
}

# Each cl run is followed by the rsync run it is compared with, so that
# both see the same load (other work on the machine comes and goes).
echo "== first deploy to $N fresh hosts, $RUNS runs: cl, then rsync into an empty directory" >&2
: >"$work/cl_first" ; : >"$work/rs_first"
for r in $(seq "$RUNS"); do
	[ "$r" = 1 ] || bench_fresh_hosts
	deploy | tee -a "$work/cl_first" >&2
	if [ "$r" = 1 ]; then fetch_tree "$(git -C "$repo" rev-parse HEAD)" "$work/tree1"; fi
	clear_rsync
	rsync_all "$work/tree1" "~/rsync-bench" | tee -a "$work/rs_first" >&2
done

echo "== one-file change, $RUNS runs: cl, then rsync of the same two trees (as on ${names[0]})" >&2
: >"$work/cl_runs" ; : >"$work/rs_runs"
for r in $(seq "$RUNS"); do
	change "$r"
	deploy | tee -a "$work/cl_runs" >&2
	if [ "$r" = 1 ]; then
		rm -rf "$work/tree1"
		fetch_tree "$(git -C "$repo" rev-parse HEAD~1)" "$work/tree1"
		fetch_tree "$(git -C "$repo" rev-parse HEAD)" "$work/tree2"
		diff -rq "$work/tree1" "$work/tree2" >&2 || true
	fi
	rsync_all "$work/tree1" "~/rsync-bench" >/dev/null # back to the first tree (not timed)
	rsync_all "$work/tree2" "~/rsync-bench" | tee -a "$work/rs_runs" >&2
done

tree_files=$(find "$work/tree2" -type f | wc -l)
tree_bytes=$(du -sb "$work/tree2" | cut -f1)
changed_bytes=$(stat -c %s "$repo/tasks/nginx_management/reload.sh")
first_s=$(awk '{print $1}' "$work/cl_first" | median)
first_b=$(awk '{print $2}' "$work/cl_first" | median)
cl_s=$(awk '{print $1}' "$work/cl_runs" | median)
cl_b=$(awk '{print $2}' "$work/cl_runs" | median)
rs_first_s=$(awk '{print $1}' "$work/rs_first" | median)
rs_first_b=$(awk '{print $2}' "$work/rs_first" | median)
rs_s=$(awk '{print $1}' "$work/rs_runs" | median)
rs_b=$(awk '{print $2}' "$work/rs_runs" | median)
col() { awk -v c="$1" '{print $c}' "$work/cl_runs" | median; }

cat <<EOF

$N test hosts, release tree of $tree_files files ($((tree_bytes / 1024)) KiB, of which bin/cl $(( $(stat -c %s "$CL") / 1024 )) KiB); the one-file change edits tasks/nginx_management/reload.sh ($changed_bytes bytes). Medians of $RUNS runs. $reuse_note

| measure | cl host deploy --all --strategy all | rsync -a --checksum ($N in parallel) | cl / rsync |
| --- | --- | --- | --- |
| first deploy: wall time | ${first_s} s (to all healthy; runs $(runs 1 "$work/cl_first")) | ${rs_first_s} s (copy only) | $(ratio "$first_s" "$rs_first_s") |
| first deploy: bytes sent, all hosts | $first_b | $rs_first_b | $(ratio "$first_b" "$rs_first_b") |
| one-file change: wall time | ${cl_s} s (to all healthy; runs $(runs 1 "$work/cl_runs")) | ${rs_s} s (copy only) | $(ratio "$cl_s" "$rs_s") |
| one-file change: bytes sent, all hosts | $cl_b | $rs_b | $(ratio "$cl_b" "$rs_b") |
| one-file change: bytes sent per host | $((cl_b / N)) | $((rs_b / N)) | |

cl's one-file deploy per host (medians over hosts, then over runs): probe $(col 4) ms, transfer and switch $(col 5) ms,
health $(col 6) ms (slowest host $(col 7) ms). Load average during the run: $(cut -d' ' -f1-3 /proc/loadavg).
EOF
