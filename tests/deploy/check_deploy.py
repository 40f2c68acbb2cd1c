#!/usr/bin/env python3
"""check_deploy.py - the deployment files against the code (ctest "deploy.files").

Reads deploy/docker/Dockerfile, deploy/compose/compose.yaml, deploy/kubernetes/*.yaml and
deploy/kafka-topics.md and checks them against what the code says:

- every binary a container runs (compose, Kubernetes, the Dockerfile's CMD) is built from a
  services/<name>/ directory with sources (CMakeLists.txt: recobro-<name>, recobroctl) and is in
  the list of binaries the Dockerfile builds and copies; every worker of services/ is deployed;
- every RECOBRO_* variable set anywhere is in common/base/config.c's settings table, or is a
  RECOBRO_KAFKA_<PROPERTY> pass-through naming a real librdkafka property (when librdkafka's
  CONFIGURATION.md is installed);
- every worker listens on 0.0.0.0:<its port of common/base/config.c> (RECOBRO_HTTP_ADDR), and its
  liveness probe is /healthz and readiness probe /readyz on that port (compose healthchecks and
  Prometheus annotations too);
- Kubernetes workloads: terminationGracePeriodSeconds longer than the drain
  (RECOBRO_SHUTDOWN_TIMEOUT_MS), requests and limits, non-root, read-only root, ALL capabilities
  dropped; every consumer-group worker (its main.c calls wk_run or pipeline_main) is a StatefulSet with
  RECOBRO_KAFKA_GROUP_INSTANCE_ID from the pod name and a PodDisruptionBudget, and no other
  workload sets a group instance id; kustomization.yaml lists every manifest (templates aside);
- the Dockerfile needs no SHELL instruction and no bash (podman's default OCI format);
- the Dockerfile's runtime packages exist in Debian 12 (apt-cache, when this is Debian 12) and
  provide every shared library the built binaries need (readelf + dpkg, when a build exists);
- deploy/kafka-topics.md states every topic setting that `recobroctl topics ensure` applies.

Then it breaks in-memory copies of the files on purpose and requires each break to be reported,
so that the check itself cannot silently pass. No network, no Docker, no cluster.
"""
from __future__ import annotations

import copy
import gzip
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import yaml

ROOT = Path(os.environ.get("RECOBRO_SOURCE_DIR") or Path(__file__).resolve().parents[2])
BIN_DIR = Path(os.environ.get("RECOBRO_BIN") or ROOT / "build" / "bin")
KAFKA_PASSTHROUGH = re.compile(r"^RECOBRO_KAFKA_[A-Z0-9]+(_[A-Z0-9]+)*$")
# A word of a command line that starts with "recobro" (not a path such as /etc/recobro/...).
BINARY = re.compile(r"(?:^|(?<=[\s;&|{('\"]))(recobro[A-Za-z0-9_.-]*)(?=$|[\s;&|})'\"])")
# Shared libraries every Debian image has (libc6 is Essential).
BASE_LIBS_PACKAGES = {"libc6"}


# ---- inputs -------------------------------------------------------------------------------------

def read_inputs(root: Path) -> dict:
    """Everything the checks read, as text, so that the self-check can break copies of it."""
    k8s_dir = root / "deploy" / "kubernetes"
    services = {}
    for d in sorted((root / "services").iterdir()):
        if d.is_dir():
            sources = sorted(d.glob("*.c"))
            main = d / "main.c"
            services[d.name] = {
                "sources": [s.name for s in sources],
                "main": main.read_text() if main.exists() else "",
            }
    topics_md = root / "deploy" / "kafka-topics.md"
    return {
        "config.c": (root / "common" / "base" / "config.c").read_text(),
        "commands.c": (root / "services" / "recobroctl" / "commands.c").read_text(),
        "CMakeLists.txt": (root / "CMakeLists.txt").read_text(),
        "services": services,
        "Dockerfile": (root / "deploy" / "docker" / "Dockerfile").read_text(),
        "compose.yaml": (root / "deploy" / "compose" / "compose.yaml").read_text(),
        "k8s": {p.name: p.read_text() for p in sorted(k8s_dir.glob("*.yaml"))},
        "kafka-topics.md": topics_md.read_text() if topics_md.exists() else "",
    }


