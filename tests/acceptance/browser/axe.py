"""axe-core in the page under test: the vendored build (tests/acceptance/browser/vendor/, see its README) injected as an
inline script, so no request leaves localhost; returns the violations at the impacts we refuse."""

from __future__ import annotations

from pathlib import Path
from typing import Any

AXE_VERSION = "4.14.1"
AXE_JS = Path(__file__).resolve().parent / "vendor" / "axe.min.js"
REFUSED_IMPACTS = ("serious", "critical")

RUN_JS = """async (impacts) => {
  const result = await axe.run(document, {resultTypes: ["violations"]});
  return result.violations
    .filter(v => impacts.includes(v.impact))
    .map(v => `${v.impact} ${v.id}: ${v.help} at ${v.nodes.slice(0, 3).map(n => n.target.join(" ")).join(" | ")}`);
}"""


def axe_violations(page: Any) -> list[str]:
    """Serious and critical axe violations of the page as it is now (after its scripts ran)."""
    if not page.evaluate("typeof window.axe !== 'undefined'"):
        page.add_script_tag(content=AXE_JS.read_text(encoding="utf-8"))
    assert page.evaluate("axe.version") == AXE_VERSION
    return page.evaluate(RUN_JS, list(REFUSED_IMPACTS))
