// ReplicaSession driven directly with in-memory peers: what goes upstream in the handshake,
// what reaches the replica (and what does not), events, offsets, ACKs, refusals, the gate and
// the drain timeout.
import assert from 'node:assert/strict';
import type { Duplex } from 'node:stream';
import { describe, test } from 'node:test';
import { pino } from 'pino';
import { UpstreamConnectError } from '../../src/errors.js';
import { ReplicaSession } from '../../src/proxy/replica-session.js';
import { encodeCommand } from '../../src/resp/encode.js';
import type {
  FullSyncStart,
  ReplicaHello,
  SessionEvent,
  SyncGate,
} from '../../src/proxy/session-types.js';
import { collect, duplexPair } from '../helpers/duplex-pair.js';
import { streamLink } from '../helpers/stream-link.js';
import { waitFor } from '../../harness/wait-for.js';

const REPLID = 'a'.repeat(40);
const silent = pino({ level: 'silent' });

function hello(overrides: Partial<ReplicaHello> = {}): ReplicaHello {
  return {
    listeningPort: 6380,
    announcedIp: undefined,
    capabilities: ['eof', 'psync2', 'dual-channel'],
    request: { kind: 'psync', replid: '?', offset: -1 },
    peer: { address: '127.0.0.1', port: 50000 },
    ...overrides,
  };
}

function setup(
  options: {
    hello?: ReplicaHello;
    gate?: SyncGate;
    auth?: { user: string; password: string };
    connect?: () => Promise<Duplex>;
    replTimeoutMs?: number;
    highWaterMark?: number;
  } = {},
) {
  const [replicaEnd, proxyDownstream] = duplexPair(options.highWaterMark);
  const [masterEnd, proxyUpstream] = duplexPair(options.highWaterMark);
  const events: SessionEvent[] = [];
  const session = new ReplicaSession({
    id: 's1',
    node: { id: '127.0.0.1:6380', host: '127.0.0.1', port: 6380 },
    hello: options.hello ?? hello(),
    downstream: proxyDownstream,
    connectUpstream: () =>
      (options.connect ?? (() => Promise.resolve(proxyUpstream)))().then(streamLink),
    upstreamAuth: options.auth,
    replTimeoutMs: options.replTimeoutMs ?? 60_000,
    gate: options.gate,
    logger: silent,
  });
  session.on('event', (event) => events.push(event));
  return { session, events, replicaEnd, masterEnd };
}

