#!/usr/bin/env python3
"""deploy/container/system.py - the whole recobro system in containers on this machine, run with
plain podman from the shipped deploy/compose/compose.yaml (no compose tool, no registry).

What it takes from compose.yaml, unchanged: every service's environment, command, healthcheck,
dependency order (service_healthy, service_completed_successfully), volumes, published ports,
read_only / tmpfs / cap_drop / security_opt and stop settings. What it changes, and why:
  - images: the registry images (apache/kafka, postgres, redis) become the images
    deploy/container/build makes from Debian (localhost/recobro-kafka:3.9.1, -postgres:15,
    -redis:7); the recobro image is RECOBRO_IMAGE (default localhost/recobro:local);
  - every container, the servers too, runs --read-only with all capabilities dropped and
    no-new-privileges, as the images' non-root users (as the Kubernetes manifests say);
  - published ports: on 127.0.0.1 only, each moved to a free port (the local stack and other
    clones use the defaults), and an address such as localhost:29092 in a service's environment
    (Kafka's advertised external listener) follows its port;
  - names: <project>-<service>-<n> on a private network <project>-net, volumes <project>-<name>;
    the servers are found by name through --add-host (works with podman's CNI backend, which has
    no DNS without the dnsname plugin, and with netavark).

  deploy/container/system.py up [--project NAME] [--overdue N]   # prints the published ports
  deploy/container/system.py ps|down [--project NAME]
  deploy/container/system.py scale SERVICE N [--project NAME]

Runs with the project's venv (.local/venv/bin/python) or any python3 with PyYAML.
"""
from __future__ import annotations

import argparse
import json
import os
import re
import shlex
import socket
import subprocess
import sys
import time
from pathlib import Path

import yaml

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
PODMAN = str(HERE / "podman")
COMPOSE = ROOT / "deploy" / "compose" / "compose.yaml"
RECOBRO_IMAGE = os.environ.get("RECOBRO_IMAGE", "localhost/recobro:local")
# compose.yaml's registry images -> the images deploy/container/build makes on this machine.
LOCAL_IMAGES = {
    "apache/kafka": "localhost/recobro-kafka:3.9.1",
    "postgres": "localhost/recobro-postgres:15",
    "redis": "localhost/recobro-redis:7",
}
LABEL = "org.recobro.project"
OWNER = "org.recobro.owner-pid"
HOST = "127.0.0.1"


class Failure(Exception):
    pass


def podman(*args, timeout=120, check=True, capture=True) -> subprocess.CompletedProcess:
    cmd = [PODMAN, *map(str, args)]
    try:
        r = subprocess.run(cmd, capture_output=capture, text=True, timeout=timeout)
    except subprocess.TimeoutExpired as e:
        raise Failure(f"podman {args[0]} did not finish within {timeout}s: {shlex.join(cmd[1:])}") from e
    if check and r.returncode != 0:
        err = (r.stderr or "").strip().splitlines()
        raise Failure(f"podman {args[0]} failed ({r.returncode}): {err[-1] if err else ''}")
    return r


def free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


def parse_duration(text, default):
    m = re.fullmatch(r"(\d+)s", str(text or ""))
    return int(m.group(1)) if m else default


def local_image(image: str) -> str:
    """compose.yaml's image -> the local image to run. `${RECOBRO_IMAGE:-recobro:local}` (the
    recobro services) is RECOBRO_IMAGE or localhost/recobro:local; the registry images are the
    ones deploy/container/build makes."""
    m = re.fullmatch(r"\$\{(\w+):-([^}]*)\}", image)
    if m:
        if m.group(1) == "RECOBRO_IMAGE":
            return RECOBRO_IMAGE
        image = os.environ.get(m.group(1)) or m.group(2)
    name = image.split(":", 1)[0]
    for registry_name, local in LOCAL_IMAGES.items():
        if name in (registry_name, "docker.io/" + registry_name, "docker.io/library/" + registry_name):
            return local
    return image


