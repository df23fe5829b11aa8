"""Control characters in untrusted text, as each renderer shows them: the codepoints replaced by
U+FFFD are listed here by hand (C0 but tab and newline, DEL, C1; HTML keeps carriage return too)."""

from loopmeter.report.control_chars import replace_control
from loopmeter.report.html import _no_control
from loopmeter.report.markdown import md_escape
from loopmeter.report.terminal import escape

ALL = "".join(chr(c) for c in range(0xA1))
C0_C1 = set(range(0x00, 0x09)) | set(range(0x0B, 0x20)) | set(range(0x7F, 0xA0))


def _replaced(out: str) -> set[int]:
    assert len(out) == len(ALL)
    return {i for i, ch in enumerate(out) if ch == "\ufffd"}


def test_terminal_replaces_every_control_but_tab_and_newline():
    assert _replaced(replace_control(ALL)) == C0_C1
    # Rich markup escaping adds backslashes before "[", so count on a bracket-free text.
    text = ALL.replace("[", "(")
    assert _replaced(escape(text)) == C0_C1


def test_html_keeps_carriage_return_as_whitespace():
    assert _replaced(replace_control(ALL, html=True)) == C0_C1 - {0x0D}
    assert _replaced(_no_control(ALL)) == C0_C1 - {0x0D}
    assert _no_control("plain\ttext\r\n") == "plain\ttext\r\n"


def test_markdown_shows_controls_as_replacement_characters():
    assert md_escape("a\x1b(31mb\x07c\x9bd") == "a\ufffd(31mb\ufffdc\ufffdd"
