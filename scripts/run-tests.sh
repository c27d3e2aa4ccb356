#!/usr/bin/env bash
# The whole suite: static checks (types, lint, formatting), then unit tests (pure logic, fake
# peers) and functional tests (real redis-server). Extra arguments run just those test files,
# without the static checks: `npm test -- test/unit/command-framer.test.ts`.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ "$#" -gt 0 ]; then
  files=("$@")
else
  echo "rbuddy: typecheck, lint, format" >&2
  npx --no-install tsc -p tsconfig.json --noEmit
  npx --no-install eslint . --max-warnings=0
  npx --no-install prettier --check . --log-level=warn
  shopt -s nullglob
  files=(test/unit/*.test.ts test/functional/*.test.ts)
fi
# No test may hang the run: a test fails after 5 minutes (the slowest takes under one), a test
# file whose process still has open handles after its last test is ended (--test-force-exit), and
# the whole run is stopped after 40 minutes (CI: about 14 on 2 cores; slower on a loaded machine). A hang then costs a
# clear failure, not CI's own timeout with no report.
exec timeout --kill-after=30s 40m \
  node --import tsx --test --test-concurrency=2 --test-reporter=spec \
  --test-timeout=300000 --test-force-exit "${files[@]}"
