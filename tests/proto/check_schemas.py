#!/usr/bin/env python3
"""check_schemas.py - checks proto/: the JSON Schemas, the examples, and the AsyncAPI document.

Run by ctest as `proto.schemas` with the project's virtualenv (tests/requirements.txt):

  (a) every schema under proto/ is a valid schema of the draft it declares (2020-12 for ours);
  (b) every proto/examples/valid/<type>--<slug>.json passes the envelope schema and the data
      schema of its type (examples/cache/ and examples/dlq/ their own schemas); every proto/examples/invalid/<code>--<slug>.json is rejected by them,
      except the few listed in SCHEMA_CANNOT_REJECT, which only recobro's C validator rejects
      (each with the reason); the C side runs the same examples as ctest vectors.examples.*;
  (c) proto/asyncapi.yaml is valid against the official AsyncAPI 3.0.0 JSON Schema from the npm
      package @asyncapi/specs (tests/package.json, installed under .local/node/ by the deps
      script; RECOBRO_ASYNCAPI_SCHEMA may point at 3.0.0.json instead), every local $ref in it
      resolves, and it describes every event type;
  (d) the schemas agree with the C code: the currency enum and its minor-unit digit groups
      with common/domain/money.c's table, the input types with common/wire/validate.c's rules table.

Formats ("date", "date-time") are annotations in 2020-12 and are not asserted here: what a
pattern cannot say (a date that does not exist, a zone that is not in the tz database) is the
C validator's job. Prints one line per problem and a closing "N passed, N failed" line; exits 0
only when everything passed.
"""
import copy
import json
import os
import re
import sys
from pathlib import Path

import jsonschema
import referencing
import referencing.jsonschema
import yaml

ROOT = Path(os.environ.get("RECOBRO_SOURCE_DIR") or Path(__file__).resolve().parents[2])
PROTO = ROOT / "proto"
SCHEMAS = PROTO / "schemas"
EXAMPLES = PROTO / "examples"

INPUT_TYPES = [
    "invoice.overdue", "invoice.adjusted", "invoice.cancelled", "payment.received",
    "payment.reversed", "contact.attempted", "promise.made", "plan.agreed", "debt.disputed",
    "dispute.resolved", "contact.preferences", "forbearance.granted", "forbearance.ended",
]
OUTPUT_TYPES = [
    "task.created", "task.cancelled", "case.segment_changed", "promise.kept", "promise.broken",
    "plan.defaulted", "case.resolved", "case.settled",
]
# Every DLQ code; currency_mismatch needs the database (a payment in another currency than
# its case), so no example can show it without one.
ERROR_CODES = [
    "malformed_json", "too_large", "schema_violation", "unknown_type", "invalid_amount",
    "invalid_currency", "invalid_date", "invalid_timezone", "currency_mismatch",
    "invalid_promise", "invalid_plan", "processing_error", "poison",
]
CODES_WITHOUT_EXAMPLE = {
    "currency_mismatch": "needs the case's currency from the database",
    "invalid_promise": "needs the case's balance from the database",
    "invalid_plan": "needs the case's balance from the database",
    "processing_error": "the database refused a valid event",
    "poison": "the message crashed the worker (tests/integration/test_poison.py)",
}

# Invalid examples that are well-formed for the schemas: only recobro's validator rejects them.
SCHEMA_CANNOT_REJECT = {
    "invalid_date--promise-made-february-30.json":
        "the date pattern allows day 30 in every month; only the C validator knows February",
    "invalid_timezone--invoice-overdue-unknown-zone.json":
        "Europe/Atlantis has the shape of an IANA name; only the tz database (GLib) knows it",
    "invalid_amount--invoice-overdue-overflow.json":
        "the 64-bit minor-unit limit is a range, not a pattern",
    "schema_violation--forbearance-until-before-from.json":
        "JSON Schema cannot compare two fields (until >= from)",
    "schema_violation--invoice-overdue-debtor-id-mismatch.json":
        "JSON Schema cannot compare two fields (debtor_id == debtor.id)",
    "unknown_type--output-type-on-input.json":
        "the schemas know every type but not which topic carries it; task.cancelled is valid "
        "as recobro's output and unknown as an input",
    "too_large--padded-over-one-mebibyte.json":
        "the 1 MiB limit is on the message's bytes, which a schema does not see",
}