class System:
    def __init__(self, project: str, log=print, extra_env: dict | None = None,
                 extra_ports: dict | None = None):
        self.project = project
        self.net = f"{project}-net"
        self.log = log
        self.compose = yaml.safe_load(COMPOSE.read_text())
        self.services = self.compose["services"]
        self.extra_env = extra_env or {}       # service -> {VAR: value}, for tests
        self.extra_ports = extra_ports or {}   # service -> [container port] also published
        self.hosts: dict[str, str] = {}        # service name -> IP on the network
        self.ports: dict[str, dict[int, int]] = {}   # container -> {container port: host port}
        self.replicas: dict[str, list[str]] = {}     # service -> running container names
        self.labels = ["--label", f"{LABEL}={project}", "--label", f"{OWNER}={os.getpid()}"]

    # ---- set-up and tear-down
    def create_network(self):
        if podman("network", "exists", self.net, check=False).returncode != 0:
            podman("network", "create", *self.labels, self.net)

    def down(self):
        """Removes every container, the network and the volumes of this project (also those a
        crashed earlier run left). Never raises: it runs in finally blocks. Judged by what is
        left afterwards (podman rm may report an error for a container that went away meanwhile)."""
        def left_over():
            c = podman("ps", "-a", "-q", "--filter", f"label={LABEL}={self.project}", check=False)
            v = podman("volume", "ls", "-q", "--filter", f"label={LABEL}={self.project}", check=False)
            n = podman("network", "exists", self.net, check=False).returncode == 0
            return c.stdout.split(), v.stdout.split(), n
        errors = []
        for _ in range(3):
            ids, vols, net = left_over()
            if not (ids or vols or net):
                return True
            for args in ((["rm", "-f", "-t", "2", *ids] if ids else None),
                         (["network", "rm", "-f", self.net] if net else None),
                         (["volume", "rm", "-f", *vols] if vols else None)):
                if args:
                    try:
                        r = podman(*args, check=False, timeout=180)
                        if r.returncode != 0:
                            errors.append(r.stderr.strip().splitlines()[-1:] or [""])
                    except Failure as e:
                        errors.append([str(e)])
            time.sleep(1)
        ids, vols, net = left_over()
        if not (ids or vols or net):
            return True
        self.log(f"system: could not remove {len(ids)} containers, {len(vols)} volumes"
                 f"{', the network' if net else ''} of {self.project}: {errors[-1:]}")
        return False

    # ---- one container
    def container_name(self, svc: str, index: int) -> str:
        return f"{self.project}-{svc}-{index}"

    def run_args(self, svc: str, name: str, detach=True) -> list[str]:
        spec = self.services[svc]
        args = ["run", "--name", name, *self.labels, "--label", f"org.recobro.service={svc}",
                "--network", self.net]
        if detach:
            args.append("-d")
        args += ["--hostname", spec.get("hostname", svc)]
        for other, ip in self.hosts.items():
            if other != svc:
                args += ["--add-host", f"{other}:{ip}"]
        # Hardening for every container (compose asks it of the recobro ones; here the servers
        # too): read-only root, no capabilities, no privilege gain; the image's non-root user.
        args += ["--read-only", "--cap-drop", "all", "--security-opt", "no-new-privileges"]
        for opt in spec.get("security_opt") or []:
            if opt.replace(":true", "") != "no-new-privileges":
                args += ["--security-opt", opt]
        for t in spec.get("tmpfs") or []:
            args += ["--tmpfs", t]
        if spec.get("stop_signal"):
            args += ["--stop-signal", spec["stop_signal"]]
        if spec.get("stop_grace_period"):
            args += ["--stop-timeout", str(parse_duration(spec["stop_grace_period"], 10))]
        # Published ports: 127.0.0.1 only, each on a free port; the environment follows.
        moved = {}
        self.ports[name] = {}
        for p in spec.get("ports") or []:
            parts = str(p).split(":")
            cport = int(parts[-1])
            hport_old = int(parts[-2]) if len(parts) >= 2 else cport
            hport = free_port()
            moved[hport_old] = hport
            self.ports[name][cport] = hport
            args += ["-p", f"{HOST}:{hport}:{cport}"]
        for cport in self.extra_ports.get(svc, []):
            hport = free_port()
            self.ports[name][cport] = hport
            args += ["-p", f"{HOST}:{hport}:{cport}"]
        env = dict(spec.get("environment") or {})
        env.update(self.extra_env.get(svc, {}))
        for k, v in env.items():
            v = "" if v is None else str(v)
            for old, new in moved.items():
                v = re.sub(rf"\b(localhost|127\.0\.0\.1):{old}\b", f"{HOST}:{new}", v)
            args += ["-e", f"{k}={v}"]
        for vol in spec.get("volumes") or []:
            src, dst = str(vol).split(":", 1)
            if "/" not in src:   # a named volume of the compose file
                vname = f"{self.project}-{src}"
                if podman("volume", "exists", vname, check=False).returncode != 0:
                    podman("volume", "create", *self.labels, vname)
                src = vname
            args += ["-v", f"{src}:{dst}"]
        args.append(local_image(spec.get("image", "")))
        cmd = spec.get("command")
        if isinstance(cmd, str):
            cmd = shlex.split(cmd)
        args += [str(c) for c in cmd or []]
        return args

    def start(self, svc: str, index: int | None = None) -> str:
        names = self.replicas.setdefault(svc, [])
        if index is None:
            index = 1
            while self.container_name(svc, index) in names:
                index += 1
        name = self.container_name(svc, index)
        podman(*self.run_args(svc, name))
        names.append(name)
        ip = self.ip(name)
        if svc not in self.hosts and ip:
            self.hosts[svc] = ip
        return name

    def ip(self, name: str) -> str:
        r = podman("inspect", "--format", "{{json .NetworkSettings.Networks}}", name)
        nets = json.loads(r.stdout or "{}") or {}
        return (nets.get(self.net) or {}).get("IPAddress", "")

    def user(self, name: str) -> str:
        return podman("exec", name, "id", "-u").stdout.strip()

    def state(self, name: str) -> tuple[str, int]:
        r = podman("inspect", "--format", "{{.State.Status}} {{.State.ExitCode}}", name, check=False)
        parts = r.stdout.split()
        return (parts[0], int(parts[1])) if len(parts) == 2 else ("gone", -1)

    def healthy(self, svc: str, name: str) -> bool:
        """compose's healthcheck of the service, run in the container."""
        hc = (self.services[svc].get("healthcheck") or {}).get("test")
        if not hc:
            return self.state(name)[0] == "running"
        if hc[0] == "CMD":
            cmd = hc[1:]
        elif hc[0] == "CMD-SHELL":
            cmd = ["sh", "-c", hc[1]]
        else:
            cmd = ["sh", "-c", " ".join(hc)]
        limit = parse_duration((self.services[svc].get("healthcheck") or {}).get("timeout"), 20)
        try:
            return podman("exec", name, *cmd, check=False, timeout=limit + 10).returncode == 0
        except Failure:
            return False

    def wait_healthy(self, svc: str, name: str, timeout: float):
        deadline = time.time() + timeout
        while time.time() < deadline:
            status, code = self.state(name)
            if status in ("exited", "stopped", "gone"):
                raise Failure(f"{name} exited ({code}) before it was healthy:\n{self.logs(name)}")
            if self.healthy(svc, name):
                return
            time.sleep(1)
        raise Failure(f"{name} not healthy within {timeout:.0f}s:\n{self.logs(name)}")

    def wait_exit(self, name: str, timeout: float) -> int:
        deadline = time.time() + timeout
        while time.time() < deadline:
            status, code = self.state(name)
            if status in ("exited", "stopped"):
                return code
            time.sleep(0.5)
        raise Failure(f"{name} did not finish within {timeout:.0f}s:\n{self.logs(name)}")

    def logs(self, name: str, lines=30) -> str:
        r = podman("logs", "--tail", str(lines), name, check=False)
        return (r.stdout + r.stderr).rstrip()

    def kill(self, name: str, signal="KILL"):
        podman("kill", "-s", signal, name)

    def stop(self, name: str):
        podman("stop", "-t", "15", name, timeout=60)

    # ---- the order of compose.yaml
    def deps(self, svc: str) -> dict:
        d = self.services[svc].get("depends_on") or {}
        return {k: "service_started" for k in d} if isinstance(d, list) else \
            {k: (v or {}).get("condition", "service_started") for k, v in d.items()}

    def recobro_services(self) -> list[str]:
        """The workers: services run from the recobro image that wait for init."""
        return [s for s in self.services if s != "init" and "init" in self.deps(s)]

    def up(self, timeouts=None, scale=None, on_step=None):
        """Starts everything in compose.yaml's order and waits as it says: the servers until
        healthy, init until it exited 0, then the workers until healthy. scale: {svc: n}."""
        timeouts = {"kafka": 180, "postgres": 90, "redis": 60, "init": 180, "worker": 120,
                    **(timeouts or {})}
        scale = scale or {}
        for svc, spec in self.services.items():
            image = local_image(spec.get("image", ""))
            if podman("image", "exists", image, check=False).returncode != 0:
                raise Failure(f"no image {image} for {svc} (build the images: make image)")
        self.create_network()
        done: set[str] = set()
        pending = list(self.services)
        while pending:
            ready = [s for s in pending if all(d in done for d in self.deps(s))]
            if not ready:
                raise Failure(f"compose.yaml: circular or unknown depends_on among {pending}")
            # Start every service whose dependencies are met, then wait for them together.
            started = []
            for svc in ready:
                for _ in range(scale.get(svc, 1)):
                    started.append((svc, self.start(svc)))
            for svc, name in started:
                t = time.time()
                if svc == "init":
                    code = self.wait_exit(name, timeouts["init"])
                    if code != 0:
                        raise Failure(f"{name} exited {code}:\n{self.logs(name)}")
                else:
                    self.wait_healthy(svc, name, timeouts.get(svc, timeouts["worker"]))
                if on_step:
                    on_step(svc, name, time.time() - t)
            for svc in ready:
                done.add(svc)
                pending.remove(svc)

    def scale(self, svc: str, n: int, timeout=120) -> list[str]:
        names = self.replicas.setdefault(svc, [])
        while len(names) > n:
            name = names.pop()
            self.stop(name)
        new = [self.start(svc) for _ in range(n - len(names))]
        for name in new:
            self.wait_healthy(svc, name, timeout)
        return new


