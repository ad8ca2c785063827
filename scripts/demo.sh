#!/usr/bin/env bash
# README command 1: set up, build every example, and run the team demo on the embedded engine.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
. .venv/bin/activate
for ex in examples/*/; do
  promptc build "$ex" --out "build/plans/$(basename "$ex")"
done
promptc show build/plans/team/backend.plan.json