results = {"passed": 0, "failed": 0}


def ok(what):
    results["passed"] += 1


def fail(what):
    results["failed"] += 1
    print(f"FAIL {what}", flush=True)


def load_json_strict(path):
    """Parses like recobro does: duplicate keys are an error, not "last one wins"."""
    def no_duplicates(pairs):
        keys = [k for k, _ in pairs]
        if len(keys) != len(set(keys)):
            raise ValueError("duplicate key")
        return dict(pairs)
    text = path.read_bytes().decode("utf-8")
    return json.loads(text, object_pairs_hook=no_duplicates)


# ---- (a) the schemas -------------------------------------------------------------------------
def load_schemas():
    schemas = {}
    for path in sorted(PROTO.rglob("*.schema.json")):
        rel = path.relative_to(ROOT)
        try:
            schema = load_json_strict(path)
            cls = jsonschema.validators.validator_for(schema)
            cls.check_schema(schema)
            if path.is_relative_to(SCHEMAS):
                if schema.get("$schema") != "https://json-schema.org/draft/2020-12/schema":
                    raise ValueError("must declare draft 2020-12")
                if not schema.get("$id", "").endswith("/" + str(path.relative_to(SCHEMAS))):
                    raise ValueError("$id must end with the file's path under proto/schemas/")
            schemas[path] = schema
            ok(rel)
        except Exception as e:  # noqa: BLE001 - report and go on
            fail(f"{rel}: not a valid schema: {e}")
    return schemas


def make_registry(schemas):
    resources = []
    for path, schema in schemas.items():
        if "$id" in schema:
            resources.append((schema["$id"], referencing.jsonschema.specification_with(
                schema.get("$schema", "https://json-schema.org/draft/2020-12/schema")
            ).create_resource(schema)))
    return referencing.Registry().with_resources(resources)


def validator(schemas, registry, rel):
    schema = schemas[SCHEMAS / rel]
    return jsonschema.Draft202012Validator(schema, registry=registry)


# ---- (b) the examples ------------------------------------------------------------------------
def first_error(v, instance):
    err = jsonschema.exceptions.best_match(v.iter_errors(instance))
    if err is None:
        return None
    return f"{'/'.join(str(p) for p in err.absolute_path) or '(root)'}: {err.message[:160]}"


def check_examples(schemas, registry):
    envelope = validator(schemas, registry, "cloudevent.schema.json")
    data_validators = {}
    for t in INPUT_TYPES + OUTPUT_TYPES:
        p = SCHEMAS / "data" / f"{t}.schema.json"
        if p not in schemas:
            fail(f"proto/schemas/data/{t}.schema.json is missing")
            continue
        data_validators[t] = jsonschema.Draft202012Validator(schemas[p], registry=registry)

    def schema_error(doc):
        """None when the schemas accept the event, else why not."""
        e = first_error(envelope, doc)
        if e:
            return f"envelope: {e}"
        dv = data_validators.get(doc.get("type"))
        if dv is None:
            return "no data schema for its type"
        e = first_error(dv, doc["data"])
        return f"data: {e}" if e else None

    valid_types = set()
    for path in sorted((EXAMPLES / "valid").iterdir()):
        name = path.name
        m = re.fullmatch(r"([a-z_]+\.[a-z_]+)--[a-z0-9][a-z0-9.-]*\.json", name)
        if not m:
            fail(f"valid/{name}: not named <type>--<slug>.json")
            continue
        try:
            doc = load_json_strict(path)
        except Exception as e:  # noqa: BLE001
            fail(f"valid/{name}: not JSON: {e}")
            continue
        if doc.get("type") != m.group(1):
            fail(f"valid/{name}: its type is {doc.get('type')!r}, not the one in its name")
            continue
        e = schema_error(doc)
        if e:
            fail(f"valid/{name}: rejected by the schemas: {e}")
        else:
            ok(name)
            valid_types.add(m.group(1))
    for t in INPUT_TYPES + OUTPUT_TYPES:
        (ok if t in valid_types else fail)(f"valid example of {t}: none passes")

    codes_seen, input_types_seen, exceptions_seen = set(), set(), set()
    for path in sorted((EXAMPLES / "invalid").iterdir()):
        name = path.name
        m = re.fullmatch(r"([a-z_]+)--[a-z0-9][a-z0-9.-]*\.json", name)
        if not m or m.group(1) not in ERROR_CODES:
            fail(f"invalid/{name}: not named <error_code>--<slug>.json with a known code")
            continue
        codes_seen.add(m.group(1))
        try:
            doc = load_json_strict(path)
        except Exception:  # noqa: BLE001 - not JSON: rejected before any schema
            doc = None
        if isinstance(doc, dict) and doc.get("type") in INPUT_TYPES:
            input_types_seen.add(doc["type"])
        why = "not JSON" if doc is None else schema_error(doc)
        if name in SCHEMA_CANNOT_REJECT:
            exceptions_seen.add(name)
            if why is None:
                ok(name)
            else:
                fail(f"invalid/{name}: listed in SCHEMA_CANNOT_REJECT but the schemas reject it "
                     f"({why}); remove it from the list")
        elif why is None:
            fail(f"invalid/{name}: accepted by the schemas")
        else:
            ok(name)
    for name in sorted(set(SCHEMA_CANNOT_REJECT) - exceptions_seen):
        fail(f"SCHEMA_CANNOT_REJECT names {name}, which does not exist")
    for code in ERROR_CODES:
        if code not in codes_seen and code not in CODES_WITHOUT_EXAMPLE:
            fail(f"no invalid example for the code {code}")
    for t in INPUT_TYPES:
        (ok if t in input_types_seen else fail)(f"invalid example of {t}: none")

    # The Redis hot case and the DLQ headers have their own examples.
    for folder, rel in (("cache", "cache.case.schema.json"), ("dlq", "dlq.headers.schema.json")):
        v = validator(schemas, registry, rel)
        paths = sorted((EXAMPLES / folder).glob("*.json"))
        (ok if paths else fail)(f"examples/{folder}/: at least one example")
        for path in paths:
            e = first_error(v, load_json_strict(path))
            (fail if e else ok)(f"{folder}/{path.name}: rejected by {rel}: {e}")


