#!/usr/bin/env bash
# README command 2: set up and run the whole test suite.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
# promptc report's browser tests drive Debian's chromium (Playwright never downloads a browser here).
if ! command -v chromium >/dev/null 2>&1 && command -v apt-get >/dev/null 2>&1; then
  SUDO=$([ "$(id -u)" = 0 ] && echo "" || echo "sudo")
  $SUDO apt-get update -qq >/dev/null && $SUDO apt-get install -y -qq chromium >/dev/null
fi
# the VS Code extension's build and grammar tests run npm (tests/lsp/test_vscode.py); lint's tests run git.
for tool in node:nodejs npm:npm git:git; do
  if ! command -v "${tool%%:*}" >/dev/null 2>&1 && command -v apt-get >/dev/null 2>&1; then
    SUDO=$([ "$(id -u)" = 0 ] && echo "" || echo "sudo")
    $SUDO apt-get update -qq >/dev/null && $SUDO apt-get install -y -qq "${tool#*:}" >/dev/null
  fi
done
# the Redis registry tests start Debian's redis-server on a loopback port (tests/runtime/redis_server.py).
if ! command -v redis-server >/dev/null 2>&1 && command -v apt-get >/dev/null 2>&1; then
  SUDO=$([ "$(id -u)" = 0 ] && echo "" || echo "sudo")
  $SUDO apt-get update -qq >/dev/null && $SUDO apt-get install -y -qq redis-server >/dev/null
fi
. .venv/bin/activate
# Two pytest-xdist workers (CI's two cores), a whole file per worker at a time, longest files first
# (tests/conftest.py); later options win, so `bash scripts/test.sh -n 0` runs in one process, `-n auto` on every core.
python -m pytest -p no:cacheprovider -n 2 --dist loadfile --no-loadscope-reorder "$@"