def config_names(config_c: str) -> set[str]:
    """The RECOBRO_* names of common/base/config.c's table."""
    m = re.search(r"config_table\[\]\s*=\s*\{(.*?)\n\};", config_c, re.S)
    table = m.group(1) if m else ""
    return set(re.findall(r'\{\s*"(RECOBRO_[A-Z0-9_]+)"', table))


def service_ports(config_c: str) -> dict[str, int]:
    """common/base/config.c's default port per service ({"overdue", "127.0.0.1:9101"})."""
    return {s: int(p) for s, p in re.findall(r'\{"([a-z]+)",\s*"[0-9.]+:(\d+)"\}', config_c)}


def librdkafka_properties() -> set[str] | None:
    for doc in ("/usr/share/doc/librdkafka-dev/CONFIGURATION.md.gz",
                "/usr/share/doc/librdkafka1/CONFIGURATION.md.gz"):
        if os.path.exists(doc):
            with gzip.open(doc, "rt", encoding="utf-8", errors="replace") as f:
                return {m.group(1) for m in re.finditer(r"^([a-z][a-z0-9._]*)\s*\|", f.read(), re.M)}
    return None


def binary_service(binary: str) -> str:
    return binary[len("recobro-"):] if binary.startswith("recobro-") else binary


def parse_addr_port(value: str) -> tuple[str, int] | None:
    m = re.fullmatch(r"(\[[^\]]*\]|[^:]*):(\d+)", value or "")
    return (m.group(1), int(m.group(2))) if m else None


# ---- the Dockerfile ---------------------------------------------------------------------------

def dockerfile_info(text: str) -> dict:
    joined = re.sub(r"\\\n", " ", text)
    lines = [ln.strip() for ln in joined.splitlines() if ln.strip() and not ln.strip().startswith("#")]
    stages, cur = [], None
    for ln in lines:
        word = ln.split(None, 1)[0].upper()
        if word == "FROM":
            cur = {"from": ln.split()[1], "lines": []}
            stages.append(cur)
        elif cur is not None:
            cur["lines"].append(ln)
    args = dict(re.findall(r'^ARG\s+([A-Z_]+)="?([^"\n]*)"?$', joined, re.M))
    runtime = stages[-1] if stages else {"from": "", "lines": []}
    packages = []
    for ln in runtime["lines"]:
        m = re.search(r"apt-get install\s+(.*?)(?:&&|$)", ln)
        if ln.upper().startswith("RUN") and m:
            packages += [w for w in m.group(1).split() if not w.startswith("-")]
    user = next((ln.split(None, 1)[1] for ln in runtime["lines"] if ln.upper().startswith("USER ")), "")
    cmd = next((ln.split(None, 1)[1] for ln in runtime["lines"] if ln.upper().startswith("CMD ")), "")
    return {"stages": stages, "args": args, "runtime_packages": packages, "user": user, "cmd": cmd}


# ---- the checks -------------------------------------------------------------------------------

