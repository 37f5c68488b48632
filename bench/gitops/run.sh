#!/usr/bin/env bash
# bench/gitops: the GitOps agent (`cl agent`) on HOSTS real sshd test hosts
# (e2e/testhost), its config repository served by a `git daemon` on
# 127.0.0.1. Medians of RUNS runs (default 5) of:
#   1. webhook → all hosts healthy on the new SHA for a one-file change (one
#      task script of the role every host has): from the signed GitHub push
#      delivery's POST to /api/v1/status showing applied_sha = the new SHA
#      (the agent records it only after every host's worker heartbeats it);
#   2. the same kind of change by a bare `cl host deploy --all`, interleaved
#      with (1) in the same run; the agent's overhead is (1) − (2);
#   3. a poll with no change: one Fetch of sync.Source (the agent's source),
#      timed by bench/gitops/main.go through a byte-counting TCP proxy;
#   4. 500 hosts in cl.yaml (the test hosts and the rest on 127.0.x.y where
#      nothing listens: they fail at once, connection refused): `cl plan`
#      wall time with ssh.persist: 0 (every connection new), as the first
#      command (starts the mux) and as the next one (the mux's connections); an agent (--no-auto-apply) that plans them: its plan time
#      (status last_plan: from the fetched revision to the plan) for its
#      first commit (every connection new) and for RUNS one-file changes
#      (warm connections), and its peak RSS (VmHWM).
# Prints a markdown table (docs/benchmarks.md keeps one).
#
# Usage: bench/gitops/run.sh [HOSTS]      (default 20; needs root)
# Env:   RUNS (5), FETCHES (20), BIG (500 hosts for 4)
# Needs: sshd, ip (openssh-server, iproute2), redis-server, rsync, git, python3, go.
set -euo pipefail
N=${1:-20}
RUNS=${RUNS:-5}
FETCHES=${FETCHES:-20}
BIG=${BIG:-500}
here=$(cd "$(dirname "$0")" && pwd)
cd "$here/../.."

. "$here/../lib.sh"
bench_init gitops "$N"
load_before=$(cut -d' ' -f1-3 /proc/loadavg)
go build -o "$work/gitopsbench" ./bench/gitops
repo="$work/repo"
echo "== config repository: examples/fleet's tasks, $N hosts" >&2
bench_repo "$repo"

# A git daemon on loopback serving bare copies of the repositories.
gitbase="$work/git"
mkdir -p "$gitbase"
git clone -q --bare "$repo" "$gitbase/fleet.git"
git -C "$repo" remote add origin "$gitbase/fleet.git"
gport=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
setsid git daemon --export-all --base-path="$gitbase" --reuseaddr --listen=127.0.0.1 --port="$gport" "$gitbase" 2>"$work/gitd.log" &
gitd_pid=$!
bench_on_exit+=('kill -TERM -- -$gitd_pid 2>/dev/null; wait $gitd_pid 2>/dev/null')
for _ in $(seq 100); do (exec 3<>"/dev/tcp/127.0.0.1/$gport") 2>/dev/null && break; sleep 0.05; done

secret=$(head -c 16 /dev/urandom | od -An -tx1 | tr -d ' \n')
printf '%s\n' "$secret" >"$work/secret"
chmod 600 "$work/secret"

# start_agent NAME REPO ARGS... runs `cl agent` on git://…/REPO (log in
# $work/NAME.log), sets agent_pid and agent_api.
start_agent() {
	local name=$1 r=$2
	shift 2
	"$CL" --log-level debug agent --repo "git://127.0.0.1:$gport/$r" --branch main --listen 127.0.0.1:0 \
		--state-dir "$work/$name.state" --webhook-secret-file "$work/secret" --interval 1h --drift-interval 0 "$@" \
		>"$work/$name.log" 2>&1 &
	agent_pid=$!
	bench_on_exit+=("kill -INT $agent_pid 2>/dev/null; wait $agent_pid 2>/dev/null")
	agent_api=""
	for _ in $(seq 600); do
		agent_api=$(grep -om1 'http://[0-9.:]*/api/v1/status' "$work/$name.log" | sed 's#http://##; s#/api/v1/status##') || true
		[ -n "$agent_api" ] && break
		sleep 0.1
	done
	[ -n "$agent_api" ] || { echo "bench/gitops: the agent did not start:" >&2; cat "$work/$name.log" >&2; exit 1; }
}

