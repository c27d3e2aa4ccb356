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
exec node --import tsx --test --test-concurrency=2 --test-reporter=spec "${files[@]}"
