"""Runs the chosen benchmarks in order, keeps going when one fails, then prints the table and writes results.json."""

from __future__ import annotations

import argparse
import logging
import signal
import sys
import time
import traceback
from datetime import datetime, timezone
from types import ModuleType

from bench import api_cost, big_file_time_to_file, cold_start, hls_time_to_file, local_stack, pickup, playlist_fanout, shared_results, time_to_file, webhook_latency, worker_memory, worker_throughput
from bench.harness import Context, new_work_dir, use_fake_credentials, worker_available
from bench.report import machine, machine_line, table, write_results
from bench.stats import Figure

# In this order: stacks with the same configuration follow each other, so each is started once.
BENCHMARKS: dict[str, ModuleType] = {
    m.NAME: m for m in (
        cold_start, api_cost, time_to_file, shared_results, hls_time_to_file, big_file_time_to_file, webhook_latency, pickup,
        worker_memory, worker_throughput, playlist_fanout, local_stack,
    )
}


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("names", nargs="*", metavar="name", help=f"benchmarks to run (default: all): {', '.join(BENCHMARKS)}")
    parser.add_argument("--quick", action="store_true", help="fewer repeats and smaller loads (a few minutes)")
    parser.add_argument("--keep-logs", action="store_true", help="keep the stacks' logs even when everything succeeded")
    parser.add_argument("--list", action="store_true", help="list the benchmarks and exit")
    args = parser.parse_args(argv)
    unknown = [n for n in args.names if n not in BENCHMARKS]
    if unknown:
        parser.error(f"unknown benchmark(s) {unknown}; choose from {list(BENCHMARKS)}")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.list:
        for name, module in BENCHMARKS.items():
            print(f"{name:18} {module.TITLE}{'  (needs functions.worker)' if module.NEEDS_WORKER else ''}")
        return 0
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # the in-process emulator (cold_start) logs every request
    use_fake_credentials()
    # The stacks run in their own sessions: make SIGTERM unwind through the `finally` below, which stops them.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    chosen = [BENCHMARKS[n] for n in (args.names or BENCHMARKS)]
    info = machine()
    print(f"machine: {machine_line(info)}")
    ctx = Context(quick=args.quick, work_dir=new_work_dir())
    started_at = datetime.now(timezone.utc).isoformat()
    started = time.perf_counter()
    figures: list[Figure] = []
    failures: dict[str, str] = {}
    skipped: dict[str, str] = {}
    durations: dict[str, float] = {}
    try:
        for module in chosen:
            if module.NEEDS_WORKER and not worker_available():
                skipped[module.NAME] = "functions/worker/__main__.py does not exist yet"
                print(f"[{module.NAME}] skipped (no worker yet)", flush=True)
                continue
            print(f"[{module.NAME}] {module.TITLE} ...", flush=True)
            t = time.perf_counter()
            try:
                figures.extend(module.run(ctx))
            except Exception as err:  # one broken benchmark must not cost the others' results
                failures[module.NAME] = f"{type(err).__name__}: {err}"
                traceback.print_exc()
            durations[module.NAME] = time.perf_counter() - t
            print(f"[{module.NAME}] done in {durations[module.NAME]:.0f} s", flush=True)
    finally:
        ctx.close(keep_logs=args.keep_logs or bool(failures))
    elapsed = time.perf_counter() - started

    print()
    print(table(figures))
    print()
    print(f"machine: {machine_line(info)}")
    print(f"run: {'quick' if args.quick else 'full'}, {elapsed / 60:.1f} min ({', '.join(f'{k} {v:.0f}s' for k, v in durations.items())})")
    for name, reason in skipped.items():
        print(f"{name}: skipped, {reason}")
    for name, reason in failures.items():
        print(f"{name}: FAILED, {reason}")
    if failures or args.keep_logs:
        print(f"stack logs: {ctx.work_dir}")
    for note in ctx.notes:
        print(f"note: {note}")
    meta = {
        "started_at": started_at,
        "mode": "quick" if args.quick else "full",
        "seconds": elapsed,
        "durations": durations,
        "failures": failures,
        "skipped": skipped,
        "notes": ctx.notes,
        "logs": str(ctx.work_dir) if (failures or args.keep_logs) else None,
    }
    path = write_results(info, figures, meta)
    print(f"results: {path}")
    return 1 if failures else 0
