// Watches the topology four times a second and records what it sees in the history: rbuddy's
// state, epoch and roles, each replica's ROLE and DBSIZE (a drop is a flush), rbuddy's RSS. The
// live invariants are checked here: epochs only grow, at most one active, only the outgoing
// active is flushed (I2, docs/design.md), no full sync reaches the active holding data (I1, in
// the replicas' logs: chaos/full-sync-check.ts), the active's lag behind the master bounded while
// healthy (chaos/offset-lag.ts), RSS bounded. It also plays the operator: a switch
// held by the guard is confirmed once the master holds the data again.
import { readFileSync } from 'node:fs';
import { Redis } from 'ioredis';
import { keyCount } from '../harness/held-standby.js';
import type { Checker } from './checker.js';
import { masterAddrNamed, replicasDisagree } from './discovery.js';
import { FullSyncCheck } from './full-sync-check.js';
import type { History } from './history.js';
import { WriterAcks } from './freshness.js';
import { LAG_BOUND_MS, LagJudge, OffsetLag, replOffsets, type ReplOffsets } from './offset-lag.js';
import { FIXED_KEYS, PROBE_KEY, type ChaosTopology, type StatusView } from './topology.js';

/**
 * rbuddy takes about 110 MB under a run. The flood's input-budget variant (chaos/flood.ts) has it
 * hold its 32 MiB budget of incomplete commands by design, and its RSS stays 60 to 100 MB up after
 * such an attack (measured; a plateau over repeated attacks, not a growth: what it read of the
 * connections it closed is not given back at once). 200 MB was too tight for that; without the
 * budget the same flood takes it to 300 MB and more (298 and 336 MB measured). The fuzzer's bound
 * is the same.
 */
export const RSS_LIMIT_MB = 256;
const TICK_MS = 250;
const DISCOVERY_CHECK = 'at most one active (discovery agrees with /v1/status)';
const REPLICAS_CHECK = 'at most one active (SENTINEL replicas agrees)';

interface PendingFlush {
  node: string;
  t: number;
  epoch: number | null;
  from: number;
  to: number;
  /** The node ran FLUSHALL meanwhile (rbuddy's retire or first-start flush); else a sync did it. */
  flushall: boolean;
}

export class Observer {
  lastStatus: StatusView | undefined;
  /** When rbuddy was last seen healthy with no fault running (ms of the run). */
  healthySince: number | undefined;
  private lastEpoch: number | null = null;
  private readonly sizes = new Map<string, number>();
  /** Each node's run_id at its last DBSIZE: a drop across a restart is the run's, not a flush. */
  private readonly runIds = new Map<string, string>();
  /** Each node's FLUSHALL count (INFO commandstats) at its last DBSIZE. */
  private readonly flushalls = new Map<string, number>();
  private readonly roles = new Map<string, string>();
  private readonly clients = new Map<string, Redis>();
  private pendingFlushes: PendingFlush[] = [];
  private heldSince: number | undefined;
  /** The active of the epoch before the current one: the node the switch retires. */
  private outgoing: string | undefined;
  private confirming = false;
  private running = true;
  private loop: Promise<void> | undefined;
  readonly fullSyncs: FullSyncCheck;
  /** The master's DBSIZE at the last tick it answered. */
  private masterSize: number | undefined;
  private readonly masterClient: Redis;
  /** rbuddy's RESP port, asked what Sentinel clients are told. */
  private readonly sentinelClient: Redis;
  /** The master's offsets over time, and the active's lag behind them (chaos/offset-lag.ts). */
  private readonly lag = new OffsetLag();
  private readonly lagJudge: LagJudge;
  /** The active's offsets at this tick, and when it answered (ms of the run). */
  private activeOffsets: { t: number; offsets: ReplOffsets } | undefined;

  constructor(
    private readonly topo: ChaosTopology,
    private readonly checker: Checker,
    private readonly history: History,
    /** The writer's acknowledgements: how many keys a copy a few seconds behind may lack. */
    private readonly acks = new WriterAcks(),
  ) {
    this.fullSyncs = new FullSyncCheck(topo, checker, history);
    this.lagJudge = new LagJudge(checker);
    this.masterClient = observerClient(topo.master.host, topo.master.port);
    const listen = topo.listenAddress();
    this.sentinelClient = observerClient(listen.host, listen.port);
    for (const replica of topo.replicas) {
      this.clients.set(replica.address, observerClient(replica.host, replica.port));
    }
  }

