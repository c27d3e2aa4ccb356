// A real 3-member etcd cluster (Debian's etcd-server) on loopback for the HA tests: ephemeral peer
// and client ports, its own temp data dirs, members stopped, killed and started again by the PID
// we spawned, and close() that ends them all and removes the dirs. Optionally a fault forwarder in
// front of each member's client URL, so that a test can cut one rbuddy off from etcd while the
// others still reach it.

import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { open, readFile } from 'node:fs/promises';
import { request } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startFaultForwarder, type FaultForwarder } from './fault-forwarder.js';
import type { CertFiles } from './tls-certs.js';
import { freePort, hasExited, killHard, terminate, trackChild } from './processes.js';
import { waitFor } from './wait-for.js';

export interface EtcdMember {
  readonly name: string;
  /** `http://127.0.0.1:<port>`: where clients reach this member directly. */
  readonly clientUrl: string;
  readonly peerUrl: string;
  readonly dataDir: string;
  /** The running process's PID; undefined while stopped. */
  readonly pid: number | undefined;
}

export interface EtcdCluster {
  readonly members: readonly EtcdMember[];
  /** Every member's client URL, as `--etcd` takes them (comma joined). */
  readonly clientUrls: readonly string[];
  /** SIGTERM (SIGKILL after a grace period) and wait for the exit. */
  stop(member: number): Promise<void>;
  /** SIGKILL: a crash. */
  kill9(member: number): Promise<void>;
  /** Starts a stopped member again on the same ports and data dir; resolves once it is healthy. */
  start(member: number): Promise<void>;
  /** SIGSTOP: a member that hangs (its connections stay open, nothing answers, no RST). */
  pause(member: number): void;
  /** SIGCONT after pause(). */
  resume(member: number): void;
  /** The member that leads etcd's raft right now (asked of each running member in turn). */
  raftLeader(): Promise<number>;
  /** Resolves once `member` answers /health with a leader (a quorum) behind it. */
  waitHealthy(member: number, timeoutMs?: number): Promise<void>;
  /**
   * A forwarder in front of every member's client port (one set per caller: one rbuddy's view of
   * etcd); their URLs are `urls`. Closed with the cluster.
   */
  forwarders(): Promise<{ urls: string[]; all: FaultForwarder[] }>;
  /** The last lines of a member's log (for a test's failure message). */
  logTail(member: number, lines?: number): Promise<string>;
  /** Ends every member by PID, closes the forwarders and removes the data dirs. */
  close(): Promise<void>;
}

/** TLS on the client URLs (https://); the peers stay in clear text on loopback. */
export interface EtcdTls {
  /** The CA file both sides trust. */
  ca: string;
  /** The members' server certificate (names 127.0.0.1). */
  server: CertFiles;
  /** With one: etcd's --client-cert-auth, and this is what the harness's own probes present. */
  client?: CertFiles;
}

const START_TIMEOUT_MS = 30_000;
const HEALTH_REQUEST_MS = 1_000;

class Member implements EtcdMember {
  child: ChildProcess | undefined;
  constructor(
    readonly name: string,
    readonly clientPort: number,
    readonly peerPort: number,
    readonly dataDir: string,
    readonly tls: EtcdTls | undefined,
  ) {}
  get clientUrl(): string {
    return `${this.tls === undefined ? 'http' : 'https'}://127.0.0.1:${this.clientPort}`;
  }
  get peerUrl(): string {
    return `http://127.0.0.1:${this.peerPort}`;
  }
  get pid(): number | undefined {
    return this.child === undefined || hasExited(this.child) ? undefined : this.child.pid;
  }
  get logFile(): string {
    return `${this.dataDir}.log`;
  }
}

