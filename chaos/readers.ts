// The two applications of a chaos run. One asks rbuddy `GET /active` before every read (and,
// when rbuddy does not answer, reads where it last said, as an application would) and checks
// I1 (docs/design.md) on every read: the probe key has its value, no -LOADING, and (every tenth
// read) the node holds nearly the keys the active held before (`KeyReference`). The other is
// stock ioredis with rbuddy as its
// sentinel, configured as README's "Discovery" section says.
import { Redis } from 'ioredis';
import type { Checker } from './checker.js';
import { FreshReporter, judgeFresh, planFresh, SeqTenure, WriterAcks } from './freshness.js';
import { LAG_BOUND_MS } from './offset-lag.js';
import { FIXED_KEYS, PROBE_KEY, PROBE_VALUE, type ChaosTopology } from './topology.js';

export interface ReaderHandle {
  stop(): Promise<void>;
}

const READ_TIMEOUT_MS = 1000;
const STALL_MS = 3000;
/**
 * The readers' clients' own connect and command timeouts: a backstop only. A read is judged by
 * `bounded` (3 s); at 1 s, a stall of this process's own event loop (it also runs the link
 * forwarders) failed a read whose answer had arrived (the first 30-minute attempt on 0ec35ac).
 */
const CLIENT_TIMEOUT_MS = 10_000;
/** The share of the reference a node's key count may be short of it by: replication lag. */
const KEYS_SHARE = 0.9;

/**
 * The keys the node `/active` names must hold. An active keeps its keys for as long as it is the
 * active (the writer only adds keys; rbuddy never lets a resync or a flush reach it): its
 * "tenure" starts when `/active` names it, or when it came back empty, with the keys the last
 * active held, or the master's if the master holds fewer then (it truly lost them: restarted from
 * an old RDB, or empty, and a copy taken from it since holds what it holds); the most keys seen
 * on it since raise it. Never fewer than the fixed keys and the probe, which every master restart
 * restores. Before, a fixed floor of those 2,001 keys let the loss of any of the writer's keys
 * pass.
 */
export class KeyReference {
  private node: string | undefined;
  private tenureFrom = -Infinity;
  /** What the tenure started from (judged with KEYS_SHARE's room for replication lag). */
  private start = 0;
  /** The most keys seen on the node this tenure: it may never hold fewer (the writer only adds). */
  private own = 0;

  /**
   * Before each read: the node named, and when a node last came back empty (ms of the run). A
   * new tenure starts from what the last active held, or the master if it holds fewer; from
   * nothing when the last active came back empty during its tenure: the run destroyed that copy,
   * and the node rbuddy turns to (the old active again, say, stale) is judged by its own keys.
   */
  named(
    node: string,
    now: number,
    masterKeys: number | undefined,
    backEmptyAt: (node: string) => number | undefined = () => undefined,
  ): void {
    const back = backEmptyAt(node);
    const backEmpty = back !== undefined && back > this.tenureFrom;
    if (node === this.node && !backEmpty) return;
    const last = this.node === undefined ? undefined : backEmptyAt(this.node);
    const lastDestroyed = node !== this.node && last !== undefined && last > this.tenureFrom;
    const high = this.highest;
    this.start = lastDestroyed ? 0 : Math.min(high, masterKeys ?? high);
    this.own = 0;
    this.node = node;
    this.tenureFrom = backEmpty ? back : now;
  }

  /**
   * Never fewer than the node held this tenure: a 10 % room let the serving active lose 1,000 of
   * its 12,001 keys unreported (reviewer R11c, C3), since once the writer has created its keys
   * replication lag changes values, not the count.
   */
  required(room = 0): number {
    const lagging = Math.min(KEYS_SHARE * this.start, this.start - room);
    return Math.max(FIXED_KEYS + 1, Math.floor(lagging), this.own);
  }

  /** A key count that held: the reference grows with it. */
  held(size: number): void {
    this.own = Math.max(this.own, size);
  }

  get highest(): number {
    return Math.max(this.start, this.own);
  }
}

/** Every how many reads the reader also reads the writer's keys (chaos/freshness.ts). */
const FRESH_EVERY = 3;

/** `onAnswer`: each answer of GET /active that named a node, with when it was asked and
 * answered (ms since the Unix epoch). `fresh`: the writer's acknowledgements and rbuddy's epoch
 * as the observer last saw it, for the freshness checks. */
