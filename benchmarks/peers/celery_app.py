"""Celery on Redis. Celery keeps no durable record of a finished task without a result
backend, so each task leaves its own in Redis (one pipelined round trip): how often it ran,
and when it finished. That is all the 'no-op' does."""

from __future__ import annotations

import os
import time

import redis
from celery import Celery

REDIS_URL = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/13")
app = Celery("bench", broker=REDIS_URL)
app.conf.update(
    task_ignore_result=True,
    worker_hijack_root_logger=False,
    broker_connection_retry_on_startup=True,
    worker_send_task_events=False,
    task_default_queue="bench",
)
_redis = redis.Redis.from_url(REDIS_URL)


def record(task_id: str) -> None:
    now = time.time()
    pipe = _redis.pipeline(transaction=False)
    pipe.hincrby("bench:ran", task_id, 1)
    pipe.hset("bench:finished", task_id, now)
    pipe.execute()


@app.task(bind=True, name="noop")
def noop(self) -> None:
    record(self.request.id)