# ---- (c) the AsyncAPI document ---------------------------------------------------------------
def asyncapi_schema_path():
    env = os.environ.get("RECOBRO_ASYNCAPI_SCHEMA")
    if env:
        return Path(env)
    return ROOT / ".local/node/node_modules/@asyncapi/specs/schemas/3.0.0.json"


def check_asyncapi():
    doc_path = PROTO / "asyncapi.yaml"
    try:
        doc = yaml.safe_load(doc_path.read_text(encoding="utf-8"))
    except Exception as e:  # noqa: BLE001
        fail(f"proto/asyncapi.yaml: not YAML: {e}")
        return
    spec_path = asyncapi_schema_path()
    if not spec_path.is_file():
        fail(f"{spec_path}: missing; install tests/package.json (the deps script does, into "
             f".local/node/) or set RECOBRO_ASYNCAPI_SCHEMA")
        return
    spec = json.loads(spec_path.read_text(encoding="utf-8"))
    # The official schema is draft-07 with every definition embedded under its own $id.
    v = jsonschema.validators.validator_for(spec)(spec)
    errors = sorted(v.iter_errors(doc), key=lambda e: list(e.absolute_path))
    if doc.get("asyncapi") != "3.0.0":
        fail("proto/asyncapi.yaml: asyncapi must be 3.0.0")
    elif errors:
        for e in errors[:5]:
            fail(f"proto/asyncapi.yaml: {'/'.join(map(str, e.absolute_path))}: {e.message[:200]}")
    else:
        ok("asyncapi.yaml")
    # The validator must be able to say no: a document with a broken channel is rejected.
    broken = copy.deepcopy(doc)
    broken.setdefault("channels", {})["broken"] = {"address": 42, "messages": "none"}
    (fail if v.is_valid(broken) else ok)("AsyncAPI schema rejects a broken document")

    # Every local $ref resolves (files relative to the document, pointers inside them).
    def walk(node):
        if isinstance(node, dict):
            for k, val in node.items():
                if k == "$ref" and isinstance(val, str):
                    yield val
                else:
                    yield from walk(val)
        elif isinstance(node, list):
            for val in node:
                yield from walk(val)

    for ref in sorted(set(walk(doc))):
        file_part, _, pointer = ref.partition("#")
        target = doc if not file_part else None
        if file_part:
            p = (doc_path.parent / file_part).resolve()
            if not p.is_file():
                fail(f"asyncapi.yaml: $ref {ref}: no such file")
                continue
            target = json.loads(p.read_text()) if p.suffix == ".json" else yaml.safe_load(p.read_text())
        try:
            for part in [x for x in pointer.split("/") if x]:
                part = part.replace("~1", "/").replace("~0", "~")
                target = target[int(part)] if isinstance(target, list) else target[part]
            ok(ref)
        except (KeyError, IndexError, ValueError, TypeError):
            fail(f"asyncapi.yaml: $ref {ref}: the pointer does not resolve")

    names = {m.get("name") for m in (doc.get("components", {}).get("messages") or {}).values()
             if isinstance(m, dict)}
    for t in INPUT_TYPES + OUTPUT_TYPES:
        (ok if t in names else fail)(f"asyncapi.yaml: no message named {t}")


