"""test_kafka_defaults.py - a consuming worker's prefetch defaults (kafka.c: queued.min.messages
50000, max.partition.fetch.bytes 256 KB, which keep its RSS flat over a million events) are what
librdkafka runs with; a RECOBRO_KAFKA_* setting still wins over them, and a bad one stops the
worker at start with one line naming it; a raised message.max.bytes is still accepted (librdkafka
refuses one above fetch.max.bytes, left at its default). librdkafka's own dump of its
configuration (RECOBRO_KAFKA_DEBUG=conf, at debug level) is the witness."""
import subprocess
import time

import stackutil as su
from conftest import worker_env


def conf_dump(services, env):
    """The worker's librdkafka configuration lines ("name = value"), read from its log."""
    w = services("recobro-testsum", dict(env, RECOBRO_KAFKA_DEBUG="conf",
                                         RECOBRO_LOG_LEVEL="debug"))
    deadline = time.time() + 30
    while time.time() < deadline:
        log = w.log_path.read_text(errors="replace")
        if "queued.min.messages = " in log:
            return log
        time.sleep(0.2)
    raise AssertionError("no configuration dump: " + w.tail())


def test_prefetch_defaults_and_their_override(names, services):
    log = conf_dump(services, worker_env(names))
    assert "queued.min.messages = 50000\"" in log
    assert "fetch.message.max.bytes = 262144\"" in log  # max.partition.fetch.bytes's own name
    names2 = dict(names, group=names["group"] + "-b")
    log = conf_dump(services, worker_env(names2, RECOBRO_KAFKA_QUEUED_MIN_MESSAGES="77777",
                                         RECOBRO_KAFKA_MESSAGE_MAX_BYTES="4194304"))
    assert "queued.min.messages = 77777\"" in log
    assert "message.max.bytes = 4194304\"" in log
    assert "fetch.message.max.bytes = 262144\"" in log  # the default not overridden stays


def test_bad_prefetch_setting_stops_at_start(names):
    for value in ("lots", "0"):
        env = dict(su.ENV, **worker_env(names, RECOBRO_KAFKA_QUEUED_MIN_MESSAGES=value))
        r = subprocess.run([str(su.BIN / "recobro-testsum")], env=env, capture_output=True,
                           text=True, timeout=30)
        assert r.returncode == 2, r.stderr
        lines = r.stderr.strip().splitlines()
        assert len(lines) == 1 and "RECOBRO_KAFKA_QUEUED_MIN_MESSAGES" in lines[0], r.stderr
