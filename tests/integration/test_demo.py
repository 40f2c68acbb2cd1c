"""test_demo.py - `make demo` (deploy/local/demo) runs to the end and its summary shows what the
product does: a small portfolio (DEMO_DEBTORS=1000) through the real workers, on a database,
topics, consumer groups and Redis database of its own (the report page test runs it at full
size). The summary must show, with non-zero counts: ACME Telecom under es.json and the others
under default.json; promise reminders, follow-ups of broken promises, callbacks, skip traces,
restricted and restored services, supervisor reviews on the senior queue; settlements paid to
the end with what was written off; late interest (EUR) and agreed fees (EUR and USD); disputes
answered and forbearances; and the two cases an agent would look at (interest and a promise; a
settlement)."""
import json
import os
import re
import shlex
import subprocess
from pathlib import Path

import redis

import stackutil as su

DEBTORS = 1000
REDIS_DB = 10  # flushed by this test: the demo's hot cases only


def count(out, label):
    """The number at the end of the summary line that starts with `label` (after indentation);
    for the task grid, the line's total (its last number)."""
    m = re.search(r"^   %s\s.*?(\d+)\s*$" % re.escape(label), out, re.M)
    assert m, "no summary line %r in:\n%s" % (label, out[-6000:])
    return int(m.group(1))


def case_json(out, title):
    """The `recobroctl case show` JSON printed under the section `title`."""
    start = out.index(title)
    begin = out.index("\n{", start) + 1
    depth = 0
    for i, ch in enumerate(out[begin:]):
        depth += {"{": 1, "}": -1}.get(ch, 0)
        if depth == 0:
            return json.loads(out[begin:begin + i + 1])
    raise AssertionError("no JSON after %r" % title)


def run_demo(tmp_path):
    rid = su.run_id()
    name = "demo_%s" % rid
    dsn = su.create_database(name, migrate=False)
    url = re.sub(r"/\d+$", "", su.REDIS_URL) + "/%d" % REDIS_DB
    redis.Redis.from_url(url).flushdb()
    env_file = tmp_path / "demo.env"
    env_file.write_text("".join("%s=%s\n" % (k, shlex.quote(v)) for k, v in dict(
        RECOBRO_PG_DSN=dsn, RECOBRO_REDIS_URL=url, RECOBRO_KAFKA_BROKERS=su.BROKERS,
        **{"RECOBRO_TOPIC_" + t.upper().replace("-", "_"): "it.%s.%s" % (rid, t)
           for t in ("invoices", "payments", "interactions", "tasks", "case-events", "dlq")}
    ).items()))
    try:
        r = subprocess.run([str(su.ROOT / "deploy" / "local" / "demo"),
                            str(Path(os.environ.get("RECOBRO_BIN", su.BIN)).parent)],
                           env=dict(os.environ, DEMO_ENV=str(env_file),
                                    DEMO_OUT=str(tmp_path / "demo"),
                                    DEMO_GROUP_PREFIX="it-" + rid, DEMO_DEBTORS=str(DEBTORS)),
                           capture_output=True, text=True, timeout=600)
    finally:
        su.drop_database(name)
        su.delete_topics_of(rid)
        redis.Redis.from_url(url).flushdb()
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    return r.stdout, tmp_path / "demo"


def test_the_demo_shows_what_the_product_does(tmp_path):
    out, logs = run_demo(tmp_path)

    # Two creditors under different policies.
    assert re.search(r"^   acme .* es v\d+ \(its own\)", out, re.M), out
    assert re.search(r"^   northwind .* default v\d+ \(the default\)", out, re.M), out

    # Tasks by action and queue, and why they went out.
    for row in ("promise_reminder / sms", "call / phone", "skip_trace / internal",
                "restrict_service / internal", "restore_service / internal",
                "supervisor_review / internal"):
        assert count(out, row) > 0, row
    senior = re.search(r"^   supervisor_review / internal\s+(\d+)\s+(\d+)\s+(\d+)$", out, re.M)
    assert senior and int(senior.group(2)) > 0, "supervisor reviews go to the senior queue"
    for why in ("reminder of a promise before its due date", "follow-up call of a broken promise",
                "callback at the hour the debtor asked", "skip trace: never reached",
                "restore the service (paid or on a plan)", "step of the segment's ladder"):
        assert count(out, why) > 0, why

    # Case events, settlements, disputes and forbearances, charges.
    for ev in ("promise.kept", "promise.broken", "case.settled", "case.resolved"):
        assert count(out, ev) > 0, ev
    m = re.search(r"settlements agreed \(plan.agreed with settlement_amount\): (\d+), paid to the "
                  r"end: (\d+)", out)
    assert m and int(m.group(2)) > 0 and int(m.group(1)) >= int(m.group(2)), out
    m = re.search(r"^   (\w{3})\s+(\d+)\s+([\d.]+)\s+([\d.]+)$", out[out.index("paid to the end"):],
                  re.M)
    assert m and int(m.group(2)) > 0 and float(m.group(4)) > 0, "settled and written off"
    m = re.search(r"disputes opened (\d+): rejected .*? (\d+), upheld .*? (\d+), still open", out)
    assert m and int(m.group(1)) > 0 and int(m.group(2)) + int(m.group(3)) > 0, out
    assert int(re.search(r"forbearances granted (\d+)", out).group(1)) > 0
    charges = {m.group(1): m.groups() for m in re.finditer(
        r"^   (EUR|USD|JPY|KWD)\s+([\d.]+)\s+(\d+)\s+([\d.]+)\s+(\d+)\s+([\d.]+)\s+([\d.]+)$",
        out[out.index("Interest and fees charged"):], re.M)}
    assert float(charges["EUR"][1]) > 0 and int(charges["EUR"][2]) > 0, "late interest in EUR"
    assert float(charges["EUR"][3]) > 0 and float(charges["USD"][3]) > 0, "agreed fees"
    assert float(charges["USD"][1]) == 0, "default.json charges no interest"

    # The two cases an agent would look at.
    c = case_json(out, "A case with late interest and a promise")
    assert c["creditor_id"] == "acme" and c["policy_in_force"]["own"] is True
    assert c["promises"] and float(c["interest"]) > 0
    c = case_json(out, "A settled case")
    assert c["settlement"]["settled"] is True and float(c["settlement"]["written_off"]) > 0
    assert c["status"] == "resolved"

    assert (logs / "report.html").stat().st_size > 0