# ---- (d) the schemas agree with the C code ---------------------------------------------------
def check_against_c(schemas):
    money_c = (ROOT / "common/domain/money.c").read_text()
    table = {c: int(d) for c, d in re.findall(r'\{"([A-Z]{3})", (\d)\}', money_c)}
    common = schemas.get(SCHEMAS / "common.schema.json", {})
    defs = common.get("$defs", {})
    enum = set(defs.get("currency", {}).get("enum", []))
    if enum == set(table):
        ok("currency enum")
    else:
        fail(f"common.schema.json currency enum differs from common/domain/money.c: "
             f"only in schema {sorted(enum - set(table))}, only in C {sorted(set(table) - enum)}")
    groups = {}
    for branch in defs.get("moneyDigits", {}).get("allOf", []):
        codes = branch["if"]["properties"]["currency"]["enum"]
        m = re.search(r"\{1,(\d)\}", branch["then"]["properties"]["amount"]["pattern"])
        digits = int(m.group(1)) if m else 0
        for c in codes:
            groups[c] = digits
    (ok if groups == table else fail)("moneyDigits groups agree with common/domain/money.c digits")

    validate_c = (ROOT / "common/wire/validate.c").read_text()
    c_types = re.findall(r'^\s*\{"([a-z_]+\.[a-z_]+)", [a-z_]+, ', validate_c, re.M)
    (ok if c_types == INPUT_TYPES else fail)(
        f"common/wire/validate.c rules table lists the input types in CONTRACT.md's order ({c_types})")
    envelope = schemas.get(SCHEMAS / "cloudevent.schema.json", {})
    types = envelope.get("properties", {}).get("type", {}).get("enum", [])
    (ok if types == INPUT_TYPES + OUTPUT_TYPES else fail)("envelope type enum lists every type")
    dlq = schemas.get(SCHEMAS / "dlq.headers.schema.json", {})
    codes = dlq.get("properties", {}).get("recobro-error", {}).get("enum", [])
    (ok if sorted(codes) == sorted(ERROR_CODES) else fail)("DLQ header schema lists every code")


# ---- (e) limits in characters, whatever their width ------------------------------------------
# The same limits tests/unit/test_limits.c checks in C: a value of exactly the limit in 1-, 2-,
# 3- and 4-byte UTF-8 characters is valid, one character more is not.
LIMITS = {"debtorId": 64, "id": 128, "name": 256, "text": 1000}


def check_limits(schemas):
    defs = schemas.get(SCHEMAS / "common.schema.json", {}).get("$defs", {})
    for name, limit in LIMITS.items():
        v = jsonschema.Draft202012Validator(defs.get(name, {}))
        (ok if defs.get(name, {}).get("maxLength") == limit else fail)(
            f"common.schema.json {name}: maxLength {limit}, as in the C code")
        for ch in ("a", "\u00e9", "\u4e2d", "\U0001F600"):
            width = len(ch.encode())
            (ok if v.is_valid(ch * limit) else fail)(
                f"{name}: {limit} characters of {width} bytes are valid")
            (ok if not v.is_valid(ch * (limit + 1)) else fail)(
                f"{name}: {limit + 1} characters of {width} bytes are too long")


def main():
    schemas = load_schemas()
    registry = make_registry(schemas)
    check_against_c(schemas)
    check_limits(schemas)
    check_examples(schemas, registry)
    check_asyncapi()
    print(f"{results['passed']} passed, {results['failed']} failed")
    return 0 if results["failed"] == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
