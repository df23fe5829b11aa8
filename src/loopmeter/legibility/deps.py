"""Libraries and files that show telemetry, structured logging and error tracking.

Matched against the text of dependency manifests (never source files), as whole package names.
"""

from __future__ import annotations

import re

TELEMETRY = re.compile(
    r"opentelemetry|@opentelemetry/|go\.opentelemetry\.io|prometheus[_-]client|prom-client|client_golang"
    r"|\bddtrace\b|dd-trace|\bnewrelic\b|libhoney|honeycomb|micrometer|\bstatsd\b", re.I)
STRUCTURED_LOGGING = re.compile(
    r"\bstructlog\b|python-json-logger|\bloguru\b|\bpino\b|\bwinston\b|\bbunyan\b|go\.uber\.org/zap"
    r"|sirupsen/logrus|rs/zerolog|tracing-subscriber|\bslog\b|logstash-logback|\blogfmt\b", re.I)
ERROR_TRACKING = re.compile(
    r"\bsentry[\w-]*|@sentry/|getsentry|\bbugsnag|\brollbar\b|\bhoneybadger|\bairbrake\b|\braygun", re.I)

LOGGING_CONFIG_FILES = ("logging.conf", "logging.ini", "logging.yaml", "logging.yml", "logging.json",
                        "log4j2.xml", "log4j.properties", "log4j2.properties", "logback.xml", "logback-spring.xml",
                        "otel-collector-config.yaml", "otel-collector.yaml", "otelcol.yaml")
ERROR_TRACKING_FILES = (".sentryclirc", "sentry.properties", "sentry.client.config.js", "sentry.server.config.js",
                        "sentry.client.config.ts", "sentry.server.config.ts", "sentry.edge.config.ts", ".bugsnag.yml",
                        "rollbar.json")


def find(pattern: re.Pattern[str], texts: list[tuple[str, str]]) -> list[str]:
    """'file: name' for each distinct library the pattern finds in each manifest."""
    out = []
    for path, text in texts:
        names = sorted({m.group(0).lower() for m in pattern.finditer(text)})
        if names:
            out.append(f"{path}: {', '.join(names[:4])}")
    return out
