"""Search quality on a labelled Japanese set (tickets/tests/data/search_ja.jsonl): precision and recall of the real
`filter_matching` on PostgreSQL over query/message pairs judged by hand (place names, compounds, okurigana and kana
variants, katakana loanwords, mixed Japanese and Latin, product codes, new names, inflections, English).

A pair is a true positive when the message is relevant and found, a false positive when it is found but not relevant,
a false negative when it is relevant and not found. Each query is run over its judged messages only.

Figures of this set (printed by `pytest -s`):
  bigram implementation (commit 196b82a): precision 0.950, recall 0.844 (114 found, 6 wrong, 21 missed)
  morphological implementation (Sudachi):  precision 1.000, recall 0.993 (134 found, 0 wrong, 1 missed:
    東京都 in 東京都内, which Sudachi cuts 東京 + 都内)
The analyser was tuned while this set was written: the floors guard against regressions, they do not promise
these figures on other text.
"""

import json
from collections import defaultdict
from pathlib import Path

import pytest

from tickets.models import Message
from tickets.search import filter_matching
from tickets.tests.test_search import add_message, make_ticket

pytestmark = pytest.mark.django_db

DATA = Path(__file__).parent / "data" / "search_ja.jsonl"
# Floors a change must not fall below (the measured figures, rounded down).
PRECISION_FLOOR = 0.97
RECALL_FLOOR = 0.95


def load() -> tuple[dict[str, str], list[dict]]:
    texts, pairs = {}, []
    for line in DATA.read_text(encoding="utf-8").splitlines():
        row = json.loads(line)
        if "text" in row:
            texts[row["message"]] = row["text"]
        else:
            pairs.append(row)
    return texts, pairs


def evaluate(tenant) -> dict[str, dict[str, int]]:
    """True/false positive and false negative counts, overall ("all") and per category."""
    texts, pairs = load()
    ticket = make_ticket(tenant)
    counts: dict[str, dict[str, int]] = defaultdict(lambda: {"tp": 0, "fp": 0, "fn": 0, "pairs": 0})
    with tenant.scope():
        ids = {key: add_message(ticket, text).pk for key, text in texts.items()}
        judged: dict[str, list[dict]] = defaultdict(list)
        for pair in pairs:
            judged[pair["query"]].append(pair)
        for query, rows in judged.items():
            candidates = Message.objects.filter(pk__in=[ids[row["message"]] for row in rows])
            found = set(filter_matching(candidates, query).values_list("pk", flat=True))
            for row in rows:
                hit = ids[row["message"]] in found
                for bucket in ("all", row["category"]):
                    counts[bucket]["pairs"] += 1
                    if hit and row["relevant"]:
                        counts[bucket]["tp"] += 1
                    elif hit:
                        counts[bucket]["fp"] += 1
                    elif row["relevant"]:
                        counts[bucket]["fn"] += 1
    return counts


def precision(c: dict[str, int]) -> float:
    return c["tp"] / (c["tp"] + c["fp"]) if c["tp"] + c["fp"] else 1.0


def recall(c: dict[str, int]) -> float:
    return c["tp"] / (c["tp"] + c["fn"]) if c["tp"] + c["fn"] else 1.0


def test_the_set_has_at_least_200_judged_pairs():
    texts, pairs = load()
    assert len(pairs) >= 200
    assert {pair["message"] for pair in pairs} <= set(texts)
    assert sum(pair["relevant"] for pair in pairs) >= 100 and sum(not pair["relevant"] for pair in pairs) >= 100


def test_precision_and_recall_stay_above_their_floors(tenant_a):
    counts = evaluate(tenant_a)
    for bucket, c in sorted(counts.items()):
        print(f"{bucket:12} pairs {c['pairs']:3}  precision {precision(c):.3f}  recall {recall(c):.3f}  {c}")
    assert precision(counts["all"]) >= PRECISION_FLOOR
    assert recall(counts["all"]) >= RECALL_FLOOR