describe('ReplicaSession', () => {
  test('sends the handshake upstream and relays everything from the PSYNC reply on, untouched', async () => {
    const { session, events, replicaEnd, masterEnd } = setup({
      auth: { user: 'proxy', password: 'pw' },
    });
    const atMaster = collect(masterEnd);
    const atReplica = collect(replicaEnd);
    await session.start();
    await waitFor(() => atMaster.bytes().includes('capa'), { what: 'the REPLCONFs upstream' });
    const prelude = atMaster.bytes().toString();
    assert.match(prelude, /AUTH\r\n\$5\r\nproxy\r\n\$2\r\npw\r\n/);
    assert.match(prelude, /listening-port\r\n\$4\r\n6380\r\n/);
    assert.match(prelude, /ip-address\r\n\$9\r\n127\.0\.0\.1\r\n/);
    assert.ok(!prelude.includes('dual-channel'), 'dual-channel capability stripped');
    assert.ok(!prelude.includes('PSYNC'), 'PSYNC waits for the handshake replies');

    // Replies to AUTH and the three REPLCONFs are the proxy's own; they never reach the replica.
    masterEnd.write('+OK\r\n+OK\r\n-ERR unknown option\r\n');
    masterEnd.write('+OK\r\n');
    await waitFor(() => atMaster.bytes().includes('PSYNC'), { what: 'the PSYNC upstream' });
    assert.match(atMaster.bytes().toString(), /PSYNC\r\n\$1\r\n\?\r\n\$2\r\n-1\r\n$/);
    const relayed = `\n\n+FULLRESYNC ${REPLID} 100\r\n\n$5\r\nhello` + '*1\r\n$4\r\nPING\r\n';
    masterEnd.write(relayed);
    await waitFor(() => atReplica.bytes().length === Buffer.byteLength(relayed), {
      what: 'the relayed bytes',
    });
    assert.equal(atReplica.bytes().toString(), relayed);
    assert.deepEqual(
      events.map((e) => e.type),
      ['upstream-connected', 'psync-reply', 'snapshot-started', 'snapshot-finished', 'streaming'],
    );
    const status = session.status();
    assert.equal(status.phase, 'streaming');
    assert.equal(status.replid, REPLID);
    assert.equal(status.offset, 100 + 14);
    assert.equal(status.keepalives, 3);
    assert.deepEqual(
      status.snapshot && { size: status.snapshot.size, transferred: status.snapshot.transferred },
      {
        size: 5,
        transferred: 5,
      },
    );

    // ACKs go up untouched and are tracked, in any letter case as Redis reads commands; a
    // look-alike goes up too but is no ACK.
    const lookAlike = '*3\r\n$8\r\nREPLCONX\r\n$3\r\nACK\r\n$3\r\n999\r\n';
    const ack = '*3\r\n$8\r\nRepLconf\r\n$3\r\naCK\r\n$3\r\n114\r\n';
    const before = atMaster.bytes().length;
    replicaEnd.write(lookAlike + ack);
    await waitFor(() => session.status().lastAck?.offset === 114, { what: 'the ACK' });
    assert.equal(atMaster.bytes().subarray(before).toString(), lookAlike + ack);
    assert.deepEqual(
      events.filter((e) => e.type === 'ack'),
      [{ type: 'ack', offset: 114 }],
    );
    assert.equal(session.status().lagBytes, 0);
    assert.equal(session.status().lagMs, 0);
    session.close('shutdown');
  });

  test('+CONTINUE resumes at the offset the replica asked for', async () => {
    const { session, replicaEnd, masterEnd } = setup({
      hello: hello({ request: { kind: 'psync', replid: REPLID, offset: 5001 } }),
    });
    const atReplica = collect(replicaEnd);
    await session.start();
    masterEnd.write('+OK\r\n+OK\r\n+OK\r\n+CONTINUE\r\n*1\r\n$4\r\nPING\r\n');
    await waitFor(() => session.status().phase === 'streaming', { what: 'streaming' });
    await waitFor(() => session.status().offset === 5000 + 14, { what: 'the offset' });
    assert.equal(session.status().replid, REPLID);
    assert.equal(atReplica.bytes().toString(), '+CONTINUE\r\n*1\r\n$4\r\nPING\r\n');
    session.close('shutdown');
  });

  test('a gate that says close: the +FULLRESYNC never reaches the replica', async () => {
    const { session, events, replicaEnd, masterEnd } = setup({ gate: () => 'close' });
    const atReplica = collect(replicaEnd);
    await session.start();
    masterEnd.write(`+OK\r\n+OK\r\n+OK\r\n+FULLRESYNC ${REPLID} 7\r\n$3\r\nabc`);
    await waitFor(() => session.isClosed, { what: 'the session to close' });
    assert.equal(atReplica.bytes().length, 0);
    const closed = events.find((e) => e.type === 'closed');
    assert.equal(closed?.type === 'closed' ? closed.reason : undefined, 'gated');
  });

  test('inline SYNC after a refused PSYNC: the gate decides on the snapshot header', async () => {
    // An ACL without `psync` answers -NOPERM; the replica falls back to SYNC on the same
    // connection and the master starts a snapshot with no +FULLRESYNC line before it.
    const seen: FullSyncStart[] = [];
    const { session, events, replicaEnd, masterEnd } = setup({
      gate: (_session, start) => {
        seen.push(start);
        return 'close';
      },
    });
    const atReplica = collect(replicaEnd);
    const atMaster = collect(masterEnd);
    await session.start();
    masterEnd.write(
      "+OK\r\n+OK\r\n+OK\r\n-NOPERM this user has no permissions to run the 'psync' command\r\n",
    );
    await waitFor(() => atReplica.bytes().includes('NOPERM'), { what: 'the PSYNC error relayed' });
    replicaEnd.write('SYNC\r\n');
    await waitFor(() => atMaster.bytes().toString().endsWith('SYNC\r\n'), {
      what: 'the SYNC relayed to the master',
    });
    // Split the header across writes: the gate must decide before any snapshot byte goes out.
    masterEnd.write('$1');
    masterEnd.write('0\r\nabcdefghij');
    await waitFor(() => session.isClosed, { what: 'the session to close' });
    assert.deepEqual(seen, [{ via: 'sync' }]);
    assert.ok(!atReplica.bytes().includes('$10'), 'no snapshot byte reached the replica');
    const closed = events.find((e) => e.type === 'closed');
    assert.equal(closed?.type === 'closed' ? closed.reason : undefined, 'gated');
  });

  test('a master that cannot be reached: the replica is told NOMASTERLINK and closed', async () => {
    const { session, events, replicaEnd } = setup({
      connect: () => Promise.reject(new UpstreamConnectError('refused')),
    });
    const atReplica = collect(replicaEnd);
    await session.start();
    await waitFor(() => atReplica.bytes().length > 0, { what: 'the refusal' });
    assert.match(atReplica.bytes().toString(), /^-NOMASTERLINK /);
    const closed = events.find((e) => e.type === 'closed');
    assert.equal(closed?.type === 'closed' ? closed.reason : undefined, 'upstream-unavailable');
    assert.equal(
      closed?.type === 'closed' ? (closed.error as { code?: string } | undefined)?.code : undefined,
      'RBUDDY_ERR_UPSTREAM_CONNECT',
    );
  });

  test('the master refusing the proxy AUTH: NOMASTERLINK to the replica, nothing relayed', async () => {
    const { session, events, replicaEnd, masterEnd } = setup({ auth: { user: '', password: 'x' } });
    const atReplica = collect(replicaEnd);
    await session.start();
    masterEnd.write('-WRONGPASS invalid username-password pair\r\n');
    await waitFor(() => session.isClosed, { what: 'the session to close' });
    assert.match(atReplica.bytes().toString(), /^-NOMASTERLINK /);
    const closed = events.find((e) => e.type === 'closed');
    assert.equal(closed?.type === 'closed' ? closed.reason : undefined, 'psync-refused');
  });

  test('a replica that stops reading is dropped after the drain timeout, with a coded error', async () => {
    const { session, events, replicaEnd, masterEnd } = setup({
      replTimeoutMs: 200,
      highWaterMark: 1024,
    });
    replicaEnd.pause();
    await session.start();
    masterEnd.write(`+OK\r\n+OK\r\n+OK\r\n+FULLRESYNC ${REPLID} 0\r\n$1000000\r\n`);
    // In socket-sized pieces: the proxy holds at most one piece beyond its buffer limit.
    for (let i = 0; i < 50; i++) masterEnd.write(Buffer.alloc(4096, 1));
    await waitFor(() => session.isClosed, { what: 'the stuck replica to be dropped' });
    const closed = events.find((e) => e.type === 'closed');
    assert.equal(closed?.type === 'closed' ? closed.reason : undefined, 'replica-stuck');
    assert.equal(
      closed?.type === 'closed' ? (closed.error as { code?: string } | undefined)?.code : undefined,
      'RBUDDY_ERR_REPLICA_DRAIN_TIMEOUT',
    );
    // It held back the master instead of buffering the snapshot.
    const peak = session.status().buffered.peakToReplica;
    assert.ok(peak > 0 && peak < 16 * 1024, `peak buffered ${peak}`);
  });

  test('a master silent for repl-timeout is lost, though the replica keeps ACKing upstream', async () => {
    const { session, events, replicaEnd, masterEnd } = setup({ replTimeoutMs: 100 });
    await session.start();
    masterEnd.write('+OK\r\n+OK\r\n+OK\r\n+CONTINUE\r\n');
    await waitFor(() => session.status().phase === 'streaming', { what: 'streaming' });
    // The replica ACKs as a replica does; the master says nothing more.
    const acks = setInterval(() => replicaEnd.write(encodeCommand(['REPLCONF', 'ACK', '0'])), 10);
    try {
      await waitFor(() => session.isClosed, { what: 'the silent master to be given up' });
    } finally {
      clearInterval(acks);
    }
    const lost = events.find((e) => e.type === 'upstream-lost');
    assert.equal(
      lost?.type === 'upstream-lost' ? (lost.error as { code?: string }).code : undefined,
      'RBUDDY_ERR_UPSTREAM_TIMEOUT',
    );
    assert.ok(session.status().lastAck !== null, 'the ACKs did reach the session');
  });

  test('a streaming replica silent for repl-timeout is dropped, though its socket never closed', async () => {
    const { session, events, masterEnd } = setup({ replTimeoutMs: 100 });
    await session.start();
    masterEnd.write('+OK\r\n+OK\r\n+OK\r\n+CONTINUE\r\n');
    await waitFor(() => session.status().phase === 'streaming', { what: 'streaming' });
    // The master keeps talking; the replica (a dead peer, as after a partition) says nothing.
    const pings = setInterval(() => masterEnd.write(encodeCommand(['PING'])), 10);
    try {
      await waitFor(() => session.isClosed, { what: 'the silent replica to be dropped' });
    } finally {
      clearInterval(pings);
    }
    const closed = events.find((e) => e.type === 'closed');
    assert.equal(closed?.type === 'closed' ? closed.reason : undefined, 'replica-timeout');
    assert.equal(
      closed?.type === 'closed' ? (closed.error as { code?: string } | undefined)?.code : undefined,
      'RBUDDY_ERR_REPLICA_TIMEOUT',
    );
  });

  test('the master hanging up mid-stream: upstream-lost, then closed', async () => {
    const { session, events, masterEnd } = setup();
    await session.start();
    masterEnd.write('+OK\r\n+OK\r\n+OK\r\n+CONTINUE\r\n');
    await waitFor(() => session.status().phase === 'streaming', { what: 'streaming' });
    masterEnd.destroy();
    await waitFor(() => session.isClosed, { what: 'the session to close' });
    assert.deepEqual(
      events.slice(-2).map((e) => e.type),
      ['upstream-lost', 'closed'],
    );
  });
});
