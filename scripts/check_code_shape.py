"""Keeps app/ readable: no module over MAX_LINES lines, no function over MAX_COMPLEXITY
(cyclomatic, as radon counts it), and request state written only by the request
middleware. Exits 1 listing every breach."""

import re
import sys
from pathlib import Path

from radon.complexity import cc_visit

MAX_LINES = 250
MAX_COMPLEXITY = 10
# Where request state may be touched: the middleware that owns it.
STATE_OWNERS = {Path("app/platform/observability.py")}
_STATE = re.compile(r"request\.state|scope\[\"state\"\]|scope\.setdefault\(\"state\"")


def breaches(root: Path) -> list[str]:
    found = []
    for path in sorted(root.rglob("*.py")):
        source = path.read_text()
        lines = source.count("\n")
        if lines > MAX_LINES:
            found.append(f"{path}: {lines} lines (at most {MAX_LINES})")
        for block in cc_visit(source):
            if block.complexity > MAX_COMPLEXITY:
                found.append(
                    f"{path}:{block.lineno} {block.fullname}: complexity {block.complexity}"
                    f" (at most {MAX_COMPLEXITY})"
                )
        if path not in STATE_OWNERS and _STATE.search(source):
            found.append(f"{path}: touches request state (only the request middleware may)")
    return found


if __name__ == "__main__":
    problems = breaches(Path(sys.argv[1] if len(sys.argv) > 1 else "app"))
    print("\n".join(problems) or "app/ is within its size, complexity and state rules")
    sys.exit(1 if problems else 0)