# agent_py MODE SHA: hook = post a signed GitHub push delivery, then poll the
# status until applied_sha = SHA; wait = only poll; plan = post the
# delivery, then poll until last_plan is SHA's. Prints "seconds
# sync_duration plan_duration" (the status' last_sync and last_plan).
agent_py() {
	python3 - "$1" "$2" "$agent_api" "$secret" <<'EOF'
import hashlib, hmac, json, sys, time, urllib.request
mode, sha, api, secret = sys.argv[1:]
def status():
    with urllib.request.urlopen("http://%s/api/v1/status" % api, timeout=10) as r:
        return json.load(r)
start = time.monotonic()
if mode in ("hook", "plan"):
    body = b'{"ref":"refs/heads/main","after":"0000000000000000000000000000000000000000"}'
    sig = "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    req = urllib.request.Request("http://%s/hooks/github" % api, data=body, method="POST", headers={
        "X-GitHub-Event": "push", "X-GitHub-Delivery": "bench-%d" % time.time_ns(),
        "Content-Type": "application/json", "X-Hub-Signature-256": sig})
    with urllib.request.urlopen(req, timeout=10) as r:
        assert r.status == 202, r.status
deadline = start + 300
while True:
    st = status()
    if mode != "plan" and st.get("applied_sha") == sha:
        break
    if mode == "plan" and (st.get("last_plan") or {}).get("sha") == sha:
        break
    if time.monotonic() > deadline:
        sys.exit("bench/gitops: %s not applied within 300 s; status: %s" % (sha, json.dumps(st)[:2000]))
    time.sleep(0.01)
took = time.monotonic() - start
print("%.3f %s %s" % (took, (st.get("last_sync") or {}).get("duration", "?"), (st.get("last_plan") or {}).get("duration", "?")))
EOF
}

echo "== agent: first apply to $N hosts" >&2
start_agent agent fleet.git
main_pid=$agent_pid main_api=$agent_api
agent_py wait "$(git -C "$repo" rev-parse HEAD)" >&2

echo "== one-file change, $RUNS runs: webhook → agent applied, then cl host deploy --all" >&2
: >"$work/agent_runs"
: >"$work/deploy_runs"
for r in $(seq "$RUNS"); do
	bench_change "$repo" "agent $r"
	git -C "$repo" push -q origin HEAD:main
	sha=$(git -C "$repo" rev-parse HEAD)
	read -r took sync_d plan_d _ < <(agent_py hook "$sha")
	# The apply's own duration, from the agent's log line for this SHA.
	apply_d=?
	for _ in $(seq 50); do
		apply_d=$(sed -n "s/.*msg=applied sha=$sha duration=\([^ ]*\).*/\1/p" "$work/agent.log")
		[ -n "$apply_d" ] && break
		sleep 0.1
	done
	echo "$took $sync_d ${apply_d:-?} $plan_d" | tee -a "$work/agent_runs" >&2
	bench_change "$repo" "deploy $r"
	git -C "$repo" push -q origin HEAD:main # the agent hears no hook and polls hourly: it stays idle
	bench_deploy "$repo" | tee -a "$work/deploy_runs" >&2
done
agent_rss_kib=$(awk '/VmHWM/ {print $2}' "/proc/$main_pid/status")
agent_now_kib=$(awk '/VmRSS/ {print $2}' "/proc/$main_pid/status")
heap_mib=$(curl -s "http://$main_api/metrics" | awk '/^go_memstats_heap_inuse_bytes/ {printf "%d", $2 / 1048576}')

echo "== a poll with no change: $FETCHES fetches" >&2
fetch=$("$work/gitopsbench" -upstream "127.0.0.1:$gport" -repo fleet.git -n "$FETCHES")
echo "$fetch" >&2
fv() { sed -n "s/.*\b$1=\([0-9.]*\).*/\1/p" <<<"$fetch"; }

