"""stackutil.py - helpers for the integration tests: the real local stack (Kafka, PostgreSQL,
Redis) started by deploy/local/stack, and the recobro binaries run as real processes.

Every test uses topics, consumer groups and keys of its own (a random run id), so tests never
see each other's data even though they share one stack."""
import json
import os
import random
import shlex
import signal
import socket
import string
import subprocess
import time
import urllib.request
from pathlib import Path

import psycopg
import redis
from confluent_kafka import Consumer, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

ROOT = Path(os.environ.get("RECOBRO_SOURCE_DIR", Path(__file__).resolve().parents[2]))
BIN = Path(os.environ.get("RECOBRO_BIN", ROOT / "build" / "bin"))
STACK = ROOT / "deploy" / "local" / "stack"


def stack_env():
    """The RECOBRO_* variables that .local/env exports (the env of RECOBRO_STACK_DATA_DIR when
    set: a second stack from the same tree, e.g. tests/soak's three-broker cluster)."""
    env = {}
    path = Path(os.environ.get("RECOBRO_STACK_DATA_DIR") or ROOT / ".local") / "env"
    for line in path.read_text().splitlines():
        line = line.strip()
        if line.startswith("export "):
            line = line[len("export "):]
        if "=" not in line or line.startswith("#"):
            continue
        k, v = line.split("=", 1)
        parts = shlex.split(v)
        env[k] = parts[0] if parts else ""
    # A variable set in the environment wins (e.g. a database of one's own: RECOBRO_PG_DSN).
    for k in list(env):
        if k in os.environ:
            env[k] = os.environ[k]
    return env


ENV = stack_env()
BROKERS = ENV["RECOBRO_KAFKA_BROKERS"]
DSN = ENV["RECOBRO_PG_DSN"]
REDIS_URL = ENV["RECOBRO_REDIS_URL"]


def run_id():
    return "".join(random.choice(string.ascii_lowercase + string.digits) for _ in range(8))


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def create_topics(names, partitions=6, replication=1, config=None):
    admin = AdminClient({"bootstrap.servers": BROKERS})
    # Large enough for the "too_large" test message (over recobro's 1 MiB limit).
    conf = {"max.message.bytes": str(4 * 1024 * 1024)}
    conf.update(config or {})
    futures = admin.create_topics(
        [NewTopic(n, num_partitions=partitions, replication_factor=replication, config=conf)
         for n in names], operation_timeout=30)
    for f in futures.values():
        f.result(timeout=60)
    # Wait until the broker knows the leaders of every partition.
    deadline = time.time() + 30
    while time.time() < deadline:
        md = admin.list_topics(timeout=10)
        if all(n in md.topics and len(md.topics[n].partitions) == partitions and
               all(p.leader >= 0 for p in md.topics[n].partitions.values()) for n in names):
            return
        time.sleep(0.2)
    raise AssertionError("topics not ready: %s" % names)


def delete_topics_of(rid):
    """Deletes every topic of a test's run id ("it.<rid>." and the like): thousands of tests'
    partitions left on one broker would end up exhausting its open files."""
    admin = AdminClient({"bootstrap.servers": BROKERS})
    try:
        topics = [t for t in admin.list_topics(timeout=10).topics if rid in t]
        if topics:
            for f in admin.delete_topics(topics, operation_timeout=30).values():
                f.result(timeout=60)
    except Exception as e:  # the broker may be down after a fault test: not the test's result
        print("stackutil: could not delete the topics of run %s: %s" % (rid, e))


def producer():
    return Producer({"bootstrap.servers": BROKERS, "enable.idempotence": True,
                     "linger.ms": 5, "message.max.bytes": 4 * 1024 * 1024})


def produce(topic, messages, p=None):
    """messages: iterable of (key: str|None, value: bytes|str, headers: list|None)."""
    own = p is None
    p = p or producer()
    for key, value, headers in messages:
        if isinstance(value, str):
            value = value.encode()
        while True:
            try:
                p.produce(topic, key=key, value=value, headers=headers or None)
                break
            except BufferError:
                p.poll(0.1)
        p.poll(0)
    if own:
        assert p.flush(60) == 0


def event(source, eid, etype, data, subject=None):
    ev = {"specversion": "1.0", "id": eid, "source": source, "type": etype,
          "time": "2026-11-20T10:00:00Z", "datacontenttype": "application/json", "data": data}
    if subject:
        ev["subject"] = subject
    return json.dumps(ev)


def consume(topic, want, timeout=120, group=None, predicate=None):
    """Reads `topic` from the beginning until `want` messages (passing predicate) arrived or
    the timeout passes. Returns the list of confluent_kafka messages."""
    c = Consumer({"bootstrap.servers": BROKERS, "group.id": group or ("reader-" + run_id()),
                  "auto.offset.reset": "earliest", "enable.auto.commit": False})
    c.subscribe([topic])
    out = []
    deadline = time.time() + timeout
    try:
        while len(out) < want and time.time() < deadline:
            for m in c.consume(num_messages=1000, timeout=0.5):
                if m.error():
                    continue
                if predicate is None or predicate(m):
                    out.append(m)
    finally:
        c.close()
    return out


def dsn_for(dbname):
    """The stack's DSN pointed at another database of the same server."""
    return " ".join("dbname=" + dbname if part.startswith("dbname=") else part
                    for part in DSN.split())


