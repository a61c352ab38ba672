"""`make bench [ONLY=name]`: seed a separate database and measure; results in bench/results.json.

Benchmarks measure, tests assert: nothing here fails a build. Each result is
{"name", "value", "unit", "target", "ok", "detail"}.
"""

import argparse
import json
import os
import sys
from pathlib import Path
from urllib.parse import urlparse

RESULTS = Path(__file__).resolve().parent / "results.json"
BENCH_DB = "tsunagu_bench"
SUITES = ["inbox", "webhooks", "rules", "assignment", "nlp"]


def _use_bench_database(reset: bool) -> None:
    """Point Django at a separate database (created if missing, dropped first with --reset) on the same server."""
    import psycopg

    url = urlparse(os.environ["DATABASE_URL"])
    admin = url._replace(path="/postgres").geturl()
    with psycopg.connect(admin, autocommit=True) as conn:
        if reset:
            conn.execute(f'DROP DATABASE IF EXISTS "{BENCH_DB}" WITH (FORCE)')
        if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [BENCH_DB]).fetchone():
            conn.execute(f'CREATE DATABASE "{BENCH_DB}"')
    os.environ["DATABASE_URL"] = url._replace(path=f"/{BENCH_DB}").geturl()
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--only", choices=sorted(SUITES), help="run only this benchmark")
    parser.add_argument("--reset", action="store_true", help="drop the bench database and seed it again")
    args = parser.parse_args(argv)
    _use_bench_database(args.reset)
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    import importlib

    results = []
    for name in SUITES:
        if args.only and args.only != name:
            continue
        results.extend(importlib.import_module(f"bench.{name}").run())
    previous = json.loads(RESULTS.read_text()) if RESULTS.exists() and args.only else []
    names = {r["name"] for r in results}
    merged = [r for r in previous if r["name"] not in names] + results
    RESULTS.write_text(json.dumps(merged, ensure_ascii=False, indent=2))
    for r in results:
        value = "-" if r["value"] is None else r["value"]  # a measurement that produced no sample
        print(f"{r['name']:<40} {value:>10} {r['unit']:<6} target {r['target']}  {'ok' if r['ok'] else 'MISSED'}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
