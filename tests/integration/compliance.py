"""compliance.py - an independent compliance checker for recobro's task stream.

Pure Python (zoneinfo, the system's tzdata): it never calls recobro's C code and never reads
recobro's database. It is given
  - the policy's "contact" section (the REAL rules to judge by, e.g. default.json's),
  - the debtors (id -> IANA zone, country),
  - the history of inputs, each with the instant `known_at` at which recobro was told about it
    (the RECOBRO_NOW of the worker phase that consumed it) and `seq`, its position among the
    same debtor's inputs of that phase,
  - every task.created / task.cancelled envelope read from the tasks topic,
and judges every LIVE task (created and never cancelled) by DOMAIN.md's "Contact rules":

  window   [not_before, not_after) lies inside one local day d of the debtor's zone and, at every
           instant, the local clock reads a time inside d's window (weekday override, null
           weekday, no-contact dates global or by country); checked piece by piece between UTC
           offset changes, so DST days are judged by the clock the debtor actually sees.
           letter: the whole allowed day [00:00, 24:00); internal: no window.
  call_cap phone: the known phone attempts in (not_before - days, not_before] plus the task itself
           are at most max_calls.
  quiet    phone: not_before >= last known right-party phone contact + quiet days (right_party
           and refused are conversations with the debtor; a callback_requested is consent, not a
           conversation: it starts no quiet period).
  callback a call with reason "callback" answers a known callback_requested: not_before at or
           after the callback_at asked for, at least an hour long, inside the window; placed with
           the debtor's consent, neither the quiet period nor the call cap applies to it. No
           other live call's window meets [the request known, the callback's not_after).
  promise  while a known promise is pending (from when it was known to the start of the local
           day after due_on + grace, or until the next promise replaces it), no live reminder,
           call, final_notice, plan_offer, restrict_service or legal_review (other than a
           callback) whose window meets it (tasks planned before it must have been withdrawn).
  opt-out  no live phone / sms / email task whose window reaches past the opt-out (tasks
           planned before it must have been withdrawn).
  cease    after cease_communication only cease_exempt_actions (and internal work).
  dispute  while a dispute is open only dispute_exempt_actions.
  forbear  no task outside forbearance_exempt_actions whose window meets the pause
           [start of local day `from`, start of the day after `until`).

"Known before the task was created": an input is known to a task created at envelope time t when
known_at < t, or known_at == t and it was the first input of that debtor in that phase (the
interactions worker plans after each event, so a task at t may have been planned after any
prefix of that phase's inputs: judging with the shortest prefix never blames recobro for an
input it had not seen). The withdrawal rules (opt-out, cease, dispute, forbearance) need no such
care: a task planned before them must have been cancelled.

Inputs (dicts):
  {"debtor": id, "type": "contact", "channel": ..., "outcome": ..., "at": epoch, "known_at": epoch, "seq": n}
  {"debtor": id, "type": "prefs", "do_not_call": bool?, "do_not_sms": ..., "do_not_email": ...,
   "cease_communication": ..., "known_at": epoch, "seq": n}
  {"debtor": id, "type": "dispute_opened" | "dispute_resolved", "known_at": epoch, "seq": n}
  {"debtor": id, "type": "forbearance", "from": "YYYY-MM-DD", "until": "YYYY-MM-DD", "known_at": ..., "seq": n}
  {"debtor": id, "type": "promise", "due_on": "YYYY-MM-DD", "known_at": ..., "seq": n}
  A contact with outcome callback_requested may carry "callback_at": epoch.
"""
from collections import Counter, defaultdict
from datetime import date, datetime, time, timedelta, timezone
from zoneinfo import ZoneInfo

UTC = timezone.utc
WEEKDAYS = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
RPC_OUTCOMES = {"right_party", "refused"}
HELD = {"reminder", "call", "final_notice", "plan_offer", "restrict_service", "legal_review"}
HOURLY = {"phone", "sms", "email", "visit"}
OPT_OUT = {"phone": "do_not_call", "sms": "do_not_sms", "email": "do_not_email"}


def epoch(s):
    """RFC 3339 -> Unix seconds."""
    return int(datetime.fromisoformat(s.replace("Z", "+00:00")).timestamp())


