#!/usr/bin/env bash
# README command 1: set up, build every example, then run the team demo: three agents sharing a
# global block, interleaved turns, on the embedded SmolLM2 model behind the KV-tree engine server.
# Each step says what it is doing (a CI log shows progress; the demo prints each request as it finishes).
set -euo pipefail
cd "$(dirname "$0")/.."
step() { echo "==> [$1/4] $2 ($(date -u +%H:%M:%S))"; }
step 1 "setting up .venv: torch 2.13.0 (CPU), the engine extra and the embedded model (about a minute the first time)"
bash scripts/setup.sh
. .venv/bin/activate
step 2 "building every example in examples/ into build/plans/"
for ex in examples/*/; do
  echo "--- promptc build $ex"
  promptc build "$ex" --out "build/plans/$(basename "$ex")"
done
cat <<'NOTE'
    Note: the W604 warnings above are expected. The support and stdlib_tour examples are small, so
    their static prefixes (a few hundred tokens) are below a cloud provider's minimum cacheable
    length (1024 tokens): that provider would silently not cache them. promptc warns at build time;
    the demo below runs on the embedded engine, which caches every segment whatever its size.
    `promptc explain W604` says more.
NOTE
step 3 "the backend plan's segments"
promptc show build/plans/team/backend.plan.json
step 4 "the team demo: 3 agents x 3 turns on the KV-tree engine (a few minutes on 2 CPU cores)"
promptc demo examples/team --turns 3
