"""Measures Celery for bench/queue/run.sh.

    python3 celery_bench.py enqueue N   apply_async N times, no worker running; runs/s
    python3 celery_bench.py e2e N       with a worker running: enqueue N no-op tasks while the worker
                                        consumes, until every result is stored; runs/s

Completion is checked by reading the result keys (celery-task-meta-<id>) with MGET in batches, the
same way the cl side reads its stream: the measurement itself adds little to the figure.
"""
import json
import sys
import time

import redis

from celery_app import URL, app, noop


def enqueue(n):
    start = time.perf_counter()
    for _ in range(n):
        noop.apply_async()
    elapsed = time.perf_counter() - start
    app.control.purge()
    return n / elapsed


def wait_results(r, ids, timeout=900):
    pending = list(ids)
    deadline = time.monotonic() + timeout
    while pending:
        if time.monotonic() > deadline:
            raise SystemExit("celery: %d results missing after %ds" % (len(pending), timeout))
        left = []
        for i in range(0, len(pending), 1000):
            chunk = pending[i:i + 1000]
            vals = r.mget(["celery-task-meta-" + t for t in chunk])
            for t, v in zip(chunk, vals):
                if v is None:
                    left.append(t)
                elif json.loads(v)["status"] != "SUCCESS":
                    raise SystemExit("celery: task %s ended %s" % (t, v))
        pending = left
        if pending:
            time.sleep(0.002)


def e2e(n):
    r = redis.Redis.from_url(URL)
    start = time.perf_counter()
    ids = [noop.apply_async().id for _ in range(n)]
    wait_results(r, ids)
    return n / (time.perf_counter() - start)


def main():
    mode, n = sys.argv[1], int(sys.argv[2])
    if mode == "enqueue":
        print("celery_enqueue_1 %.0f" % enqueue(n))
    elif mode == "e2e":
        e2e(min(200, n))  # warm-up
        print("celery_e2e %.0f" % e2e(n))
    else:
        raise SystemExit("usage: celery_bench.py enqueue|e2e N")


if __name__ == "__main__":
    main()
