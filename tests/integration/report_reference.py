"""report_reference.py - an independent computation of `recobroctl report`'s analytics from the
raw tables, written from the definitions in the report's notes (CONTRACT.md "Reports"), not from
its SQL: the rows are read plainly and every figure is counted here in Python (local days with
zoneinfo, intervals and tests with math). test_report.py compares it with the report.

compute(dsn, creditor, from_day=None, to_day=None) -> {"champion_challenger": {strategy: {variant:
{...}}}, "comparisons": {(strategy, variant): {...}}, "techniques": {...}, "objections": {...},
"agents": {...}, "roll": {"from", "to", "matrix": {(from, to): n}}}"""
import datetime as dt
import math
from collections import defaultdict
from zoneinfo import ZoneInfo

import psycopg

Z = 1.959963984540054
MIN = 30
SETTLED = ("kept", "partially_kept", "broken")


def wilson(k, n):
    if n == 0:
        return None
    p = k / n
    c = (p + Z * Z / (2 * n)) / (1 + Z * Z / n)
    h = Z * math.sqrt(p * (1 - p) / n + Z * Z / (4 * n * n)) / (1 + Z * Z / n)
    return [max(0.0, c - h), min(1.0, c + h)]


def compare(ka, na, kb, nb):
    """b against a: difference, Wald interval, pooled z, two-sided p; None when a side is empty."""
    if na == 0 or nb == 0:
        return None
    pa, pb = ka / na, kb / nb
    se = math.sqrt(pa * (1 - pa) / na + pb * (1 - pb) / nb)
    pool = (ka + kb) / (na + nb)
    se0 = math.sqrt(pool * (1 - pool) * (1 / na + 1 / nb))
    z = (pb - pa) / se0 if se0 > 0 else 0.0
    return {"difference": pb - pa, "ci95": [max(-1, pb - pa - Z * se), min(1, pb - pa + Z * se)],
            "z": z, "p_value": math.erfc(abs(z) / math.sqrt(2)) if se0 > 0 else 1.0,
            "enough": na >= MIN and nb >= MIN}


def bucket(dpd):
    for top, name in ((0, "current"), (30, "1-30"), (60, "31-60"), (90, "61-90"),
                      (180, "91-180")):
        if dpd <= top:
            return name
    return "181+"


def rows(c, sql, *params):
    cur = c.execute(sql, params)
    names = [d.name for d in cur.description]
    return [dict(zip(names, r)) for r in cur.fetchall()]


def load(dsn, creditor):
    t = {}
    with psycopg.connect(dsn) as c:
        for table in ("debt_case", "debtor", "invoice", "payment_allocation", "segment_history",
                      "promise", "plan", "contact_log", "dispute", "case_snapshot"):
            t[table] = rows(c, "SELECT * FROM %s WHERE creditor_id = %%s" % table, creditor)
    return t


def cohort(t, from_day, to_day):
    first = {}
    for i in t["invoice"]:
        if i["amount"] is not None:
            k = (i["creditor_id"], i["debtor_id"])
            first[k] = min(first.get(k, i["due_on"]), i["due_on"])
    keys = set()
    for c in t["debt_case"]:
        k = (c["creditor_id"], c["debtor_id"])
        f = first.get(k)
        if from_day and (f is None or f < from_day):
            continue
        if to_day and (f is None or f > to_day):
            continue
        keys.add(k)
    return keys, first


def worked(t):
    """(case) -> (strategy, variant) of its last segment entry that is not `resolved`."""
    last = {}
    for h in sorted(t["segment_history"], key=lambda h: h["seq"]):
        if h["to_segment"] != "resolved":
            last[(h["creditor_id"], h["debtor_id"])] = (h["strategy"] or h["to_segment"],
                                                        h["variant"] or "none")
    return last


def champion_challenger(t, keys, first):
    last = worked(t)
    paid = defaultdict(int)
    for a in t["payment_allocation"]:
        if not a["reversed"]:
            paid[(a["creditor_id"], a["debtor_id"])] += a["amount"]
    out = defaultdict(lambda: defaultdict(lambda: {"cases": 0, "cured": 0, "overdue": 0,
                                                   "kept": 0, "settled": 0}))
    case_of = {}
    for c in t["debt_case"]:
        k = (c["creditor_id"], c["debtor_id"])
        if k not in keys:
            continue
        s, v = last.get(k, (c["strategy"] or c["segment"] or "none", c["variant"] or "none"))
        case_of[k] = (s, v)
        g = out[s][v]
        g["cases"] += 1
        if k in first:
            g["overdue"] += 1
            g["cured"] += c["status"] == "resolved" and paid[k] > 0
    for p in t["promise"]:
        k = (p["creditor_id"], p["debtor_id"])
        if k in case_of:
            g = out[case_of[k][0]][case_of[k][1]]
            g["kept"] += p["state"] == "kept"
            g["settled"] += p["state"] in SETTLED
    return out


def local_day(instant, zone):
    return instant.astimezone(ZoneInfo(zone)).date()