export function startActiveReader(
  topo: ChaosTopology,
  checker: Checker,
  onAnswer: (askedAt: number, answeredAt: number, node: string) => void = () => undefined,
  fresh: { acks: WriterAcks; epoch: () => number | null } = {
    acks: new WriterAcks(),
    epoch: () => null,
  },
): ReaderHandle {
  const clients = new Map<string, Redis>();
  let running = true;
  let lastActive: string | undefined;
  let reads = 0;
  /** Nodes whose I1 violation is reported and not over yet (no read there succeeded since). */
  const failing = new Map<string, 'keys' | 'answer'>();
  const keys = new KeyReference();
  const tenure = new SeqTenure();
  const freshReporter = new FreshReporter(checker);
  const violation = (
    node: string,
    kind: 'keys' | 'answer',
    message: string,
    data: Record<string, unknown>,
  ): void => {
    // One violation per incident: the reads that fail on after it are counted, not reported.
    if (failing.has(node)) return;
    failing.set(node, kind);
    checker.check('I1 the active answers with the data', false, message, data);
  };
  const clientFor = (node: string): Redis => {
    let client = clients.get(node);
    if (client === undefined) {
      const [host, port] = node.split(':');
      client = new Redis({
        host,
        port: Number(port),
        commandTimeout: CLIENT_TIMEOUT_MS,
        connectTimeout: CLIENT_TIMEOUT_MS,
        maxRetriesPerRequest: 0,
        retryStrategy: () => 100,
      });
      client.on('error', () => undefined);
      clients.set(node, client);
    }
    return client;
  };
  const readOnce = async (node: string): Promise<void> => {
    reads += 1;
    const client = clientFor(node);
    const now = checker.history.now();
    keys.named(node, now, checker.masterKeys, (n) => checker.cameBackEmptyAt(n));
    tenure.named(node, now, checker.cameBackEmptyAt(node), fresh.epoch());
    const plan =
      reads % FRESH_EVERY === 0
        ? planFresh(
            tenure,
            fresh.acks,
            now,
            checker.staleExcusedSince(node),
            checker.lastExcused('master'),
          )
        : undefined;
    // A read in flight across the end of an excuse is judged by the excuse it began under.
    const errorExcusedAtStart = checker.isImpaired(node);
    const wrongExcusedAtStart = checker.wrongAnswerExcused(node);
    try {
      const value = await bounded(client.get(PROBE_KEY));
      const size = reads % 10 === 0 ? await bounded(client.dbsize()) : undefined;
      if (plan !== undefined && plan.keys.length > 0 && value === PROBE_VALUE) {
        const values = await bounded(client.mget(...plan.keys));
        const excused = wrongExcusedAtStart || checker.wrongAnswerExcused(node);
        const verdict = judgeFresh(tenure, plan, values);
        const since = checker.staleExcusedSince(node);
        const masterSince = checker.lastExcused('master');
        freshReporter.report(node, plan, verdict, excused, since, masterSince);
      }
      // Room for LAG_BOUND_MS of replication lag: the writes of that time, or KEYS_SHARE.
      const required = keys.required(
        fresh.acks.lagRoom(now, checker.staleExcusedSince(node), LAG_BOUND_MS),
      );
      const holds = value === PROBE_VALUE && (size === undefined || size >= required);
      if (holds) {
        if (size !== undefined) keys.held(size);
        // A read whose keys were not counted ends no incident of too few keys.
        if (size !== undefined || failing.get(node) !== 'keys') failing.delete(node);
        checker.reads.ok += 1;
        checker.recovered(node);
        checker.check('I1 the active answers with the data', true);
        return;
      }
      // A wrong answer (not an error): a node back empty gives them only until rbuddy holds it.
      const excused = wrongExcusedAtStart || checker.wrongAnswerExcused(node);
      checker.failedRead('active', node, `read ${value} size ${size}`, excused);
      if (excused) return;
      const kind = value === PROBE_VALUE ? 'keys' : 'answer';
      violation(node, kind, `node ${node} named by /active`, {
        value,
        dbsize: size,
        required,
        reference: keys.highest,
        master: checker.masterKeys ?? null,
      });
    } catch (error) {
      const message = error instanceof Error ? error.message : String(error);
      const excused = errorExcusedAtStart || checker.isImpaired(node);
      checker.failedRead('active', node, message, excused);
      if (excused) return;
      violation(
        node,
        'answer',
        `${/LOADING/.test(message) ? '-LOADING from' : 'no answer from'} ${node}`,
        {
          error: message,
        },
      );
    }
  };
  const loop = (async () => {
    while (running) {
      const askedAt = Date.now();
      const named = await activeNode(topo.httpUrl);
      if (named !== undefined) onAnswer(askedAt, Date.now(), named);
      const node = named ?? lastActive;
      if (node !== undefined) {
        lastActive = node;
        await readOnce(node);
      }
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
  })();
  return {
    async stop() {
      running = false;
      await loop;
      for (const client of clients.values()) client.disconnect();
    },
  };
}

/** A read that has not answered in 3 s is a failed read, however long the client would wait
 * (ioredis queues commands while it reconnects). */
async function bounded<T>(read: Promise<T>): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const stalled = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      // Judged after the next I/O phase: when this process's event loop stalled past the limit,
      // an answer that arrived meanwhile is read before the verdict, not lost to the timer.
      setImmediate(() => reject(new Error('read stalled for 3 s')));
    }, STALL_MS);
  });
  try {
    return await Promise.race([read, stalled]);
  } finally {
    clearTimeout(timer);
  }
}

