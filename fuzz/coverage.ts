// A coverage-guided fuzzer for the framers, in the manner of libFuzzer: V8's own block coverage
// (the inspector's Profiler.takePreciseCoverage) tells which inputs reach code no earlier input
// reached; those join the corpus and are mutated further. Jazzer.js would do this natively, but
// its only Linux build needs glibc 2.38 (Debian 12 has 2.36) and its older versions fetch their
// binaries from GitHub at install; this needs nothing but Node.
//
// npm run fuzz:framers -- <seconds> [--target command|replication] [--seed S] [--save]
// --save adds the inputs that found new coverage to fuzz/corpus/<target>/.
import { createHash } from 'node:crypto';
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { Session } from 'node:inspector/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { commandCase, replicationCase } from './corpus-format.js';
import { checkCommandFramer, checkReplicationFramer } from './framer-targets.js';
import { mutate } from './mutate.js';
import { Prng } from './prng.js';

export type TargetName = 'command' | 'replication';

const TARGETS: Record<TargetName, { file: string; run: (data: Buffer) => void }> = {
  command: {
    file: '/src/resp/command-framer.ts',
    run: (data) => {
      const { input, cuts, limits } = commandCase(data);
      checkCommandFramer(input, cuts, limits);
    },
  },
  replication: {
    file: '/src/resp/replication-framer.ts',
    run: (data) => {
      const { input, cuts, options } = replicationCase(data);
      checkReplicationFramer(input, cuts, options);
    },
  },
};

export const CORPUS_DIR = fileURLToPath(new URL('./corpus/', import.meta.url));

export interface FuzzOptions {
  target: TargetName;
  seed: number;
  /** Stop after this many inputs, or at this time (ms since the epoch), whichever comes first. */
  maxExecs: number;
  deadline: number;
  /** Write inputs that found new coverage to the corpus directory. */
  save: boolean;
}

export interface FuzzResult {
  execs: number;
  /** Covered blocks (with hit-count buckets) of the target's source file. */
  coverage: number;
  /** Coverage after the corpus alone, before any mutation. */
  initialCoverage: number;
  corpus: number;
  /** The first input that broke an invariant, and what it broke. */
  failure: { input: Buffer; error: unknown } | undefined;
}

/** The covered blocks of `file`, each with a log2 bucket of its count (as AFL counts hits). */
function features(coverage: Awaited<ReturnType<typeof takeCoverage>>, file: string): string[] {
  const out: string[] = [];
  for (const script of coverage) {
    if (!script.url.endsWith(file)) continue;
    for (const fn of script.functions) {
      for (const range of fn.ranges) {
        if (range.count > 0) {
          out.push(
            `${range.startOffset}:${range.endOffset}:${Math.min(8, Math.floor(Math.log2(range.count)))}`,
          );
        }
      }
    }
  }
  return out;
}

async function takeCoverage(session: Session) {
  return (await session.post('Profiler.takePreciseCoverage')).result;
}

export async function fuzzWithCoverage(options: FuzzOptions): Promise<FuzzResult> {
  const target = TARGETS[options.target];
  const dir = join(CORPUS_DIR, options.target);
  const corpus: Buffer[] = readdirSync(dir)
    .sort()
    .map((name) => readFileSync(join(dir, name)));
  const rng = new Prng(options.seed);
  const seen = new Set<string>();
  const session = new Session();
  session.connect();
  await session.post('Profiler.enable');
  await session.post('Profiler.startPreciseCoverage', { callCount: true, detailed: true });
  let execs = 0;
  let failure: FuzzResult['failure'];
  /** Runs one input; true when it reached something new. */
  const runOne = async (data: Buffer): Promise<boolean> => {
    execs += 1;
    try {
      target.run(data);
    } catch (error) {
      failure = { input: data, error };
    }
    let fresh = false;
    for (const feature of features(await takeCoverage(session), target.file)) {
      if (!seen.has(feature)) {
        seen.add(feature);
        fresh = true;
      }
    }
    return fresh;
  };
  try {
    await takeCoverage(session);
    for (const data of corpus) await runOne(data);
    const initialCoverage = seen.size;
    while (failure === undefined && execs < options.maxExecs && Date.now() < options.deadline) {
      let data = rng.pick(corpus);
      if (rng.chance(0.1)) {
        const other = rng.pick(corpus);
        data = Buffer.concat([
          data.subarray(0, rng.int(data.length + 1)),
          other.subarray(rng.int(other.length + 1)),
        ]);
      }
      data = mutate(rng, data, '*$', 4).subarray(0, 4_096);
      if (await runOne(data)) {
        corpus.push(data);
        if (options.save) {
          writeFileSync(
            join(dir, createHash('sha1').update(data).digest('hex').slice(0, 16)),
            data,
          );
        }
      }
    }
    return { execs, coverage: seen.size, initialCoverage, corpus: corpus.length, failure };
  } finally {
    await session.post('Profiler.stopPreciseCoverage');
    session.disconnect();
  }
}
