"""Headless Chromium driven through chromedriver's W3C HTTP API (no selenium needed).

The explain view needs an ``Authorization`` header, which ``chromium
--dump-dom`` cannot send; chromedriver can, through the DevTools command
``Network.setExtraHTTPHeaders``. Both processes run on 127.0.0.1 and are killed
by :meth:`Browser.close`.
"""

from __future__ import annotations

import contextlib
import json
import subprocess
import time
import urllib.request
from pathlib import Path

from streams.broker import free_port, stop_group

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 "--disable-dev-shm-usage"]


class Browser:
    def __init__(self, workdir: Path):
        self.port = free_port()
        self.log = open(workdir / "chromedriver.log", "ab")  # noqa: SIM115
        self.proc = subprocess.Popen(
            [CHROMEDRIVER, f"--port={self.port}", "--allowed-ips=127.0.0.1"],
            stdout=self.log, stderr=subprocess.STDOUT, start_new_session=True,
        )
        self.base = f"http://127.0.0.1:{self.port}"
        self.session = None
        deadline = time.monotonic() + 30
        while True:
            with contextlib.suppress(OSError):
                if self._call("GET", "/status")["ready"]:
                    break
            if time.monotonic() > deadline or self.proc.poll() is not None:
                self.close()
                raise AssertionError("chromedriver did not start")
            time.sleep(0.2)
        caps = {"browserName": "chrome", "goog:chromeOptions": {
            "binary": CHROMIUM, "args": [*CHROMIUM_ARGS, f"--user-data-dir={workdir / 'chromium-profile'}"]}}
        self.session = self._call("POST", "/session", {"capabilities": {"alwaysMatch": caps}})["sessionId"]

    def _call(self, method: str, path: str, body: dict | None = None):
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(self.base + path, data=data, method=method,
                                     headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(req, timeout=60) as resp:
            return json.loads(resp.read())["value"]

    def cdp(self, cmd: str, **params) -> dict:
        return self._call("POST", f"/session/{self.session}/goog/cdp/execute", {"cmd": cmd, "params": params})

    def set_headers(self, headers: dict[str, str]) -> None:
        self.cdp("Network.enable")
        self.cdp("Network.setExtraHTTPHeaders", headers=headers)

    def get(self, url: str) -> None:
        self._call("POST", f"/session/{self.session}/url", {"url": url})

    def js(self, script: str):
        return self._call("POST", f"/session/{self.session}/execute/sync", {"script": script, "args": []})

    def close(self) -> None:
        if self.session:
            with contextlib.suppress(OSError):
                self._call("DELETE", f"/session/{self.session}")
            self.session = None
        stop_group(self.proc)  # chromium and the children it leaves in its group
        self.log.close()
