"""Control characters in untrusted text (commit messages, names, titles), shown as U+FFFD by every
renderer: ESC (ANSI sequences), BEL, backspace and the C1 controls would drive the terminal of
whoever prints, cats or greps the output. Tab and newline are kept everywhere; carriage return is
kept only where the text is HTML (whitespace there), since in a terminal it overwrites the line."""

from __future__ import annotations

import re

_CLASS = r"\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f"
#: Controls that HTML escaping leaves in place (all but tab, newline and carriage return).
HTML_CONTROL = re.compile(f"[{_CLASS}]")
#: Controls a terminal or a Markdown digest must not receive (all but tab and newline).
TERMINAL_CONTROL = re.compile(rf"[{_CLASS}\r]")


def replace_control(text: str, *, html: bool = False) -> str:
    """``text`` with its control characters (``HTML_CONTROL`` when ``html``, else
    ``TERMINAL_CONTROL``) replaced by U+FFFD."""
    return (HTML_CONTROL if html else TERMINAL_CONTROL).sub("\ufffd", text)
