"""browser.py - Debian's headless Chromium driven through the DevTools protocol over a pipe
(--remote-debugging-pipe: JSON messages ending in NUL on file descriptors 3 and 4), with nothing
but the standard library: open a page, evaluate script in it, collect the script errors, console
errors and network requests it caused, take a screenshot and print it to PDF.

    with Browser() as b:              # raises Unavailable when no chromium is installed
        page = b.open("file:///...", width=390, height=844, mobile=True)
        page.evaluate("document.title"), page.errors, page.requests, page.screenshot(path)"""
import base64
import json
import os
import shutil
import subprocess
import tempfile
import time

CANDIDATES = ("chromium", "chromium-browser", "chromium-headless-shell")


class Unavailable(Exception):
    pass


def find():
    for name in CANDIDATES:
        path = shutil.which(name)
        if path:
            return path
    return None


class Browser:
    def __init__(self, timeout=60):
        self.path = find()
        if not self.path:
            raise Unavailable("no chromium on PATH (Debian's package `chromium`, installed by "
                              "deploy/local/stack deps)")
        self.timeout = timeout
        self.next_id = 0
        self.events = []
        self.buf = b""

    def __enter__(self):
        self.profile = tempfile.mkdtemp(prefix="recobro-chromium-")
        to_r, self.to_w = os.pipe()
        self.from_r, from_w = os.pipe()
        args = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                "--remote-debugging-pipe", "--no-first-run", "--disable-extensions",
                "--user-data-dir=" + self.profile, "about:blank"]
        self.proc = subprocess.Popen(
            ["bash", "-c", 'exec "$0" "$@" 3<&%d 4>&%d' % (to_r, from_w), self.path, *args],
            pass_fds=(to_r, from_w), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        os.close(to_r)
        os.close(from_w)
        return self

    def __exit__(self, *exc):
        try:
            self.send("Browser.close")
        except Exception:
            pass
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        os.close(self.to_w)
        os.close(self.from_r)
        shutil.rmtree(self.profile, ignore_errors=True)

    def _read_message(self, deadline):
        while b"\0" not in self.buf:
            if time.time() > deadline:
                raise TimeoutError("chromium did not answer in %d s" % self.timeout)
            chunk = os.read(self.from_r, 1 << 16)
            if not chunk:
                raise RuntimeError("chromium exited: %s" % self.proc.stderr.read()[-2000:])
            self.buf += chunk
        msg, self.buf = self.buf.split(b"\0", 1)
        return json.loads(msg)

    def send(self, method, params=None, session=None):
        """Sends a command and returns its result; events met meanwhile are kept."""
        self.next_id += 1
        cmd = {"id": self.next_id, "method": method, "params": params or {}}
        if session:
            cmd["sessionId"] = session
        os.write(self.to_w, json.dumps(cmd).encode() + b"\0")
        deadline = time.time() + self.timeout
        while True:
            m = self._read_message(deadline)
            if m.get("id") == self.next_id:
                if "error" in m:
                    raise RuntimeError("%s: %s" % (method, m["error"]))
                return m.get("result", {})
            self.events.append(m)

    def wait_event(self, method, session):
        deadline = time.time() + self.timeout
        while True:
            for i, e in enumerate(self.events):
                if e.get("method") == method and e.get("sessionId") == session:
                    return self.events.pop(i)
            self.events.append(self._read_message(deadline))

    def open(self, url, width, height, mobile=False):
        target = self.send("Target.createTarget", {"url": "about:blank"})["targetId"]
        session = self.send("Target.attachToTarget", {"targetId": target,
                                                      "flatten": True})["sessionId"]
        page = Page(self, session)
        for m in ("Runtime.enable", "Log.enable", "Page.enable", "Network.enable"):
            self.send(m, session=session)
        self.send("Emulation.setDeviceMetricsOverride",
                  {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": mobile},
                  session)
        self.send("Page.navigate", {"url": url}, session)
        self.wait_event("Page.loadEventFired", session)
        return page


class Page:
    def __init__(self, browser, session):
        self.b = browser
        self.session = session

    def _mine(self, method):
        return [e["params"] for e in self.b.events
                if e.get("sessionId") == self.session and e.get("method") == method]

    @property
    def errors(self):
        """Uncaught script errors, console errors and error log entries, as text."""
        out = [e["exceptionDetails"].get("text", "") + " " +
               str(e["exceptionDetails"].get("exception", {}).get("description", ""))
               for e in self._mine("Runtime.exceptionThrown")]
        out += ["console: %s" % e.get("args") for e in self._mine("Runtime.consoleAPICalled")
                if e.get("type") in ("error", "assert")]
        out += ["log: %s" % e["entry"].get("text") for e in self._mine("Log.entryAdded")
                if e["entry"].get("level") == "error"]
        return out

    @property
    def requests(self):
        return [e["request"]["url"] for e in self._mine("Network.requestWillBeSent")]

    def evaluate(self, expression):
        r = self.b.send("Runtime.evaluate", {"expression": expression, "returnByValue": True},
                        self.session)
        if "exceptionDetails" in r:
            raise RuntimeError("evaluate: %s" % r["exceptionDetails"])
        return r["result"].get("value")

    def screenshot(self, path):
        data = self.b.send("Page.captureScreenshot", {"format": "png",
                                                      "captureBeyondViewport": True},
                           self.session)["data"]
        with open(path, "wb") as f:
            f.write(base64.b64decode(data))
        return path

    def pdf(self, path):
        data = self.b.send("Page.printToPDF", {"printBackground": False}, self.session)["data"]
        with open(path, "wb") as f:
            f.write(base64.b64decode(data))
        return path
