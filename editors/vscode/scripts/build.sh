#!/usr/bin/env bash
# Build the VS Code extension: install the pinned npm packages (once; node_modules is git-ignored),
# run the grammar tests (vscode-tmgrammar-test), and package promptc.vsix with @vscode/vsce.
# Usage: editors/vscode/scripts/build.sh [OUT.vsix]     (tests/test_vscode.py runs it)
set -euo pipefail
cd "$(dirname "$0")/.."
out="${1:-promptc.vsix}"
if [ ! -x node_modules/.bin/vsce ] || [ ! -x node_modules/.bin/vscode-tmgrammar-test ] \
   || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  npm ci --no-audit --no-fund --loglevel=error
fi
node_modules/.bin/vscode-tmgrammar-test -g syntaxes/promptc.tmLanguage.json 'tests/*.promptc-test'
node_modules/.bin/vsce package --allow-missing-repository --skip-license -o "$out"
