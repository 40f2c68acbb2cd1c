"""test_dlq_replay.py - `recobroctl dlq replay` sends rejected messages back to their source
topic byte for byte (key, payload, the producer's headers), filtered or not, but only to an
input topic unless --to says otherwise; an unfiltered replay commits what it read (with --limit,
what it replayed), so running it again replays nothing; bad arguments exit 2."""
import json

import stackutil as su
from conftest import worker_env


def test_replay_returns_messages_to_their_topic(names, services):
    rid = names["rid"]
    key = "acme/%s-k" % rid
    bad = [
        (b"{broken", [("trace-id", b"t-1")]),
        (su.event("erp/test", rid + "-m", "test.add",
                  {"key": rid, "amount": "3", "reject_in_tx": True}).encode(), None),
    ]
    su.produce(names["in"], [(key, v, h) for v, h in bad])
    worker = services("recobro-testsum", worker_env(names))
    services("recobro-relay", worker_env(names))
    assert len(su.consume(names["dlq"], 2, timeout=60)) == 2
    worker.stop()

    env = {"RECOBRO_TOPIC_DLQ": names["dlq"], "RECOBRO_GROUP_ID": "replay-" + rid,
           "RECOBRO_TOPIC_INVOICES": names["in"]}
    r = su.recobroctl("dlq", "replay", "--dry-run", env=env)
    lines = [json.loads(line) for line in r.stdout.splitlines()]
    assert lines[-1] == {"replayed": 2, "skipped": 0, "refused": 0, "dry_run": True}
    assert {l["reason"] for l in lines[:-1]} == {"malformed_json", "currency_mismatch"}
    # The filters and the limit, on dry runs (which commit nothing).
    r = su.recobroctl("dlq", "replay", "--dry-run", "--source-topic", names["in"], env=env)
    assert json.loads(r.stdout.splitlines()[-1]) == {"replayed": 2, "skipped": 0,
                                                     "refused": 0, "dry_run": True}
    r = su.recobroctl("dlq", "replay", "--dry-run", "--source-topic", "elsewhere", env=env)
    assert json.loads(r.stdout) == {"replayed": 0, "skipped": 2, "refused": 0, "dry_run": True}
    r = su.recobroctl("dlq", "replay", "--dry-run", "--limit", "1", env=env)
    lines = [json.loads(line) for line in r.stdout.splitlines()]
    assert len(lines) == 2 and lines[-1] == {"replayed": 1, "skipped": 0, "refused": 0, "dry_run": True}

    r = su.recobroctl("dlq", "replay", "--reason", "malformed_json", env=env)
    assert json.loads(r.stdout) == {"replayed": 1, "skipped": 1, "refused": 0, "dry_run": False}

    r = su.recobroctl("dlq", "replay", env=env)
    assert json.loads(r.stdout) == {"replayed": 2, "skipped": 0, "refused": 0, "dry_run": False}
    r = su.recobroctl("dlq", "replay", env=env)  # committed: nothing left
    assert json.loads(r.stdout) == {"replayed": 0, "skipped": 0, "refused": 0, "dry_run": False}

    back = su.consume(names["in"], 5, timeout=30)
    replayed = [m for m in back if dict(m.headers() or []).get("recobro-replayed-from")]
    assert len(replayed) == 3  # one filtered replay + the unfiltered one
    for m in replayed:
        h = dict(m.headers())
        assert m.key().decode() == key
        assert m.value() in [v for v, _ in bad]
        assert not any(k.startswith("recobro-") and k != "recobro-replayed-from" for k in h)
        if m.value() == b"{broken":
            assert h["trace-id"] == b"t-1"