def _hm(s):
    h, m = s.split(":")
    return int(h) * 60 + int(m)


class Rules:
    """The contact section, read with recobro's documented defaults for absent keys."""

    def __init__(self, contact):
        c = contact or {}
        w = c.get("window", {"start": "08:00", "end": "21:00"})
        base = (_hm(w[0]), _hm(w[1])) if isinstance(w, list) else (_hm(w["start"]),
                                                                   _hm(w["end"]))
        self.weekday = [base] * 7
        for k, v in (c.get("weekdays") or {}).items():
            i = WEEKDAYS.index(k)
            if v is None:
                self.weekday[i] = None
            else:
                self.weekday[i] = (_hm(v[0]), _hm(v[1])) if isinstance(v, list) else (
                    _hm(v["start"]), _hm(v["end"]))
        self.dates = set(c.get("no_contact_dates", []))
        self.dates_by_country = {k: set(v) for k, v in
                                 (c.get("no_contact_dates_by_country") or {}).items()}
        cap = c.get("call_cap", {"max_calls": 7, "days": 7})
        self.max_calls, self.cap_days = cap["max_calls"], cap["days"]
        self.quiet_days = c.get("quiet_days_after_rpc", 7)
        self.cease_exempt = set(c.get("cease_exempt_actions",
                                      ["validation_notice", "invoice_copy", "final_notice"]))
        self.dispute_exempt = set(c.get("dispute_exempt_actions",
                                        ["validation_notice", "invoice_copy", "supervisor_review"]))
        self.forbearance_exempt = set(c.get("forbearance_exempt_actions",
                                            ["validation_notice", "invoice_copy",
                                             "supervisor_review"]))

    def day_window(self, d, country):
        """(start_min, end_min) of local date d, or None when no contact that day."""
        iso = d.isoformat()
        if iso in self.dates or iso in self.dates_by_country.get(country or "", ()):
            return None
        return self.weekday[d.weekday()]


def _local(t, tz):
    return datetime.fromtimestamp(t, tz)


def _pieces(nb, na, tz):
    """Splits [nb, na) into pieces of constant UTC offset: [(a, b)] (offsets change at most a
    few times a day, never twice within 15 minutes)."""
    off = lambda t: _local(t, tz).utcoffset()
    samples = list(range(nb, na - 1, 900)) + [na - 1]
    cuts = []
    for lo, hi in zip(samples, samples[1:]):
        if off(lo) != off(hi):
            while hi - lo > 1:
                mid = (lo + hi) // 2
                if off(mid) == off(lo):
                    lo = mid
                else:
                    hi = mid
            cuts.append(hi)
    bounds = [nb] + cuts + [na]
    return list(zip(bounds, bounds[1:]))


def _local_day_start(d, tz):
    """The first instant whose local date is d (midnight, or the end of a gap that swallows it)."""
    naive = datetime.combine(d, time(0, 0))
    cands = []
    for fold in (0, 1):
        t = int(naive.replace(tzinfo=tz, fold=fold).timestamp())
        cands.append(t)
    lo = min(cands) - 3 * 3600
    # The earliest instant in a small bracket whose local date is >= d (a search, no trust in
    # zoneinfo's fold handling for non-existent times).
    hi = max(cands) + 3 * 3600
    while _local(lo, tz).date() >= d:
        lo -= 3600
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if _local(mid, tz).date() >= d:
            hi = mid
        else:
            lo = mid
    return hi


def check_window(task, zone, country, rules):
    """None when the task's window is inside an allowed window of its local day, else a reason."""
    ch = task["channel"]
    if ch == "internal":
        return None
    nb, na = epoch(task["not_before"]), epoch(task["not_after"])
    if na <= nb:
        return "empty window [%s, %s)" % (task["not_before"], task["not_after"])
    tz = ZoneInfo(zone)
    d = _local(nb, tz).date()
    w = rules.day_window(d, country)
    if w is None:
        return "no contact on %s (%s, %s)" % (d, WEEKDAYS[d.weekday()], zone)
    start, end = (0, 1440) if ch == "letter" else w
    for a, b in _pieces(nb, na, tz):
        la, lb = _local(a, tz), _local(b - 1, tz)
        if la.date() != d or lb.date() != d:
            return "window crosses local day %s in %s (%s .. %s)" % (d, zone, la, lb)
        if la.hour * 60 + la.minute < start:
            return "starts at local %s before %02d:%02d (%s)" % (la.time(), start // 60,
                                                                start % 60, zone)
        if lb.hour * 3600 + lb.minute * 60 + lb.second >= end * 60:
            return "reaches local %s, at/after %02d:%02d (%s)" % (lb.time(), end // 60, end % 60,
                                                                 zone)
    return None


