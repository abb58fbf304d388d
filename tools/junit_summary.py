"""Print the totals of the JUnit XML files colcon test wrote, as pytest's closing line would.

`colcon test` runs pytest inside CTest and keeps pytest's own summary in its logs; this prints one
closing line for the whole run ('N passed, N failed, N skipped') and exits non-zero when a test
failed or no test ran.
"""

from __future__ import annotations

import sys
import xml.etree.ElementTree as ET
from pathlib import Path


def main(argv: list[str]) -> int:
    results_dir = Path(argv[1]) if len(argv) > 1 else Path("build/memory_nodes/test_results")
    total = failed = skipped = 0
    for xml_file in sorted(results_dir.rglob("*.xml")):
        root = ET.parse(xml_file).getroot()
        suites = [root] if root.tag == "testsuite" else root.findall("testsuite")
        for suite in suites:
            total += int(suite.get("tests", 0))
            failed += int(suite.get("failures", 0)) + int(suite.get("errors", 0))
            skipped += int(suite.get("skipped", 0))
    passed = total - failed - skipped
    print(f"tests: {passed} passed, {failed} failed, {skipped} skipped")
    if total == 0:
        print(f"no test results under {results_dir}", file=sys.stderr)
        return 1
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
