"""Progress bars and summaries for the long-running commands (on stderr)."""

from __future__ import annotations

import sys
from typing import Any

from rich.console import Console
from rich.progress import (
    BarColumn,
    DownloadColumn,
    Progress,
    TaskProgressColumn,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.table import Table

__all__ = ["ReplayProgress", "SimulateProgress", "print_replay_summary"]

_err = Console(stderr=True)


class _Bar:
    def __init__(self, enabled: bool, columns, total: float):
        self.enabled = enabled
        self._progress = Progress(*columns, console=_err, transient=False) if enabled else None
        self._total = total
        self._task = None

    def __enter__(self):
        if self._progress is not None:
            self._progress.start()
            self._task = self._progress.add_task("", total=self._total)
        return self

    def __exit__(self, *exc):
        if self._progress is not None:
            self._progress.stop()


class ReplayProgress(_Bar):
    """Bytes of the input file read, with events and alerts so far.

    On a terminal: a live bar. Otherwise (CI logs, pipes): a plain line at
    every tenth of the file.
    """

    def __init__(self, enabled: bool = True):
        self._plain = enabled and not sys.stderr.isatty()
        self._next_tenth = 1
        super().__init__(
            enabled and not self._plain,
            (
                TextColumn("replay"),
                BarColumn(),
                DownloadColumn(),
                TaskProgressColumn(),
                TimeElapsedColumn(),
                TimeRemainingColumn(),
                TextColumn("{task.fields[info]}"),
            ),
            total=None,
        )

    def __enter__(self):
        super().__enter__()
        if self._progress is not None:
            self._progress.update(self._task, info="")
        return self

    def update(self, done: int, total: int, stats) -> None:
        if self._plain:
            if total and done * 10 >= self._next_tenth * total:
                self._next_tenth = done * 10 // total + 1
                print(
                    f"replay: {100 * done // total}% of input, {stats.events:,} events, {stats.alerts:,} alerts",
                    file=sys.stderr,
                    flush=True,
                )
            return
        if self._progress is None:
            return
        self._progress.update(
            self._task,
            completed=done,
            total=total,
            info=f"{stats.events:,} events  {stats.invalid:,} invalid  {stats.alerts:,} alerts",
        )


class SimulateProgress(_Bar):
    """Simulated hours covered, with events written."""

    def __init__(self, total_hours: float, start: float, enabled: bool = True):
        self._start = start
        super().__init__(
            enabled and sys.stderr.isatty(),
            (
                TextColumn("simulate"),
                BarColumn(),
                TaskProgressColumn(),
                TimeElapsedColumn(),
                TextColumn("{task.fields[info]}"),
            ),
            total=total_hours,
        )

    def __enter__(self):
        super().__enter__()
        if self._progress is not None:
            self._progress.update(self._task, info="")
        return self

    def update(self, done_events: int, sim_time: float) -> None:
        if self._progress is None:
            return
        hours = max(0.0, (sim_time - self._start) / 3600.0)
        self._progress.update(self._task, completed=hours, info=f"{done_events:,} events")


def print_replay_summary(summary: dict[str, Any], alerts_path: str, dlq_path: str | None) -> None:
    table = Table(title="replay summary", show_header=False, box=None)
    table.add_column(justify="left", style="bold")
    table.add_column(justify="right", overflow="fold")  # long paths wrap, never cut with "…"
    for key in ("events", "valid", "invalid", "duplicates", "accounts", "alerts"):
        table.add_row(key, f"{summary[key]:,}")
    if summary.get("skipped"):
        table.add_row("skipped (not API requests)", f"{summary['skipped']:,}")
    if summary.get("invalid_by_reason"):
        table.add_row("invalid by reason", ", ".join(f"{k} {v:,}" for k, v in summary["invalid_by_reason"].items()))
    if summary.get("alerts_by_severity"):
        table.add_row("alerts by severity", ", ".join(f"{k} {v:,}" for k, v in summary["alerts_by_severity"].items()))
    eps = summary.get("events_per_second")
    table.add_row("elapsed", f"{summary['elapsed_seconds']:.1f} s" + (f"  ({eps:,} events/s)" if eps else ""))
    table.add_row("alerts written to", alerts_path)
    if dlq_path:
        table.add_row("rejects written to", dlq_path)
    Console().print(table)
