#!/usr/bin/env bash
# Installs everything the tests need (Python extras, Debian's chromium if missing) and runs the
# whole suite. Fails when no test ran, so a broken collection can never pass.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ ! -x /usr/bin/chromium ]; then
  if command -v apt-get >/dev/null 2>&1; then
    SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
    $SUDO apt-get update -q >/dev/null && $SUDO apt-get install -y -q chromium >/dev/null
  else
    echo "chromium is missing and apt-get is not available: install Chromium at /usr/bin/chromium" >&2
    exit 1
  fi
fi
# PySpark (the test extra) needs a Java runtime for tests/test_spark_parity.py.
if ! command -v java >/dev/null 2>&1 && [ -z "${JAVA_HOME:-}" ]; then
  if command -v apt-get >/dev/null 2>&1; then
    SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
    $SUDO apt-get update -q >/dev/null && $SUDO apt-get install -y -q openjdk-17-jre-headless >/dev/null
  else
    echo "Java is missing and apt-get is not available: install Java 17 (PySpark's runtime)" >&2
    exit 1
  fi
fi
VENV="${LOOPMETER_VENV:-.venv}"
[ -x "$VENV/bin/python" ] || python3 -m venv "$VENV"
"$VENV/bin/python" -m pip install -q --upgrade pip >/dev/null
"$VENV/bin/python" -m pip install -q -e '.[test]'
# Two test workers on two cores: multi-threaded BLAS inside each only fights the other (least
# squares fits were measured 50x slower under that contention).
export OPENBLAS_NUM_THREADS=1 OMP_NUM_THREADS=1 MKL_NUM_THREADS=1
set +e
"$VENV/bin/python" -m pytest -n 2 -p no:cacheprovider "$@"
rc=$?
set -e
if [ "$rc" -eq 5 ]; then
  echo "no tests ran: failing on purpose" >&2
  exit 1
fi
exit "$rc"