async function healthy(member: Member): Promise<boolean> {
  const url = `${member.clientUrl}/health`;
  try {
    const tls = member.tls;
    const body =
      tls === undefined
        ? await (await fetch(url, { signal: AbortSignal.timeout(HEALTH_REQUEST_MS) })).text()
        : await httpsGet(url, tls);
    const parsed = JSON.parse(body) as { health?: unknown };
    return parsed.health === 'true' || parsed.health === true;
  } catch {
    return false;
  }
}

/** Maintenance.Status of one member through etcd's JSON gateway (plain http members only). */
async function memberStatus(
  member: Member,
): Promise<{ leader?: string; header?: { member_id?: string } }> {
  if (member.tls !== undefined) throw new Error('memberStatus: plain http members only');
  const response = await fetch(`${member.clientUrl}/v3/maintenance/status`, {
    method: 'POST',
    body: '{}',
    signal: AbortSignal.timeout(HEALTH_REQUEST_MS),
  });
  return (await response.json()) as { leader?: string; header?: { member_id?: string } };
}

/** GET over https with the test CA (and client certificate): fetch cannot be given a CA. */
function httpsGet(url: string, tls: EtcdTls): Promise<string> {
  return new Promise((resolve, reject) => {
    const req = request(
      url,
      {
        ca: readFileSync(tls.ca),
        ...(tls.client === undefined
          ? {}
          : { cert: readFileSync(tls.client.cert), key: readFileSync(tls.client.key) }),
        timeout: HEALTH_REQUEST_MS,
      },
      (response) => {
        let text = '';
        response.setEncoding('utf8');
        response.on('data', (chunk: string) => (text += chunk));
        response.on('end', () => resolve(text));
        response.on('error', reject);
      },
    );
    req.on('timeout', () => req.destroy(new Error('health request timed out')));
    req.on('error', reject);
    req.end();
  });
}

/**
 * Starts a 3-member cluster (or `size` members) and resolves once every member is healthy.
 * freePort() hands out a port that was free a moment ago: with tests running in parallel another
 * process may bind it before etcd does (seen in CI: "bind: address already in use"), so such a
 * start is tried again on new ports, twice at most.
 */
export async function startEtcdCluster(
  options: { size?: number; tls?: EtcdTls } = {},
): Promise<EtcdCluster> {
  for (let attempt = 1; ; attempt += 1) {
    try {
      return await startEtcdClusterOnce(options);
    } catch (error) {
      const message = error instanceof Error ? error.message : String(error);
      if (attempt >= 3 || !message.includes('address already in use')) throw error;
    }
  }
}

