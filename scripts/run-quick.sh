#!/usr/bin/env bash
# The README's main job: set up the core, then compute a taxonomy on the built-in world.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh --minimal
exec .venv/bin/taskonomy run --preset quick --out "${1:-runs/quick}"
