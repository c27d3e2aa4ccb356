// The fault library. Each fault takes hold of some resources (a process, a link, the state dir)
// so that two faults never fight over one thing (a process killed twice, a link in two modes);
// otherwise they overlap freely. `inject` breaks something and returns how to heal it; a fault
// with no duration (a reset, a planned switch) heals at once.
import { spawnSync } from 'node:child_process';
import { openSync, closeSync, rmSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import type { FaultForwarder, LinkMode } from '../harness/fault-forwarder.js';
import { startRedis, type RedisServer } from '../harness/redis-server.js';
import { waitFor } from '../harness/wait-for.js';
import { startFlood } from './flood.js';
import type { Prng } from './prng.js';
import { PROBE_KEY, type ChaosTopology, type MasterRestart } from './topology.js';

export interface FaultContext {
  topo: ChaosTopology;
  /** The roles as rbuddy last named them (the node addresses). */
  roles(): { active: string | undefined; standby: string | undefined };
  /** A node (an address, `master` or `rbuddy`) is down or silent by our hand from now on. */
  impair(node: string): void;
  /** …and is back: reads against it count again after a short settling time, or (a node that
   * came back empty, which rbuddy must hold, then replace) within the bounds of
   * `Checker.isImpaired` and `Checker.wrongAnswerExcused`. */
  healed(node: string, backEmpty?: boolean): void;
  note(message: string, data?: Record<string, unknown>): void;
}

export type Heal = () => Promise<void>;

export interface FaultKind {
  name: string;
  weight: number;
  /** Resources held while it lasts; a fault whose resources are taken waits for its next turn. */
  locks: readonly string[];
  /** Whether it lasts a drawn duration (else it is one action). */
  lasting: boolean;
  /** Only with `npm run chaos -- --replica-rdb` (a known finding, docs/reliability.md). */
  optIn?: boolean;
  /** False for a fault that cannot keep rbuddy from replacing a node back empty (a flood, a
   * planned switch); the others extend that node's excuse while they run (`Checker.obstacle`). */
  obstructs?: boolean;
  /** A check of the checker, never drawn unless named in `--only`: it breaks an invariant. */
  selftest?: boolean;
  /** Whether it can run at all here (the state-dir faults need our own tmpfs). */
  available?(topo: ChaosTopology): boolean;
  inject(ctx: FaultContext, rng: Prng): Promise<{ target: string; heal: Heal; detail?: string }>;
}

const noHeal: Heal = () => Promise.resolve();

function replicaIn(ctx: FaultContext, role: 'active' | 'standby'): RedisServer {
  const address = ctx.roles()[role];
  const [a, b] = ctx.topo.replicas;
  const found = address === undefined ? undefined : ctx.topo.replicaByAddress(address);
  return found ?? (role === 'active' ? a : b);
}

function killMaster(mode: MasterRestart): FaultKind {
  return {
    name: `kill-master-${mode}`,
    weight: mode === 'aof' ? 2 : 1,
    locks: ['master'],
    lasting: true,
    async inject(ctx) {
      ctx.impair('master');
      await ctx.topo.killMaster(mode);
      return {
        target: 'master',
        heal: async () => {
          await ctx.topo.startMaster(mode);
          ctx.healed('master');
        },
      };
    },
  };
}

/**
 * kill -9 a replica and start it again. By default without persistence, as the replicas rbuddy
 * expects (docs/operations.md, "Active restarts empty"): the dump.rdb that a disk-based full
 * sync leaves behind is removed first. `keepRdb` restarts it from that file instead, a stale
 * dataset and no `replicaof`: see docs/reliability.md, "Chaos", for what rbuddy does then.
 */
function killReplica(role: 'active' | 'standby', keepRdb: boolean): FaultKind {
  return {
    name: `kill-${role}${keepRdb ? '-keep-rdb' : ''}`,
    weight: 2,
    optIn: keepRdb,
    locks: ['replica'],
    lasting: true,
    async inject(ctx) {
      const node = replicaIn(ctx, role);
      ctx.impair(node.address);
      await node.kill9();
      return {
        target: node.address,
        heal: async () => {
          if (!keepRdb) rmSync(join(node.dir, 'dump.rdb'), { force: true });
          await node.restart();
          ctx.healed(node.address, true);
        },
      };
    },
  };
}

function stopProcess(who: 'master' | 'active' | 'standby' | 'rbuddy'): FaultKind {
  return {
    name: `stop-${who}`,
    weight: 2,
    locks: [who === 'active' || who === 'standby' ? 'replica' : who],
    lasting: true,
    inject(ctx) {
      if (who === 'rbuddy') {
        const child = ctx.topo.rbuddy?.child;
        if (child === undefined) throw new Error('rbuddy is not running');
        ctx.impair('rbuddy');
        child.kill('SIGSTOP');
        return Promise.resolve({
          target: 'rbuddy',
          heal: () => {
            child.kill('SIGCONT');
            ctx.healed('rbuddy');
            return Promise.resolve();
          },
        });
      }
      const node = who === 'master' ? ctx.topo.master : replicaIn(ctx, who);
      const name = who === 'master' ? 'master' : node.address;
      ctx.impair(name);
      node.pause();
      return Promise.resolve({
        target: name,
        heal: () => {
          if (!node.exited) node.resume();
          ctx.healed(name);
          return Promise.resolve();
        },
      });
    },
  };
}

const killRbuddy: FaultKind = {
  name: 'kill-rbuddy',
  weight: 2,
  // A restart needs its state dir writable (the lock file): never while the state dir is broken.
  locks: ['rbuddy', 'state'],
  lasting: true,
  async inject(ctx) {
    ctx.impair('rbuddy');
    await ctx.topo.killRbuddy();
    return {
      target: 'rbuddy',
      heal: async () => {
        await ctx.topo.startRbuddy();
        ctx.healed('rbuddy');
      },
    };
  },
};

function linkFault(
  link: 'master-link' | 'replica-link',
  kind: LinkMode['kind'] | 'reset',
): FaultKind {
  const forwarder = (topo: ChaosTopology): FaultForwarder =>
    link === 'master-link' ? topo.masterLink : topo.replicaLink;
  return {
    name: `${link}-${kind}`,
    weight: 1,
    locks: [link],
    lasting: kind !== 'reset',
    inject(ctx, rng) {
      const fwd = forwarder(ctx.topo);
      let mode: LinkMode;
      // The link's own excuse (`Checker.staleExcusedSince`): an active behind the master.
      ctx.impair(link);
      if (kind === 'reset') {
        fwd.resetAll();
        ctx.healed(link);
        return Promise.resolve({ target: link, heal: noHeal });
      }
      if (kind === 'stall') mode = { kind, direction: rng.chance(0.5) ? 'up' : 'down' };
      else if (kind === 'latency') mode = { kind, ms: rng.int(20, 400) };
      else if (kind === 'bandwidth') mode = { kind, bytesPerSecond: rng.int(16, 512) * 1024 };
      else if (kind === 'blackhole') mode = { kind };
      else mode = { kind: 'pass' };
      fwd.setMode(mode);
      return Promise.resolve({
        target: link,
        detail: JSON.stringify(mode),
        heal: () => {
          fwd.setMode({ kind: 'pass' });
          ctx.healed(link);
          return Promise.resolve();
        },
      });
    },
  };
}

const stateFull: FaultKind = {
  name: 'state-dir-full',
  weight: 1,
  locks: ['state'],
  lasting: true,
  available: (topo) => topo.stateMounted,
  inject(ctx) {
    const filler = join(ctx.topo.stateDir, 'chaos-filler');
    const fd = openSync(filler, 'w');
    const block = Buffer.alloc(4096, 0x7a);
    try {
      for (;;) writeSync(fd, block);
    } catch {
      // ENOSPC: the tmpfs is full, which is the point.
    } finally {
      closeSync(fd);
    }
    return Promise.resolve({
      target: 'state-dir',
      heal: () => {
        rmSync(filler, { force: true });
        return Promise.resolve();
      },
    });
  },
};

const stateReadOnly: FaultKind = {
  name: 'state-dir-read-only',
  weight: 1,
  locks: ['state'],
  lasting: true,
  available: (topo) => topo.stateMounted,
  inject(ctx) {
    const remount = (how: string): void => {
      const result = spawnSync('mount', ['-o', `remount,${how}`, ctx.topo.stateDir]);
      if (result.status !== 0) throw new Error(`remount ${how}: ${String(result.stderr)}`);
    };
    remount('ro');
    return Promise.resolve({
      target: 'state-dir',
      heal: () => {
        remount('rw');
        return Promise.resolve();
      },
    });
  },
};

const plannedSwitch: FaultKind = {
  name: 'planned-switch',
  weight: 2,
  obstructs: false,
  locks: [],
  lasting: false,
  async inject(ctx) {
    const status = await ctx.topo.post('/v1/failover');
    return { target: 'rbuddy', detail: `POST /v1/failover → ${status}`, heal: noHeal };
  },
};

const flood: FaultKind = {
  name: 'flood',
  weight: 2,
  obstructs: false,
  locks: ['flood'],
  lasting: true,
  inject(ctx, rng) {
    const { heal, detail } = startFlood(ctx.topo, rng.int(1, 2 ** 30));
    return Promise.resolve({ target: 'rbuddy ports', heal, detail });
  },
};

/** What every self-test is: drawn only when named, on the replicas, one action. */
const SELFTEST = { weight: 1, selftest: true, locks: ['replica'], lasting: false } as const;

/**
 * The checker's self-test: a full sync into the active behind rbuddy's back, which the I1 check
 * must report (chaos/full-sync-check.ts). A decoy server copies the active (as its sub-replica),
 * then becomes a master of a history of its own (REPLICAOF NO ONE, then DEBUG CHANGE-REPL-ID, so
 * that no PSYNC can continue it), and the active is made its replica: a real full sync of the
 * same data, flushed and reloaded in a few ms, which no read and no key count notices. Healed at
 * once: the active points at rbuddy again (whose gate refuses it the full sync it now needs).
 */
const selftestFullSyncActive: FaultKind = {
  name: 'selftest-full-sync-active',
  ...SELFTEST,
  async inject(ctx) {
    const { node, active } = await steadyActive(ctx);
    const decoy = await startRedis({
      name: 'decoy',
      dir: join(ctx.topo.dir, 'decoy'),
      args: { 'repl-diskless-sync-delay': 0 },
    });
    const decoyClient = decoy.client({ commandTimeout: 5_000, maxRetriesPerRequest: 0 });
    try {
      const role = (await active.call('ROLE')) as unknown[];
      if (role[0] !== 'slave') throw new Error(`the active is a ${String(role[0])}`);
      const [, host, port] = role.map(String);
      await decoyClient.call('REPLICAOF', node.host, String(node.port));
      await linkedTo(decoyClient, node.port);
      await decoyClient.call('REPLICAOF', 'NO', 'ONE');
      await decoyClient.call('DEBUG', 'CHANGE-REPL-ID');
      // Into a steady active only (the copy took seconds): one clear violation, not a failover
      // under way broken as well.
      await healthyNamed(ctx, node.address);
      ctx.note('selftest: the active takes a full sync from a decoy master', {
        active: node.address,
        decoy: decoy.address,
      });
      await active.call('REPLICAOF', decoy.host, String(decoy.port));
      await linkedTo(active, decoy.port);
      await active.call('REPLICAOF', host ?? '', port ?? '');
      return {
        target: node.address,
        detail: `a full sync from ${decoy.address}, then REPLICAOF ${host}:${port} again`,
        heal: noHeal,
      };
    } finally {
      active.disconnect();
      await decoy.stop();
    }
  },
};

/**
 * The checker's self-test of I1's key count: a third of the active's keys deleted behind rbuddy's
 * back (writable for a moment), the probe key kept, so every read still finds its value and only
 * the key count (`KeyReference`) can tell.
 */
const selftestLoseKeys: FaultKind = {
  name: 'selftest-lose-keys',
  ...SELFTEST,
  async inject(ctx) {
    const { node, active } = await steadyActive(ctx);
    try {
      const keys = (await active.keys('*')).filter((key) => key !== PROBE_KEY);
      const doomed = keys.filter((_, i) => i % 3 === 0);
      await active.config('SET', 'replica-read-only', 'no');
      try {
        for (let i = 0; i < doomed.length; i += 500) await active.del(...doomed.slice(i, i + 500));
      } finally {
        await active.config('SET', 'replica-read-only', 'yes');
      }
      ctx.note("selftest: a third of the active's keys deleted behind rbuddy's back", {
        active: node.address,
        deleted: doomed.length,
        of: keys.length + 1,
      });
      return { target: node.address, detail: `${doomed.length} keys deleted`, heal: noHeal };
    } finally {
      active.disconnect();
    }
  },
};

/** How long the stale-active self-test pauses the active's stream: the reviewer's 25 s. */
const STALE_PAUSE_MS = 25_000;

/**
 * The checker's self-test of the active's freshness (reviewer R11c, C1): `CLIENT PAUSE 25000
 * WRITE` on the active of a steady group. A paused replica answers GET, DBSIZE and INFO but
 * applies nothing of its master link's stream, so the probe key and the key count hold while it
 * falls thousands of writes behind; only the freshness of its reads (chaos/freshness.ts) and its
 * lag behind the master's offset (chaos/offset-lag.ts) can tell. It holds the replicas until the
 * pause is over.
 */
const selftestStaleActive: FaultKind = {
  name: 'selftest-stale-active',
  ...SELFTEST,
  async inject(ctx) {
    const { node, active } = await steadyActive(ctx);
    try {
      await active.call('CLIENT', 'PAUSE', String(STALE_PAUSE_MS), 'WRITE');
    } finally {
      active.disconnect();
    }
    const until = Date.now() + STALE_PAUSE_MS;
    ctx.note("selftest: the active's stream paused behind rbuddy's back", {
      active: node.address,
      ms: STALE_PAUSE_MS,
    });
    return {
      target: node.address,
      detail: `CLIENT PAUSE ${STALE_PAUSE_MS} WRITE`,
      heal: () => new Promise((resolve) => setTimeout(resolve, Math.max(0, until - Date.now()))),
    };
  },
};

/** The active of a steady group (rbuddy healthy), with a client of its own. */
async function steadyActive(
  ctx: FaultContext,
): Promise<{ node: RedisServer; active: ReturnType<RedisServer['client']> }> {
  const address = ctx.roles().active;
  const node = address === undefined ? undefined : ctx.topo.replicaByAddress(address);
  if (node === undefined) throw new Error('no active named');
  await healthyNamed(ctx, node.address);
  return { node, active: node.client({ commandTimeout: 5_000, maxRetriesPerRequest: 0 }) };
}

async function healthyNamed(ctx: FaultContext, active: string): Promise<void> {
  const status = await ctx.topo.status();
  if (status?.state !== 'healthy' || status.active !== active) {
    throw new Error(`rbuddy is ${status?.state ?? 'not answering'}, active ${status?.active}`);
  }
}

/** Waits until the client's server replicates from `port` with its link up (a full sync done). */
async function linkedTo(client: ReturnType<RedisServer['client']>, port: number): Promise<void> {
  await waitFor(
    async () => {
      const info = await client.info('replication');
      return info.includes(`master_port:${port}\r`) && info.includes('master_link_status:up');
    },
    { what: `a replica linked to port ${port}`, timeoutMs: 30_000 },
  );
}

export const FAULTS: readonly FaultKind[] = [
  killMaster('rdb'),
  killMaster('aof'),
  killMaster('empty'),
  killReplica('active', false),
  killReplica('standby', false),
  killReplica('active', true),
  killReplica('standby', true),
  killRbuddy,
  stopProcess('master'),
  stopProcess('active'),
  stopProcess('standby'),
  stopProcess('rbuddy'),
  ...(['master-link', 'replica-link'] as const).flatMap((link) =>
    (['blackhole', 'stall', 'latency', 'bandwidth', 'reset'] as const).map((kind) =>
      linkFault(link, kind),
    ),
  ),
  stateFull,
  stateReadOnly,
  plannedSwitch,
  flood,
  selftestFullSyncActive,
  selftestLoseKeys,
  selftestStaleActive,
];
