"""XES writer (IEEE 1849): one trace per item with events, for case-centric process-mining tools.

Written as a stream with the standard library's escaping rather than built as an ElementTree, so a
large store never needs the whole document in memory. XML 1.0 cannot carry most control
characters at all, so they are replaced (commit titles do contain them).
"""

from __future__ import annotations

import re
from itertools import groupby
from pathlib import Path
from xml.sax.saxutils import quoteattr

from .canonical import CanonicalLog

_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")

HEADER = """<?xml version="1.0" encoding="UTF-8"?>
<log xes.version="1849-2016" xes.features="nested-attributes" xmlns="http://www.xes-standard.org/">
 <extension name="Concept" prefix="concept" uri="http://www.xes-standard.org/concept.xesext"/>
 <extension name="Time" prefix="time" uri="http://www.xes-standard.org/time.xesext"/>
 <extension name="Organizational" prefix="org" uri="http://www.xes-standard.org/org.xesext"/>
 <string key="concept:name" value="loopmeter canonical log"/>
"""


def _a(value: object) -> str:
    return quoteattr(_NOT_XML.sub("\ufffd", str(value)))


def write_xes(log: CanonicalLog, path: Path) -> None:
    by_item = {k: list(g) for k, g in groupby(log.events, key=lambda e: e[0])}
    with path.open("w", encoding="utf-8") as f:
        f.write(HEADER)
        for iid, item in log.items.items():
            if iid not in by_item:
                # A trace is a case's events; an item with none (a release tag) is no case, and
                # case-centric tools would count an empty trace as a case of zero duration.
                continue
            f.write(f" <trace>\n  <string key=\"concept:name\" value={_a(iid)}/>\n")
            f.write(f"  <string key=\"lm:kind\" value={_a(item['kind'] or '')}/>\n")
            for key in ("source", "title", "state"):
                if item.get(key) is not None:
                    f.write(f"  <string key=\"lm:{key}\" value={_a(item[key])}/>\n")
            for _, ts, activity, actor, attrs in by_item[iid]:
                f.write(f"  <event>\n   <string key=\"concept:name\" value={_a(activity)}/>\n")
                f.write(f"   <date key=\"time:timestamp\" value={_a(ts.isoformat() + '+00:00')}/>\n")
                if actor is not None:
                    f.write(f"   <string key=\"org:resource\" value={_a(actor)}/>\n")
                if attrs is not None:
                    f.write(f"   <string key=\"lm:attrs\" value={_a(attrs)}/>\n")
                f.write("  </event>\n")
            f.write(" </trace>\n")
        f.write("</log>\n")