echo "== $BIG hosts in cl.yaml: cl plan, $RUNS runs each direct (ssh.persist: 0), cold and warm mux; an agent planning them" >&2
big="$work/repo$BIG"
bench_repo "$big" "bench$BIG" $((BIG - N))
# time_plan FILE: one `cl plan` of $big, its wall time appended to FILE.
time_plan() {
	local s e rc=0
	s=$(date +%s.%N)
	"$CL" -c "$big/cl.yaml" plan >"$work/plan.txt" 2>&1 || rc=$?
	e=$(date +%s.%N)
	[ "$rc" = 2 ] || { echo "bench/gitops: cl plan exited $rc (want 2: changes):" >&2; tail -5 "$work/plan.txt" >&2; exit 1; }
	python3 -c "print('%.3f' % ($e - $s))" | tee -a "$1" >&2
}
: >"$work/plan_direct_runs"
: >"$work/plan_cold_runs"
: >"$work/plan_runs"
sed -i 's/^ssh:$/ssh:\n  persist: 0s/' "$big/cl.yaml"
git -C "$big" commit -qam "direct ssh"
for r in $(seq "$RUNS"); do time_plan "$work/plan_direct_runs"; done
git -C "$big" reset -q --hard HEAD~1
# Cold: no mux runs, so the plan starts one and every connection is new;
# warm: the next plans within ssh.persist (60 s) reuse its connections.
for r in $(seq "$RUNS"); do
	"$CL" mux stop >/dev/null
	time_plan "$work/plan_cold_runs"
	time_plan "$work/plan_runs"
done
"$CL" mux stop >/dev/null
plan_deploys=$(grep -c 'deploy ' "$work/plan.txt" || true)
git clone -q --bare "$big" "$gitbase/fleet$BIG.git"
start_agent agent$BIG "fleet$BIG.git" --no-auto-apply
big_pid=$agent_pid
for _ in $(seq 600); do
	curl -s "http://$agent_api/api/v1/status" | python3 -c 'import json,sys; st=json.load(sys.stdin); sys.exit(0 if st.get("pending_plan") else 1)' && break
	sleep 0.1
done
big_plan=$(curl -s "http://$agent_api/api/v1/status" |
	python3 -c 'import json,sys; p=json.load(sys.stdin)["pending_plan"] or {}; print(len(p.get("actions") or []))')
big_first_kib=$(awk '/VmHWM/ {print $2}' "/proc/$big_pid/status")
big_anon_kib=$(awk '/RssAnon/ {print $2}' "/proc/$big_pid/status")
big_file_kib=$(awk '/RssFile/ {print $2}' "/proc/$big_pid/status")
big_sync=$(curl -s "http://$agent_api/api/v1/status" | python3 -c 'import json,sys; print(json.load(sys.stdin)["last_sync"]["duration"])')
big_plan_cold=$(curl -s "http://$agent_api/api/v1/status" | python3 -c 'import json,sys; print(json.load(sys.stdin)["last_plan"]["duration"])')
echo "== the $BIG-host agent: first plan $big_plan_cold; $RUNS one-file changes (warm connections)" >&2
git -C "$big" remote add origin "$gitbase/fleet$BIG.git"
: >"$work/bigplan_runs"
for r in $(seq "$RUNS"); do
	bench_change "$big" "plan $r"
	git -C "$big" push -q origin HEAD:main
	agent_py plan "$(git -C "$big" rev-parse HEAD)" | tee -a "$work/bigplan_runs" >&2
done
big_rss_kib=$(awk '/VmHWM/ {print $2}' "/proc/$big_pid/status")
load_after=$(cut -d' ' -f1-3 /proc/loadavg)

