"""`make bench [ONLY=name]`: seed a separate database and measure; results in bench/results.json.

Benchmarks measure, tests assert: nothing here fails a build. Each result is
{"name", "value", "unit", "target", "ok", "detail"}.

`make bench SMOKE=1` (`--smoke`, run by CI): every suite, small and short, on its own database that is created afresh
each time; results in bench/results-smoke.json. It judges no figure: it fails only when a suite raised or wrote no
result of that shape.
"""

import argparse
import importlib
import json
import os
import sys
import time
import traceback
from pathlib import Path
from urllib.parse import urlparse

RESULTS = Path(__file__).resolve().parent / "results.json"
SMOKE_RESULTS = Path(__file__).resolve().parent / "results-smoke.json"
BENCH_DB = "tsunagu_bench"
SMOKE_DB = "tsunagu_bench_smoke"
# Redis database of the smoke run's own process (cache, channel layer): not the development one (0) that `make bench`
# shares, nor the tests' (15); the webhook bench's children use BENCH_REDIS_DB (12, 13 in smoke mode).
SMOKE_REDIS_DB = "14"
SUITES = ["inbox", "webhooks", "faults", "email", "rules", "assignment", "nlp", "analytics", "api"]
KEYS = {"name", "value", "unit", "target", "ok", "detail"}


def _use_bench_database(name: str, reset: bool) -> None:
    """Point Django at a separate database (created if missing, dropped first with --reset) on the same server."""
    import psycopg

    url = urlparse(os.environ["DATABASE_URL"])
    admin = url._replace(path="/postgres").geturl()
    with psycopg.connect(admin, autocommit=True) as conn:
        if reset:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone():
            conn.execute(f'CREATE DATABASE "{name}"')
    os.environ["DATABASE_URL"] = url._replace(path=f"/{name}").geturl()
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")


def _smoke_problems(results_by_suite: dict[str, list[dict]], failed: list[str]) -> list[str]:
    """What makes a smoke run fail: a suite that raised, or one without a result of the documented shape."""
    problems = [f"{name}: raised (traceback above)" for name in failed]
    for name, results in results_by_suite.items():
        if name in failed:
            continue
        if not results:
            problems.append(f"{name}: no result")
        for r in results:
            if set(r) != KEYS:
                problems.append(f"{name}: a result is not {sorted(KEYS)}: {r!r}")
    return problems


def _machine() -> str:
    """What the figures were measured on, and how fast it runs plain Python: sessions run on machines of different
    speeds (the same code's email intake measured 348 mails/s on one and 185-197 on another), so a figure is
    compared with an earlier one through this."""
    import platform

    model = platform.processor() or platform.machine()
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        fields = {}
        for line in cpuinfo.read_text().splitlines():
            key, _, value = line.partition(":")
            fields.setdefault(key.strip(), value.strip())
        model = f"{fields.get('model name', model)} at {fields.get('cpu MHz', '?')} MHz"
    started = time.perf_counter()
    total = 0
    for i in range(10_000_000):
        total += i
    loop = time.perf_counter() - started
    return f"machine: {model}, {os.cpu_count()} cores; a 10,000,000-addition Python loop took {loop:.2f} s"


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--only", choices=sorted(SUITES), help="run only this benchmark")
    parser.add_argument("--reset", action="store_true", help="drop the bench database and seed it again")
    parser.add_argument(
        "--smoke", action="store_true", help="every suite small and short, to check that it runs (CI); judges no figure"
    )
    args = parser.parse_args(argv)
    # The suites read this when imported (their sizes); the webhook bench's child processes inherit it.
    os.environ["BENCH_SMOKE"] = "1" if args.smoke else "0"
    if args.smoke:
        os.environ["REDIS_DB"] = SMOKE_REDIS_DB
        # Always seeded afresh: the run then checks the seeders too, and a fresh clone (CI) does the same work.
        _use_bench_database(SMOKE_DB, reset=True)
    else:
        _use_bench_database(BENCH_DB, args.reset)
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)

    results_by_suite: dict[str, list[dict]] = {}
    failed = []
    for name in SUITES:
        if args.only and args.only != name:
            continue
        started = time.perf_counter()
        if args.smoke:
            # Every suite runs, so one broken suite does not hide another.
            try:
                results_by_suite[name] = importlib.import_module(f"bench.{name}").run()
            except Exception:
                traceback.print_exc()
                failed.append(name)
                results_by_suite[name] = []
        else:
            results_by_suite[name] = importlib.import_module(f"bench.{name}").run()
        print(f"{name}: {time.perf_counter() - started:.1f} s", file=sys.stderr)
    results = [r for suite_results in results_by_suite.values() for r in suite_results]
    if not args.smoke:
        machine = _machine()
        for r in results:
            r["detail"] = f"{r['detail']} ({machine})" if r["detail"] else machine

    if args.smoke:
        SMOKE_RESULTS.write_text(json.dumps(results, ensure_ascii=False, indent=2))
    else:
        previous = json.loads(RESULTS.read_text()) if RESULTS.exists() and args.only else []
        names = {r["name"] for r in results}
        merged = [r for r in previous if r["name"] not in names] + results
        RESULTS.write_text(json.dumps(merged, ensure_ascii=False, indent=2))
    for r in results:
        if args.smoke and set(r) != KEYS:
            continue  # reported below
        value = "-" if r["value"] is None else r["value"]  # a measurement that produced no sample
        print(f"{r['name']:<40} {value:>10} {r['unit']:<6} target {r['target']}  {'ok' if r['ok'] else 'MISSED'}")
    if args.smoke:
        problems = _smoke_problems(results_by_suite, failed)
        for problem in problems:
            print(f"smoke: {problem}", file=sys.stderr)
        print(f"smoke: {'FAILED' if problems else 'every suite ran'}; results in {SMOKE_RESULTS}", file=sys.stderr)
        return 1 if problems else 0
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
