// The bench's knobs, read from the environment (see run.ts for what each one does).
import type { ProxyOptions } from './proxy.js';

export interface Settings {
  megabytes: number;
  syncReps: number;
  reps: number;
  burst: number;
  waitIterations: number;
  writeRate: number;
  diskless: 'auto' | 'yes' | 'no';
  proxy: ProxyOptions;
  only: 'all' | 'relay' | 'tls' | 'failover';
}

export function settingsFromEnv(env: NodeJS.ProcessEnv): Settings {
  const int = (name: string, fallback: number, min: number): number => {
    const text = env[name];
    if (text === undefined || text === '') return fallback;
    const value = Number(text);
    if (!Number.isInteger(value) || value < min) {
      throw new Error(`${name} must be an integer ≥ ${min}, got ${JSON.stringify(text)}`);
    }
    return value;
  };
  const diskless = env['RBUDDY_BENCH_DISKLESS'] ?? 'auto';
  if (diskless !== 'auto' && diskless !== 'yes' && diskless !== 'no') {
    throw new Error(`RBUDDY_BENCH_DISKLESS must be auto, yes or no, got ${diskless}`);
  }
  const runtime = env['RBUDDY_BENCH_PROXY'] ?? 'dist';
  if (runtime !== 'dist' && runtime !== 'tsx') {
    throw new Error(`RBUDDY_BENCH_PROXY must be dist or tsx, got ${runtime}`);
  }
  const nodeArgs = (env['RBUDDY_BENCH_NODE_ARGS'] ?? '').split(/\s+/).filter((arg) => arg !== '');
  if (nodeArgs.length > 0 && runtime === 'tsx') {
    throw new Error('RBUDDY_BENCH_NODE_ARGS needs RBUDDY_BENCH_PROXY=dist');
  }
  const only = env['RBUDDY_BENCH_ONLY'] ?? 'all';
  if (only !== 'all' && only !== 'relay' && only !== 'tls' && only !== 'failover') {
    throw new Error(`RBUDDY_BENCH_ONLY must be relay, tls or failover, got ${only}`);
  }
  return {
    megabytes: int('RBUDDY_BENCH_MB', 1024, 1),
    syncReps: int('RBUDDY_BENCH_SYNC_REPS', 4, 1),
    reps: int('RBUDDY_BENCH_REPS', 5, 1),
    burst: int('RBUDDY_BENCH_BURST', 200_000, 1_000),
    waitIterations: int('RBUDDY_BENCH_WAIT_N', 5_000, 100),
    writeRate: int('RBUDDY_BENCH_WRITE_RATE', 10_000, 100),
    diskless,
    proxy: { runtime, nodeArgs },
    only,
  };
}