col() { awk -v c="$1" '{print $c}' "$2" | median; }
ag_s=$(col 1 "$work/agent_runs")
dp_s=$(col 1 "$work/deploy_runs")
over_ms=$(python3 -c "print('%.0f' % (($ag_s - $dp_s) * 1000))")
plan_s=$(col 1 "$work/plan_runs")
plan_cold_s=$(col 1 "$work/plan_cold_runs")
plan_direct_s=$(col 1 "$work/plan_direct_runs")
# seconds of a Go duration (850ms, 1.2s)
secs() { sed -E 's/([0-9.]+)ms$/\1 0.001/; s/([0-9.]+)s$/\1 1/' | awk '{printf "%.3f\n", $1 * $2}'; }
bigplan_s=$(awk '{print $3}' "$work/bigplan_runs" | secs | median)
agplan_s=$(awk '{print $4}' "$work/agent_runs" | secs | median)
met() { python3 -c "print('met' if $1 else '**not met**')"; }

cat <<EOF

$N test hosts (one role, every host loads the changed module), the one-file change edits
tasks/nginx_management/reload.sh. Medians of $RUNS runs. Load average $load_before before, $load_after after.

| measure | result | target | |
| --- | --- | --- | --- |
| webhook → all $N hosts healthy on the new SHA | ${ag_s} s (runs $(runs 1 "$work/agent_runs")) | ≤ 2 s | $(met "$ag_s <= 2") |
| the same change by \`cl host deploy --all\` | ${dp_s} s (runs $(runs 1 "$work/deploy_runs")) | | |
| the agent's overhead (webhook − deploy) | ${over_ms} ms | ≤ 300 ms | $(met "$over_ms <= 300") |
| poll with no change: one fetch (sync.Source, git://, loopback) | $(fv median_ms) ms median, $(fv p90_ms) ms p90 of $FETCHES | | |
| poll with no change: bytes on the wire | $(fv sent_bytes) sent, $(fv recv_bytes) received | | |
| \`cl plan\`, $BIG hosts ($N real, $((BIG - N)) refused), connections kept by the mux from the previous command (ssh.persist) | ${plan_s} s (runs $(runs 1 "$work/plan_runs")) | ≤ 1 s | $(met "$plan_s <= 1") |
| the same, first command (starts the mux; every connection new) | ${plan_cold_s} s (runs $(runs 1 "$work/plan_cold_runs")) | | |
| the same, \`ssh.persist: 0\` (every connection new, no mux) | ${plan_direct_s} s (runs $(runs 1 "$work/plan_direct_runs")) | | |
| the agent's plan of a new commit, $BIG hosts, warm connections (status last_plan) | ${bigplan_s} s (runs $(awk '{print $3}' "$work/bigplan_runs" | paste -sd, | sed 's/,/, /g')) | ≤ 1 s | $(met "$bigplan_s <= 1") |
| the agent's first plan, $BIG hosts (every connection new) | $big_plan_cold | | |
| the agent's plan of a new commit, $N hosts (in the webhook runs) | ${agplan_s} s (runs $(runs 4 "$work/agent_runs")) | | |
| agent peak RSS (VmHWM) planning $BIG hosts | $((big_first_kib / 1024)) MiB ($big_plan actions planned; RSS then: $((big_anon_kib / 1024)) MiB anonymous, $((big_file_kib / 1024)) MiB the binary's file pages) | ≤ 40 MiB | $(met "$big_first_kib <= 40 * 1024") |
| the same agent's peak RSS after its $RUNS more plans | $((big_rss_kib / 1024)) MiB | | |
| agent peak RSS (VmHWM) after the $N-host runs | $((agent_rss_kib / 1024)) MiB (RSS now $((agent_now_kib / 1024)) MiB, Go heap in use ${heap_mib} MiB) | | |

Agent runs, (sync = the fetch, from the status; plan = revision and plan, from the status; apply = lock + deploy, from the agent's log): $(awk '{printf "%s%s sync %s, plan %s, apply %s", (NR>1?"; ":""), $1"s:", $2, $4, $3}' "$work/agent_runs").
Its plan and revision load are the rest (webhook → fetch start, plan with one observation of every host).
Bare deploy per host (medians over hosts, then runs): probe $(col 4 "$work/deploy_runs") ms, transfer and switch
$(col 5 "$work/deploy_runs") ms, health $(col 6 "$work/deploy_runs") ms (slowest host $(col 7 "$work/deploy_runs") ms).
The $BIG-host agent's first sync (clone) took $big_sync. cl plan counted $plan_deploys deploy lines.
EOF
