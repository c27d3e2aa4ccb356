// A stand-in for NodeOps (the NodeControl of src/standby/ports.ts) for unit tests of the failover engine: each
// replica is a small model (role, link, keys, the guarded settings) that the engine's commands
// change the way Redis would, every call is recorded, and any call can be made to fail or be
// inspected just before it runs (to read the state file at that moment, say).
import {
  guardSettingsOf,
  isWriteGuard,
  STALE_DATA_SETTING,
  unreachableView,
  WRITE_GUARD,
} from '../../src/standby/node-ops.js';
import type { NodeView } from '../../src/standby/node-view.js';
import type { NodeControl } from '../../src/standby/ports.js';
import type { SavedConfig } from '../../src/standby/persisted-state.js';
import type { ReplicaNode } from '../../src/nodes/replica-node.js';

export type OpName =
  | 'view'
  | 'configGet'
  | 'guardWrites'
  | 'restoreConfig'
  | 'detach'
  | 'attach'
  | 'killClients'
  | 'flush'
  | 'makeIdleStandby';

export interface OpCall {
  op: OpName;
  node: string;
}

/** What a replica "is" in the fake world; the engine only sees it through view(). */
export interface FakeNodeModel {
  reachable: boolean;
  error: string;
  role: 'master' | 'slave';
  /** REPLICAOF <the proxy's announce address>. */
  followsProxy: boolean;
  /** Whom a replica that does not follow the proxy follows (default: the real master). */
  master?: string;
  linkUp: boolean;
  syncInProgress: boolean;
  loading: boolean;
  keys: number;
  runId: string;
  config: SavedConfig;
}

/** Runs before an operation; throwing makes the operation fail (nothing is applied). */
export type OpHook = (node: ReplicaNode, call: number) => void;

/** The proxy's announce address and the real master, as a replica of either reports them. */
export const FAKE_ANNOUNCE = '10.0.0.9:6382';
export const FAKE_MASTER = '10.0.0.2:6379';

export const ORIGINAL_CONFIG: SavedConfig = {
  'min-replicas-to-write': '0',
  'min-replicas-max-lag': '10',
  [STALE_DATA_SETTING]: 'yes',
};

export function replicaModel(overrides: Partial<FakeNodeModel> = {}): FakeNodeModel {
  return {
    reachable: true,
    error: 'connect ECONNREFUSED',
    role: 'slave',
    followsProxy: true,
    linkUp: true,
    syncInProgress: false,
    loading: false,
    keys: 1000,
    runId: 'run-replica',
    config: { ...ORIGINAL_CONFIG },
    ...overrides,
  };
}

export function idleMasterModel(overrides: Partial<FakeNodeModel> = {}): FakeNodeModel {
  return replicaModel({
    role: 'master',
    followsProxy: false,
    linkUp: false,
    keys: 0,
    runId: 'run-idle',
    ...overrides,
  });
}

/** The idle standby as rbuddy holds it: an empty replica of the proxy, link down, stale off. */
export function heldStandbyModel(overrides: Partial<FakeNodeModel> = {}): FakeNodeModel {
  return replicaModel({
    linkUp: false,
    keys: 0,
    runId: 'run-idle',
    config: { ...ORIGINAL_CONFIG, [STALE_DATA_SETTING]: 'no' },
    ...overrides,
  });
}

export class FakeNodeOps implements NodeControl {
  readonly calls: OpCall[] = [];
  private readonly models = new Map<string, FakeNodeModel>();
  private readonly hooks = new Map<OpName, OpHook>();
  private readonly afterHooks = new Map<OpName, OpHook>();
  private readonly counts = new Map<OpName, number>();

  constructor(models: Record<string, FakeNodeModel>) {
    for (const [id, model] of Object.entries(models)) this.models.set(id, model);
  }

  model(id: string): FakeNodeModel {
    const model = this.models.get(id);
    if (model === undefined) throw new Error(`fake: unknown node ${id}`);
    return model;
  }

  /** Every call except view(): what the engine DID to the nodes. */
  operations(): OpCall[] {
    return this.calls.filter((call) => call.op !== 'view');
  }

  callsOf(op: OpName): string[] {
    return this.calls.filter((call) => call.op === op).map((call) => call.node);
  }

  /** Runs `hook` before every `op` (replacing an earlier hook); undefined removes it. */
  before(op: OpName, hook: OpHook | undefined): void {
    if (hook === undefined) this.hooks.delete(op);
    else this.hooks.set(op, hook);
  }

  /** Runs `hook` after every `op` took effect: a reply lost after the node acted on it. */
  after(op: OpName, hook: OpHook | undefined): void {
    if (hook === undefined) this.afterHooks.delete(op);
    else this.afterHooks.set(op, hook);
  }

  /** The next `times` calls of `op` (on `nodeId`, if given) fail with `message`. */
  failTimes(op: OpName, times: number, message: string, nodeId?: string): void {
    let left = times;
    this.before(op, (node) => {
      if (left > 0 && (nodeId === undefined || node.id === nodeId)) {
        left -= 1;
        throw new Error(message);
      }
    });
  }

