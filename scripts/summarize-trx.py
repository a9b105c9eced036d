#!/usr/bin/env python3
"""Prints every skipped test with its reason, every failed test, and the closing line
"N passed, N failed, N skipped" over all the TRX files given."""
import sys
import xml.etree.ElementTree as ET

ns = {"t": "http://microsoft.com/schemas/VisualStudio/TeamTest/2010"}
passed = failed = skipped = 0
for path in sys.argv[1:]:
    for r in ET.parse(path).getroot().iterfind(".//t:UnitTestResult", ns):
        outcome, name = r.get("outcome"), r.get("testName")
        if outcome == "Passed":
            passed += 1
        elif outcome == "NotExecuted":
            skipped += 1
            reason = r.findtext(".//t:Output/t:StdOut", default="", namespaces=ns) or r.findtext(".//t:Message", default="", namespaces=ns)
            print(f"skipped: {name}: {reason.strip()}")
        else:
            failed += 1
            print(f"failed: {name}")
print(f"{passed} passed, {failed} failed, {skipped} skipped")
sys.exit(1 if failed or passed == 0 else 0)