def stale_projects(prefix: str) -> list[str]:
    """Projects (by label) whose owner process is gone: left by a run that was killed."""
    r = podman("ps", "-a", "--filter", f"label={LABEL}", "--format",
               "{{index .Labels \"%s\"}} {{index .Labels \"%s\"}}" % (LABEL, OWNER), check=False)
    out = set()
    for line in r.stdout.splitlines():
        parts = line.split()
        if len(parts) != 2 or not parts[0].startswith(prefix) or not parts[1].isdigit():
            continue
        try:
            os.kill(int(parts[1]), 0)
        except ProcessLookupError:
            out.add(parts[0])
        except PermissionError:
            pass
    return sorted(out)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("command", choices=["up", "down", "ps", "scale"])
    ap.add_argument("args", nargs="*")
    ap.add_argument("--project", default="recobro")
    ap.add_argument("--overdue", type=int, default=1, help="overdue replicas for up")
    a = ap.parse_args()
    # PostgreSQL's port too (compose does not publish it): psql from the host.
    s = System(a.project, extra_ports={"postgres": [5432]})
    try:
        if a.command == "down":
            return 0 if s.down() else 1
        if a.command == "ps":
            r = podman("ps", "-a", "--filter", f"label={LABEL}={a.project}", "--format",
                       "{{.Names}}\t{{.Status}}\t{{.Ports}}", check=False)
            print(r.stdout, end="")
            return 0
        if a.command == "scale":
            if len(a.args) != 2 or not a.args[1].isdigit():
                ap.error("scale SERVICE N")
            svc, n = a.args[0], int(a.args[1])
            r = podman("ps", "-q", "--filter", f"label={LABEL}={a.project}", "--filter",
                       f"label=org.recobro.service={svc}", "--format", "{{.Names}}", check=False)
            s.replicas[svc] = sorted(r.stdout.split())
            for other in ("kafka", "postgres", "redis"):
                ip = s.ip(s.container_name(other, 1))
                if ip:
                    s.hosts[other] = ip
            s.scale(svc, n)
            return 0
        r = podman("ps", "-a", "-q", "--filter", f"label={LABEL}={a.project}", check=False)
        if r.stdout.split():
            print(f"system: project {a.project} already has containers "
                  f"({sys.argv[0]} ps/down --project {a.project})", file=sys.stderr)
            return 1
        s.up(scale={"overdue": a.overdue},
             on_step=lambda svc, name, dt: print(f"system: {name} ready ({dt:.0f}s)"))
        for name, ports in s.ports.items():
            for c, h in ports.items():
                print(f"system: {name}: container port {c} on {HOST}:{h}")
        pg = s.ports.get(s.container_name("postgres", 1), {}).get(5432)
        env = s.services["postgres"].get("environment") or {}
        if pg:
            print(f"system: psql 'host=127.0.0.1 port={pg} dbname={env.get('POSTGRES_DB')} "
                  f"user={env.get('POSTGRES_USER')} password={env.get('POSTGRES_PASSWORD')}'")
        print(f"system: up; stop with: {sys.argv[0]} down --project {a.project}")
        return 0
    except Failure as e:
        print(f"system: {e}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
