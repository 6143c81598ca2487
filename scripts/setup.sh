#!/usr/bin/env bash
# Idempotent set-up on a fresh Debian machine: system packages, a virtualenv in .venv, the
# project with its service and development extras. Safe to run again (fast when done).
set -euo pipefail
cd "$(dirname "$0")/.."

need_apt=()
command -v redis-server >/dev/null 2>&1 || need_apt+=(redis-server)
[ -x /usr/bin/chromium ] || need_apt+=(chromium)
command -v docker-compose >/dev/null 2>&1 || need_apt+=(docker-compose)  # validates docker-compose.yml in tests
command -v promtool >/dev/null 2>&1 || need_apt+=(prometheus)  # promtool (alert rules) and prometheus (dashboard tests)
if [ "${1:-}" != "--minimal" ] && [ ${#need_apt[@]} -gt 0 ]; then
  if [ "$(id -u)" = "0" ]; then SUDO=""; else SUDO="sudo"; fi
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${need_apt[@]}" >/dev/null
fi

PY=${PYTHON:-python3}
[ -x .venv/bin/python ] || "$PY" -m venv .venv
# One stamp per (pyproject, extras): a second run installs nothing. The dev stamp implies the core one.
hash=$(sha1sum pyproject.toml | cut -c1-12)
if [ "${1:-}" = "--minimal" ]; then
  if [ ! -f ".venv/.installed-core-$hash" ] && [ ! -f ".venv/.installed-dev-$hash" ]; then
    .venv/bin/pip install -q --upgrade pip
    .venv/bin/pip install -q -e .
    touch ".venv/.installed-core-$hash"
  fi
elif [ ! -f ".venv/.installed-dev-$hash" ]; then
  .venv/bin/pip install -q --upgrade pip
  .venv/bin/pip install -q -e '.[dev]'
  touch ".venv/.installed-dev-$hash"
fi
