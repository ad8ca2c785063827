#!/usr/bin/env bash
# README command 1: set up, build every example, then run the team demo: three agents sharing a
# global block, interleaved turns, on the embedded SmolLM2 model behind the KV-tree engine server.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
. .venv/bin/activate
for ex in examples/*/; do
  promptc build "$ex" --out "build/plans/$(basename "$ex")"
done
promptc show build/plans/team/backend.plan.json
promptc demo examples/team --turns 3