def effects(t, keys):
    """Per right-party contact: what followed; then per technique / objection, with and without."""
    zone = {(d["creditor_id"], d["debtor_id"]): d["timezone"] for d in t["debtor"]}
    by_case = lambda table: _group(t[table])
    promises, plans, disputes = by_case("promise"), by_case("plan"), by_case("dispute")
    contacts = []
    for l in t["contact_log"]:
        k = (l["creditor_id"], l["debtor_id"])
        if k not in keys or l["outcome"] != "right_party":
            continue
        day = local_day(l["at"], zone[k])
        made = sorted((p for p in promises[k]
                       if day <= p["made_on"] <= day + dt.timedelta(days=7)),
                      key=lambda p: (p["made_on"], p["promise_id"]))
        contacts.append({
            "techniques": set(l["techniques"]), "objections": set(l["objections"]),
            "promise": made[0]["state"] if made else None,
            "planned": any(day <= p["agreed_on"] <= day + dt.timedelta(days=30)
                           for p in plans[k]),
            "disputed": any(l["at"] <= x["opened_at"] < l["at"] + dt.timedelta(days=30)
                            for x in disputes[k])})
    res = {"techniques": {}, "objections": {}}
    for kind in ("techniques", "objections"):
        for name in sorted(set().union(*(c[kind] for c in contacts)) if contacts else ()):
            sides = {}
            for used in (True, False):
                cs = [c for c in contacts if (name in c[kind]) == used]
                sides[used] = {"contacts": len(cs),
                               "promised": sum(c["promise"] is not None for c in cs),
                               "settled": sum(c["promise"] in SETTLED for c in cs),
                               "kept": sum(c["promise"] == "kept" for c in cs),
                               "planned": sum(c["planned"] for c in cs),
                               "disputed": sum(c["disputed"] for c in cs)}
            res[kind][name] = sides
    return res


def _group(table):
    g = defaultdict(list)
    for r in table:
        g[(r["creditor_id"], r["debtor_id"])].append(r)
    return g


def agents(t, keys):
    a = defaultdict(lambda: defaultdict(int))
    contacts = _group(t["contact_log"])
    for l in t["contact_log"]:
        if (l["creditor_id"], l["debtor_id"]) in keys and l["agent_id"]:
            a[l["agent_id"]]["attempts"] += 1
            a[l["agent_id"]]["right_party"] += l["outcome"] == "right_party"
    for p in t["promise"]:
        if (p["creditor_id"], p["debtor_id"]) in keys and p["agent_id"]:
            g = a[p["agent_id"]]
            g["promises"] += 1
            g["settled"] += p["state"] in SETTLED
            g["kept"] += p["state"] == "kept"
            g["limits_broken"] += p["limit_broken"] is not None
    for p in t["plan"]:
        if (p["creditor_id"], p["debtor_id"]) in keys and p["agent_id"]:
            a[p["agent_id"]]["plans"] += 1
            a[p["agent_id"]]["limits_broken"] += p["limit_broken"] is not None
    for x in t["dispute"]:
        k = (x["creditor_id"], x["debtor_id"])
        if k not in keys:
            continue
        before = [l for l in contacts[k] if l["agent_id"] and
                  x["opened_at"] - dt.timedelta(days=30) < l["at"] <= x["opened_at"]]
        if before:
            a[max(before, key=lambda l: (l["at"], l["event_id"]))["agent_id"]]["complaints"] += 1
    return a


def roll(t, from_day, to_day):
    zone = {(d["creditor_id"], d["debtor_id"]): d["timezone"] for d in t["debtor"]}
    if to_day is None:
        days = [s["day"] for s in t["case_snapshot"]]
        if not days:
            return {"from": None, "to": None, "matrix": {}}
        to_day = max(days)
    from_day = from_day or to_day - dt.timedelta(days=30)
    events = defaultdict(list)  # case -> [(day, order, state)]
    for s in t["case_snapshot"]:
        events[(s["creditor_id"], s["debtor_id"])].append((s["day"], 0, bucket(s["days_past_due"])))
    for h in t["segment_history"]:
        if h["to_segment"] == "resolved":
            k = (h["creditor_id"], h["debtor_id"])
            events[k].append((local_day(h["at"], zone[k]), 1, "resolved"))
    matrix = defaultdict(int)
    for k, ev in events.items():
        start = max((e for e in ev if e[0] <= from_day), default=None)
        end = max((e for e in ev if e[0] <= to_day), default=None)
        if start is not None and start[2] != "resolved":
            matrix[(start[2], end[2])] += 1
    return {"from": from_day.isoformat(), "to": to_day.isoformat(), "matrix": dict(matrix)}


def compute(dsn, creditor, from_day=None, to_day=None):
    t = load(dsn, creditor)
    keys, first = cohort(t, from_day, to_day)
    return {"champion_challenger": champion_challenger(t, keys, first),
            **effects(t, keys), "agents": agents(t, keys), "roll": roll(t, from_day, to_day)}
