"""Credentials stay home (issue 13): the token goes only to the --url origin, and user:password@
in a URL never reaches a message. Two real servers on 127.0.0.1: the API, and another origin
that records whatever reaches it."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from typer.testing import CliRunner

from loopmeter.cli import app
from loopmeter.errors import redact_userinfo
from loopmeter.sources.http import GITHUB, ApiClient, ApiError, CrossOriginRefused

TOKEN = "ghp_secret_token_123"


class _Server:
    """A 127.0.0.1 server whose answers are set per path; it logs each request's headers."""

    def __init__(self):
        self.routes: dict[str, tuple[int, dict, bytes]] = {}
        self.seen: list[tuple[str, dict]] = []
        outer = self

        class H(BaseHTTPRequestHandler):
            def do_GET(self):  # noqa: N802
                outer.seen.append((self.path, dict(self.headers)))
                status, headers, body = outer.routes.get(self.path.split("?")[0], (404, {}, b"{}"))
                self.send_response(status)
                for k, v in headers.items():
                    self.send_header(k, v)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *a):
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), H)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def pair():
    home, other = _Server(), _Server()
    other.routes["/steal"] = (200, {}, b"[]")
    yield home, other
    home.close()
    other.close()


def _client(home):
    return ApiClient(home.url, provider=GITHUB, token=TOKEN, sleep=lambda s: None)


def _authorized(server):
    return [h for _, h in server.seen if any(k.lower() == "authorization" for k in h)]


def test_a_next_link_to_another_origin_is_refused_naming_the_host_and_gets_no_token(pair):
    home, other = pair
    # Another port on the same host is another origin (a different server process).
    home.routes["/items"] = (200, {"Link": f'<{other.url}/steal?page=2>; rel="next"'}, b"[1]")
    with _client(home) as c, pytest.raises(CrossOriginRefused) as e:
        list(c.pages("/items"))
    port = other.url.rsplit(":", 1)[1]
    assert f"127.0.0.1:{port}" in str(e.value) and "refused" in str(e.value)
    assert "\n" not in str(e.value) and TOKEN not in str(e.value)
    assert other.seen == []  # not even asked without the token
    assert len(_authorized(home)) == 1  # the home origin did get it


def test_a_redirect_to_another_origin_is_refused_and_a_same_origin_one_followed(pair):
    home, other = pair
    home.routes["/moved"] = (301, {"Location": "/repos/new"}, b"")
    home.routes["/repos/new"] = (200, {}, json.dumps({"ok": 1}).encode())
    home.routes["/away"] = (302, {"Location": f"{other.url}/steal"}, b"")
    with _client(home) as c:
        assert c.get("/moved").data == {"ok": 1}  # GitHub's 301 for a renamed repository
        with pytest.raises(CrossOriginRefused, match="127.0.0.1"):
            c.get("/away")
    assert other.seen == []
    assert [p for p, h in home.seen if "Authorization" in h] == ["/moved", "/repos/new", "/away"]


def test_http_to_https_on_the_same_host_is_another_origin(pair):
    home, _ = pair
    home.routes["/up"] = (301, {"Location": home.url.replace("http://", "https://") + "/x"}, b"")
    with _client(home) as c, pytest.raises(CrossOriginRefused):
        c.get("/up")


def test_userinfo_in_a_url_is_redacted_in_errors(pair):
    home, _ = pair
    home.routes["/boom"] = (500, {}, b"{}")
    host = home.url.removeprefix("http://")
    with ApiClient(f"http://alice:pa55word@{host}", provider=GITHUB, token=None, sleep=lambda s: None,
                   retries=0) as c, pytest.raises(ApiError) as e:
        c.get("/boom")
    assert "pa55word" not in str(e.value) and "alice" not in str(e.value)
    assert redact_userinfo("see https://u:p@h.example/x and git+ssh://tok@h/y") == \
        "see https://[redacted]@h.example/x and git+ssh://[redacted]@h/y"


def test_the_cli_never_prints_a_password_given_in_url(tmp_path):
    r = CliRunner().invoke(app, ["ingest", "--jira", "OPS", "--url", "ftp://bob:hunter2@jira.example",
                                 "--store", str(tmp_path / "s.duckdb")])
    assert r.exit_code != 0
    assert "hunter2" not in r.output and "[redacted]@" in r.output
