"""Turns `cargo test` output into JUnit XML, beside the Python suite's reports.

python -m harness.cargo_junit reports/rust-test.log reports/junit-rust.xml
"""

import re
import sys
from pathlib import Path
from xml.etree import ElementTree as ET

RESULT = re.compile(r"^test (\S+) \.\.\. (ok|FAILED|ignored)$")


def convert(log: str) -> ET.Element:
    suite = ET.Element("testsuite", name="rust_tests")
    counts = {"tests": 0, "failures": 0, "skipped": 0}
    for line in log.splitlines():
        match = RESULT.match(line.strip())
        if not match:
            continue
        name, outcome = match.groups()
        case = ET.SubElement(suite, "testcase", classname="rust_tests.contract", name=name)
        counts["tests"] += 1
        if outcome == "FAILED":
            counts["failures"] += 1
            ET.SubElement(case, "failure", message="see the cargo test output")
        elif outcome == "ignored":
            counts["skipped"] += 1
            ET.SubElement(case, "skipped")
    for key, value in counts.items():
        suite.set(key, str(value))
    return suite


def main(argv: list[str]) -> int:
    source, target = Path(argv[0]), Path(argv[1])
    ET.ElementTree(convert(source.read_text(errors="replace"))).write(
        target, encoding="utf-8", xml_declaration=True
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
