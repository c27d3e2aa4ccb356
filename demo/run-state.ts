// What one demo run shares between its acts and its ways out: the terminal and the clock every
// line is stamped against, everything the run started (so that every way out stops exactly that
// and nothing else), and the checks it has made so far.
import type { EtcdCluster } from '../harness/etcd-cluster.js';
import type { RbuddyProcess } from '../harness/rbuddy-process.js';
import type { RedisServer } from '../harness/redis-server.js';
import type { Writer } from '../harness/replication.js';
import type { FailoverMonitor } from './monitor.js';
import type { Reader } from './reader.js';
import { Terminal } from './terminal.js';

export const t0 = Date.now();
export const term = new Terminal();

export interface Check {
  ok: boolean;
  text: string;
}

/** Everything this run started, so that every way out stops exactly that and nothing else. */
export const owned: {
  servers: RedisServer[];
  pids: Array<{ what: string; pid: number }>;
  dirs: string[];
  rbuddy: RbuddyProcess | undefined;
  /** `--ha`: the other instances of the group still running (`rbuddy` is the one watched). */
  group: RbuddyProcess[];
  /** `--ha`: the etcd cluster the group coordinates through. */
  etcd: EtcdCluster | undefined;
  writer: Writer | undefined;
  reader: Reader | undefined;
  monitor: FailoverMonitor | undefined;
} = {
  servers: [],
  pids: [],
  dirs: [],
  rbuddy: undefined,
  group: [],
  etcd: undefined,
  writer: undefined,
  reader: undefined,
  monitor: undefined,
};
/** Servers the demo stopped on purpose: their exit is not a failure. */
export const expectedDown = new Set<RedisServer>();

/** Every rbuddy started, even after the demo stopped it on purpose, for diagnostics. */
const remembered: RbuddyProcess[] = [];
let lastRbuddy: RbuddyProcess | undefined;

/** Remembers the rbuddy this run started, for the diagnostics after a failure. */
export function rememberRbuddy(rbuddy: RbuddyProcess): void {
  lastRbuddy = rbuddy;
  if (!remembered.includes(rbuddy)) remembered.push(rbuddy);
}

/** Every rbuddy this run started (`--ha`: both instances), for the logs kept after a failure. */
export function rbuddiesForLogs(): readonly RbuddyProcess[] {
  return remembered;
}

/** The rbuddy whose logs tell what went wrong: the running one, or the last one started. */
export function rbuddyForDiagnostics(): RbuddyProcess | undefined {
  return owned.rbuddy ?? lastRbuddy;
}

export const checks: Check[] = [];
export function check(ok: boolean, text: string): boolean {
  owned.monitor?.flush();
  checks.push({ ok, text });
  const mark = ok ? term.paint('green', '[ok]  ') : term.paint('red', '[FAIL]');
  term.line(`  ${mark} ${text}`);
  return ok;
}
