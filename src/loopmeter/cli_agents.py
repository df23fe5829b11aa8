"""`loopmeter serve --otlp`: receive agent telemetry; agent session files come in through `ingest --sessions`."""

from __future__ import annotations

from typing import Annotated

import typer

from .cli import DebugOpt, StoreOpt, _run, app, err
from .errors import ConfigError
from .report.terminal import escape
from .store.db import DEFAULT_STORE


@app.command()
def serve(
    otlp: Annotated[bool, typer.Option("--otlp", help="Receive OpenTelemetry (OTLP/HTTP, JSON or protobuf) on /v1/logs and /v1/metrics.")] = False,
    host: Annotated[str, typer.Option("--host", help="Address to listen on (loopback by default).")] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", help="Port (4318 is OTLP/HTTP's usual one; 0 picks a free one).")] = 4318,
    max_body: Annotated[int, typer.Option("--max-body", help="Largest request body accepted, in bytes.")] = 8 * 1024 * 1024,
    keep_text: Annotated[bool, typer.Option("--keep-text", help="Also store prompt text when the agent exports it (off: only counts).")] = False,
    store: StoreOpt = DEFAULT_STORE,
    debug: DebugOpt = False,
) -> None:
    """Run a receiver that stores agent telemetry as it arrives.

    Example: loopmeter serve --otlp --port 4318, then start Claude Code with CLAUDE_CODE_ENABLE_TELEMETRY=1
    OTEL_METRICS_EXPORTER=otlp OTEL_LOGS_EXPORTER=otlp OTEL_EXPORTER_OTLP_PROTOCOL=http/json
    OTEL_EXPORTER_OTLP_ENDPOINT=http://127.0.0.1:4318
    """

    def go():
        if not otlp:
            raise ConfigError("serve: name what to receive (--otlp)")
        if not 0 <= port <= 65535:
            raise ConfigError(f"--port: must be 0-65535, not {port}")
        if max_body < 1:
            raise ConfigError(f"--max-body: must be a positive number of bytes, not {max_body}")
        from .attribution import Matcher
        from .config import load_config
        from .otlp_server import OtlpReceiver, relink
        from .sources.sessions.otlp import OtlpError
        from .store.db import Store

        matcher = Matcher.load(load_config().signatures, load_config().bots)
        Store.open(store).close()  # create or upgrade it now: a bad store is refused before listening
        try:
            server = OtlpReceiver((host, port), store, max_body=max_body, keep_text=keep_text, matcher=matcher,
                                  log=lambda m: err.print(f"[yellow]otlp:[/yellow] {escape(m)}", highlight=False))
        except OSError as e:
            raise ConfigError(f"--port: cannot listen on {host}:{port} ({e.strerror or e})") from None
        h, p = server.server_address[:2]
        # Plain and flushed: scripts (and tests) read the address from the first line.
        print(f"OTLP/HTTP receiver on http://{h}:{p} (POST /v1/logs, /v1/metrics)", flush=True)
        try:
            server.serve_forever()
        except KeyboardInterrupt:
            pass
        finally:
            server.server_close()
            try:
                links = f"{relink(server)} session-change links"
            except OtlpError:  # another process holds the store; its next ingest relinks
                links = "session links not rebuilt (the store is in use)"
            err.print(f"stopped; {server.counts['requests']} requests stored, {links}")

    _run(debug, go)