  view(node: ReplicaNode): Promise<NodeView> {
    return this.run('view', node, (model) => ({
      id: node.id,
      reachable: true,
      error: undefined,
      role: model.role,
      masterAddress:
        model.role === 'slave'
          ? model.followsProxy
            ? FAKE_ANNOUNCE
            : (model.master ?? FAKE_MASTER)
          : undefined,
      followsProxy: model.role === 'slave' && model.followsProxy,
      linkUp: model.role === 'slave' && model.linkUp,
      syncInProgress: model.syncInProgress,
      loading: model.loading,
      keys: model.keys,
      runId: model.runId,
      writesGuarded: isWriteGuard(model.config),
      servesStaleData:
        model.config[STALE_DATA_SETTING] === undefined
          ? undefined
          : model.config[STALE_DATA_SETTING] !== 'no',
    })).catch((error: unknown) =>
      // view() never throws: an unreachable node is an observation, not a failure.
      unreachableView(node, error),
    );
  }

  configGet(node: ReplicaNode): Promise<SavedConfig> {
    return this.run('configGet', node, (model) => ({ ...model.config }));
  }

  guardWrites(node: ReplicaNode): Promise<void> {
    return this.run('guardWrites', node, (model) => {
      Object.assign(model.config, WRITE_GUARD);
    });
  }

  restoreConfig(node: ReplicaNode, saved: SavedConfig): Promise<void> {
    return this.run('restoreConfig', node, (model) => {
      Object.assign(model.config, saved);
    });
  }

  detach(node: ReplicaNode): Promise<void> {
    return this.run('detach', node, (model) => {
      model.role = 'master';
      model.followsProxy = false;
      model.linkUp = false;
      model.syncInProgress = false;
    });
  }

  attach(node: ReplicaNode): Promise<void> {
    return this.run('attach', node, (model) => {
      // Redis answers REPLICAOF at once; the sync itself happens later (the test drives it).
      if (model.role === 'slave' && model.followsProxy) return;
      model.role = 'slave';
      model.followsProxy = true;
      model.linkUp = false;
    });
  }

  killClients(node: ReplicaNode): Promise<void> {
    return this.run('killClients', node, () => undefined);
  }

  flush(node: ReplicaNode): Promise<void> {
    return this.run('flush', node, (model) => {
      // A node without replicas refuses every write, FLUSHALL included, while both
      // min-replicas settings are non-zero: -NOREPLICAS, as on a real node (a max-lag of 0
      // turns the check off).
      const { 'min-replicas-to-write': toWrite, 'min-replicas-max-lag': maxLag } = model.config;
      if (Number(toWrite) > 0 && Number(maxLag) > 0) {
        throw new Error('NOREPLICAS Not enough good replicas to write.');
      }
      model.keys = 0;
    });
  }

  makeIdleStandby(
    node: ReplicaNode,
    options: { restore: SavedConfig; flush: boolean },
  ): Promise<void> {
    return this.run('makeIdleStandby', node, (model) => {
      // As on a real node: a queued FLUSHALL is refused by a read-only replica (-READONLY) and
      // by the write guard still set (-NOREPLICAS), which aborts the whole transaction.
      if (options.flush && model.role === 'slave') {
        throw new Error('EXECABORT (READONLY You cannot write against a read only replica.)');
      }
      const restored = { ...model.config, ...guardSettingsOf(options.restore) };
      if (options.flush && isWriteGuard(restored)) {
        throw new Error('EXECABORT (NOREPLICAS Not enough good replicas to write.)');
      }
      if (options.flush) {
        // The FLUSHALL inside the transaction counts as one (callsOf('flush'), the flush hook).
        const call = (this.counts.get('flush') ?? 0) + 1;
        this.counts.set('flush', call);
        this.calls.push({ op: 'flush', node: node.id });
        this.hooks.get('flush')?.(node, call);
        model.keys = 0;
      }
      model.config = { ...restored, [STALE_DATA_SETTING]: 'no' };
      if (!(model.role === 'slave' && model.followsProxy)) model.linkUp = false;
      model.role = 'slave';
      model.followsProxy = true;
      model.syncInProgress = false;
    });
  }

  private run<T>(op: OpName, node: ReplicaNode, apply: (model: FakeNodeModel) => T): Promise<T> {
    const call = (this.counts.get(op) ?? 0) + 1;
    this.counts.set(op, call);
    this.calls.push({ op, node: node.id });
    try {
      const model = this.model(node.id);
      if (!model.reachable) throw new Error(model.error);
      this.hooks.get(op)?.(node, call);
      const result = apply(model);
      this.afterHooks.get(op)?.(node, call);
      return Promise.resolve(result);
    } catch (error) {
      return Promise.reject(error instanceof Error ? error : new Error(String(error)));
    }
  }
}