def create_database(name, migrate=True):
    """A database of a test's own on the stack's server (migrated unless told otherwise), so its
    counts are exact and nothing it does reaches other tests. Returns its DSN; drop it with
    drop_database() once nothing is connected."""
    with pg() as conn:
        conn.execute('CREATE DATABASE "%s"' % name)
    dsn = dsn_for(name)
    if migrate:
        recobroctl("migrate", env={"RECOBRO_PG_DSN": dsn})
    return dsn


def drop_database(name):
    with pg() as conn:
        conn.execute('DROP DATABASE IF EXISTS "%s" WITH (FORCE)' % name)


def read_all(topic):
    """Every message of `topic` up to its current end, as dicts (a reader of its own)."""
    c = Consumer({"bootstrap.servers": BROKERS, "group.id": "reader-" + run_id(),
                  "auto.offset.reset": "earliest", "enable.auto.commit": False})
    parts = c.list_topics(topic, timeout=10).topics[topic].partitions
    ends = {p: c.get_watermark_offsets(TopicPartition(topic, p), timeout=10)[1] for p in parts}
    c.assign([TopicPartition(topic, p, 0) for p in parts])
    out, pos = [], {p: 0 for p in parts}
    deadline = time.time() + 120
    try:
        while any(pos[p] < ends[p] for p in parts) and time.time() < deadline:
            for m in c.consume(num_messages=5000, timeout=0.5):
                if m.error():
                    continue
                pos[m.partition()] = m.offset() + 1
                out.append(json.loads(m.value()))
    finally:
        c.close()
    assert all(pos[p] >= ends[p] for p in parts), "could not read %s to its end" % topic
    return out


def pg():
    return psycopg.connect(DSN, autocommit=True)


def query(sql, *params):
    with pg() as conn:
        return conn.execute(sql, params).fetchall()


def rds():
    return redis.Redis.from_url(REDIS_URL, socket_timeout=2)


def stack(cmd, *args):
    subprocess.run([str(STACK), cmd, *args], check=True, stdout=subprocess.DEVNULL)


def recobroctl(*args, env=None, check=True):
    e = dict(os.environ)
    e.update(ENV)
    e.update(env or {})
    r = subprocess.run([str(BIN / "recobroctl"), *args], env=e, capture_output=True, text=True,
                       timeout=120)
    if check:
        assert r.returncode == 0, r.stderr
    return r


class Service:
    """A recobro binary running as a real process, with its log in a temporary file."""

    def __init__(self, name, env, log_dir):
        self.name = name
        self.port = free_port()
        self.env = dict(os.environ)
        self.env.update(ENV)
        self.env.update({"RECOBRO_HTTP_ADDR": "127.0.0.1:%d" % self.port,
                         "RECOBRO_LOG_LEVEL": "info"})
        self.env.update(env)
        self.log_path = Path(log_dir) / ("%s-%s.log" % (name, run_id()))
        self.proc = None

    def start(self):
        self.log = open(self.log_path, "ab")
        self.proc = subprocess.Popen([str(BIN / self.name)], env=self.env, stdout=self.log,
                                     stderr=subprocess.STDOUT)
        return self

    def url(self, path):
        return "http://127.0.0.1:%d%s" % (self.port, path)

    def http(self, path):
        try:
            with urllib.request.urlopen(self.url(path), timeout=2) as r:
                return r.status, r.read().decode()
        except urllib.error.HTTPError as e:
            return e.code, e.read().decode()

    def wait_ready(self, timeout=60):
        deadline = time.time() + timeout
        while time.time() < deadline:
            assert self.proc.poll() is None, "%s exited: %s" % (self.name, self.tail())
            try:
                if self.http("/readyz")[0] == 200:
                    return
            except OSError:
                pass
            time.sleep(0.2)
        raise AssertionError("%s not ready: %s" % (self.name, self.tail()))

    def metric(self, name, labels=""):
        """The value of one series from /metrics (0 when absent)."""
        _, body = self.http("/metrics")
        want = name + ("{%s}" % labels if labels else "")
        for line in body.splitlines():
            if line.startswith(want + " "):
                return float(line.split()[-1])
        return 0.0

    def kill(self, sig=signal.SIGKILL):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(sig)

    def stop(self, timeout=15):
        """SIGTERM, then wait; returns the exit status."""
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()
        return self.proc.returncode

    def tail(self, n=30):
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-n:])
        except OSError:
            return ""


_REGISTRY = None


def check_schema(rel, instance):
    """`instance` against proto/schemas/`rel` (Draft 2020-12, every schema of proto/ resolvable by
    its $id): raises jsonschema.ValidationError naming the first difference."""
    global _REGISTRY
    import jsonschema
    import referencing
    import referencing.jsonschema
    schemas = ROOT / "proto" / "schemas"
    if _REGISTRY is None:
        res = [(s["$id"], referencing.jsonschema.DRAFT202012.create_resource(s))
               for s in (json.loads(p.read_text()) for p in schemas.rglob("*.schema.json"))]
        _REGISTRY = referencing.Registry().with_resources(res)
    schema = json.loads((schemas / rel).read_text())
    jsonschema.Draft202012Validator(schema, registry=_REGISTRY).validate(instance)


def wait_for(fn, timeout=120, interval=0.2, what="condition"):
    deadline = time.time() + timeout
    last = None
    while time.time() < deadline:
        last = fn()
        if last:
            return last
        time.sleep(interval)
    raise AssertionError("timed out waiting for %s (last: %r)" % (what, last))
