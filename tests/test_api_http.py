"""The shared HTTP layer (sources/http.py) on its own, against the real 127.0.0.1 fixture server."""

from __future__ import annotations

import socket

import pytest
from apiserver import FixtureServer, Reply

from loopmeter.sources.http import GITHUB, ApiClient, ApiError, AuthError, CacheEntry

P = "/repos/acme/widgets"


def test_a_body_driven_next_page_hook_walks_offset_style_listings():
    # Jira-style pagination: the body, not a header, says whether there is more.
    def next_url(resp, data):
        page = int(resp.request.url.params.get("page", "1"))
        return str(resp.request.url.copy_set_param("page", page + 1)) if page * 2 < data["total_count"] else None

    with FixtureServer("github", link=False) as srv, ApiClient(srv.url, provider=GITHUB, token=None) as c:
        pages = list(c.pages(f"{P}/actions/runs", {"per_page": 2}, next_url=next_url))
    assert [[r["id"] for r in p.data["workflow_runs"]] for p in pages] == [[103, 102], [101]]


def test_a_304_returns_the_remembered_next_link_and_no_body():
    with FixtureServer("github") as srv:
        with ApiClient(srv.url, provider=GITHUB, token=None) as c:
            first = c.get(f"{P}/pulls")
        remembered = {first.cache_entry.key: first.cache_entry}
        with ApiClient(srv.url, provider=GITHUB, token=None, cached=remembered.get) as c:
            again = c.get(f"{P}/pulls")
    assert first.next_url and first.data and not first.unchanged
    assert (again.status, again.data, again.unchanged, again.next_url) == (304, None, True, first.next_url)
    assert srv.requests()[-1].headers["If-None-Match"] == first.cache_entry.etag


def test_the_same_bytes_without_an_etag_count_as_unchanged():
    with FixtureServer("github") as srv:
        with ApiClient(srv.url, provider=GITHUB, token=None) as c:
            first = c.get(P)
        old = CacheEntry(first.cache_entry.key, None, first.cache_entry.body_hash, None)
        with ApiClient(srv.url, provider=GITHUB, token=None, cached={old.key: old}.get) as c:
            again = c.get(P)
    assert again.status == 200 and again.unchanged and again.data["full_name"] == "acme/widgets"


def test_connection_failures_are_retried_then_one_error_naming_the_url():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()  # nothing listens here now
    slept: list[float] = []
    with ApiClient(f"http://127.0.0.1:{port}", provider=GITHUB, token="t0ken-x", sleep=slept.append, retries=2) as c:
        with pytest.raises(ApiError, match=rf"^GitHub: http://127\.0\.0\.1:{port}/repos/acme/widgets: ConnectError after 2 retries"):
            c.get(P, {"access": "q"})
    assert slept == [1.0, 2.0]


def test_without_a_token_a_401_says_which_variable_to_set():
    with FixtureServer("github", token="needed") as srv, ApiClient(srv.url, provider=GITHUB, token=None) as c:
        with pytest.raises(AuthError, match=r"GitHub needs a token .* set GITHUB_TOKEN or pass --token-env NAME"):
            c.get(P)
        assert "Authorization" not in srv.requests()[-1].headers


def test_a_long_rate_limit_is_not_waited_for_beyond_the_bound():
    with FixtureServer("github") as srv:
        srv.fault(P, Reply(429, {"Retry-After": "7200"}, "slow down"))
        slept: list[float] = []
        with ApiClient(srv.url, provider=GITHUB, token=None, sleep=slept.append, max_wait=3600) as c:
            with pytest.raises(ApiError, match=r"rate limited on .* for 7200 s, longer than loopmeter waits \(3600 s\)"):
                c.get(P)
    assert slept == []
