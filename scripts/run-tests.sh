#!/usr/bin/env bash
# The whole suite: unit tests (pure logic, fake peers) then functional tests (real redis-server).
# Any extra arguments replace the file list, e.g. `npm test -- test/unit/command-framer.test.ts`.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ "$#" -gt 0 ]; then
  files=("$@")
else
  shopt -s nullglob
  files=(test/unit/*.test.ts test/functional/*.test.ts)
fi
exec node --import tsx --test --test-concurrency=2 --test-reporter=spec "${files[@]}"
