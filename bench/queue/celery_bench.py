"""Measures Celery for bench/queue/run.sh.

    python3 celery_bench.py enqueue N     apply_async N times, no worker running; runs/s
    python3 celery_bench.py fill N FILE   apply_async N times, no worker running; the task ids go to FILE
    python3 celery_bench.py drain FILE    with a worker started after fill: runs/s from the first result
                                          stored to the last (the worker's start-up is not counted)
    python3 celery_bench.py e2e N [P]     with a worker running: enqueue N no-op tasks (from P producer
                                          processes, default 1) while the worker consumes, until every
                                          result is stored; runs/s

Completion is checked by reading the result keys (celery-task-meta-<id>) with MGET in batches, the
same way the cl side reads its stream: the measurement itself adds little to the figure.
"""
import json
import multiprocessing
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


def produce(n):
    return [noop.apply_async().id for _ in range(n)]


def e2e(n, producers=1):
    r = redis.Redis.from_url(URL)
    start = time.perf_counter()
    if producers == 1:
        ids = produce(n)
    else:
        with multiprocessing.get_context("fork").Pool(producers) as pool:
            ids = [i for part in pool.map(produce, [n // producers] * producers) for i in part]
    wait_results(r, ids)
    return len(ids) / (time.perf_counter() - start)


def drain(path):
    """Polls the results of the filled tasks still missing (every 10 ms, so that
    the polling itself takes little of the CPU the worker needs) until all are
    stored; the rate runs from the first result seen to the last."""
    r = redis.Redis.from_url(URL)
    pending = ["celery-task-meta-" + t for t in json.load(open(path))]
    total, first, first_done = len(pending), None, 0
    while pending:
        left = []
        for i in range(0, len(pending), 1000):
            chunk = pending[i:i + 1000]
            left += [k for k, v in zip(chunk, r.mget(chunk)) if v is None]
        now = time.perf_counter()
        if first is None and len(left) < total:
            first, first_done = now, total - len(left)
        pending = left
        if pending:
            time.sleep(0.01)
    return (total - first_done) / max(now - first, 1e-3)


def main():
    mode = sys.argv[1]
    n = int(sys.argv[2]) if mode != "drain" else 0
    if mode == "enqueue":
        print("celery_enqueue_1 %.0f" % enqueue(n))
    elif mode == "fill":
        json.dump(produce(n), open(sys.argv[3], "w"))
    elif mode == "drain":
        print("celery_drain %.0f" % drain(sys.argv[2]))
    elif mode == "e2e":
        producers = int(sys.argv[3]) if len(sys.argv) > 3 else 1
        e2e(min(200, n))  # warm-up
        name = "celery_e2e" if producers == 1 else "celery_e2e_%d" % producers
        print("%s %.0f" % (name, e2e(n, producers)))
    else:
        raise SystemExit("usage: celery_bench.py enqueue|fill|drain|e2e ...")


if __name__ == "__main__":
    main()
