#!/usr/bin/env bash
# Compiles src/ into dist/ (`npm run build`) when dist/cli.js is missing or older than any file
# under src/ or the build's tsconfig: what runs the built CLI (`npm run fuzz`) tests the code of
# this tree, not a leftover build.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ ! -f dist/cli.js ] ||
  [ -n "$(find src tsconfig.build.json tsconfig.json package.json -newer dist/cli.js -print -quit)" ]; then
  echo "rbuddy: building dist/ (npm run build)" >&2
  npx --no-install tsc -p tsconfig.build.json
fi