def test_replay_publishes_only_to_input_topics_and_commits_what_it_replayed(names):
    """A DLQ message whose recobro-source-topic names an output topic (anyone who can write to
    the DLQ can forge one) is refused, counted and reported, never published there; --to sends
    it where the operator says. Header values reach the dry run's JSON escaped. A replay with
    --limit commits what it replayed, so the next run goes on after it. Before: the forged
    message went into the tasks topic, the dry run printed broken JSON (also for header bytes that
    are not UTF-8), and --limit committed nothing."""
    rid = names["rid"]
    weird = 'we"ird\\\n'
    weird_bytes = weird.encode() + b"\xff\xe2\x82"  # not UTF-8: a stray byte, then a cut one
    dlq = [  # one key: one partition, so the order below is the order read
        (b"m1", "malformed_json", names["in"]),
        (b"m2", "malformed_json", names["out"]),  # forged: the tasks topic
        (b"m3", weird_bytes, names["in"]),
        (b"m4", "malformed_json", names["in"]),
    ]
    su.produce(names["dlq"], [("k", v, [("recobro-error", reason if isinstance(reason, bytes)
                                         else reason.encode()),
                                        ("recobro-source-topic", src.encode())])
                              for v, reason, src in dlq])
    env = {"RECOBRO_TOPIC_DLQ": names["dlq"], "RECOBRO_GROUP_ID": "replay-" + rid,
           "RECOBRO_TOPIC_INVOICES": names["in"], "RECOBRO_TOPIC_TASKS": names["out"]}

    r = su.recobroctl("dlq", "replay", "--dry-run", env=env)
    lines = [json.loads(line) for line in r.stdout.splitlines()]  # every line is JSON
    assert lines[-1] == {"replayed": 3, "skipped": 0, "refused": 1, "dry_run": True}
    reasons = [l["reason"] for l in lines[:-1]]
    assert reasons[0] == reasons[2] == "malformed_json"
    # bytes that are not UTF-8 come out as U+FFFD, never as broken JSON
    assert reasons[1].startswith(weird) and set(reasons[1][len(weird):]) == {"\ufffd"}
    assert "refused DLQ message" in r.stderr and names["out"] in r.stderr

    r = su.recobroctl("dlq", "replay", "--limit", "2", env=env)
    assert json.loads(r.stdout) == {"replayed": 2, "skipped": 0, "refused": 1, "dry_run": False}
    r = su.recobroctl("dlq", "replay", env=env)  # goes on after the first two
    assert json.loads(r.stdout) == {"replayed": 1, "skipped": 0, "refused": 0, "dry_run": False}
    r = su.recobroctl("dlq", "replay", env=env)
    assert json.loads(r.stdout) == {"replayed": 0, "skipped": 0, "refused": 0, "dry_run": False}
    assert [m.value() for m in su.consume(names["in"], 3, timeout=30)] == [b"m1", b"m3", b"m4"]
    assert su.consume(names["out"], 1, timeout=5) == []  # nothing reached the tasks topic

    # The operator decides: the forged message's bytes go where --to says.
    env["RECOBRO_GROUP_ID"] = "replay-to-" + rid
    r = su.recobroctl("dlq", "replay", "--source-topic", names["out"], "--to", names["in"],
                      env=env)
    assert json.loads(r.stdout) == {"replayed": 1, "skipped": 3, "refused": 0, "dry_run": False}
    assert [m.value() for m in su.consume(names["in"], 4, timeout=30)] == [b"m1", b"m3", b"m4",
                                                                          b"m2"]
    assert su.consume(names["out"], 1, timeout=5) == []


def test_replay_usage_errors(names):
    for args in (["dlq"], ["dlq", "replay", "--limit", "0"], ["dlq", "replay", "--bogus"],
                 ["dlq", "replay", "--reason"], ["dlq", "replay", "--source-topic"],
                 ["dlq", "replay", "--limit"], ["dlq", "replay", "--limit", "-1"],
                 ["dlq", "replay", "--limit", "3x"], ["dlq", "replay", "--limit", ""],
                 ["dlq", "replay", "--to"], ["dlq", "replay", "--to", ""]):
        r = su.recobroctl(*args, check=False)
        assert r.returncode == 2, args
        assert r.stdout == "" and "usage: recobroctl" in r.stderr, args
