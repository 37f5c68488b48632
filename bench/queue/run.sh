#!/usr/bin/env bash
# bench/queue: celeroot's task queue against Celery 5, on one machine and one
# local redis-server started here, in one run, the same worker concurrency on
# both sides:
#   - end-to-end no-op task throughput (enqueue -> run -> result stored):
#     one producer making one call per run and waiting for each (both sides);
#     concurrent producers (cl: 16 goroutines; Celery: 4 processes); cl with
#     batched submits (EnqueueMany);
#   - each worker alone, draining a pre-filled queue;
#   - enqueue rate of one client (cl, Celery) and of 16 clients (cl);
#   - a subprocess task (/bin/true) with cl;
#   - redis-benchmark on the same server: SET from 50 clients (the server's
#     ceiling) and from one client waiting for each reply (the ceiling of any
#     one-call-at-a-time producer on this machine).
# Prints a markdown table with cl/Celery ratios (docs/benchmarks.md keeps one).
#
# Usage: bench/queue/run.sh [CONCURRENCY]     (default 4 slots / 4 prefork processes)
# Sizes: N (cl no-op runs, 20000), N_TRUE (cl /bin/true runs, 2000),
#        N_ENQUEUE (20000), N_CELERY (Celery no-op runs, 5000), PRODUCERS (cl, 16)
# Needs: redis-server, redis-benchmark, redis-cli (Debian redis-server, redis-tools),
#        python3 with celery and redis (Debian python3-celery, python3-redis), go.
set -euo pipefail
C=${1:-4}
N=${N:-20000}
N_TRUE=${N_TRUE:-2000}
N_ENQUEUE=${N_ENQUEUE:-20000}
N_CELERY=${N_CELERY:-5000}
PRODUCERS=${PRODUCERS:-16}
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
redis-benchmark -q -p "$port" -t set -c 1 -n 20000 | tr '\r' '\n' | grep 'requests per second' | sed 's/^SET:/SET1:/' >>"$work/rb.txt"
cat "$work/rb.txt" >&2
rb() { awk -v k="$1:" '$1 == k {printf "%.0f", $2}' "$work/rb.txt"; }
redis-cli -p "$port" flushall >/dev/null

echo "== cl (concurrency $C)" >&2
"$work/queuebench" -redis "$url/0" -dir "$work/cl" -concurrency "$C" -n "$N" -n-true "$N_TRUE" -n-enqueue "$N_ENQUEUE" \
	-producers "$PRODUCERS" | tee "$work/cl.txt" >&2
redis-cli -p "$port" flushall >/dev/null

echo "== Celery (prefork, concurrency $C)" >&2
export CELERY_BENCH_URL="$url/1"
(cd "$here" && "$PY" celery_bench.py enqueue "$N_CELERY") | tee "$work/celery.txt" >&2
(cd "$here" && "$PY" celery_bench.py fill "$N_CELERY" "$work/celery-ids.json")
(cd "$here" && exec "$PY" -m celery -A celery_app worker --pool=prefork --concurrency="$C" \
	--loglevel=WARNING --without-gossip --without-mingle >"$work/celery-worker.log" 2>&1) &
celery_pid=$!
(cd "$here" && "$PY" celery_bench.py drain "$work/celery-ids.json") | tee -a "$work/celery.txt" >&2
(cd "$here" && "$PY" celery_bench.py e2e "$N_CELERY") | tee -a "$work/celery.txt" >&2
(cd "$here" && "$PY" celery_bench.py e2e "$N_CELERY" 4) | tee -a "$work/celery.txt" >&2
kill -TERM "$celery_pid" && wait "$celery_pid" 2>/dev/null || true
celery_pid=""

get() { awk -v k="$1" '$1 == k {print $2}' "$work/cl.txt" "$work/celery.txt"; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN {printf "%.1f×", a / b}'; }
maxof() { awk -v a="$1" -v b="$2" 'BEGIN {print (a > b ? a : b)}'; }
ce_e2e=$(get celery_e2e)
ce_best=$(maxof "$ce_e2e" "$(get celery_e2e_4)")
celery_version=$("$PY" -c 'import celery; print(celery.__version__)')

cat <<EOF

$(date -u +%Y-%m-%d), $(nproc) CPUs ($(awk -F': ' '/model name/ {print $2; exit}' /proc/cpuinfo)), redis $(redis-server --version | awk '{print $3}' | tr -d 'v='), Celery $celery_version, concurrency $C, load average $(cut -d' ' -f1-3 /proc/loadavg)

| measure (runs or requests per second) | cl | Celery $celery_version | cl / Celery |
| --- | ---: | ---: | ---: |
| end-to-end no-op task, one producer, one call per run waiting for each | $(get cl_e2e_ping) | $ce_e2e | $(ratio "$(get cl_e2e_ping)" "$ce_e2e") |
| end-to-end no-op task, concurrent producers (cl: $PRODUCERS goroutines; Celery: the better of 1 and 4 processes — $ce_e2e, $(get celery_e2e_4)) | $(get cl_e2e_ping_producers) | $ce_best | $(ratio "$(get cl_e2e_ping_producers)" "$ce_best") |
| end-to-end no-op task, cl submitting batches of 100 (EnqueueMany) | $(get cl_e2e_ping_batch) | $ce_best | $(ratio "$(get cl_e2e_ping_batch)" "$ce_best") |
| worker alone: queue pre-filled with N no-op runs | $(get cl_drain_ping) | $(get celery_drain) | $(ratio "$(get cl_drain_ping)" "$(get celery_drain)") |
| enqueue, 1 client | $(get cl_enqueue_1) | $(get celery_enqueue_1) | $(ratio "$(get cl_enqueue_1)" "$(get celery_enqueue_1)") |
| enqueue, 16 clients | $(get cl_enqueue_16) | — | |
| end-to-end subprocess task (\`/bin/true\`), one producer | $(get cl_e2e_true) | — | |
| redis-benchmark SET, 50 clients (the server's ceiling) | $(rb SET) | | |
| redis-benchmark SET, 1 client waiting for each reply (any one-at-a-time producer's ceiling) | $(rb SET1) | | |

CPU per run (µs; Redis / cl worker / cl producer): end-to-end one producer $(get cl_e2e_ping_redis_cpu_us) / $(get cl_e2e_ping_worker_cpu_us) / $(get cl_e2e_ping_producer_cpu_us); concurrent producers $(get cl_e2e_ping_producers_redis_cpu_us) / $(get cl_e2e_ping_producers_worker_cpu_us) / $(get cl_e2e_ping_producers_producer_cpu_us); batched $(get cl_e2e_ping_batch_redis_cpu_us) / $(get cl_e2e_ping_batch_worker_cpu_us) / $(get cl_e2e_ping_batch_producer_cpu_us); worker alone $(get cl_drain_redis_cpu_us) / $(get cl_drain_worker_cpu_us) / —.
EOF
