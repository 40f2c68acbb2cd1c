#!/usr/bin/env python3
"""check_policy.py - checks proto/policy.schema.json against the policies and the C code.

Run with the project's virtualenv (`.local/venv/bin/python tests/proto/check_policy.py [FILE...]`):

  (a) proto/policy.schema.json is a valid JSON Schema 2020-12;
  (b) every deploy/policy/*.json (or every FILE given) and every policy.json of the
      segmentation vectors validates against it;
  (c) a set of broken variants of deploy/policy/default.json is rejected by it (the same kinds
      of mistakes tests/unit/test_policy.c expects common/domain/policy.c to refuse);
  (d) the schema agrees with the C code: the features a condition may test and their types
      with the table of common/domain/segment.c, the actions and channels with the vocabulary of
      common/domain/vocab.c.

Prints one line per problem and a closing "N passed, N failed" line; exits 0 only when all
passed.
"""
import copy
import json
import os
import re
import sys
from pathlib import Path

import jsonschema

ROOT = Path(os.environ.get("RECOBRO_SOURCE_DIR") or Path(__file__).resolve().parents[2])
SCHEMA = ROOT / "proto" / "policy.schema.json"
DEFAULT = ROOT / "deploy" / "policy" / "default.json"

passed = 0
failed = 0


def ok(cond, what):
    global passed, failed
    if cond:
        passed += 1
    else:
        failed += 1
        print(f"FAIL {what}")


def set_path(doc, path, value):
    """Sets (or with value None deletes) the '/'-separated path in doc; returns doc."""
    parts = path.split("/")
    cur = doc
    for p in parts[:-1]:
        cur = cur[int(p)] if isinstance(cur, list) else cur[p]
    last = parts[-1]
    if isinstance(cur, list):
        i = int(last)
        if value is None:
            del cur[i]
        elif i == len(cur):
            cur.append(value)
        else:
            cur[i] = value
    elif value is None:
        del cur[last]
    else:
        cur[last] = value
    return doc


# Broken policies the schema alone must reject (path, new value or None to delete).
BROKEN = [
    ("conversation/objections/Not-Mine", {}),
    ("conversation/objections/cannot_pay/hardship", "yes"),
    ("conversation/techniques/empathy/weight", 1),
    ("conversation/stages/reported", "lower"),
    ("conversation/stages/rules/0/raise_to", "none"),
    ("conversation/stages/rules/0/event", "invoice.overdue"),
    ("conversation/stages/rules/1/back_to", "paid"),
    ("strategies/evasive/steps/2/channel", "fax"),
    ("strategies/chronic/steps/3/action", "sue"),
    ("strategies/forgetful/variants/1/weight", 0),
    ("segmentation/rules/15", None),  # no default rule
    ("segmentation/rules/1/segment", "vip"),
    ("segmentation/rules/1/segment", "high_value"),
    ("segmentation/rules/2/when/promises_brokn", 3),
    ("segmentation/rules/2/when/days_past_due", {"ge": 91}),
    ("segmentation/rules/1/when/open_dispute", {"gte": True}),
    ("segmentation/rules/0/when/balance", {"lte": "0.50"}),
    ("segmentation/rules/3/when", {}),
    ("segmentation/high_value/threshold/default", "5000.00"),
    ("negotiation/limits/evasive/max_installments", -1),
    ("negotiation/limits/chronic/max_settlement_discount_pct", 150),
    ("negotiation/limits/default/min_installment", "-25"),
    ("negotiation/limits/default/max_plan_days", None),
    ("negotiation/limits/chronic/max_instalments", 3),
    ("negotiation/limits/vip", {}),
    ("strategies/vip", {"steps": []}),
    ("strategies/evasive/steps/0", {"day": 0, "action": "call", "channel": "phone",
                                    "template": "evasive.x", "priority": 2}),
    ("strategies/chronic/steps/3/channel", "email"),
    ("strategies/unaware/steps/0/priority", 0),
    ("strategies/unaware/steps/1/template", "Unaware Invoice"),
    ("version", 0),
    ("name", None),
    ("strategy", {}),
    ("contact/call_cap/max_calls", 0),
    ("contact/window/start", "25:00"),
]


def c_features():
    text = (ROOT / "common" / "domain" / "segment.c").read_text()
    return dict(re.findall(r"^\s*F\((\w+), (INT|BOOL|MONEY|STAGE),", text, re.M))


def c_names(array):
    text = (ROOT / "common" / "domain" / "vocab.c").read_text()
    body = re.search(r"%s\[[^]]*\] = \{(.*?)\};" % array, text, re.S).group(1)
    return re.findall(r'= "(\w+)"', body)


def main(argv):
    schema = json.loads(SCHEMA.read_text())
    try:
        jsonschema.Draft202012Validator.check_schema(schema)
        ok(True, "schema")
    except jsonschema.SchemaError as e:
        ok(False, f"{SCHEMA}: not a valid 2020-12 schema: {e.message}")
        return 1
    validator = jsonschema.Draft202012Validator(schema)

    files = [Path(a) for a in argv] or sorted((ROOT / "deploy" / "policy").glob("*.json"))
    if not argv:
        files += sorted((ROOT / "tests" / "vectors" / "segmentation" / "cases").glob("*/policy.json"))
    ok(len(files) > 0, "no policy files found")
    for f in files:
        errors = sorted(validator.iter_errors(json.loads(f.read_text())), key=lambda e: e.json_path)
        ok(not errors, f"{f}: " + "; ".join(f"{e.json_path}: {e.message[:160]}" for e in errors[:3]))

    base = json.loads(DEFAULT.read_text())
    for path, value in BROKEN:
        doc = set_path(copy.deepcopy(base), path, copy.deepcopy(value))
        ok(not validator.is_valid(doc), f"broken policy accepted by the schema: {path} = {value!r}")

    when = schema["$defs"]["when"]["properties"]
    kinds = {"INT": "intTest", "BOOL": "boolTest", "MONEY": "moneyTest", "STAGE": "stageTest"}
    feats = c_features()
    ok(len(feats) >= 20, "could not read the feature table of common/domain/segment.c")
    ok(set(feats) == set(when), f"features: C has {sorted(set(feats) - set(when))} more, "
       f"the schema {sorted(set(when) - set(feats))} more")
    for name, kind in feats.items():
        if name in when:
            ok(when[name]["$ref"].endswith(kinds[kind]), f"feature {name}: C type {kind}, schema {when[name]}")
    step = schema["$defs"]["step"]["properties"]
    ok(step["action"]["enum"] == c_names("action_names"), "actions differ from common/domain/vocab.c")
    ok(step["channel"]["enum"] == c_names("channel_names"), "channels differ from common/domain/vocab.c")
    ok(schema["$defs"]["stage"]["enum"] == c_names("stage_names"), "stages differ from common/domain/vocab.c")

    print(f"{passed} passed, {failed} failed")
    return 0 if failed == 0 else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
