#!/usr/bin/env bash
# bench/beat: the scheduler with 10,000 schedules of mixed cron expressions,
# fired by one beat (package schedule, as `cl beat` runs it) into a
# throwaway local redis-server started here. For each mix it prints a
# markdown row: fires, the busiest second, p50/p99/max lateness of fires
# against their due time (until every host's run is enqueued), and the
# beat process's CPU while idle between ticks and overall.
#
# Usage: bench/beat/run.sh [DURATION]     (default 3m per mix)
# Env:   SCHEDULES (10000), HOSTS (100), MIXES ("spread aligned")
# Needs: redis-server, redis-cli (Debian redis-server, redis-tools), go.
set -euo pipefail
D=${1:-3m}
here=$(cd "$(dirname "$0")" && pwd)
cd "$here/../.."
for cmd in redis-server redis-cli go; do
	command -v "$cmd" >/dev/null || { echo "bench/beat: $cmd not found (apt-get install redis-server redis-tools)" >&2; exit 1; }
done
tmp=$(mktemp -d)
port=$((20000 + RANDOM % 20000))
redis-server --port "$port" --bind 127.0.0.1 --save '' --appendonly no --dir "$tmp" --daemonize yes \
	--pidfile "$tmp/redis.pid" --logfile "$tmp/redis.log"
trap 'redis-cli -p "$port" shutdown nosave >/dev/null 2>&1 || true; rm -rf "$tmp"' EXIT
for _ in $(seq 50); do redis-cli -p "$port" ping >/dev/null 2>&1 && break; sleep 0.1; done
go build -o "$tmp/beatbench" ./bench/beat
echo "bench/beat: $(nproc) CPUs, load average $(cut -d' ' -f1-3 /proc/loadavg) before the run" >&2
echo "| mix | schedules | hosts | run | fires | busiest second (runs enqueued/s) | p50 late | p99 late | max late | errors | CPU idle between ticks | CPU overall |"
echo "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |"
for mix in ${MIXES:-spread aligned}; do
	redis-cli -p "$port" flushall >/dev/null
	"$tmp/beatbench" -redis "redis://127.0.0.1:$port/0" -mix "$mix" -duration "$D" \
		-schedules "${SCHEDULES:-10000}" -hosts "${HOSTS:-100}"
done
echo "bench/beat: load average $(cut -d' ' -f1-3 /proc/loadavg) after the run" >&2
