// `npm run fuzz:framers -- <seconds> [--target command|replication] [--seed S] [--save]`: the
// coverage-guided fuzzer of fuzz/coverage.ts on both framers (the time split between them), or
// on one. Exit 1 with the input saved to a file when an invariant breaks.
import { randomInt } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fuzzWithCoverage, type TargetName } from './coverage.js';

function usage(problem: string): never {
  console.error(`fuzz:framers: ${problem}`);
  console.error(
    'usage: npm run fuzz:framers -- <seconds> [--target command|replication] [--seed S] [--save]',
  );
  process.exit(2);
}

const args = process.argv.slice(2);
let seconds = 60;
let seed = randomInt(2 ** 31);
let save = false;
let targets: TargetName[] = ['command', 'replication'];
for (let i = 0; i < args.length; i += 1) {
  const arg = args[i] ?? '';
  if (arg === '--save') save = true;
  else if (arg === '--seed') seed = Number(args[++i]);
  else if (arg === '--target') {
    const name = args[++i];
    if (name !== 'command' && name !== 'replication') usage(`unknown target ${String(name)}`);
    targets = [name];
  } else if (/^[0-9]+$/.test(arg)) seconds = Number(arg);
  else usage(`unexpected argument ${JSON.stringify(arg)}`);
}
if (!Number.isSafeInteger(seed)) usage('--seed needs a whole number');

console.log(`fuzz:framers: seed ${seed}, ${seconds} s over ${targets.join(' and ')}`);
let failed = false;
for (const [i, target] of targets.entries()) {
  const deadline = Date.now() + (seconds * 1000) / (targets.length - i);
  seconds -= seconds / (targets.length - i);
  const result = await fuzzWithCoverage({ target, seed, maxExecs: Infinity, deadline, save });
  console.log(
    `fuzz:framers: ${target}: ${result.execs} inputs, coverage ${result.initialCoverage} → ` +
      `${result.coverage} blocks, corpus ${result.corpus}`,
  );
  if (result.failure !== undefined) {
    const file = join(tmpdir(), `rbuddy-fuzz-${target}-${Date.now()}`);
    writeFileSync(file, result.failure.input);
    console.log(`fuzz:framers: ${target}: FAILED: ${String(result.failure.error)}`);
    console.log(`fuzz:framers: the input (fuzz/corpus-format.ts) is in ${file}`);
    failed = true;
  }
}
process.exit(failed ? 1 : 0);
