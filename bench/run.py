"""Run benchmark scenarios: `python -m bench.run [scenario ...]` (all when none is named).

Prints one markdown table per scenario and worker count, and writes everything measured (every run of
every variant, the machine and package versions) to bench/results/<UTC timestamp>.json.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from datetime import UTC, datetime

from bench import harness
from bench.scenarios import SCENARIOS, Context


def _workers(value: str) -> list[int]:
    try:
        counts = [int(v) for v in value.split(",") if v.strip()]
    except ValueError as exc:
        raise argparse.ArgumentTypeError("a comma-separated list of worker counts, e.g. 1,2") from exc
    if not counts or any(c < 1 or c > 16 for c in counts):
        raise argparse.ArgumentTypeError("worker counts must be between 1 and 16")
    return counts


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.run", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("names", nargs="*", metavar="scenario",
                        help=f"scenarios to run (default: all): {', '.join(SCENARIOS)}")
    parser.add_argument("--duration", type=float, default=10.0, help="seconds per measurement (default 10)")
    parser.add_argument("--repeats", type=int, default=3, help="interleaved rounds; medians reported (default 3)")
    parser.add_argument("--warmup", type=float, default=3.0, help="warm-up seconds per variant (default 3)")
    parser.add_argument("--workers", type=_workers, default=[1, 2], help="uvicorn worker counts (default 1,2)")
    parser.add_argument("--connections", type=int, default=harness.DEFAULT_CONNECTIONS,
                        help="wrk connections (default 32)")
    parser.add_argument("--wrk-threads", type=int, default=1, help="wrk threads (default 1: the CPUs are shared)")
    parser.add_argument("--quiet-cores", type=float, default=0.5,
                        help="before each run, wait until other work uses at most this many CPUs (default 0.5)")
    parser.add_argument("--quiet-wait", type=float, default=20.0,
                        help="…but at most this many seconds per run (default 20; 0 to not wait)")
    parser.add_argument("--no-breakdown", action="store_true",
                        help="only the variants the goals name, not the diagnostic ones")
    parser.add_argument("--list", action="store_true", help="list the scenarios and exit")
    args = parser.parse_args(argv)
    unknown = [n for n in args.names if n not in SCENARIOS]
    if unknown:
        parser.error(f"unknown scenario(s) {', '.join(unknown)}; known: {', '.join(SCENARIOS)}")
    if not 1 <= args.repeats <= 20 or not 1 <= args.duration <= 600 or not 0 <= args.warmup <= 60:
        parser.error("repeats must be 1–20, duration 1–600 s, warm-up 0–60 s")
    if not 0 <= args.quiet_wait <= 600 or args.quiet_cores < 0:
        parser.error("quiet-wait must be 0–600 s and quiet-cores ≥ 0")
    if not 1 <= args.connections <= 1024 or not 1 <= args.wrk_threads <= args.connections:
        parser.error("connections must be 1–1024 and wrk threads 1–connections")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.list:
        for name, module in SCENARIOS.items():
            print(f"{name:<10} {module.TITLE}")
        return 0
    names = args.names or list(SCENARIOS)
    started = datetime.now(UTC)
    stamp = started.strftime("%Y%m%dT%H%M%SZ")
    ctx = Context(duration_s=args.duration, repeats=args.repeats, warmup_s=args.warmup,
                  connections=args.connections, wrk_threads=args.wrk_threads, breakdown=not args.no_breakdown,
                  quiet_cores=args.quiet_cores, quiet_wait_s=args.quiet_wait,
                  log_dir=harness.RESULTS_DIR / "logs" / stamp)
    harness.ensure_wrk()
    harness.log(f"bench database: {ctx.db_url.rsplit('@', 1)[-1]}")
    payload = {
        "started": started.isoformat(timespec="seconds"),
        "settings": {"scenarios": names, "workers": args.workers, "duration_s": args.duration,
                     "repeats": args.repeats, "warmup_s": args.warmup, "connections": args.connections,
                     "wrk_threads": args.wrk_threads, "breakdown": not args.no_breakdown,
                     "quiet_cores": args.quiet_cores, "quiet_wait_s": args.quiet_wait},
        "machine": harness.machine_info(),
        "comparisons": [],
        "failures": [],
    }
    tables = []
    t0 = time.monotonic()
    try:
        for name in names:
            for workers in args.workers:
                harness.log(f"== {name}, {workers} worker(s)")
                try:
                    comparison = SCENARIOS[name].run(ctx, workers)
                except (RuntimeError, harness.ServerError, ValueError) as exc:  # the next scenario may still run
                    harness.log(f"!! {name} with {workers} worker(s) failed: {exc}")
                    payload["failures"].append({"scenario": name, "workers": workers, "error": str(exc)})
                    continue
                payload["comparisons"].append(comparison)
                tables.append(harness.markdown_table(comparison))
                print("\n" + tables[-1] + "\n", flush=True)
    finally:
        payload["elapsed_s"] = round(time.monotonic() - t0, 1)
        payload["machine"]["loadavg_after"] = os.getloadavg()
        if payload["comparisons"] or payload["failures"]:
            path = harness.write_results(payload, stamp=stamp)
            harness.log(f"results: {path.relative_to(harness.REPO_ROOT)}")
    print(f"_Measured {started:%Y-%m-%d %H:%M} UTC, {args.repeats} interleaved rounds × {args.duration:g} s, "
          f"wrk {args.connections} connections; medians._")
    return 1 if payload["failures"] else 0


if __name__ == "__main__":
    sys.exit(main())