class Checker:
    def __init__(self, inp: dict, host_checks: bool):
        self.inp = inp
        self.host = host_checks
        self.problems: list[str] = []
        self.notes: list[str] = []
        self.known = config_names(inp["config.c"])
        self.ports = service_ports(inp["config.c"])
        self.services = inp["services"]
        self.consumers = {
            n for n, s in self.services.items() if "wk_run(" in s["main"] or "pipeline_main(" in s["main"]
        }
        self.workers = {n for n, s in self.services.items() if s["sources"] and n != "recobroctl"}
        self.dockerfile = dockerfile_info(inp["Dockerfile"])
        self.image_services = self.dockerfile["args"].get("RECOBRO_SERVICES", "").split()
        self.kprops = librdkafka_properties()

    def bad(self, where: str, what: str) -> None:
        self.problems.append(f"{where}: {what}")

    # -- shared pieces --
    def check_var(self, where: str, name: str) -> None:
        if not name.startswith("RECOBRO_"):
            return
        if name in self.known:
            return
        if KAFKA_PASSTHROUGH.match(name):
            prop = name[len("RECOBRO_KAFKA_"):].lower().replace("_", ".")
            if self.kprops is not None and prop not in self.kprops:
                self.bad(where, f"{name}: '{prop}' is not a librdkafka property")
            return
        self.bad(where, f"{name} is not a setting of common/base/config.c")

    def check_binary(self, where: str, binary: str) -> None:
        svc = binary_service(binary)
        info = self.services.get(svc)
        if info is None:
            self.bad(where, f"runs {binary}, but there is no services/{svc}/")
        elif not info["sources"]:
            self.bad(where, f"runs {binary}, but services/{svc}/ has no sources (no CMake target)")
        if svc not in self.image_services:
            self.bad(where, f"runs {binary}, which the Dockerfile does not build (RECOBRO_SERVICES)")

    def binaries_in(self, command) -> list[str]:
        if command is None:
            return []
        text = " ".join(command) if isinstance(command, list) else str(command)
        return BINARY.findall(text)

    # -- Dockerfile --
    def check_dockerfile(self) -> None:
        d = self.dockerfile
        w = "deploy/docker/Dockerfile"
        if len(d["stages"]) < 2:
            self.bad(w, "is not multi-stage (build and runtime)")
        for st in d["stages"]:
            base = st["from"]
            if base.startswith("${"):
                base = d["args"].get(base.strip("${}"), "")
            if ":" not in base or base.endswith(":latest") or "debian:12" not in base:
                self.bad(w, f"base image '{st['from']}' is not Debian 12 pinned by tag")
        if "RECOBRO_WERROR=ON" not in self.inp["Dockerfile"]:
            self.bad(w, "does not build with -DRECOBRO_WERROR=ON")
        if not self.image_services:
            self.bad(w, "has no ARG RECOBRO_SERVICES (the binaries it builds)")
        cml = self.inp["CMakeLists.txt"]
        if "set(bin recobro-${svc})" not in cml or "set(bin recobroctl)" not in cml:
            self.bad("CMakeLists.txt", "no longer names binaries recobro-<service> / recobroctl")
        for svc in self.image_services:
            info = self.services.get(svc)
            if info is None or not info["sources"]:
                self.bad(w, f"builds '{svc}', which is not a CMake target (services/{svc}/*.c)")
        for svc in sorted(self.workers | ({"recobroctl"} & set(self.services))):
            if svc not in self.image_services:
                self.bad(w, f"does not build services/{svc}/ (add it to RECOBRO_SERVICES)")
        # podman builds the OCI image format by default, which has no SHELL instruction: every RUN
        # runs with /bin/sh (dash on Debian), so the file must need neither SHELL nor bash.
        for st in d["stages"]:
            for ln in st["lines"]:
                word = ln.split(None, 1)[0].upper()
                if word == "SHELL":
                    self.bad(w, "has a SHELL instruction (podman's default OCI format has none): "
                                "write every RUN in POSIX sh")
                elif word == "RUN" and re.search(r"\w\+?=\(|\[\[|\bpipefail\b|\$\{\w+\[", ln):
                    self.bad(w, "a RUN uses bash-only syntax (arrays, [[ ]], pipefail) but runs with "
                                f"/bin/sh: {ln[:70]}")
        user = d["user"].split(":")[0]
        if not user.isdigit() or int(user) == 0:
            self.bad(w, f"runtime USER '{d['user']}' is not a numeric non-root id")
        for b in self.binaries_in(d["cmd"]):
            self.check_binary(w + " CMD", b)
        if not d["runtime_packages"]:
            self.bad(w, "runtime stage installs no packages")

    def check_debian_packages(self) -> None:
        pkgs = self.dockerfile["runtime_packages"]
        w = "deploy/docker/Dockerfile"
        deb = Path("/etc/debian_version")
        if not (self.host and shutil.which("apt-cache") and deb.exists()
                and deb.read_text().startswith("12")):
            self.notes.append("runtime packages not looked up (no apt-cache on Debian 12 here)")
            return
        # One apt-cache call (each costs about a second): a package with no candidate version
        # is not in the lists.
        r = subprocess.run(["apt-cache", "policy", *pkgs], capture_output=True, text=True)
        candidates = dict(re.findall(r"^(\S+):\n\s+Installed: .*\n\s+Candidate: (\S+)", r.stdout, re.M))
        for p in pkgs:
            if candidates.get(p, "(none)") == "(none)":
                self.bad(w, f"runtime package '{p}' is not in this machine's Debian 12 lists")
        # Every shared library the built binaries need comes from a runtime package.
        if not (shutil.which("readelf") and shutil.which("dpkg-query") and BIN_DIR.is_dir()):
            self.notes.append("shared libraries not checked (no build or no readelf/dpkg)")
            return
        ldcache = subprocess.run(["ldconfig", "-p"], capture_output=True, text=True).stdout
        checked = 0
        for svc in self.image_services:
            binary = BIN_DIR / ("recobroctl" if svc == "recobroctl" else f"recobro-{svc}")
            if not binary.exists():
                continue
            out = subprocess.run(["readelf", "-d", str(binary)], capture_output=True, text=True).stdout
            for soname in re.findall(r"\(NEEDED\).*\[(.+?)\]", out):
                if re.match(r"lib(a|ub|l|t)san\.so", soname):
                    continue  # a sanitizer build's runtime (make sanitize), never in the image
                m = re.search(rf"^\s*{re.escape(soname)} \(libc6,x86-64\) => (\S+)$", ldcache, re.M) \
                    or re.search(rf"^\s*{re.escape(soname)} \([^)]*\) => (\S+)$", ldcache, re.M)
                if not m:
                    continue
                path = os.path.realpath(m.group(1))
                r = subprocess.run(["dpkg-query", "-S", path], capture_output=True, text=True)
                if r.returncode != 0:
                    r = subprocess.run(["dpkg-query", "-S", m.group(1)], capture_output=True, text=True)
                if r.returncode != 0:
                    continue
                owner = r.stdout.split(":", 1)[0].strip()
                checked += 1
                if owner not in pkgs and owner not in BASE_LIBS_PACKAGES:
                    self.bad(w, f"{binary.name} needs {soname} from '{owner}', "
                                "which the runtime stage does not install")
        if checked == 0:
            self.notes.append("shared libraries not checked (no built binaries found)")

    # -- compose --
    def check_compose(self) -> None:
        w = "deploy/compose/compose.yaml"
        try:
            doc = yaml.safe_load(self.inp["compose.yaml"])
        except yaml.YAMLError as e:
            self.bad(w, f"is not YAML: {e}")
            return
        services = doc.get("services") or {}
        kafka = services.get("kafka", {})
        if not str(kafka.get("image", "")).startswith("apache/kafka:3.9."):
            self.bad(w, "kafka is not apache/kafka:3.9.x (librdkafka 2.0.2 cannot join groups on 4.0.0)")
        if str((kafka.get("environment") or {}).get("KAFKA_GROUP_INITIAL_REBALANCE_DELAY_MS")) != "0":
            self.bad(w, "kafka lacks group.initial.rebalance.delay.ms=0")
        deployed = set()
        for name, svc in services.items():
            where = f"{w} service {name}"
            env = svc.get("environment") or {}
            if isinstance(env, list):
                env = dict(e.split("=", 1) if "=" in e else (e, "") for e in env)
            for var in env:
                self.check_var(where, var)
            bins = self.binaries_in(svc.get("command"))
            for b in bins:
                self.check_binary(where, b)
            if "GROUP_INSTANCE_ID" in " ".join(env):
                self.bad(where, "sets a group instance id (scaling would fence containers)")
            workers = [binary_service(b) for b in bins if binary_service(b) in self.workers]
            if not workers:
                continue
            svc_name = workers[0]
            deployed.add(svc_name)
            port = self.expect_http_addr(where, svc_name, env.get("RECOBRO_HTTP_ADDR"))
            test = " ".join((svc.get("healthcheck") or {}).get("test") or [])
            if port is not None and f"/dev/tcp/127.0.0.1/{port}" not in test:
                self.bad(where, f"healthcheck does not probe port {port}")
            if "/readyz" not in test and "/healthz" not in test:
                self.bad(where, "healthcheck asks neither /readyz nor /healthz")
            grace = str(svc.get("stop_grace_period", "10s"))
            m = re.fullmatch(r"(\d+)s", grace)
            if not m or int(m.group(1)) * 1000 <= 8000:
                self.bad(where, f"stop_grace_period {grace} does not cover the 8 s drain")
            dep = (svc.get("depends_on") or {}).get("init") if isinstance(svc.get("depends_on"), dict) else None
            if not dep or dep.get("condition") != "service_completed_successfully":
                self.bad(where, "does not wait for the init service (migrate, topics)")
        for svc in sorted(self.workers - deployed):
            self.bad(w, f"does not run services/{svc}/ (recobro-{svc})")

    def expect_http_addr(self, where: str, svc: str, value) -> int | None:
        if value is None:
            self.bad(where, "no RECOBRO_HTTP_ADDR (the default listens on 127.0.0.1 only)")
            return None
        hp = parse_addr_port(str(value))
        if hp is None:
            self.bad(where, f"RECOBRO_HTTP_ADDR '{value}' is not host:port")
            return None
        host, port = hp
        if host not in ("0.0.0.0", "", "*"):
            self.bad(where, f"RECOBRO_HTTP_ADDR '{value}' is not reachable from outside the container")
        if svc in self.ports and port != self.ports[svc]:
            self.bad(where, f"RECOBRO_HTTP_ADDR port {port} is not {svc}'s port {self.ports[svc]} "
                            "(common/base/config.c)")
        return port

    # -- Kubernetes --
    def check_k8s(self) -> None:
        docs = []
        for fname, text in self.inp["k8s"].items():
            try:
                for d in yaml.safe_load_all(text):
                    if d:
                        docs.append((f"deploy/kubernetes/{fname}", d))
            except yaml.YAMLError as e:
                self.bad(f"deploy/kubernetes/{fname}", f"is not YAML: {e}")
        shutdown_ms = 8000
        pdb_selectors = []
        for where, d in docs:
            kind = d.get("kind")
            if kind in ("ConfigMap", "Secret"):
                for key in list((d.get("data") or {})) + list((d.get("stringData") or {})):
                    self.check_var(f"{where} {kind}", key)
                if kind == "ConfigMap" and "RECOBRO_SHUTDOWN_TIMEOUT_MS" in (d.get("data") or {}):
                    shutdown_ms = int(d["data"]["RECOBRO_SHUTDOWN_TIMEOUT_MS"])
            if kind == "PodDisruptionBudget":
                pdb_selectors.append(((d.get("spec") or {}).get("selector") or {}).get("matchLabels") or {})
        deployed = set()
        for where, d in docs:
            kind = d.get("kind")
            if kind not in ("Deployment", "StatefulSet", "Job", "DaemonSet", "CronJob"):
                continue
            name = (d.get("metadata") or {}).get("name", "?")
            w = f"{where} {kind}/{name}"
            spec = d.get("spec") or {}
            tmpl = spec.get("template") or {}
            if kind == "CronJob":
                tmpl = ((spec.get("jobTemplate") or {}).get("spec") or {}).get("template") or {}
            pod = tmpl.get("spec") or {}
            labels = (tmpl.get("metadata") or {}).get("labels") or {}
            annotations = (tmpl.get("metadata") or {}).get("annotations") or {}
            psc = pod.get("securityContext") or {}
            for c in pod.get("containers") or []:
                cw = f"{w} container {c.get('name')}"
                env = {e.get("name"): e for e in c.get("env") or []}
                for var in env:
                    self.check_var(cw, var)
                bins = self.binaries_in((c.get("command") or []) + (c.get("args") or []))
                if not bins:
                    self.bad(cw, "runs no recobro binary (command)")
                for b in bins:
                    self.check_binary(cw, b)
                csc = c.get("securityContext") or {}
                if not (psc.get("runAsNonRoot") or csc.get("runAsNonRoot")):
                    self.bad(cw, "not runAsNonRoot")
                if not csc.get("readOnlyRootFilesystem"):
                    self.bad(cw, "root filesystem not read-only")
                if csc.get("allowPrivilegeEscalation") is not False:
                    self.bad(cw, "allowPrivilegeEscalation not false")
                if "ALL" not in ((csc.get("capabilities") or {}).get("drop") or []):
                    self.bad(cw, "capabilities: ALL not dropped")
                res = c.get("resources") or {}
                for part in ("requests", "limits"):
                    if not (res.get(part) or {}).get("memory") or not (res.get(part) or {}).get("cpu"):
                        self.bad(cw, f"resources.{part} lacks cpu or memory")
                svcs = [binary_service(b) for b in bins if binary_service(b) in self.workers]
                instance = env.get("RECOBRO_KAFKA_GROUP_INSTANCE_ID")
                if not svcs:
                    if instance:
                        self.bad(cw, "sets a group instance id but is no consumer")
                    continue
                svc = svcs[0]
                deployed.add(svc)
                if kind not in ("Deployment", "StatefulSet"):
                    self.bad(cw, f"worker {svc} runs as a {kind}")
                addr = (env.get("RECOBRO_HTTP_ADDR") or {}).get("value")
                port = self.expect_http_addr(cw, svc, addr)
                named = {p.get("name"): p.get("containerPort") for p in c.get("ports") or []}
                for probe, path in (("livenessProbe", "/healthz"), ("readinessProbe", "/readyz")):
                    get = (c.get(probe) or {}).get("httpGet") or {}
                    pport = get.get("port")
                    pport = named.get(pport, pport) if isinstance(pport, str) else pport
                    if get.get("path") != path:
                        self.bad(cw, f"{probe} path is {get.get('path')!r}, not {path}")
                    if port is not None and pport != port:
                        self.bad(cw, f"{probe} port {pport} is not RECOBRO_HTTP_ADDR's {port}")
                if annotations.get("prometheus.io/scrape") != "true" or \
                        str(annotations.get("prometheus.io/port")) != str(port):
                    self.bad(cw, f"Prometheus annotations do not point at port {port}")
                grace = pod.get("terminationGracePeriodSeconds", 30)
                if grace * 1000 <= shutdown_ms:
                    self.bad(cw, f"terminationGracePeriodSeconds {grace} does not cover the drain "
                                 f"({shutdown_ms} ms)")
                if svc in self.consumers:
                    ref = ((instance or {}).get("valueFrom") or {}).get("fieldRef") or {}
                    if ref.get("fieldPath") != "metadata.name":
                        self.bad(cw, "RECOBRO_KAFKA_GROUP_INSTANCE_ID is not the pod's name")
                    if kind != "StatefulSet":
                        self.bad(cw, "a static group member needs a stable pod name (StatefulSet)")
                    if not any(sel and all(labels.get(k) == v for k, v in sel.items())
                               for sel in pdb_selectors):
                        self.bad(cw, "no PodDisruptionBudget selects this consumer")
                elif instance:
                    self.bad(cw, "sets a group instance id but is no consumer")
        for svc in sorted(self.workers - deployed):
            self.bad("deploy/kubernetes", f"does not run services/{svc}/ (recobro-{svc})")
        # kustomization.yaml lists every manifest; *.example.yaml are templates.
        kust = self.inp["k8s"].get("kustomization.yaml")
        if kust is None:
            self.bad("deploy/kubernetes", "no kustomization.yaml")
            return
        listed = set((yaml.safe_load(kust) or {}).get("resources") or [])
        files = {f for f in self.inp["k8s"] if f != "kustomization.yaml" and not f.endswith(".example.yaml")}
        for f in sorted(files - listed):
            self.bad("deploy/kubernetes/kustomization.yaml", f"does not list {f}")
        for f in sorted(listed - set(self.inp["k8s"])):
            self.bad("deploy/kubernetes/kustomization.yaml", f"lists {f}, which does not exist")

    # -- topic settings --
    def check_topics_doc(self) -> None:
        w = "deploy/kafka-topics.md"
        doc = self.inp["kafka-topics.md"]
        if not doc:
            self.bad(w, "is missing")
            return
        pairs = re.findall(r'"([a-z]+(?:\.[a-z]+)+)",\s*"(\d+)"', self.inp["commands.c"])
        if not pairs:
            self.bad("services/recobroctl/commands.c", "topic settings not found (parser out of date)")
        for key, value in pairs:
            if key not in doc or value not in doc:
                self.bad(w, f"does not state {key}={value} (set by `recobroctl topics ensure`)")

    def run(self) -> list[str]:
        if not self.known:
            self.bad("common/base/config.c", "settings table not found (parser out of date)")
        self.check_dockerfile()
        if self.host:
            self.check_debian_packages()
        self.check_compose()
        self.check_k8s()
        self.check_topics_doc()
        return self.problems


