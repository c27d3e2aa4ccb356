// Figure 3: `SET` then `WAIT 1 1000`, one after the other, while a separate process writes at a
// steady rate; the latency of each WAIT is the round trip of the master's GETACK and the
// replica's ACK over the path under test.
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import type { Redis } from 'ioredis';
import { hasExited, terminate, trackChild } from '../harness/processes.js';
import { waitFor } from '../harness/wait-for.js';
import type { Path } from './links.js';
import type { ReferencePath } from './reference-relays.js';
import { percentile } from './stats.js';

/** The paths of figure 3: rbuddy's two, and the reference relays (reference-relays.ts). */
export type WaitPath = Path | ReferencePath;

export interface WaitRun {
  path: WaitPath;
  p50Ms: number;
  p99Ms: number;
  maxMs: number;
  /** WAITs that returned fewer than 1 replica (timed out after 1000 ms). */
  timeouts: number;
  iterations: number;
  /** Every WAIT's latency, in order. */
  samplesMs: number[];
}

/** `iterations` sequential SET + WAIT 1 1000 pairs; only the WAIT is timed. */
export async function waitLatency(
  client: Redis,
  path: WaitPath,
  iterations: number,
): Promise<WaitRun> {
  const samples: number[] = [];
  let timeouts = 0;
  for (let i = 0; i < iterations; i += 1) {
    await client.set('wait:key', String(i));
    const start = performance.now();
    const acked = await client.wait(1, 1000);
    samples.push(performance.now() - start);
    if (acked < 1) timeouts += 1;
  }
  return {
    path,
    p50Ms: percentile(samples, 50),
    p99Ms: percentile(samples, 99),
    maxMs: percentile(samples, 100),
    timeouts,
    iterations,
    samplesMs: samples,
  };
}

export interface SteadyWriter {
  /** Stops the writer; resolves with the rate it actually achieved. */
  stop(): Promise<{ writes: number; seconds: number }>;
}

const writerScript = fileURLToPath(new URL('./steady-writer.ts', import.meta.url));

/** Starts the writer process and resolves once its first batch has been acknowledged. */
export async function startSteadyWriter(
  master: { host: string; port: number },
  writesPerSecond: number,
): Promise<SteadyWriter> {
  const child = spawn(
    process.execPath,
    ['--import', 'tsx', writerScript, master.host, String(master.port), String(writesPerSecond)],
    { stdio: ['ignore', 'pipe', 'inherit'] },
  );
  trackChild(child);
  let output = '';
  child.stdout?.setEncoding('utf8');
  child.stdout?.on('data', (text: string) => {
    output += text;
  });
  try {
    await waitFor(
      () => {
        if (hasExited(child)) throw new Error(`steady writer exited: ${output}`);
        return output.includes('"ready"');
      },
      { what: 'the steady writer to start writing', timeoutMs: 30_000 },
    );
  } catch (error) {
    await terminate(child);
    throw error;
  }
  return {
    async stop() {
      await terminate(child, 10_000);
      const summary = output.trim().split('\n').at(-1) ?? '';
      try {
        return JSON.parse(summary) as { writes: number; seconds: number };
      } catch {
        throw new Error(`steady writer exited with ${String(child.exitCode)}: ${output}`);
      }
    },
  };
}