class Checker:
    def __init__(self, contact_rules, debtors, grace_days=3):
        """contact_rules: the policy's contact section; debtors: id -> (zone, country);
        grace_days: the policy's negotiation.promise_grace_days."""
        self.rules = Rules(contact_rules)
        self.grace_days = grace_days
        self.debtors = debtors
        self.inputs = defaultdict(list)

    def add_input(self, inp):
        self.inputs[inp["debtor"]].append(inp)

    @staticmethod
    def _known(inp, created_at):
        return inp["known_at"] < created_at or (inp["known_at"] == created_at and
                                                inp.get("seq", 0) == 0)

    def _constraints(self, debtor):
        """Withdrawal-type constraints: [(from, until, kind, applies(task) -> bool)]."""
        r = self.rules
        zone, _ = self.debtors[debtor]
        tz = ZoneInfo(zone)
        out = []
        dispute_open_at = None
        inf = 1 << 62
        for inp in sorted(self.inputs[debtor], key=lambda i: (i["known_at"], i.get("seq", 0))):
            k = inp["type"]
            if k == "prefs":
                for ch, key in OPT_OUT.items():
                    if inp.get(key) is True:
                        out.append((inp["known_at"], inf, key,
                                    lambda t, ch=ch: t["channel"] == ch))
                if inp.get("cease_communication") is True:
                    out.append((inp["known_at"], inf, "cease_communication",
                                lambda t: t["channel"] != "internal" and
                                t["action"] not in r.cease_exempt))
            elif k == "dispute_opened":
                if dispute_open_at is None:
                    dispute_open_at = inp["known_at"]
            elif k == "dispute_resolved":
                if dispute_open_at is not None:
                    out.append((dispute_open_at, inp["known_at"], "dispute_open",
                                lambda t: t["action"] not in r.dispute_exempt))
                    dispute_open_at = None
            elif k == "forbearance":
                f = _local_day_start(date.fromisoformat(inp["from"]), tz)
                u = _local_day_start(date.fromisoformat(inp["until"]) + timedelta(days=1), tz)
                out.append((max(f, inp["known_at"]), u, "forbearance",
                            lambda t: t["action"] not in r.forbearance_exempt))
        if dispute_open_at is not None:
            out.append((dispute_open_at, inf, "dispute_open",
                        lambda t: t["action"] not in r.dispute_exempt))
        return out + self._promise_holds(debtor, tz)

    def _promise_holds(self, debtor, tz):
        """[(from, until, "promise_pending", applies)]: each known promise holds the ladder from
        when it was known to the start of the day after due_on + grace, or to the next one."""
        ps = sorted((i for i in self.inputs[debtor] if i["type"] == "promise"),
                    key=lambda i: (i["known_at"], i.get("seq", 0)))
        out = []
        for i, p in enumerate(ps):
            end = _local_day_start(date.fromisoformat(p["due_on"]) +
                                   timedelta(days=self.grace_days + 1), tz)
            if i + 1 < len(ps):
                end = min(end, ps[i + 1]["known_at"])
            out.append((p["known_at"], end, "promise_pending",
                        lambda t: t["action"] in HELD and t.get("reason") != "callback"))
        return out

    def _callback_violations(self, debtor, live, made_at):
        """(task, text) for the live calls that come before a callback the debtor asked for, and
        for callback tasks that answer no request."""
        reqs = [i for i in self.inputs[debtor] if i["type"] == "contact" and
                i["outcome"] == "callback_requested" and i.get("callback_at")]
        calls = [t for t in live if t["channel"] == "phone"]
        out = []
        for t in calls:
            if t.get("reason") != "callback":
                continue
            nb = epoch(t["not_before"])
            # The callback task is planned by the request itself: known_at <= its creation.
            mine = [q for q in reqs if q["callback_at"] <= nb and q["known_at"] <= made_at[id(t)]]
            if not mine:
                out.append((t, "callback with no known request at or before %s" %
                            t["not_before"]))
                continue
            if epoch(t["not_after"]) - nb < 3600:
                out.append((t, "callback window shorter than an hour"))
            q = max(mine, key=lambda q: q["callback_at"])
            for o in calls:
                if o is t or o.get("reason") == "callback":
                    continue
                if epoch(o["not_before"]) < epoch(t["not_after"]) and \
                        epoch(o["not_after"]) > q["known_at"]:
                    out.append((o, "call before the callback asked for [%s, %s)" % (
                        t["not_before"], t["not_after"])))
        return out

    def _live_by_debtor(self, created, cancelled):
        out = defaultdict(list)
        for tid, ev in created.items():
            if tid not in cancelled and ev["data"]["debtor_id"] in self.debtors:
                out[ev["data"]["debtor_id"]].append(ev)
        return out

    def check(self, envelopes):
        """envelopes: task.created / task.cancelled CloudEvents (dicts), any order, duplicates
        allowed. Returns {"checked": n, "violations": [(task_id, debtor, rule, text)],
        "by_rule": Counter, "cancelled": n, "by_channel": Counter}."""
        created, cancelled = {}, set()
        for ev in envelopes:
            if ev["type"] == "task.created":
                created.setdefault(ev["data"]["task_id"], ev)
            elif ev["type"] == "task.cancelled":
                cancelled.add(ev["data"]["task_id"])
        r = self.rules
        violations, by_channel = [], Counter()
        cons = {}
        checked = 0
        for tid, ev in created.items():
            if tid in cancelled:
                continue
            t = ev["data"]
            debtor = t["debtor_id"]
            if debtor not in self.debtors:
                continue
            checked += 1
            by_channel[t["channel"]] += 1
            zone, country = self.debtors[debtor]
            made = epoch(ev["time"])
            nb, na = epoch(t["not_before"]), epoch(t["not_after"])

            def bad(rule, text):
                violations.append((tid, debtor, rule, "%s %s/%s [%s, %s) planned %s: %s" % (
                    debtor, t["action"], t["channel"], t["not_before"], t["not_after"],
                    ev["time"], text)))

            why = check_window(t, zone, country, r)
            if why:
                bad("window", why)
            if t["channel"] == "phone" and t.get("reason") != "callback":
                known = [i for i in self.inputs[debtor] if i["type"] == "contact" and
                         i["channel"] == "phone" and self._known(i, made)]
                n = sum(1 for i in known if nb - r.cap_days * 86400 < i["at"] <= nb)
                if n + 1 > r.max_calls:
                    bad("call_cap", "%d known call attempts in the %d days before not_before, "
                                    "cap %d" % (n, r.cap_days, r.max_calls))
                rpcs = [i["at"] for i in known if i["outcome"] in RPC_OUTCOMES]
                if rpcs and r.quiet_days > 0 and nb < max(rpcs) + r.quiet_days * 86400:
                    bad("quiet_after_rpc", "right-party call at %s, quiet %d days" % (
                        datetime.fromtimestamp(max(rpcs), UTC).isoformat(), r.quiet_days))
            if debtor not in cons:
                cons[debtor] = self._constraints(debtor)
            for f, u, kind, applies in cons[debtor]:
                if nb < u and na > f and applies(t):
                    bad(kind, "window meets %s [%s, %s)" % (
                        kind, datetime.fromtimestamp(f, UTC).isoformat(),
                        "open" if u >= 1 << 62 else datetime.fromtimestamp(u, UTC).isoformat()))
        for debtor, live in self._live_by_debtor(created, cancelled).items():
            made_at = {id(ev["data"]): epoch(ev["time"]) for ev in live}
            for t, text in self._callback_violations(debtor, [e["data"] for e in live], made_at):
                violations.append((t["task_id"], debtor, "callback", "%s %s/%s [%s, %s): %s" % (
                    debtor, t["action"], t["channel"], t["not_before"], t["not_after"], text)))
        return {"checked": checked, "violations": violations,
                "by_rule": Counter(v[2] for v in violations), "cancelled": len(cancelled),
                "by_channel": by_channel, "created": len(created)}