# ---- the self-check: broken copies must be reported ------------------------------------------

def mutate(inp: dict, path: tuple, old: str, new: str) -> dict:
    out = copy.deepcopy(inp)
    node = out
    for key in path[:-1]:
        node = node[key]
    text = node[path[-1]]
    if old not in text:
        raise LookupError(f"self-check: '{old}' not found in {'/'.join(path)}")
    node[path[-1]] = text.replace(old, new)
    return out


BREAKS = [
    ("a misspelt variable in the ConfigMap", ("k8s", "configmap.yaml"),
     "RECOBRO_LOG_LEVEL:", "RECOBRO_LOG_LEVLE:", "RECOBRO_LOG_LEVLE"),
    ("a variable the code no longer has", ("config.c",),
     '{"RECOBRO_CACHE_TTL"', '{"RECOBRO_CACHE_TTL_GONE"', "RECOBRO_CACHE_TTL"),
    ("a compose command naming no binary", ("compose.yaml",),
     'command: ["recobro-overdue"]', 'command: ["recobro-overdu"]', "recobro-overdu"),
    ("a liveness probe on the wrong path", ("k8s", "relay.yaml"),
     "path: /healthz", "path: /health", "livenessProbe path"),
    ("a readiness probe on the wrong port", ("k8s", "payments.yaml"),
     "path: /readyz\n              port: 9102", "path: /readyz\n              port: 9192",
     "readinessProbe port"),
    ("a Dockerfile building a service that does not exist", ("Dockerfile",),
     'RECOBRO_SERVICES="', 'RECOBRO_SERVICES="ghost ', "'ghost'"),
    ("a worker without static membership", ("k8s", "interactions.yaml"),
     "fieldPath: metadata.name", "fieldPath: metadata.uid", "not the pod's name"),
    ("a pass-through that is no librdkafka property", ("k8s", "configmap.yaml"),
     "RECOBRO_KAFKA_SASL_MECHANISMS:", "RECOBRO_KAFKA_SASL_MECHANISM_TYPO:",
     "is not a librdkafka property"),
    ("a misspelt binary in the migration Job", ("k8s", "migrate-job.yaml"),
     "recobroctl migrate &&", "recobroctll migrate &&", "recobroctll"),
    ("a Dockerfile that needs bash", ("Dockerfile",),
     "RUN set -eu;", 'SHELL ["/bin/bash", "-o", "pipefail", "-c"]\nRUN targets=(); set -eu;',
     "SHELL instruction"),
    ("a RUN with a bash array", ("Dockerfile",),
     "    targets=; \\", "    targets=(); \\", "bash-only syntax"),
    ("a topic setting missing from the doc", ("kafka-topics.md",),
     "2592000000", "2592000001", "retention.ms=2592000000"),
]


def self_check(inp: dict) -> list[str]:
    failures = []
    have_kprops = librdkafka_properties() is not None
    for what, path, old, new, expect in BREAKS:
        if "librdkafka property" in expect and not have_kprops:
            continue
        try:
            broken = mutate(inp, path, old, new)
        except LookupError as e:
            failures.append(str(e))
            continue
        problems = Checker(broken, host_checks=False).run()
        if not any(expect in p for p in problems):
            failures.append(f"self-check: {what} was not reported (expected '{expect}'); got: {problems}")
    return failures


def main() -> int:
    inp = read_inputs(ROOT)
    checker = Checker(inp, host_checks=True)
    problems = checker.run()
    for p in problems:
        print(f"FAIL {p}")
    for n in checker.notes:
        print(f"note: {n}")
    failures = self_check(inp) if not problems else []
    for f in failures:
        print(f"FAIL {f}")
    if problems or failures:
        print(f"deploy.files: {len(problems) + len(failures)} problem(s)")
        return 1
    print(f"deploy.files: ok ({len(inp['k8s'])} Kubernetes files, compose, Dockerfile; "
          f"{len(BREAKS)} deliberate breaks reported)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
