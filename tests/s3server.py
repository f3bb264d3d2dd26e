"""A real S3 service for tests: the s3rver npm package, so tansu can keep its data across a restart.

tansu's ``memory://`` storage loses every topic, record and offset when the
broker stops; its ``s3://`` storage aimed at s3rver keeps them
(shared notes). s3rver is pinned in ``tests/s3rver/package.json`` and its
lock file, and installed with ``npm ci`` into ``tests/s3rver/node_modules``
(gitignored) on first use, so a fresh clone needs nothing but node and npm.
"""

from __future__ import annotations

import contextlib
import fcntl
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

from streams.broker import die_with_parent, free_port

PACKAGE_DIR = Path(__file__).parent / "s3rver"
BIN = PACKAGE_DIR / "node_modules" / ".bin" / "s3rver"
#: s3rver accepts any well-formed signature; these only have to match each other
CREDENTIALS = {"AWS_ACCESS_KEY_ID": "S3RVER", "AWS_SECRET_ACCESS_KEY": "S3RVER", "AWS_DEFAULT_REGION": "us-east-1"}


def ensure_installed() -> Path:
    """Install s3rver from the lock file unless it is there; a lock keeps parallel runs from racing."""
    if BIN.exists():
        return BIN
    if shutil.which("npm") is None:
        raise RuntimeError("npm is needed to install s3rver for the broker-restart test (apt-get install npm)")
    with open(PACKAGE_DIR / ".install.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not BIN.exists():
            subprocess.run(
                ["npm", "ci", "--no-audit", "--no-fund", "--loglevel=error"],
                cwd=PACKAGE_DIR, check=True, timeout=300,
            )
    return BIN


class S3rver:
    """An s3rver process on 127.0.0.1 (free port) keeping its objects under ``directory``."""

    def __init__(self, directory: Path, log_path: Path):
        self.directory = directory
        self.log_path = log_path
        self.port = free_port()
        self._proc: subprocess.Popen | None = None

    def start(self, *buckets: str, timeout: float = 20.0) -> S3rver:
        binary = ensure_installed()
        for bucket in buckets:  # a bucket is a folder of s3rver's directory
            (self.directory / bucket).mkdir(parents=True, exist_ok=True)
        self._log = open(self.log_path, "ab")  # noqa: SIM115
        self._proc = subprocess.Popen(
            [str(binary), "-d", str(self.directory), "-a", "127.0.0.1", "-p", str(self.port), "--silent"],
            stdout=self._log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True,
            preexec_fn=die_with_parent if sys.platform.startswith("linux") else None,
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._proc.poll() is not None:
                raise RuntimeError(f"s3rver exited with {self._proc.returncode}: {self.log_path.read_text()}")
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", self.port), timeout=0.2):
                return self
            time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"s3rver did not listen on port {self.port} within {timeout:.0f}s")

    def env(self) -> dict[str, str]:
        """What tansu needs to use this service for ``s3://`` storage."""
        return {"AWS_ENDPOINT": f"http://127.0.0.1:{self.port}", "AWS_ALLOW_HTTP": "true", **CREDENTIALS}

    def stop(self) -> None:
        proc, self._proc = self._proc, None
        if proc is not None:
            proc.terminate()
            try:
                proc.wait(5)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
            self._log.close()
