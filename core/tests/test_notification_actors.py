"""How a notification names who acted, in Japanese (issue 16, part 3): a member with さん, a rule by its name in
『』, routing or an unnamed automation as 自動 — never 「Tsunaguさん」 or an empty name before さん."""

import pytest
from django.utils import translation

from core.notification_kinds import notification_text

RULE = {"automated": "True", "rule": "VIP優先"}
CASES = [
    ("assigned", {"actor": "高橋 誠", "number": 5}, "高橋 誠さんがチケット #5 をあなたに割り当てました"),
    (
        "assigned",
        {"automated": "True", "rule": "VIP優先", "number": 5},
        "ルール『VIP優先』により #5 があなたに割り当てられました",
    ),
    ("assigned", {"automated": "True", "rule": "", "number": 5}, "#5 が自動であなたに割り当てられました"),
    (
        "mentioned",
        {"automated": "True", "rule": "返金", "number": 7},
        "ルール『返金』が #7 のメモであなたをメンションしました",
    ),
    ("mentioned", {"automated": "True", "number": 7}, "自動化ルールが #7 のメモであなたをメンションしました"),
]


@pytest.mark.parametrize(("kind", "params", "expected"), CASES)
def test_japanese_notifications_name_people_with_san_and_automation_without(kind, params, expected):
    with translation.override("ja"):
        text = notification_text(kind, params)
    assert text == expected
    if "actor" not in params:
        assert "さん" not in text
