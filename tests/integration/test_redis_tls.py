"""test_redis_tls.py - the hot cache over TLS with an ACL user: a redis-server of the test's own
(TLS only, on a free loopback port, certificates from a throw-away CA made with openssl) takes
the cache documents of a real worker through rediss://user:password@...; with a CA that did not
sign the server's certificate the cache writes fail and are counted while processing goes on.
Skips when redis-server or openssl is missing."""
import json
import shutil
import subprocess
import time

import pytest
import redis

import stackutil as su
from conftest import worker_env

pytestmark = pytest.mark.skipif(not (shutil.which("redis-server") and shutil.which("openssl")),
                                reason="needs redis-server and openssl")


def openssl(*args, cwd):
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True)


def make_ca(d, name):
    openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj",
            "/CN=%s" % name, "-keyout", "%s.key" % name, "-out", "%s.crt" % name, cwd=d)


def make_server_cert(d):
    make_ca(d, "ca")
    (d / "san.ext").write_text("subjectAltName=IP:127.0.0.1,DNS:localhost\n")
    openssl("req", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=127.0.0.1", "-keyout",
            "server.key", "-out", "server.csr", cwd=d)
    openssl("x509", "-req", "-in", "server.csr", "-CA", "ca.crt", "-CAkey", "ca.key",
            "-CAcreateserial", "-days", "2", "-extfile", "san.ext", "-out", "server.crt", cwd=d)


@pytest.fixture
def tls_redis(tmp_path):
    """A TLS-only redis-server with the ACL user `app` (password `s3cret`, all keys and
    commands) and no default user; yields (port, directory of ca.crt / other.crt)."""
    make_server_cert(tmp_path)
    make_ca(tmp_path, "other")  # a CA that signed nothing of this server's
    port = su.free_port()
    (tmp_path / "redis.conf").write_text("\n".join([
        "bind 127.0.0.1", "port 0", "tls-port %d" % port,
        "tls-cert-file %s" % (tmp_path / "server.crt"),
        "tls-key-file %s" % (tmp_path / "server.key"),
        "tls-ca-cert-file %s" % (tmp_path / "ca.crt"),
        "tls-auth-clients no", "save \"\"", "appendonly no", "dir %s" % tmp_path,
        "user default off", "user app on >s3cret ~* &* +@all", ""]))
    proc = subprocess.Popen(["redis-server", str(tmp_path / "redis.conf")],
                            stdout=open(tmp_path / "redis.log", "wb"), stderr=subprocess.STDOUT)
    client = redis.Redis(host="127.0.0.1", port=port, ssl=True,
                         ssl_ca_certs=str(tmp_path / "ca.crt"), username="app",
                         password="s3cret", socket_timeout=2)
    try:
        su.wait_for(lambda: _pings(client), timeout=20, what="the TLS redis-server")
        yield port, tmp_path, client
    finally:
        proc.terminate()
        proc.wait(10)


def _pings(client):
    try:
        return client.ping()
    except (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError):
        return False


def feed(names, n):
    rid = names["rid"]
    keys = ["%s-k%d" % (rid, i) for i in range(5)]
    msgs, expected = [], {k: 0 for k in keys}
    for i in range(n):
        k = keys[i % len(keys)]
        expected[k] += i
        msgs.append(("acme/" + k, su.event("erp/test", "%s-%d" % (rid, i), "test.add",
                                            {"key": k, "amount": str(i)}), None))
    su.produce(names["in"], msgs)
    return expected


def test_cache_over_tls_with_an_acl_user(names, services, tls_redis):
    port, d, client = tls_redis
    expected = feed(names, 50)
    worker = services("recobro-testsum", worker_env(
        names, RECOBRO_REDIS_URL="rediss://app:s3cret@127.0.0.1:%d/0" % port,
        RECOBRO_REDIS_TLS_CA=str(d / "ca.crt")))
    su.wait_for(lambda: worker.metric("recobro_events_total",
                                      'type="test.add",result="applied"') == 50, what="applied")
    for k, total in expected.items():
        doc = su.wait_for(lambda: client.get("recobro:test:" + k), timeout=30, what="cache doc")
        assert json.loads(doc)["total"] == total
    assert worker.metric("recobro_cache_errors_total") == 0
    assert "s3cret" not in worker.tail(200)


def test_cache_refuses_a_server_its_ca_did_not_sign(names, services, tls_redis):
    port, d, client = tls_redis
    expected = feed(names, 50)
    worker = services("recobro-testsum", worker_env(
        names, RECOBRO_REDIS_URL="rediss://app:s3cret@127.0.0.1:%d/0" % port,
        RECOBRO_REDIS_TLS_CA=str(d / "other.crt")))
    su.wait_for(lambda: worker.metric("recobro_events_total",
                                      'type="test.add",result="applied"') == 50, what="applied")
    rows = dict(su.query("SELECT key, total FROM test_total WHERE key = ANY(%s)",
                         list(expected)))
    assert rows == expected  # processing went on
    su.wait_for(lambda: worker.metric("recobro_cache_errors_total") > 0, timeout=30,
                what="cache errors counted")
    assert all(client.get("recobro:test:" + k) is None for k in expected)
    # the failed writes wait in PostgreSQL for a Redis that answers
    assert su.query("SELECT count(*) FROM cache_pending WHERE cache_key LIKE %s",
                    "recobro:test:" + names["rid"] + "%")[0][0] == len(expected)
