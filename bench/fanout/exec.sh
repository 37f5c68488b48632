# shellcheck shell=bash
# shellcheck disable=SC2154,SC2034 # variables of run.sh, which sources this file
# bench/fanout/exec.sh: the exec mode of bench/fanout/run.sh (sourced by it,
# after the fleet is up: $work, $N, $ROUNDS, $key, $kh, $user, measure).
# `cl host exec --all -- true` beside the bare x/crypto/ssh floor, Ansible,
# parallel-ssh and Fabric, all cold, interleaved: each round runs every tool
# once (Ansible only in the first PEER_ROUNDS rounds: it takes minutes on
# 100 hosts), so that all of them see the same load; medians per tool, and
# in how many rounds cl beat each peer.
for tool in ansible parallel-ssh redis-server; do
	command -v "$tool" >/dev/null || { echo "bench/fanout exec: $tool not found (apt-get install -y ansible pssh python3-fabric redis-server)" >&2; exit 1; }
done
/usr/bin/python3 -c 'import fabric' 2>/dev/null || { echo "bench/fanout exec: Fabric not found (apt-get install -y python3-fabric)" >&2; exit 1; }

port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
redis-server --bind 127.0.0.1 --port "$port" --save "" --appendonly no --dir "$work" >"$work/redis.log" 2>&1 &
redis_pid=$!
for _ in $(seq 100); do redis-cli -p "$port" ping >/dev/null 2>&1 && break; sleep 0.05; done
printf 'redis: {url: "redis://127.0.0.1:%s/0"}\naudit: {file: %s/audit.jsonl}\n' "$port" "$work" >>"$work/cl.yaml"

cat >"$work/fab.py" <<'PY'
import sys
import paramiko
from fabric import ThreadingGroup
key, kh, user, hosts = sys.argv[1:5]
g = ThreadingGroup(*open(hosts).read().split(), user=user,
                   connect_kwargs={"key_filename": key, "look_for_keys": False, "allow_agent": False})
for c in g:  # strict host keys, as the others
    c.client.load_host_keys(kh)
    c.client.set_missing_host_key_policy(paramiko.RejectPolicy())
g.run("true", hide=True)
PY

cl_exec() { "$work/cl" -c "$work/cl.yaml" host exec --all -- true; }
floor_exec() { "$work/fanout" floor "$work/fleet.json"; }
ansible_command() {
	ANSIBLE_HOST_KEY_CHECKING=True ANSIBLE_SSH_ARGS="-o ControlMaster=no -o UserKnownHostsFile=$kh" \
		ansible all -i "$work/inventory.ini" -m command -a true -f "$N"
}
pssh_true() {
	parallel-ssh -h "$work/hosts.txt" -l "$user" -p "$N" -t 60 \
		-x "-i $key -o UserKnownHostsFile=$kh -o StrictHostKeyChecking=yes -o BatchMode=yes -o IdentitiesOnly=yes" true
}
fabric_group() { /usr/bin/python3 "$work/fab.py" "$key" "$kh" "$user" "$work/hosts.txt"; }

load=$(cut -d' ' -f1-3 /proc/loadavg)
# ssh.timeout bounds cl's handshake too (the floor's has no deadline): on a
# loaded machine 100 concurrent handshakes can take more than 10 s.
sed -i 's/^  timeout: 10s$/  timeout: 60s/' "$work/cl.yaml"
cl_exec >"$work/first.txt" 2>&1 || { grep -v ' 0 ' "$work/first.txt" >&2; exit 1; } # fail loudly, once, before timing
peer_rounds=${PEER_ROUNDS:-$ROUNDS}
# once CMD...: seconds of one run.
once() {
	local t0 t1
	t0=$(now)
	"$@" >/dev/null 2>&1 || { echo "failed: $*" >&2; return 1; }
	t1=$(now)
	echo "$t1 - $t0" | bc -l
}
: >"$work/rounds"
for r in $(seq "$ROUNDS"); do
	row="$(once floor_exec) $(once cl_exec)"
	if [ "$r" -le "$peer_rounds" ]; then row+=" $(once ansible_command)"; else row+=" -"; fi
	row+=" $(once pssh_true) $(once fabric_group)"
	echo "$row" >>"$work/rounds"
	echo "round $r: floor cl ansible pssh fabric = $row" >&2
done
col() { awk -v c="$1" '$c != "-" {print $c}' "$work/rounds" | sort -n | awk '{a[NR]=$1} END {printf "%.3f\n", a[int((NR+1)/2)]}'; }
# wins C: rounds (of those C ran in) where cl (column 2) beat column C.
wins() { awk -v c="$1" '$c != "-" {n++; if ($2 < $c) w++} END {printf "%d of %d", w, n}' "$work/rounds"; }
floor_t=$(col 1) cl_t=$(col 2) ans_t=$(col 3) pssh_t=$(col 4) fab_t=$(col 5)
records=$(grep -c '"host.exec"' "$work/audit.jsonl" || true)

ratio() { echo "scale=2; $1 / $2" | bc -l; }
echo
echo "cl host exec over $N sshd test hosts, cold (a new process each), $ROUNDS interleaved rounds (Ansible in $peer_rounds), medians, $(date -u +%F), load average $load at the start, $(cut -d' ' -f1-3 /proc/loadavg) at the end"
echo "(cl wrote $records audit records; cl faster than Ansible in $(wins 3), parallel-ssh in $(wins 4), Fabric in $(wins 5) rounds)"
printf '| %-58s | %8s | %s |\n' "what" "seconds" "ratio"
printf '| %-58s | %8s | %s |\n' "---" "---" "---"
printf '| %-58s | %8s | %s |\n' "bare x/crypto/ssh: dial + \`true\` on every host (floor)" "$floor_t" "1.0"
printf '| %-58s | %8s | %s |\n' "cl host exec --all -- true" "$cl_t" "cl / floor = $(ratio "$cl_t" "$floor_t")"
printf '| %-58s | %8s | %s |\n' "ansible all -m command -a true (forks $N, no ControlMaster)" "$ans_t" "$(ratio "$ans_t" "$cl_t")x cl"
printf '| %-58s | %8s | %s |\n' "parallel-ssh -p $N true" "$pssh_t" "$(ratio "$pssh_t" "$cl_t")x cl"
printf '| %-58s | %8s | %s |\n' "Fabric ThreadingGroup.run(\"true\")" "$fab_t" "$(ratio "$fab_t" "$cl_t")x cl"
