"""Links from a report to where a change lives: its pull or merge request, else its commit.

A repository's web address comes from `--repo-url REPO=URL`, or from its git remote (read by the
API layer, never here). Only http(s) addresses become links: a `javascript:` or `data:` URL in a
remote or an option would be markup by another name.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any
from urllib.parse import quote, urlsplit

from ..errors import BadInput

__all__ = ["web_url", "parse_repo_urls", "change_url", "pr_number"]

# git@github.com:owner/name.git; a host without a dot needs the user@ (else "javascript:x" would match)
_SCP = re.compile(r"^(?:(?P<user>[\w.-]+)@)?(?P<host>[\w-]+(?:\.[\w-]+)*):(?P<path>[^/][^:]*)$")
_SQUASH_PR = re.compile(r"\(#(\d+)\)\s*$")  # "Title (#123)", GitHub's squash-merge subject
_MERGE_PR = re.compile(r"^Merge pull request #(\d+)\b")
_MERGE_MR = re.compile(r"See merge request [\w./-]+!(\d+)")


def web_url(remote: str | None) -> str | None:
    """The https address of a repository from a git remote URL, or None when it has none
    (a local path, an unknown scheme)."""
    if not remote:
        return None
    text = remote.strip()
    m = _SCP.match(text)
    if m and "://" not in text:
        if not m["user"] and "." not in m["host"]:
            return None
        host, path = m["host"], m["path"]
    else:
        parts = urlsplit(text)
        if parts.scheme not in ("https", "http", "ssh", "git") or not parts.hostname:
            return None
        host, path = parts.hostname, parts.path
        if parts.scheme == "http":
            return _clean(f"http://{host}{':' + str(parts.port) if parts.port else ''}/{path.strip('/')}")
    return _clean(f"https://{host}/{path.strip('/')}")


def _clean(url: str) -> str | None:
    url = url.removesuffix(".git").rstrip("/")
    parts = urlsplit(url)
    if parts.scheme not in ("https", "http") or not parts.hostname or not parts.path.strip("/"):
        return None
    return url


def parse_repo_urls(values: Iterable[str] | None) -> dict[str, str]:
    """`--repo-url REPO=URL` options as {repo: url}; a value that is not REPO=http(s)-URL is an error."""
    out: dict[str, str] = {}
    for value in values or []:
        repo, sep, url = str(value).partition("=")
        clean = _clean(url.strip()) if sep else None
        if not repo.strip() or clean is None:
            raise BadInput(f"--repo-url {value!r}: expected REPO=URL with an http(s) URL, "
                             f"e.g. acme/api=https://github.com/acme/api")
        out[repo.strip()] = clean
    return out


def pr_number(change: Mapping[str, Any]) -> int | None:
    """The pull or merge request a change landed through: recorded at ingest, else read from the
    subject lines forges write ("Title (#12)", "Merge pull request #12", "See merge request g/p!12")."""
    n = change.get("pr_number")
    if n not in (None, ""):
        try:
            return int(n)
        except (TypeError, ValueError):
            return None
    title = str(change.get("title") or "")
    for pattern in (_SQUASH_PR, _MERGE_PR, _MERGE_MR):
        m = pattern.search(title)
        if m:
            return int(m.group(1))
    return None


def change_url(base: str | None, change: Mapping[str, Any]) -> str | None:
    """The change's pull/merge request page, else its commit page, under the repository's `base`."""
    if not base:
        return None
    gitlab = "gitlab" in (urlsplit(base).hostname or "")
    n = pr_number(change)
    if n is not None:
        return f"{base}/-/merge_requests/{n}" if gitlab else f"{base}/pull/{n}"
    sha = str(change.get("sha") or "")
    if re.fullmatch(r"[0-9a-f]{7,64}", sha):
        return f"{base}/-/commit/{sha}" if gitlab else f"{base}/commit/{quote(sha)}"
    return None
