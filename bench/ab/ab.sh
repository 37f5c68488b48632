#!/usr/bin/env bash
# bench/ab: the same measurement with two builds of cl at the same moments,
# for a change whose effect is smaller than this machine's drift between
# runs (compare ratios taken within one run only). It builds cl at REV (a
# git revision, in a temporary worktree) and from the work tree, brings up
# N real sshd test hosts and Redis (bench/lib.sh), applies a config
# repository of examples/fleet's tasks once, then runs ROUNDS rounds; each
# round runs every command once, in this order:
#
#   drift:  bench/fanout's floor (dial + `true` on every host), then
#           `cl cluster drift` with REV's build and with the work tree's;
#           then `cl plan` with each (nothing to change: exit 0)
#   deploy: a one-file change deployed by `cl host deploy --all` with
#           REV's build, another with the work tree's (both ship the same
#           bin/cl, the work tree's, through CL_DIST)
#   helper: the same, both with the work tree's build: A with
#           CL_HOST_HELPER=0 (the shell library stages), B as it is (the
#           host's cl stages); REV is not used (give HEAD)
#
# and prints one line per round, then the medians and the ratios.
#
# Usage: bench/ab/ab.sh REV drift|deploy|helper [N] [ROUNDS]   (default 20 hosts, 5 rounds; needs root)
set -euo pipefail
REV=${1:?usage: bench/ab/ab.sh REV drift|deploy|helper [N] [ROUNDS]}
WHAT=${2:?usage: bench/ab/ab.sh REV drift|deploy|helper [N] [ROUNDS]}
N=${3:-20}
ROUNDS=${4:-5}
case $WHAT in drift | deploy | helper) ;; *) echo "bench/ab: measure drift, deploy or helper, not $WHAT" >&2; exit 2 ;; esac
here=$(cd "$(dirname "$0")" && pwd)
cd "$here/../.."
git rev-parse --verify -q "$REV^{commit}" >/dev/null || { echo "bench/ab: $REV is not a commit here (git log names them)" >&2; exit 2; }

# shellcheck source=bench/lib.sh
. "$here/../lib.sh"
bench_init "ab-$WHAT" "$N"
A="$work/cl-a" B="$CL"
if [ "$WHAT" = helper ]; then
	A=$B
else
	echo "== cl at $REV" >&2
	git worktree add -q --detach "$work/rev" "$REV"
	bench_on_exit+=("git worktree remove --force '$work/rev'")
	(cd "$work/rev" && CGO_ENABLED=0 go build -trimpath -ldflags '-s -w' -o "$work/cl-a" ./cmd/cl)
fi
mkdir -p "$work/dist/cl_linux_amd64"
cp "$B" "$work/dist/cl_linux_amd64/cl"
export CL_DIST="$work/dist"
go build -o "$work/fanout" ./bench/fanout
repo="$work/repo"
echo "== config repository with $N hosts, applied" >&2
bench_repo "$repo"
"$B" -c "$repo/cl.yaml" apply --auto-approve >"$work/apply.log" 2>&1 || { tail -20 "$work/apply.log" >&2; exit 1; }
load_before=$(cut -d' ' -f1-3 /proc/loadavg)

# timed CMD...: prints "seconds(exit)".
timed() {
	local s e c=0
	s=$(date +%s.%N)
	"$@" >"$work/out" 2>&1 || c=$?
	e=$(date +%s.%N)
	[ "$c" = 1 ] && { echo "bench/ab: $* failed:" >&2; tail -5 "$work/out" >&2; exit 1; }
	printf '%.3f(%s)' "$(echo "$e - $s" | bc -l)" "$c"
}
# deployed CL TAG [HELPER]: a one-file change deployed by CL (with
# CL_HOST_HELPER=HELPER when given), its seconds.
deployed() {
	bench_change "$repo" "$2"
	CL_HOST_HELPER=${3-} CL=$1 bench_deploy "$repo" | cut -d' ' -f1
}

: >"$work/rounds"
for r in $(seq "$ROUNDS"); do
	case $WHAT in
	drift)
		line="$(timed "$work/fanout" floor "$work/fleet.json") $(timed "$A" -c "$repo/cl.yaml" cluster drift)"
		line+=" $(timed "$B" -c "$repo/cl.yaml" cluster drift) $(timed "$A" -c "$repo/cl.yaml" plan) $(timed "$B" -c "$repo/cl.yaml" plan)"
		;;
	deploy) line="$(deployed "$A" "a $r") $(deployed "$B" "b $r")" ;;
	helper) line="$(deployed "$A" "a $r" 0) $(deployed "$B" "b $r")" ;;
	esac
	echo "$line" | tee -a "$work/rounds" >&2
done
load_after=$(cut -d' ' -f1-3 /proc/loadavg)
col() { awk -v c="$1" '{print $c}' "$work/rounds" | sed 's/(.*//' | median; }

echo
what_a=$REV
[ "$WHAT" = helper ] && what_a="the work tree with CL_HOST_HELPER=0"
echo "bench/ab/ab.sh $REV $WHAT $N $ROUNDS, $(date -u +%F), $N hosts; A = $what_a, B = the work tree; medians of $ROUNDS interleaved rounds; load average $load_before before, $load_after after."
echo
case $WHAT in
drift)
	f=$(col 1) da=$(col 2) db=$(col 3) pa=$(col 4) pb=$(col 5)
	echo "| floor s | drift A s (/ floor) | drift B s (/ floor) | B / A | plan A s | plan B s | B / A |"
	echo "| --- | --- | --- | --- | --- | --- | --- |"
	echo "| $f | $da ($(ratio "$da" "$f")) | $db ($(ratio "$db" "$f")) | $(ratio "$db" "$da") | $pa | $pb | $(ratio "$pb" "$pa") |"
	;;
deploy | helper)
	da=$(col 1) db=$(col 2)
	echo "| one-file deploy A s | one-file deploy B s | B / A |"
	echo "| --- | --- | --- |"
	echo "| $da | $db | $(ratio "$db" "$da") |"
	;;
esac
echo
echo "Rounds (seconds(exit)): $(paste -sd';' "$work/rounds" | sed 's/;/; /g')"
