"""A description of the machine a benchmark ran on, for printing next to its figures."""

from __future__ import annotations

import os
import platform
import sqlite3
import sys
from importlib import metadata
from pathlib import Path

import psutil


def cpu_model() -> str:
    """The CPU model name from /proc/cpuinfo (or what platform knows)."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def _version(dist: str) -> str:
    """An installed distribution's version, or '-' when it is absent."""
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return "-"


def filesystem_of(path: Path) -> str:
    """The device and filesystem type holding `path`."""
    best = None
    resolved = str(path.resolve())
    for part in psutil.disk_partitions(all=True):
        mount = part.mountpoint
        if (resolved == mount or resolved.startswith(mount.rstrip("/") + "/")) and (
            best is None or len(mount) > len(best.mountpoint)
        ):
            best = part
    return f"{best.device} ({best.fstype})" if best else "unknown"


def describe(data_dir: Path) -> list[tuple[str, str]]:
    """Label/value pairs: CPU, cores, RAM, OS, Python, SQLite and the serving stack's versions."""
    usable = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    load1, load5, _ = os.getloadavg()
    packages = ", ".join(
        f"{name} {_version(name)}"
        for name in ("uvicorn", "uvloop", "httptools", "orjson", "psycopg")
    )
    return [
        ("cpu", f"{cpu_model()}, {os.cpu_count()} logical cores ({usable} usable)"),
        ("ram", f"{psutil.virtual_memory().total / 2**30:.1f} GiB"),
        ("os", f"{platform.system()} {platform.release()} ({platform.machine()})"),
        ("python", f"{platform.python_implementation()} {sys.version.split()[0]}"),
        ("sqlite", sqlite3.sqlite_version),
        ("packages", packages),
        ("data disk", filesystem_of(data_dir)),
        ("load avg", f"{load1:.2f} (1 min), {load5:.2f} (5 min) at start"),
    ]