  start(): void {
    this.loop = (async () => {
      while (this.running) {
        await this.tick().catch((error: unknown) => {
          this.history.record('note', 'observer', { data: { error: String(error) } });
        });
        await new Promise((resolve) => setTimeout(resolve, TICK_MS));
      }
    })();
  }

  async stop(): Promise<void> {
    this.running = false;
    await this.loop;
    for (const client of this.clients.values()) client.disconnect();
    this.masterClient.disconnect();
    this.sentinelClient.disconnect();
    this.fullSyncs.poll(true);
  }

  roleNames(): { active: string | undefined; standby: string | undefined } {
    return {
      active: this.lastStatus?.active ?? undefined,
      standby: this.lastStatus?.standby ?? undefined,
    };
  }

  async tick(): Promise<void> {
    const askedAt = Date.now();
    const status = await this.topo.status();
    if (status?.state !== 'healthy') this.checker.lastNotHealthy = this.history.now();
    if (status !== undefined) {
      this.fullSyncs.status(askedAt, Date.now(), status);
      this.onStatus(status);
      await this.checkDiscovery(status);
    }
    // The master's offset first: the active's, read after it, has had that long to reach it.
    const masterInfo = await this.masterClient.info('replication').catch(() => '');
    const masterOffsets = replOffsets(masterInfo);
    if (masterOffsets !== undefined) this.lag.master(this.history.now(), masterOffsets);
    this.activeOffsets = undefined;
    for (const [node, client] of this.clients) await this.observeNode(node, client);
    const active = this.lastStatus?.active;
    if (active != null && this.activeOffsets !== undefined) {
      // Judged as of when the active answered (the other replica, stopped, may take a second).
      const { t, offsets } = this.activeOffsets;
      const excusedSince = this.checker.staleExcusedSince(active);
      this.lagJudge.sample(t, active, this.lag, offsets, excusedSince);
    }
    // The master's keys, for the last-copy check (what it truly holds, not what it once had).
    this.masterSize = await this.masterClient.dbsize().catch(() => undefined);
    if (this.masterSize !== undefined) this.checker.masterKeys = this.masterSize;
    this.fullSyncs.poll();
    this.checkRss();
  }

  /**
   * At most one active, as clients see it: what the RESP port answers to
   * `SENTINEL get-master-addr-by-name` must be the node /v1/status names, and
   * `SENTINEL replicas` (the ioredis reader's source: it is `role: 'slave'`) must list exactly
   * that node, flagged `slave` (chaos/discovery.ts); judged only when a second status, taken
   * after both questions, still names the same active in the same epoch (no switch in between to
   * race with).
   */
  private async checkDiscovery(before: StatusView): Promise<void> {
    let master: unknown;
    let replicas: unknown;
    try {
      master = await this.sentinelClient.call('SENTINEL', 'get-master-addr-by-name', 'rbuddy');
      replicas = await this.sentinelClient.call('SENTINEL', 'replicas', 'rbuddy');
    } catch {
      return;
    }
    const after = await this.topo.status();
    if (after === undefined || after.epoch !== before.epoch || after.active !== before.active) {
      return;
    }
    const named = masterAddrNamed(master);
    const epoch = String(after.epoch);
    this.checker.check(
      DISCOVERY_CHECK,
      named === after.active,
      `SENTINEL get-master-addr-by-name answered ${named ?? 'nil'} while /v1/status named ${after.active ?? 'none'} (epoch ${epoch})`,
    );
    const disagree = replicasDisagree(replicas, after.active);
    this.checker.check(
      REPLICAS_CHECK,
      disagree === undefined,
      `SENTINEL replicas ${disagree ?? ''} (/v1/status, epoch ${epoch})`,
    );
  }

