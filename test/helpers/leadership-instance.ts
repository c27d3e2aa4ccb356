// One rbuddy instance for unit tests of Leadership (src/ha/leadership.ts): the real FailoverEngine
// on fake nodes and proxy, in an in-memory group standing in for etcd (fake-coordination.ts).
import type { Logger } from 'pino';
import { EventBus } from '../../src/notify/events.js';
import type { AddressVerdict } from '../../src/ha/address-check.js';
import { Leadership } from '../../src/ha/leadership.js';
import { FailoverEngine } from '../../src/standby/engine.js';
import { FakeNodeOps, FAKE_ANNOUNCE, heldStandbyModel, replicaModel } from './fake-node-ops.js';
import { FakeProbe, FakeProxy } from './fake-proxy.js';
import { FakeGroup, LEASE_MS, type FakeCoordination } from './fake-coordination.js';
import { A, B, BASE_CONFIG, MASTER, healthyState, silent } from './engine-harness.js';

/** The other instance of the group, the one that led before. */
export const OLD_LEADER = '10.0.0.8:6382';
const CHANGES = ['guardWrites', 'restoreConfig', 'detach', 'attach', 'killClients', 'flush'];

export interface Instance {
  leadership: Leadership;
  coordination: FakeCoordination;
  proxy: FakeProxy;
  probes: Array<FakeProbe & { started: boolean; stopped: boolean }>;
}

interface InstanceOptions {
  logger?: Logger;
  /** Runs after load(), before the listeners are open (start()). */
  beforeStart?: (coordination: FakeCoordination) => void;
  /** What answers at a past leader's address; default: nothing (connection refused). */
  checkAddress?: (announce: string) => Promise<AddressVerdict>;
  /** Leadership's monotonic clock (default: the real one). */
  now?: () => number;
}

export const refused = (): Promise<AddressVerdict> =>
  Promise.resolve({ kind: 'gone', why: 'connect ECONNREFUSED' });

const started: Leadership[] = [];

/** Stops every instance started since the last call (afterEach). */
export async function stopInstances(): Promise<void> {
  await Promise.all(started.splice(0).map((leadership) => leadership.stop()));
}

export async function instance(
  group: FakeGroup,
  ops: FakeNodeOps,
  {
    logger = silent,
    beforeStart = () => undefined,
    checkAddress = refused,
    now,
  }: InstanceOptions = {},
): Promise<Instance> {
  const coordination = group.join({ id: 'me', announce: FAKE_ANNOUNCE, http: '10.0.0.9:8080' });
  const proxy = new FakeProxy();
  const probes: Instance['probes'] = [];
  const leadership = new Leadership({
    coordination,
    sessions: proxy,
    nodes: [A, B],
    ops,
    checkAddress,
    pollMs: 5,
    leaseMs: LEASE_MS,
    ...(now === undefined ? {} : { now }),
    logger,
    buildTerm: (sessions, mayAct) => {
      const probe = Object.assign(new FakeProbe(), {
        started: false,
        stopped: false,
        start() {
          probe.started = true;
        },
        stop() {
          probe.stopped = true;
        },
        reconnect: () => undefined,
      });
      probes.push(probe);
      const engine = new FailoverEngine({
        nodes: [A, B],
        initialActive: A,
        initialStandby: B,
        masterId: MASTER,
        config: { ...BASE_CONFIG, graceMs: 30 },
        store: coordination.store,
        ops,
        probe,
        sessions,
        bus: new EventBus('rbuddy', silent),
        logger: silent,
        tickMs: 5,
        retry: () => 5,
        mayAct,
      });
      return { engine, probe };
    },
  });
  started.push(leadership);
  await leadership.load();
  beforeStart(coordination);
  await leadership.start();
  return { leadership, coordination, proxy, probes };
}

/** A group led by an old leader that A (the active) and B (held) follow. */
export async function ledByOther(): Promise<{
  group: FakeGroup;
  old: FakeCoordination;
  ops: FakeNodeOps;
}> {
  const group = new FakeGroup();
  group.state = healthyState();
  const old = group.join({ id: 'old', announce: OLD_LEADER, http: '10.0.0.8:8080' });
  await old.start();
  group.elect(old);
  old.publishReport({ state: 'healthy', reason: null, masterUp: true, epoch: 3 });
  const ops = new FakeNodeOps({
    [A.id]: replicaModel({ followsProxy: false, master: OLD_LEADER, keys: 1000, runId: 'run-a' }),
    [B.id]: heldStandbyModel({ followsProxy: false, master: OLD_LEADER, runId: 'run-b' }),
  });
  return { group, old, ops };
}

export const changes = (ops: FakeNodeOps): string[] =>
  ops
    .operations()
    .filter((call) => CHANGES.includes(call.op))
    .map((call) => `${call.op} ${call.node}`);
