"""test_pgpipe.py - pgpipe.h against the real PostgreSQL: recobro-test-pipecheck (pipecheck.c)
runs fixed sequences that succeed and that fail (a unique violation, a syntax error, an unknown
prepared statement, an unexpected status), checking the failed statement's index and SQLSTATE,
that no result is kept and that the connection leaves pipeline mode with its transaction
aborted; then queries and commands in one pipeline. In a scratch database, dropped after."""
import os
import subprocess

import pytest

import stackutil as su

PIPECHECK = os.path.join(os.environ.get("RECOBRO_BIN", str(su.ROOT / "build" / "bin")),
                         "recobro-test-pipecheck")


@pytest.fixture
def db():
    name = "recobro_pipe_" + su.run_id()
    dsn = su.create_database(name, migrate=False)
    yield dsn
    su.drop_database(name)


def test_sequences_and_pipelines(db):
    out = subprocess.run([PIPECHECK], env=dict(os.environ, RECOBRO_PG_DSN=db),
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 0 and "pipecheck: ok" in out.stdout, out.stdout + out.stderr


def test_no_database_is_a_clear_failure():
    out = subprocess.run([PIPECHECK], capture_output=True, text=True, timeout=60,
                         env=dict(os.environ, RECOBRO_PG_DSN="host=127.0.0.1 port=1 "
                                  "connect_timeout=2"))
    assert out.returncode == 1 and "cannot connect" in out.stdout, out.stdout
