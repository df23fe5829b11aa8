"""`loopmeter serve`: the live dashboard, and/or the OTLP receiver of agent telemetry (agent session
files come in through `ingest --sessions`)."""

from __future__ import annotations

import ipaddress
import os
import threading
from typing import Annotated, Optional

import typer

from .cli import AdoptOpt, DebugOpt, StoreOpt, _run, app, err
from .errors import ConfigError
from .report.terminal import escape
from .store.db import DEFAULT_STORE

DASHBOARD_PORT = 8765
OTLP_PORT = 4318


def _loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _token(token_env: str | None, host: str) -> str | None:
    """The bearer token named by --token-env; required off loopback (anyone on the network could read
    the numbers, or write telemetry into the store)."""
    if token_env is None:
        if not _loopback(host):
            raise ConfigError(f"--host {host}: not a loopback address; give --token-env NAME, an environment "
                              "variable holding the bearer token clients must send")
        return None
    token = os.environ.get(token_env, "").strip()
    if not token:
        raise ConfigError(f"--token-env: the environment variable {token_env} is not set or empty")
    return token


@app.command()
def serve(
    store: StoreOpt = DEFAULT_STORE,
    host: Annotated[str, typer.Option("--host", metavar="ADDRESS", help="Address to listen on (loopback by default; any other needs --token-env).")] = "127.0.0.1",
    port: Annotated[Optional[int], typer.Option("--port", metavar="PORT", help=f"Port of the dashboard ({DASHBOARD_PORT}), or of the OTLP receiver when it runs alone ({OTLP_PORT}); 0 picks a free one.", show_default=False)] = None,
    otlp: Annotated[bool, typer.Option("--otlp", help="Receive OpenTelemetry (OTLP/HTTP, JSON or protobuf) on /v1/logs and /v1/metrics; alone unless --dashboard is given too.")] = False,
    dashboard: Annotated[bool, typer.Option("--dashboard", help="Serve the dashboard too (the default without --otlp).")] = False,
    otlp_port: Annotated[int, typer.Option("--otlp-port", metavar="PORT", help="Port of the OTLP receiver when it runs beside the dashboard.")] = OTLP_PORT,
    token_env: Annotated[Optional[str], typer.Option("--token-env", metavar="NAME", help="Environment variable holding the bearer token every client must send (required off loopback).")] = None,
    max_body: Annotated[int, typer.Option("--max-body", metavar="BYTES", help="Largest OTLP request body accepted.")] = 8 * 1024 * 1024,
    keep_text: Annotated[bool, typer.Option("--keep-text", help="Also store prompt text when the agent exports it (off: only counts).")] = False,
    adoption_date: AdoptOpt = None,
    debug: DebugOpt = False,
) -> None:
    """Serve the live dashboard of the store (read-only), and/or receive agent telemetry into it.

    The dashboard shows the report of any slice (repository, team, agent, dates: kept in the URL),
    lists a week's changes, compares agents, and refreshes itself when the store changes;
    GET /api/report?repo=...&team=...&agent=...&from=...&to=... answers what
    `loopmeter report --json` prints with the same filters.

    Example: loopmeter serve --store team.duckdb, then open http://127.0.0.1:8765

    Example: loopmeter serve --otlp --port 4318, then start Claude Code with CLAUDE_CODE_ENABLE_TELEMETRY=1
    OTEL_METRICS_EXPORTER=otlp OTEL_LOGS_EXPORTER=otlp OTEL_EXPORTER_OTLP_PROTOCOL=http/json
    OTEL_EXPORTER_OTLP_ENDPOINT=http://127.0.0.1:4318
    """

    def go():
        with_dashboard = dashboard or not otlp
        for name, value in (("--port", port), ("--otlp-port", otlp_port)):
            if value is not None and not 0 <= value <= 65535:
                raise ConfigError(f"{name}: must be 0-65535, not {value}")
        if max_body < 1:
            raise ConfigError(f"--max-body: must be a positive number of bytes, not {max_body}")
        token = _token(token_env, host)
        from .config import load_config

        config = load_config()
        servers = []
        lock = threading.Lock()
        receiver = None
        if otlp:
            from .attribution import Matcher
            from .otlp_server import OtlpReceiver
            from .store.db import Store

            Store.open(store).close()  # create or upgrade it now: a bad store is refused before listening
            where = (host, otlp_port if with_dashboard else (OTLP_PORT if port is None else port))
            try:
                receiver = OtlpReceiver(where, store, max_body=max_body, keep_text=keep_text,
                                        matcher=Matcher.load(config.signatures, config.bots), token=token,
                                        log=lambda m: err.print(f"[yellow]otlp:[/yellow] {escape(m)}", highlight=False))
            except OSError as e:
                raise ConfigError(f"{'--otlp-port' if with_dashboard else '--port'}: cannot listen on "
                                  f"{where[0]}:{where[1]} ({e.strerror or e})") from None
            lock = receiver.lock  # one writer or one reader of the store at a time, in this process
            h, p = receiver.server_address[:2]
            # Plain and flushed: scripts (and tests) read the addresses from these lines.
            print(f"OTLP/HTTP receiver on http://{h}:{p} (POST /v1/logs, /v1/metrics)", flush=True)
            servers.append(receiver)
        if with_dashboard:
            from .lift.loop_adoption import parse_loop_dates
            from .store.db import Store
            from .web import Dashboard

            parse_loop_dates(adoption_date)  # a bad date is one line now, not a 400 on every view

            if not otlp:
                Store.open(store, create=False, read_only=True).close()  # no store, or a damaged one: one line now
            where = (host, DASHBOARD_PORT if port is None else port)
            try:
                web = Dashboard(where, store, config=config, token=token, lock=lock, debug=debug,
                                log=lambda m: err.print(f"[yellow]dashboard:[/yellow] {escape(m)}", highlight=False),
                                report_options={"adoption_date": adoption_date} if adoption_date else None)
            except OSError as e:
                raise ConfigError(f"--port: cannot listen on {where[0]}:{where[1]} ({e.strerror or e})") from None
            h, p = web.server_address[:2]
            print(f"dashboard on http://{h}:{p}/", flush=True)
            servers.append(web)
        threads = [threading.Thread(target=s.serve_forever, daemon=True) for s in servers[:-1]]
        for t in threads:
            t.start()
        try:
            servers[-1].serve_forever()
        except KeyboardInterrupt:
            pass
        finally:
            for s in servers:
                if s is not servers[-1]:
                    s.shutdown()
                s.server_close()
            if receiver is not None:
                _stop_receiver(receiver)

    _run(debug, go)


def _stop_receiver(receiver) -> None:
    from .otlp_server import relink
    from .sources.sessions.otlp import OtlpError

    try:
        links = f"{relink(receiver)} session-change links"
    except OtlpError:  # another process holds the store; its next ingest relinks
        links = "session links not rebuilt (the store is in use)"
    err.print(f"stopped; {receiver.counts['requests']} requests stored, {links}")
