// The two applications of a chaos run. One asks rbuddy `GET /active` before every read (and,
// when rbuddy does not answer, reads where it last said, as an application would) and checks
// I1 (docs/design.md) on every read: the probe key has its value, no -LOADING, and (every tenth
// read) the node holds at least the fixed keys. The other is stock ioredis with rbuddy as its
// sentinel, configured as README's "Discovery" section says.
import { Redis } from 'ioredis';
import type { Checker } from './checker.js';
import { FIXED_KEYS, PROBE_KEY, PROBE_VALUE, type ChaosTopology } from './topology.js';

export interface ReaderHandle {
  stop(): Promise<void>;
}

const READ_TIMEOUT_MS = 1000;
const STALL_MS = 3000;

/** `onAnswer`: each answer of GET /active that named a node, with when it was asked and
 * answered (ms since the Unix epoch). */
export function startActiveReader(
  topo: ChaosTopology,
  checker: Checker,
  onAnswer: (askedAt: number, answeredAt: number, node: string) => void = () => undefined,
): ReaderHandle {
  const clients = new Map<string, Redis>();
  let running = true;
  let lastActive: string | undefined;
  let reads = 0;
  /** Nodes whose I1 violation is reported and not over yet (no read there succeeded since). */
  const failing = new Set<string>();
  const clientFor = (node: string): Redis => {
    let client = clients.get(node);
    if (client === undefined) {
      const [host, port] = node.split(':');
      client = new Redis({
        host,
        port: Number(port),
        commandTimeout: READ_TIMEOUT_MS,
        connectTimeout: READ_TIMEOUT_MS,
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
    try {
      const value = await bounded(client.get(PROBE_KEY));
      const size = reads % 10 === 0 ? await bounded(client.dbsize()) : undefined;
      const excused = checker.isImpaired(node);
      const holds = value === PROBE_VALUE && (size === undefined || size >= FIXED_KEYS + 1);
      if (holds) {
        failing.delete(node);
        checker.reads.ok += 1;
        checker.recovered(node);
      } else if (excused) {
        checker.failedRead('active', node, `read ${value} size ${size}`, true);
        return;
      } else {
        checker.failedRead('active', node, `read ${value} size ${size}`, false);
        // One violation per incident: the reads that fail on after it are counted, not reported.
        if (failing.has(node)) return;
        failing.add(node);
        checker.check(
          'I1 the active answers with the data',
          false,
          `node ${node} named by /active`,
          {
            value,
            dbsize: size,
          },
        );
        return;
      }
      checker.check('I1 the active answers with the data', true);
    } catch (error) {
      const message = error instanceof Error ? error.message : String(error);
      const excused = checker.isImpaired(node);
      checker.failedRead('active', node, message, excused);
      if (!excused && /LOADING/.test(message) && !failing.has(node)) {
        failing.add(node);
        checker.check('I1 the active answers with the data', false, `-LOADING from ${node}`);
      }
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
    timer = setTimeout(() => reject(new Error('read stalled for 3 s')), STALL_MS);
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
export function startSentinelReader(topo: ChaosTopology, checker: Checker): ReaderHandle {
  const sentinel = topo.listenAddress();
  const redis = new Redis({
    sentinels: [sentinel],
    name: 'rbuddy',
    role: 'slave',
    updateSentinels: false,
    failoverDetector: true,
    sentinelRetryStrategy: (times: number) => Math.min(100 * times, 1000),
    commandTimeout: 2 * READ_TIMEOUT_MS,
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
  const excused = (): boolean =>
    checker.isImpaired('rbuddy') || topo.replicas.some((r) => checker.isImpaired(r.address));
  const loop = (async () => {
    while (running) {
      try {
        const value = await bounded(redis.get(PROBE_KEY));
        if (value === PROBE_VALUE) checker.sentinelReads.ok += 1;
        else checker.failedRead('sentinel', 'sentinel-reader', `read ${value}`, excused());
      } catch (error) {
        const message = error instanceof Error ? error.message : String(error);
        checker.failedRead('sentinel', 'sentinel-reader', message, excused());
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
