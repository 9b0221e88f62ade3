"""The machine a run happened on, the printed table and bench/results.json."""

from __future__ import annotations

import importlib.metadata
import json
import math
import os
import platform
import shutil
import subprocess
from pathlib import Path
from typing import Any, Iterable

from bench.stats import Figure

RESULTS_PATH = Path(__file__).resolve().parent / "results.json"


def machine() -> dict[str, Any]:
    """CPU model, cores, RAM, OS, and the versions that shape the numbers."""
    cpu = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        cpu = platform.processor() or cpu
    ram = 0
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                ram = int(line.split()[1]) * 1024
    except OSError:
        pass
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "usable_cores": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count(),
        "ram_gb": round(ram / 2**30, 1),
        "os": f"{platform.system()} {platform.release()}",
        "python": platform.python_version(),
        "yt_dlp": _version("yt-dlp"),
        "ffmpeg": _ffmpeg_version(),
        "moto": _version("moto"),
        "boto3": _version("boto3"),
        "fastapi": _version("fastapi"),
    }


def machine_line(info: dict[str, Any]) -> str:
    return (
        f"{info['cpu']}, {info['usable_cores']} cores, {info['ram_gb']} GB RAM, {info['os']}; Python {info['python']}, "
        f"yt-dlp {info['yt_dlp']}, ffmpeg {info['ffmpeg']}, moto {info['moto']} (emulator: absolute AWS-side numbers are moto's)"
    )


def _version(package: str) -> str:
    try:
        return importlib.metadata.version(package)
    except importlib.metadata.PackageNotFoundError:
        return "missing"


def _ffmpeg_version() -> str:
    binary = shutil.which("ffmpeg")
    if not binary:
        return "missing"
    first = subprocess.run([binary, "-version"], capture_output=True, text=True, check=False).stdout.splitlines()[:1]
    parts = first[0].split() if first else []
    return parts[2] if len(parts) > 2 else "unknown"


def format_value(value: float, unit: str) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    if unit == "s":
        return f"{value * 1000:.0f} ms" if abs(value) < 1 else f"{value:.2f} s"
    if unit == "ms":
        return f"{value:.1f} ms"
    if unit == "x":
        return f"{value:.2f}x"
    if unit == "MB":
        return f"{value:.0f} MB"
    if unit == "bool":
        return "yes" if value else "no"
    if unit in ("count",):
        return f"{value:.0f}"
    return f"{value:.1f} {unit}"


def table(figures: Iterable[Figure]) -> str:
    """A plain-text table: one row per figure, median and min-max over the repeats, target and verdict."""
    rows = [("benchmark", "figure", "median", "spread (min-max)", "n", "target", "met")]
    for f in figures:
        spread = "" if len(f.samples) < 2 else f"{format_value(f.low, f.unit)} - {format_value(f.high, f.unit)}"
        if f.unit == "bool":
            spread = ""
        verdict = {True: "yes", False: "NO", None: ""}[f.met]
        rows.append((f.benchmark, f.name + (f" [{f.note}]" if f.note else ""), format_value(f.median, f.unit), spread, str(len(f.samples)), f.target, verdict))
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    lines = []
    for n, row in enumerate(rows):
        lines.append("  ".join(cell.ljust(w) if i < 2 or i > 4 else cell.rjust(w) for i, (cell, w) in enumerate(zip(row, widths))).rstrip())
        if n == 0:
            lines.append("  ".join("-" * w for w in widths))
    return "\n".join(lines)


def write_results(info: dict[str, Any], figures: list[Figure], meta: dict[str, Any], path: Path = RESULTS_PATH) -> Path:
    payload = {"machine": info, **meta, "figures": [f.as_dict() for f in figures]}
    path.write_text(json.dumps(payload, indent=2, default=str) + "\n")
    return path
