"""The Celery side of bench/queue: one no-op task, Redis broker and result backend.

The broker and backend URL come from CELERY_BENCH_URL (bench/queue/run.sh sets it).
Settings are Celery's defaults except where noted.
"""
import os

from celery import Celery

URL = os.environ.get("CELERY_BENCH_URL", "redis://127.0.0.1:6379/1")

app = Celery("bench", broker=URL, backend=URL)
app.conf.update(
    task_serializer="json",
    result_serializer="json",
    accept_content=["json"],
    worker_hijack_root_logger=False,
    broker_connection_retry_on_startup=True,
)


@app.task(name="bench.noop")
def noop():
    """Does nothing; its result (None) is stored in the backend."""
    return None