  private onStatus(status: StatusView): void {
    const previous = this.lastStatus;
    this.lastStatus = status;
    const { checker, history } = this;
    if (previous?.state !== status.state || previous.reason !== status.reason) {
      history.record('status', 'rbuddy', { data: { state: status.state, reason: status.reason } });
    }
    if (previous?.active !== status.active || previous.epoch !== status.epoch) {
      checker.activeChangedAt = history.now();
    }
    if (previous?.active !== status.active || previous.standby !== status.standby) {
      history.record('role', 'rbuddy', {
        data: { active: status.active, standby: status.standby },
      });
    }
    if (status.epoch !== null) {
      const last = this.lastEpoch;
      checker.check('epochs only grow', last === null || status.epoch >= last, 'epoch went back', {
        from: last,
        to: status.epoch,
      });
      if (last !== null && status.epoch > last) {
        if (previous?.active != null && previous.active !== status.active) {
          this.outgoing = previous.active;
        }
        checker.failovers += status.epoch - last;
      }
      // Every change is recorded, a step back too: the final check over the history judges them
      // (recording only the increases made that check one that could not fail).
      if (last !== null && status.epoch !== last) {
        history.record('epoch', 'rbuddy', { data: { from: last, to: status.epoch } });
      }
      if (last === null || status.epoch > last) this.lastEpoch = status.epoch;
    }
    checker.check(
      'at most one active',
      status.active === null || status.active !== status.standby,
      'active and standby name one node',
      { active: status.active, standby: status.standby },
    );
    // A flush seen earlier is judged against what rbuddy says once it can be asked again.
    for (const flush of this.pendingFlushes) {
      // The outgoing active may be flushed only while the new one holds the data (I2's
      // precondition, docs/design.md: the other node verified synced): never the last copy.
      // A node that is the incoming node of the failover under way and lost keys without a
      // FLUSHALL took the master's dataset: that is its part (the master may have lost data: the
      // run restarts it empty), not a flush of the last copy.
      const syncing = !flush.flushall && status.failover?.incoming === flush.node;
      if (
        status.active !== null &&
        flush.node === this.outgoing &&
        status.active !== flush.node &&
        !syncing
      ) {
        // The new active must hold (nearly) what the flushed node held, unless the master
        // itself holds less (it truly lost them): the writer only adds keys, so a synced copy
        // never has fewer than the master, and a stale outgoing node never more than it.
        const kept = this.sizes.get(status.active);
        // The master's last answer when it does not answer now (killed as the retire flushed: a
        // 5-minute run, seed 1459263234, reported the flush the run itself had confirmed after
        // the master came back empty): a master never regrows what it lost, so an older count
        // is never less than what it holds.
        const master = this.masterSize ?? this.checker.masterKeys;
        const reference = Math.min(flush.from, master ?? flush.from);
        checker.check(
          'I2 never flush the last copy',
          kept === undefined ||
            (kept >= FIXED_KEYS + 1 &&
              kept >=
                Math.min(
                  LAST_COPY_SHARE * reference,
                  reference -
                    this.acks.lagRoom(
                      this.history.now(),
                      checker.staleExcusedSince(status.active),
                      LAG_BOUND_MS,
                    ),
                )),
          `${flush.node} flushed while the active ${status.active} held ${kept} keys (it held ${flush.from}, the master ${master ?? 'unknown'}${this.masterSize === undefined ? ' when it last answered' : ''})`,
          { ...flush, kept, master: master ?? null },
        );
      }
      const onActive =
        status.active === flush.node &&
        status.epoch === flush.epoch &&
        !this.checker.isImpaired(flush.node);
      checker.check(
        'I2 only the outgoing active is flushed',
        !onActive,
        'the serving active lost keys',
        {
          ...flush,
        },
      );
    }
    this.pendingFlushes = [];
    const now = history.now();
    if (status.state === 'healthy') {
      checker.sawHealthy();
      this.healthySince ??= now;
    } else this.healthySince = undefined;
    if (status.state === 'held') {
      this.heldSince ??= now;
      if (now - this.heldSince > 1000) void this.confirmHeld();
    } else this.heldSince = undefined;
  }