async function activeNode(httpUrl: string): Promise<string | undefined> {
  try {
    const response = await fetch(`${httpUrl}/active`, {
      signal: AbortSignal.timeout(READ_TIMEOUT_MS),
    });
    const text = (await response.text()).trim();
    if (response.status !== 200) return undefined;
    return new URL(text).host;
  } catch {
    return undefined;
  }
}

/** ioredis with rbuddy as its only sentinel; its failures are excused while we broke rbuddy or a
 * replica (it does not say which node it read). */
export function startSentinelReader(
  topo: ChaosTopology,
  checker: Checker,
  /** The node rbuddy names active now (the observer's last status). */
  activeNow: () => string | undefined,
): ReaderHandle {
  const sentinel = topo.listenAddress();
  const redis = new Redis({
    sentinels: [sentinel],
    name: 'rbuddy',
    role: 'slave',
    updateSentinels: false,
    failoverDetector: true,
    sentinelCommandTimeout: 1000,
    sentinelRetryStrategy: (times: number) => Math.min(100 * times, 1000),
    commandTimeout: CLIENT_TIMEOUT_MS,
  });
  redis.on('error', () => undefined);
  let running = true;
  // As README's "Discovery" says: ioredis ends for good when a +switch-master reaches its
  // failover detector while it asks the sentinel for an address during a reconnect
  // (SentinelConnector.connect throws "Connection is closed." once the detector has disconnected
  // the connector); an application connects it again.
  redis.on('end', () => {
    if (!running) return;
    checker.sentinelReads.restarted += 1;
    checker.history.record('note', 'sentinel-reader', { data: { ended: 'connect() again' } });
    redis.connect().catch(() => undefined);
  });
  // ioredis reads the node rbuddy lists as the replica, the active, or the one it replaced while
  // it moves: only a fault of rbuddy or of those excuses its failures, not a stopped standby
  // (reviewer R11c, C4).
  const recent: string[] = [];
  const actives = (): string[] => {
    const now = activeNow();
    if (now !== undefined && recent.at(-1) !== now) recent.push(now);
    if (recent.length > 2) recent.shift();
    return recent.length > 0 ? recent : topo.replicas.map((r) => r.address);
  };
  const excused = (): boolean =>
    checker.isImpaired('rbuddy') || actives().some((node) => checker.isImpaired(node));
  const wrongExcused = (): boolean =>
    checker.isImpaired('rbuddy') || actives().some((node) => checker.wrongAnswerExcused(node));
  const loop = (async () => {
    while (running) {
      const excusedAtStart = excused();
      const wrongExcusedAtStart = wrongExcused();
      try {
        const value = await bounded(redis.get(PROBE_KEY));
        if (value === PROBE_VALUE) checker.sentinelReads.ok += 1;
        else {
          const why = `read ${value}`;
          const forgiven = wrongExcusedAtStart || wrongExcused();
          checker.failedRead('sentinel', 'sentinel-reader', why, forgiven);
        }
      } catch (error) {
        const message = error instanceof Error ? error.message : String(error);
        checker.failedRead('sentinel', 'sentinel-reader', message, excusedAtStart || excused());
      }
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  })();
  return {
    async stop() {
      running = false;
      await loop;
      redis.disconnect();
    },
  };
}