async function startEtcdClusterOnce(
  options: { size?: number; tls?: EtcdTls } = {},
): Promise<EtcdCluster> {
  const size = options.size ?? 3;
  const tls = options.tls;
  const tlsArgs =
    tls === undefined
      ? []
      : [
          `--cert-file=${tls.server.cert}`,
          `--key-file=${tls.server.key}`,
          `--trusted-ca-file=${tls.ca}`,
          ...(tls.client === undefined ? [] : ['--client-cert-auth']),
        ];
  const root = mkdtempSync(join(tmpdir(), 'rbuddy-etcd-'));
  const members: Member[] = [];
  for (let index = 0; index < size; index += 1) {
    members.push(
      new Member(`m${index}`, await freePort(), await freePort(), join(root, `m${index}`), tls),
    );
  }
  const initialCluster = members.map((m) => `${m.name}=${m.peerUrl}`).join(',');
  const forwarderSets: FaultForwarder[] = [];

  const launch = async (member: Member): Promise<void> => {
    const log = await open(member.logFile, 'a');
    // A restart reuses the data dir: etcd then ignores the --initial-* flags and rejoins.
    const child = spawn(
      'etcd',
      [
        `--name=${member.name}`,
        `--data-dir=${member.dataDir}`,
        `--listen-client-urls=${member.clientUrl}`,
        `--advertise-client-urls=${member.clientUrl}`,
        `--listen-peer-urls=${member.peerUrl}`,
        `--initial-advertise-peer-urls=${member.peerUrl}`,
        `--initial-cluster=${initialCluster}`,
        '--initial-cluster-state=new',
        `--initial-cluster-token=${root}`,
        // etcd's defaults (100 ms, 1 s): a lost member's replacement leader within seconds.
        '--heartbeat-interval=100',
        '--election-timeout=1000',
        ...tlsArgs,
        '--logger=zap',
        '--log-outputs=stderr',
      ],
      { stdio: ['ignore', log.fd, log.fd] },
    );
    // Listen before anything else is awaited: 'spawn' fires on the next turns of the loop.
    const spawned = new Promise<void>((resolve, reject) => {
      child.once('spawn', resolve);
      child.once('error', (error) =>
        reject(
          new Error(`cannot start etcd (${error.message}): is etcd-server installed?`, {
            cause: error,
          }),
        ),
      );
    });
    trackChild(child);
    member.child = child;
    try {
      await spawned;
    } finally {
      await log.close();
    }
  };

  const logTail = async (index: number, lines = 30): Promise<string> => {
    const member = members[index];
    if (member === undefined) return '';
    const text = await readFile(member.logFile, 'utf8').catch(() => '');
    return text.trimEnd().split('\n').slice(-lines).join('\n');
  };

  const waitHealthy = async (index: number, timeoutMs = START_TIMEOUT_MS): Promise<void> => {
    const member = at(index);
    await waitFor(() => healthy(member), {
      what: `etcd member ${member.name} healthy`,
      timeoutMs,
      intervalMs: 100,
      explain: () => logTail(index),
    });
  };

  const at = (index: number): Member => {
    const member = members[index];
    if (member === undefined) throw new Error(`no etcd member ${index}`);
    return member;
  };

  const close = async (): Promise<void> => {
    await Promise.allSettled(forwarderSets.map((f) => f.close()));
    await Promise.allSettled(
      members.flatMap((m) => (m.child === undefined ? [] : [killHard(m.child)])),
    );
    rmSync(root, { recursive: true, force: true });
  };

  try {
    // Every member must run before any can be healthy: a quorum needs two of them.
    for (const member of members) await launch(member);
    for (let index = 0; index < size; index += 1) await waitHealthy(index);
  } catch (error) {
    const tails = await Promise.all(members.map((_, i) => logTail(i, 10)));
    await close();
    throw new Error(`etcd cluster did not start: ${String(error)}\n${tails.join('\n---\n')}`, {
      cause: error,
    });
  }

  return {
    members,
    clientUrls: members.map((m) => m.clientUrl),
    async stop(index) {
      const child = at(index).child;
      if (child !== undefined) await terminate(child);
    },
    async kill9(index) {
      const child = at(index).child;
      if (child !== undefined) await killHard(child);
    },
    async start(index) {
      const member = at(index);
      if (member.pid !== undefined) throw new Error(`etcd member ${member.name} is running`);
      await launch(member);
      await waitHealthy(index);
    },
    pause(index) {
      at(index).child?.kill('SIGSTOP');
    },
    resume(index) {
      at(index).child?.kill('SIGCONT');
    },
    raftLeader: () =>
      waitFor(
        async () => {
          for (const [index, member] of members.entries()) {
            if (member.pid === undefined) continue;
            const status = await memberStatus(member).catch(() => undefined);
            // An object: waitFor takes a falsy answer (member 0) for "not yet".
            if (status !== undefined && status.leader === status.header?.member_id)
              return { index };
          }
          return undefined;
        },
        { what: 'an etcd member that leads the raft', timeoutMs: START_TIMEOUT_MS },
      ).then(({ index }) => index),
    waitHealthy,
    async forwarders() {
      const all = await Promise.all(
        members.map((m) =>
          startFaultForwarder({ target: { host: '127.0.0.1', port: m.clientPort } }),
        ),
      );
      forwarderSets.push(...all);
      return { urls: all.map((f) => `http://${f.address}`), all };
    },
    logTail,
    close,
  };
}
