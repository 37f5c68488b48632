#!/usr/bin/env bash
# bench/queue: celeroot's task queue against Celery 5, on one machine and one
# local redis-server started here, in one run:
#   - end-to-end no-op task throughput (enqueue -> run -> result stored):
#     cl's built-in ping vs a Celery no-op task (prefork pool), same concurrency,
#     one run per enqueue call on both sides, and cl with batched submits;
#   - enqueue rate of one client (cl, Celery) and of 16 clients (cl);
#   - cl's worker alone, draining a pre-filled queue;
#   - a subprocess task (/bin/true through a task module) with cl;
#   - redis-benchmark -t set,lpush on the same server: the ceiling.
# Prints a markdown table with cl/Celery ratios (docs/benchmarks.md keeps one).
#
# Usage: bench/queue/run.sh [CONCURRENCY]     (default 4 slots / 4 prefork processes)
# Sizes: N (cl no-op runs, 20000), N_TRUE (cl /bin/true runs, 2000),
#        N_ENQUEUE (20000), N_CELERY (Celery no-op runs, 5000)
# Needs: redis-server, redis-benchmark, redis-cli (Debian redis-server, redis-tools),
#        python3 with celery and redis (Debian python3-celery, python3-redis), go.
set -euo pipefail
C=${1:-4}
N=${N:-20000}
N_TRUE=${N_TRUE:-2000}
N_ENQUEUE=${N_ENQUEUE:-20000}
N_CELERY=${N_CELERY:-5000}
here=$(cd "$(dirname "$0")" && pwd)
cd "$here/../.."
PY=/usr/bin/python3
[ -x "$PY" ] || PY=python3

for cmd in redis-server redis-benchmark redis-cli go; do
	command -v "$cmd" >/dev/null || { echo "bench/queue: $cmd not found (apt-get install redis-server redis-tools; Go for go)" >&2; exit 1; }
done
"$PY" -c 'import celery, redis' 2>/dev/null || { echo "bench/queue: $PY lacks celery/redis (apt-get install python3-celery python3-redis)" >&2; exit 1; }

work=$(mktemp -d /tmp/cl-bench-queue-XXXX)
redis_pid="" celery_pid=""
cleanup() {
	[ -n "$celery_pid" ] && kill -TERM "$celery_pid" 2>/dev/null && wait "$celery_pid" 2>/dev/null
	[ -n "$redis_pid" ] && kill "$redis_pid" 2>/dev/null && wait "$redis_pid" 2>/dev/null
	rm -rf "$work"
}
trap cleanup EXIT INT TERM

port=$("$PY" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
redis-server --port "$port" --bind 127.0.0.1 --save "" --appendonly no --dir "$work" --daemonize no >"$work/redis.log" 2>&1 &
redis_pid=$!
for _ in $(seq 100); do redis-cli -p "$port" ping >/dev/null 2>&1 && break; sleep 0.05; done
url="redis://127.0.0.1:$port"

go build -o "$work/queuebench" ./bench/queue

echo "== redis-benchmark (ceiling)" >&2
redis-benchmark -q -p "$port" -t set,lpush -n 200000 | tr '\r' '\n' | grep 'requests per second' >"$work/rb.txt"
cat "$work/rb.txt" >&2
rb() { awk -v k="$1:" '$1 == k {printf "%.0f", $2}' "$work/rb.txt"; }
redis-cli -p "$port" flushall >/dev/null

echo "== cl (concurrency $C)" >&2
"$work/queuebench" -redis "$url/0" -dir "$work/cl" -concurrency "$C" -n "$N" -n-true "$N_TRUE" -n-enqueue "$N_ENQUEUE" | tee "$work/cl.txt" >&2
redis-cli -p "$port" flushall >/dev/null

echo "== Celery (prefork, concurrency $C)" >&2
export CELERY_BENCH_URL="$url/1"
(cd "$here" && "$PY" celery_bench.py enqueue "$N_CELERY") | tee "$work/celery.txt" >&2
(cd "$here" && exec "$PY" -m celery -A celery_app worker --pool=prefork --concurrency="$C" \
	--loglevel=WARNING --without-gossip --without-mingle >"$work/celery-worker.log" 2>&1) &
celery_pid=$!
(cd "$here" && "$PY" celery_bench.py e2e "$N_CELERY") | tee -a "$work/celery.txt" >&2
kill -TERM "$celery_pid" && wait "$celery_pid" 2>/dev/null || true
celery_pid=""

get() { awk -v k="$1" '$1 == k {print $2}' "$work/cl.txt" "$work/celery.txt"; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN {printf "%.1f×", a / b}'; }
cl_e2e=$(get cl_e2e_ping) ce_e2e=$(get celery_e2e)
cl_enq=$(get cl_enqueue_1) ce_enq=$(get celery_enqueue_1)
celery_version=$("$PY" -c 'import celery; print(celery.__version__)')

cat <<EOF

$(date -u +%Y-%m-%d), $(nproc) CPUs ($(awk -F': ' '/model name/ {print $2; exit}' /proc/cpuinfo)), $(redis-server --version | awk '{print $3}' | tr -d 'v='), Celery $celery_version, concurrency $C

| measure (runs or requests per second) | cl | Celery $celery_version | cl / Celery |
| --- | ---: | ---: | ---: |
| end-to-end no-op task (enqueue → run → result stored) | $cl_e2e | $ce_e2e | $(ratio "$cl_e2e" "$ce_e2e") |
| end-to-end no-op, cl producer submitting batches of 100 (EnqueueMany) | $(get cl_e2e_ping_batch) | $ce_e2e | $(ratio "$(get cl_e2e_ping_batch)" "$ce_e2e") |
| worker alone: queue pre-filled with N no-op runs, first start → last result | $(get cl_drain_ping) | — | |
| enqueue, 1 client | $cl_enq | $ce_enq | $(ratio "$cl_enq" "$ce_enq") |
| enqueue, 16 clients | $(get cl_enqueue_16) | — | |
| end-to-end subprocess task (\`/bin/true\`) | $(get cl_e2e_true) | — | |
| redis-benchmark SET (ceiling) | $(rb SET) | | |
| redis-benchmark LPUSH (ceiling) | $(rb LPUSH) | | |
EOF