  /** The operator: a master that came back with less data is what we chose; confirm the switch
   * once the master holds the fixed keys again (restored by the fault's restart). */
  private async confirmHeld(): Promise<void> {
    if (this.confirming) return;
    this.confirming = true;
    try {
      const probe = await this.topo.master
        .client()
        .get(PROBE_KEY)
        .catch(() => null);
      if (probe === null) return;
      const answer = await this.topo.post('/v1/failover/confirm');
      this.history.record('operator', 'rbuddy', { data: { confirm: answer } });
      this.heldSince = this.history.now();
    } finally {
      this.confirming = false;
    }
  }

  private async observeNode(node: string, client: Redis): Promise<void> {
    let role: string;
    let size: number;
    let runId: string | undefined;
    let pid: number;
    let flushalls: number;
    try {
      const reply = (await client.call('ROLE')) as unknown[];
      role =
        reply[0] === 'slave'
          ? `replica of ${String(reply[1])}:${String(reply[2])} (${String(reply[3])})`
          : String(reply[0]);
      const info = String(await client.call('INFO', 'server', 'commandstats', 'replication'));
      const offsets = replOffsets(info);
      if (node === this.lastStatus?.active && offsets !== undefined) {
        this.activeOffsets = { t: this.history.now(), offsets };
      }
      runId = /run_id:(\w+)/.exec(info)?.[1];
      pid = Number(/process_id:(\d+)/.exec(info)?.[1] ?? 0);
      flushalls = Number(/cmdstat_flushall:calls=(\d+)/.exec(info)?.[1] ?? 0);
      size = await nodeSize(client);
    } catch {
      return;
    }
    this.fullSyncs.keys(node, pid, size);
    if (this.roles.get(node) !== role) {
      this.roles.set(node, role);
      this.history.record('role', node, { data: { role } });
    }
    const before = this.sizes.get(node);
    this.sizes.set(node, size);
    // Only the run restarts a replica (kill -9, started again empty): the keys it lost then are
    // the run's doing, not a flush of rbuddy's.
    const lastRunId = this.runIds.get(node);
    if (runId !== undefined) this.runIds.set(node, runId);
    const restarted = lastRunId !== undefined && runId !== undefined && runId !== lastRunId;
    const flushallsBefore = this.flushalls.get(node);
    this.flushalls.set(node, flushalls);
    if (before !== undefined && size < before && !restarted) {
      const flushall = flushallsBefore === undefined || flushalls > flushallsBefore;
      const t = this.history.now();
      const flush = { node, t, epoch: this.lastEpoch, from: before, to: size, flushall };
      this.history.record('flush', node, { data: { ...flush } });
      this.pendingFlushes.push(flush);
    }
  }

  private checkRss(): void {
    const pid = this.topo.rbuddy?.child.pid;
    if (pid === undefined) return;
    let mb: number;
    try {
      const match = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
      if (match === null) return;
      mb = Number(match[1]) / 1024;
    } catch {
      return;
    }
    this.checker.peakRssMb = Math.max(this.checker.peakRssMb, mb);
    this.checker.check('RSS bounded', mb <= RSS_LIMIT_MB, `rbuddy RSS ${mb.toFixed(0)} MB`, {
      limitMb: RSS_LIMIT_MB,
    });
  }
}

/**
 * DBSIZE, or the keys INFO counts where DBSIZE is refused with -MASTERDOWN: the held idle standby
 * (docs/design.md, "Roles and states"). Without it the retire's flush of the old active, which
 * makes it held in the same transaction, would never be seen. -LOADING still throws: a replica
 * loading a snapshot has no size to compare yet.
 */
/** A connection for the observer's looks: short timeouts, reconnecting every 200 ms. */
function observerClient(host: string, port: number): Redis {
  const client = new Redis({
    host,
    port,
    commandTimeout: 1000,
    connectTimeout: 1000,
    maxRetriesPerRequest: 0,
    retryStrategy: () => 200,
  });
  client.on('error', () => undefined);
  return client;
}

/**
 * The share of the flushed node's keys (or the master's, if fewer) the new active must hold when
 * the outgoing node is flushed: a replica in sync lags the master by a few writes, not a tenth.
 */
const LAST_COPY_SHARE = 0.9;

async function nodeSize(client: Redis): Promise<number> {
  try {
    return await client.dbsize();
  } catch (error) {
    if (error instanceof Error && error.message.startsWith('MASTERDOWN')) return keyCount(client);
    throw error;
  }
}
