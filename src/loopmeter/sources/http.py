"""One small HTTP layer for the JSON APIs loopmeter reads: GitHub, GitLab and Jira.

Why httpx with our own thin layer and not githubkit (or python-gitlab, jira): the hard parts of
reading these APIs are the same for all three (pagination, primary and secondary rate limits,
bounded retries of 5xx, conditional requests, redacting the token, resuming where a killed run
stopped), and one layer of ~300 lines does them once, the same way, with one set of tests. A
per-provider client would give three different retry and rate-limit behaviours and typed models
we would immediately map to our own rows anyway; keeping the response-to-row mapping in
`sources/github.py` / `gitlab.py` / `jira.py` makes the vocabulary of docs/design.md the only
schema that matters.

Use:

    client = ApiClient("https://api.github.com", provider=GITHUB, token=token_from_env("GITHUB_TOKEN"),
                       cached=store_cache_lookup, on_wait=lambda s, why: bar.note(f"{why}, waiting {s:.0f} s"))
    for page in client.pages("/repos/o/r/pulls", {"state": "all", "per_page": 100}):
        if page.unchanged:        # 304 (or the same bytes as last time): its rows are already stored
            continue
        ... write page.data's rows and page.cache_entry in ONE transaction ...

Rules this module keeps:
- The token goes only into the Authorization header (or the provider's token header), and only to
  the origin (scheme, host, port) of the base URL. A pagination link or a redirect to another
  origin is refused with one line naming that host: following it without credentials would
  silently read a different (possibly hostile) server's data into the store, so we stop instead.
  Same-origin redirects (GitHub's 301 for a renamed repository) are followed, by this layer and
  not by httpx, so the origin check sees every hop. The token is never part of a URL, an error,
  a log line or a stored row: every error message passes `redact()`, URLs in messages lose their
  query string, and user:password@ in any URL is shown as `[redacted]@`.
- `pages()` follows the `Link: rel="next"` header (GitHub, GitLab, Jira Data Center) or GitLab's
  `X-Next-Page`; a provider that pages in the body (Jira Server's `startAt`/`total`, Jira Cloud's
  `nextPageToken`/`isLast`) passes `next_url=` to compute the next URL from the body.
- Rate limits: a 403/429 with `x-ratelimit-remaining: 0` (or GitLab's `RateLimit-Remaining: 0`)
  waits until `x-ratelimit-reset` / `RateLimit-Reset`; a `Retry-After` (secondary limits, 429)
  waits that long; a 403 that says "secondary rate limit" without headers waits a minute, then
  longer. Each wait calls `on_wait(seconds, reason)` so the CLI can show "rate limited, waiting
  42 s"; `sleep` and `clock` are injectable so tests do not really wait.
- 5xx and transport errors are retried `retries` times with exponential backoff, then one
  `ApiError` naming the URL.
- Conditional requests: if `cached(key)` knows an ETag for the URL, the request carries
  `If-None-Match`; a 304 comes back as `Page(unchanged=True, data=None)` and its next link is
  the one remembered with the ETag. A 200 whose body hashes to the remembered hash is also
  `unchanged` (with its data). The layer never writes the cache itself: the caller stores
  `page.cache_entry` in the same transaction as the rows made from the page, so a killed run can
  never remember an ETag for rows it did not store.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import httpx

from ..errors import LoopmeterError, redact_userinfo


class ApiError(LoopmeterError):
    """An API answered in a way loopmeter cannot use (after retries); the message names the URL.
    For an HTTP error answer, `status` and the parsed JSON `body` (None if not JSON) let a caller
    that expects a particular error (Jira's unknown keys in a JQL query) read it."""

    status: int | None = None
    body: Any = None


class AuthError(ApiError):
    """The token is missing, rejected, or lacks a scope."""


class NotFound(ApiError):
    """The repository / project / resource does not exist or is not visible to the token."""


class RateLimitExhausted(ApiError):
    """Rate limited for longer than loopmeter is allowed to wait."""


@dataclass(frozen=True)
class Provider:
    """What differs between APIs: names for messages and how the token is sent."""

    name: str  # "GitHub", shown in messages
    slug: str  # "github", the source prefix of item ids
    token_env: str  # the default environment variable holding the token
    token_header: Callable[[str], tuple[str, str]]
    accept: str = "application/json"
    headers: tuple[tuple[str, str], ...] = ()  # sent with every request


# The API version pins the response schemas the mapping in github.py was written against.
GITHUB = Provider("GitHub", "github", "GITHUB_TOKEN", lambda t: ("Authorization", f"Bearer {t}"),
                  accept="application/vnd.github+json", headers=(("X-GitHub-Api-Version", "2022-11-28"),))
# GitLab accepts personal, project and OAuth tokens as a Bearer token.
GITLAB = Provider("GitLab", "gitlab", "GITLAB_TOKEN", lambda t: ("Authorization", f"Bearer {t}"))
# Jira Cloud wants Basic email:api-token; Data Center personal access tokens are Bearer. The Jira
# source builds its own Provider with the right header; this default is the Data Center one.
JIRA = Provider("Jira", "jira", "JIRA_TOKEN", lambda t: ("Authorization", f"Bearer {t}"))


@dataclass(frozen=True)
class CacheEntry:
    """What to remember about a URL after its rows are stored (see module docstring)."""

    key: str
    etag: str | None
    body_hash: str
    next_url: str | None
    oldest: Any = None  # set by the caller: the oldest item time on the page (see store.api_load)


@dataclass
class Page:
    url: str
    status: int
    data: Any  # parsed JSON; None when unchanged by a 304
    unchanged: bool
    next_url: str | None
    headers: httpx.Headers
    cache_entry: CacheEntry | None = None


@dataclass
class Stats:
    """Requests made, for the ingest summary and for tests that count what a daily run costs."""

    requests: int = 0
    not_modified: int = 0
    retries: int = 0
    waited_seconds: float = 0.0
    by_status: dict[int, int] = field(default_factory=dict)


def token_from_env(name: str) -> str | None:
    """The token in environment variable `name`, or None when it is unset or empty."""
    value = os.environ.get(name, "").strip()
    return value or None


def client_from_env(provider: Provider, url: str | None, token_env: str | None, *, default_url: str, option: str,
                    what: str = "a token", **kw: Any) -> ApiClient:
    """An ApiClient for an incident or tracker API at `url` (else `default_url`) with the token from
    `token_env` (else the provider's variable), checked before the store is opened: one line naming
    the variable when it is unset, or `option` when the URL is not http(s)."""
    from ..errors import ConfigError

    env = token_env or provider.token_env
    token = token_from_env(env)
    if not token:
        raise ConfigError(f"{provider.name}'s API needs {what}: set {env} (or name another variable with --token-env)")
    base = url or default_url
    if not base.startswith(("http://", "https://")):
        raise ConfigError(f"{option}: {base!r} is not an http(s) base URL ({default_url})")
    return ApiClient(base, provider=provider, token=token, **kw)


def strip_query(url: str) -> str:
    """The URL without query, fragment or userinfo, for messages (they may carry cursors or secrets)."""
    p = urlsplit(url)
    netloc = p.netloc.rpartition("@")[2]
    return urlunsplit((p.scheme, netloc, p.path, "", ""))


def origin(url: str) -> tuple[str, str, int | None]:
    """(scheme, host, port) with the scheme's default port filled in: where a token may go."""
    p = urlsplit(url)
    scheme = p.scheme.lower()
    try:
        port = p.port
    except ValueError:
        port = None
    return scheme, (p.hostname or "").lower(), port or {"http": 80, "https": 443}.get(scheme)


class CrossOriginRefused(ApiError):
    """A next link or redirect pointed at another origin than --url; the token is not sent there."""


def _retry_after(value: str | None, now: float) -> float | None:
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        return max(0.0, parsedate_to_datetime(value).timestamp() - now)
    except (TypeError, ValueError):
        return None


def _header_int(headers: httpx.Headers, *names: str) -> int | None:
    for n in names:
        v = headers.get(n)
        if v is not None:
            try:
                return int(float(v.strip()))
            except ValueError:
                return None
    return None


_SECONDARY = re.compile(r"secondary rate limit|abuse", re.IGNORECASE)


class ApiClient:
    """A rate-limit-aware, retrying, conditional JSON GET client for one API base URL."""

    def __init__(
        self,
        base_url: str,
        *,
        provider: Provider,
        token: str | None,
        cached: Callable[[str], CacheEntry | None] | None = None,
        on_wait: Callable[[float, str], None] | None = None,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.time,
        retries: int = 4,
        backoff: float = 1.0,
        max_wait: float = 3600.0,
        timeout: float = 30.0,
        transport: httpx.BaseTransport | None = None,
    ):
        self.base_url = base_url.rstrip("/")
        self.origin = origin(self.base_url)
        self.provider = provider
        self._token = token
        self.cached = cached or (lambda key: None)
        self.on_wait = on_wait or (lambda seconds, reason: None)
        self.sleep = sleep
        self.clock = clock
        self.retries = retries
        self.backoff = backoff
        self.max_wait = max_wait
        self.stats = Stats()
        headers = {"Accept": provider.accept, "User-Agent": "loopmeter", **dict(provider.headers)}
        if token:
            k, v = provider.token_header(token)
            headers[k] = v
        # Redirects are followed in get(), hop by hop, so each target's origin is checked first.
        self._http = httpx.Client(headers=headers, timeout=timeout, follow_redirects=False, transport=transport)

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> ApiClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- messages ----------------------------------------------------------------------------

    def redact(self, text: str) -> str:
        """`text` with the token (if any) replaced; every message this client raises passes here."""
        if self._token:
            text = text.replace(self._token, "[token]")
        return redact_userinfo(text)

    def _fail(self, cls: type[ApiError], message: str) -> ApiError:
        return cls(self.redact(message))

    def url(self, path_or_url: str) -> str:
        if path_or_url.startswith(("http://", "https://")):
            self._check_origin(path_or_url, "a next-page link")
            return path_or_url
        return f"{self.base_url}/{path_or_url.lstrip('/')}"

    def _check_origin(self, url: str, what: str) -> None:
        if origin(url) != self.origin:
            scheme, host, port = origin(url)
            raise self._fail(CrossOriginRefused, f"{self.provider.name}: {what} points at {scheme}://{host}:{port}, "
                             f"not the --url origin {strip_query(self.base_url)}; refused (credentials are sent only "
                             "to the --url origin)")

    # -- requests ----------------------------------------------------------------------------

    def get(self, path_or_url: str, params: dict[str, Any] | None = None, *, conditional: bool = True,
            next_url: Callable[[httpx.Response, Any], str | None] | None = None) -> Page:
        """GET one URL as JSON, honouring rate limits and retrying server errors."""
        request = self._http.build_request("GET", self.url(path_or_url), params=params)
        key = str(request.url)
        shown = strip_query(key)
        entry = self.cached(key) if conditional else None
        if entry is not None and entry.etag:
            request.headers["If-None-Match"] = entry.etag
        attempt = 0  # server errors and transport failures
        limited = 0  # rate-limit waits
        redirects = 0
        while True:
            self.stats.requests += 1
            try:
                resp = self._http.send(request)
            except httpx.TransportError as e:
                attempt += 1
                if attempt > self.retries:
                    raise self._fail(ApiError, f"{self.provider.name}: {shown}: {type(e).__name__} after "
                                     f"{self.retries} retries ({e})") from None
                self._wait(self.backoff * 2 ** (attempt - 1), "connection failed, retrying")
                continue
            self.stats.by_status[resp.status_code] = self.stats.by_status.get(resp.status_code, 0) + 1
            if resp.has_redirect_location and redirects < 10:
                redirects += 1
                target = str(resp.next_request.url) if resp.next_request is not None else ""
                resp.close()
                self._check_origin(target, f"a redirect from {shown}")
                request = self._http.build_request("GET", target)
                if entry is not None and entry.etag:
                    request.headers["If-None-Match"] = entry.etag
                continue
            wait = self._rate_limit_wait(resp, limited)
            if wait is not None:
                limited += 1
                if limited > 10 or wait > self.max_wait:
                    raise self._fail(RateLimitExhausted, f"{self.provider.name}: rate limited on {shown} for "
                                     f"{wait:.0f} s, longer than loopmeter waits ({self.max_wait:.0f} s); "
                                     "run the same command later to resume")
                self._wait(wait, "rate limited")
                continue
            if resp.status_code >= 500:
                attempt += 1
                if attempt > self.retries:
                    raise self._fail(ApiError, f"{self.provider.name}: {shown} answered {resp.status_code} "
                                     f"{resp.reason_phrase} after {self.retries} retries")
                self._wait(self.backoff * 2 ** (attempt - 1), f"server error {resp.status_code}, retrying")
                continue
            break
        if resp.status_code == 304 and entry is not None:
            self.stats.not_modified += 1
            return Page(key, 304, None, True, entry.next_url, resp.headers, entry)
        if resp.status_code >= 400:
            error = self._status_error(resp, shown)
            error.status = resp.status_code
            try:
                error.body = resp.json()
            except ValueError:
                error.body = None
            raise error
        raw = resp.content
        try:
            data = json.loads(raw) if raw.strip() else None
        except ValueError as e:
            raise self._fail(ApiError, f"{self.provider.name}: {shown}: the response is not valid JSON "
                             f"({type(e).__name__}: {str(e)[:80]})") from None
        nxt = next_url(resp, data) if next_url is not None else self._next_link(resp)
        digest = hashlib.sha256(raw).hexdigest()
        new_entry = CacheEntry(key, resp.headers.get("etag"), digest, nxt)
        unchanged = entry is not None and entry.body_hash == digest
        return Page(key, resp.status_code, data, unchanged, nxt, resp.headers, new_entry)

    def pages(self, path_or_url: str, params: dict[str, Any] | None = None, *, conditional: bool = True,
              next_url: Callable[[httpx.Response, Any], str | None] | None = None) -> Iterator[Page]:
        """Every page of a listing, first to last, following the next links."""
        page = self.get(path_or_url, params, conditional=conditional, next_url=next_url)
        yield page
        while page.next_url:
            page = self.get(page.next_url, conditional=conditional, next_url=next_url)
            yield page

    # -- helpers -----------------------------------------------------------------------------

    def _wait(self, seconds: float, reason: str) -> None:
        seconds = max(0.0, seconds)
        self.stats.waited_seconds += seconds
        self.stats.retries += 1
        self.on_wait(seconds, reason)
        self.sleep(seconds)

    def _rate_limit_wait(self, resp: httpx.Response, previous: int) -> float | None:
        """Seconds to wait before retrying, or None when `resp` is not a rate limit."""
        if resp.status_code not in (403, 429):
            return None
        h = resp.headers
        now = self.clock()
        after = _retry_after(h.get("retry-after"), now)
        if after is not None:
            return after
        remaining = _header_int(h, "x-ratelimit-remaining", "ratelimit-remaining")
        if remaining == 0:
            reset = _header_int(h, "x-ratelimit-reset", "ratelimit-reset")
            if reset is not None:
                # +1: the reset second itself may still be limited on the server's clock.
                return max(0.0, reset - now) + 1.0
            return 60.0 * 2**previous
        if resp.status_code == 429 or _SECONDARY.search(resp.text[:2000] or ""):
            # GitHub: a secondary limit without Retry-After means "wait at least a minute".
            return 60.0 * 2**previous
        return None

    def _next_link(self, resp: httpx.Response) -> str | None:
        link = resp.links.get("next", {}).get("url")
        if link:
            return link
        nxt = resp.headers.get("x-next-page", "").strip()
        if nxt:
            u = resp.request.url
            return str(u.copy_set_param("page", nxt))
        return None

    def _status_error(self, resp: httpx.Response, shown: str) -> ApiError:
        name = self.provider.name
        message = ""
        body: Any = None
        try:
            body = resp.json()
            if isinstance(body, dict):
                message = str(body.get("message") or body.get("error_description") or body.get("error")
                              or body.get("errorMessages") or "")
        except ValueError:
            pass
        detail = f" ({message[:160]})" if message else ""
        if resp.status_code == 401:
            if not self._token:
                return self._fail(AuthError, f"{name} needs a token for {shown} (401); set "
                                  f"{self.provider.token_env} or pass --token-env NAME")
            return self._fail(AuthError, f"{name} rejected the token (401) for {shown}; check that it is valid "
                              "and not expired")
        if resp.status_code == 403:
            accepted = resp.headers.get("x-accepted-oauth-scopes")
            permission = resp.headers.get("x-accepted-github-permissions")
            if permission:  # fine-grained tokens name the permission they lack
                return self._fail(AuthError, f"{name}: the token lacks a permission for {shown} (403): needs "
                                  f"{permission.strip()}")
            # GitLab: {"error": "insufficient_scope", "scope": "read_api"} (also in WWW-Authenticate).
            www = resp.headers.get("www-authenticate", "")
            if (isinstance(body, dict) and body.get("error") == "insufficient_scope") or "insufficient_scope" in www:
                m = re.search(r'scope="([^"]*)"', www)
                need = (body.get("scope") if isinstance(body, dict) else None) or (m.group(1) if m else "(not named)")
                return self._fail(AuthError, f"{name}: the token lacks a scope for {shown} (403): needs {need}")
            if accepted is not None:
                have = resp.headers.get("x-oauth-scopes", "")
                need = accepted.strip() or "(none listed)"
                return self._fail(AuthError, f"{name}: the token lacks a scope for {shown} (403): needs "
                                  f"{need}, has {have.strip() or 'none'}")
            return self._fail(AuthError, f"{name}: access to {shown} is forbidden (403){detail}")
        if resp.status_code in (404, 410):
            return self._fail(NotFound, f"{name}: {shown} not found ({resp.status_code})")
        return self._fail(ApiError, f"{name}: {shown} answered {resp.status_code} {resp.reason_phrase}{detail}")
