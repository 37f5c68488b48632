#!/usr/bin/env bash
# bench/fanout/ab.sh: is `cl host status --all` slower than at revision REV?
# Builds cl at REV and from the working tree, brings up N real sshd test
# hosts, and runs both binaries interleaved, ROUNDS times each. Besides the
# wall time it reports the CPU each call costs: the hosts' side (sshd and
# everything it runs, from a cpuacct cgroup holding the test hosts) and
# cl's own (rusage). CPU seconds barely move with other load on the
# machine, so two revisions compare even when wall times are noisy.
# Needs root (network namespaces, cgroups). Usage:
#   bench/fanout/ab.sh REV [N] [ROUNDS]     e.g. bench/fanout/ab.sh 107f2cb 20 10
set -euo pipefail
REV=${1:?usage: bench/fanout/ab.sh REV [N] [ROUNDS]}
N=${2:-20}
ROUNDS=${3:-10}
cd "$(dirname "$0")/../.."
work=$(mktemp -d /tmp/cl-bench-ab-XXXX)
cg=""
cleanup() {
	[ -n "${th_pid:-}" ] && kill "$th_pid" 2>/dev/null && wait "$th_pid" 2>/dev/null
	git worktree remove --force "$work/old" 2>/dev/null || true
	if [ -n "$cg" ]; then
		# move what is left back to the root group before removing ours
		while read -r p; do echo "$p" >"$(dirname "$cg")/$procs" 2>/dev/null || true; done <"$cg/$procs" || true
		rmdir "$cg" 2>/dev/null || true
	fi
	rm -rf "$work"
}
trap cleanup EXIT INT TERM

git worktree add -q --detach "$work/old" "$REV"
(cd "$work/old" && go build -o "$work/cl-old" ./cmd/cl)
go build -o "$work/cl-new" ./cmd/cl
go build -o "$work/testhosts" ./e2e/cmd/testhosts

# A cgroup counting the CPU of the test hosts (v1 cpuacct, else v2).
if [ -d /sys/fs/cgroup/cpuacct ] && [ -f /sys/fs/cgroup/cpuacct/cpuacct.usage ]; then
	cg=/sys/fs/cgroup/cpuacct/cl-bench-ab-$$ procs=tasks usage=cpuacct.usage
else
	cg=/sys/fs/cgroup/cl-bench-ab-$$ procs=cgroup.procs usage=cpu.stat
fi
mkdir "$cg"
# the test hosts' sshd are started by testhosts: it joins the group first
(echo "$BASHPID" >"$cg/$procs" && exec "$work/testhosts" up -n "$N" -o "$work/fleet.json") >"$work/testhosts.log" 2>&1 &
th_pid=$!
for _ in $(seq 150); do [ -s "$work/fleet.json" ] && break; sleep 0.2; done
[ -s "$work/fleet.json" ] || { cat "$work/testhosts.log"; exit 1; }

python3 - "$work" "$cg/$usage" "$ROUNDS" "$REV" <<'PY'
import json, os, resource, statistics, subprocess, sys, time
work, usage_file, rounds, rev = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
d = json.load(open(work + "/fleet.json"))
with open(work + "/cl.yaml", "w") as f:
    f.write("cluster: {name: bench}\nssh:\n  default_user: %s\n  default_key: %s\n  known_hosts: %s\n  timeout: 10s\nhosts:\n"
            % (d["user"], d["key_path"], d["known_hosts_path"]))
    for h in d["hosts"]:
        f.write("  %s: {role: web, address: %s}\n" % (h["name"], h["address"]))
    f.write("workers:\n  web: {}\n")

def host_cpu():
    s = open(usage_file).read()
    if usage_file.endswith("cpu.stat"):
        return int(dict(l.split() for l in s.splitlines())["usage_usec"]) / 1e6
    return int(s) / 1e9

res = {"cl-old": [], "cl-new": []}
for _ in range(rounds):
    for name in res:
        r0, h0, t0 = resource.getrusage(resource.RUSAGE_CHILDREN), host_cpu(), time.monotonic()
        p = subprocess.run([work + "/" + name, "-c", work + "/cl.yaml", "host", "status", "--all"],
                           stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        t1, h1, r1 = time.monotonic(), host_cpu(), resource.getrusage(resource.RUSAGE_CHILDREN)
        if p.returncode != 0:
            sys.exit("%s failed: %s" % (name, p.stderr.decode()))
        res[name].append((t1 - t0, h1 - h0, r1.ru_utime - r0.ru_utime + r1.ru_stime - r0.ru_stime))
med = {n: [statistics.median(x[i] for x in v) for i in range(3)] for n, v in res.items()}
print("cl host status --all over %d test hosts, median of %d interleaved runs, load %s"
      % (len(d["hosts"]), rounds, open("/proc/loadavg").read().split()[0]))
print("| %-28s | %7s | %13s | %11s |" % ("binary", "wall s", "hosts' CPU s", "cl's CPU s"))
print("| %-28s | %7s | %13s | %11s |" % ("---", "---", "---", "---"))
for n, label in (("cl-old", rev), ("cl-new", "working tree")):
    print("| %-28s | %7.3f | %13.3f | %11.3f |" % (label, *med[n]))
o, n = med["cl-old"], med["cl-new"]
print("new / old: wall %.2f, hosts' CPU %.2f, cl's CPU %.2f" % (n[0] / o[0], n[1] / o[1], n[2] / o[2]))
PY
