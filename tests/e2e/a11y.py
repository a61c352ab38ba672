"""The automated accessibility audit of a page: axe-core (from npm, node_modules/axe-core) run in the page.

The script is evaluated through the DevTools protocol, which the page's Content-Security-Policy does not govern, so
the audit runs under the real headers without loosening them. WCAG 2.1 A and AA rules; serious and critical findings
fail the test, lesser ones are only written to the test output."""

import json
from functools import cache
from pathlib import Path

AXE = Path(__file__).resolve().parents[2] / "node_modules" / "axe-core" / "axe.min.js"
TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]
BLOCKING = {"serious", "critical"}


@cache
def _axe_source() -> str:
    return AXE.read_text()


def audit(page) -> list[dict]:
    """axe-core's violations on the page as it is now: id, impact, help and up to five offending elements."""
    if not page.evaluate("() => typeof window.axe !== 'undefined'"):
        page.evaluate(_axe_source())
    return page.evaluate(
        """(tags) => axe.run(document, {runOnly: {type: "tag", values: tags}}).then((result) =>
            result.violations.map((v) => ({
                id: v.id, impact: v.impact, help: v.help,
                nodes: v.nodes.slice(0, 5).map((n) => n.target.join(" ") + " :: " + (n.failureSummary || "")),
            })))""",
        TAGS,
    )


def assert_accessible(page, name: str) -> list[dict]:
    violations = audit(page)
    for violation in violations:
        print(f"axe [{name}] {violation['impact']}: {violation['id']} — {violation['help']}")
    blocking = [v for v in violations if v["impact"] in BLOCKING]
    assert not blocking, f"{name}: {json.dumps(blocking, ensure_ascii=False, indent=1)}"
    return violations
