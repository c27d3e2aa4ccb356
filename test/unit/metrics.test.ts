// The metrics module with a fake app status: names, labels and types as a scraper reads them
// (parsed by an independent parser), every engine state always present, failover results from
// events, and relay byte counters that stay monotonic while sessions come and go.
import assert from 'node:assert/strict';
import type { IncomingMessage } from 'node:http';
import { describe, test } from 'node:test';
import { adminRoutes } from '../../src/http/routes.js';
import { Metrics, RelayByteCounter, type MetricsSource } from '../../src/metrics/metrics.js';
import type { RbuddyEvent } from '../../src/notify/events.js';
import type { SessionStatus } from '../../src/proxy/session-types.js';
import { ENGINE_STATES, type EngineState } from '../../src/standby/states.js';
import { parsePrometheusText, sampleValue } from '../helpers/prom-text.js';

function session(
  id: string,
  replica: string,
  bytes: { fromMaster: number; toMaster: number },
  extra: Partial<SessionStatus> = {},
): SessionStatus {
  return {
    id,
    replica,
    peer: '127.0.0.1:1',
    phase: 'streaming',
    request: { kind: 'sync' },
    replid: null,
    offset: null,
    snapshot: null,
    lastAck: null,
    lagBytes: null,
    lagMs: null,
    bytes,
    keepalives: 0,
    buffered: { toReplica: 0, toMaster: 0, peakToReplica: 0, peakToMaster: 0 },
    connectedAt: new Date(0).toISOString(),
    ...extra,
  };
}

interface FakeStatus {
  state: EngineState;
  epoch: number | null;
  masterUp: boolean;
  failover: { startedAt: string } | null;
  sessions: SessionStatus[];
}

function fakeSource(): { source: MetricsSource; current: FakeStatus } {
  const current: FakeStatus = {
    state: 'healthy',
    epoch: 1,
    masterUp: true,
    failover: null,
    sessions: [],
  };
  return { current, source: { status: () => current, replicas: ['a:1', 'b:2'] } };
}

function event(type: RbuddyEvent['type'], reason?: string): RbuddyEvent {
  return {
    id: `id-${type}`,
    type,
    timestamp: new Date().toISOString(),
    group: 'g',
    epoch: 2,
    data: {
      active: 'a:1',
      standby: 'b:2',
      master: 'm:3',
      ...(reason === undefined ? {} : { reason }),
    },
  };
}

describe('RelayByteCounter', () => {
  test('adds only the growth of each session, and keeps it when sessions end and restart at 0', () => {
    const counter = new RelayByteCounter();
    counter.observe('s1', 100, 10);
    counter.observe('s1', 250, 15);
    assert.deepEqual(counter.total(), { toReplica: 250, toMaster: 15 });
    counter.observe('s1', 300, 20); // the final totals at close …
    counter.forget('s1'); // … then the session is gone
    counter.observe('s2', 40, 1); // a new session starts again at 0
    assert.deepEqual(counter.total(), { toReplica: 340, toMaster: 21 });
    counter.observe('s2', 40, 1); // the same totals again add nothing
    assert.deepEqual(counter.total(), { toReplica: 340, toMaster: 21 });
  });

  test('never goes down, whatever a session reports', () => {
    const counter = new RelayByteCounter();
    counter.observe('s1', 100, 10);
    counter.observe('s1', 50, 5);
    assert.deepEqual(counter.total(), { toReplica: 100, toMaster: 10 });
    counter.observe('s1', 120, 10);
    assert.deepEqual(counter.total(), { toReplica: 120, toMaster: 10 });
  });
});

describe('Metrics', () => {
  test('exposes every metric with HELP, TYPE and the documented labels', async () => {
    const { source, current } = fakeSource();
    current.sessions = [
      session('1', 'a:1', { fromMaster: 1000, toMaster: 30 }, { lagBytes: 42, lagMs: 1500 }),
      session('2', 'b:2', { fromMaster: 5, toMaster: 0 }, { phase: 'snapshot' }),
    ];
    const metrics = new Metrics(source);
    const parsed = parsePrometheusText(await metrics.render());
    const expected: Record<string, string> = {
      rbuddy_up: 'gauge',
      rbuddy_state: 'gauge',
      rbuddy_epoch: 'gauge',
      rbuddy_master_up: 'gauge',
      rbuddy_failovers_total: 'counter',
      rbuddy_failover_duration_seconds: 'histogram',
      rbuddy_relay_bytes_total: 'counter',
      rbuddy_session_phase: 'gauge',
      rbuddy_replica_lag_bytes: 'gauge',
      rbuddy_replica_lag_seconds: 'gauge',
      rbuddy_notifications_total: 'counter',
      rbuddy_outbox_pending: 'gauge',
      rbuddy_process_cpu_seconds_total: 'counter',
      rbuddy_process_resident_memory_bytes: 'gauge',
    };
    for (const [name, type] of Object.entries(expected)) {
      assert.equal(parsed.type.get(name), type, `TYPE of ${name}`);
      assert.ok((parsed.help.get(name) ?? '') !== '', `HELP of ${name}`);
    }
    // Every exposed name carries the prefix, so nothing from the global registry leaks in.
    for (const sample of parsed.samples) assert.match(sample.name, /^rbuddy_/);

    assert.equal(sampleValue(parsed, 'rbuddy_up'), 1);
    assert.equal(sampleValue(parsed, 'rbuddy_epoch'), 1);
    assert.equal(sampleValue(parsed, 'rbuddy_master_up'), 1);
    for (const state of ENGINE_STATES) {
      assert.equal(sampleValue(parsed, 'rbuddy_state', { state }), state === 'healthy' ? 1 : 0);
    }
    assert.equal(
      sampleValue(parsed, 'rbuddy_relay_bytes_total', { direction: 'to_replica' }),
      1005,
    );
    assert.equal(sampleValue(parsed, 'rbuddy_relay_bytes_total', { direction: 'to_master' }), 30);
    assert.equal(
      sampleValue(parsed, 'rbuddy_session_phase', { replica: 'a:1', phase: 'streaming' }),
      1,
    );
    assert.equal(
      sampleValue(parsed, 'rbuddy_session_phase', { replica: 'a:1', phase: 'snapshot' }),
      0,
    );
    assert.equal(
      sampleValue(parsed, 'rbuddy_session_phase', { replica: 'b:2', phase: 'snapshot' }),
      1,
    );
    assert.equal(sampleValue(parsed, 'rbuddy_replica_lag_bytes', { replica: 'a:1' }), 42);
    assert.equal(sampleValue(parsed, 'rbuddy_replica_lag_bytes', { replica: 'b:2' }), undefined);
    assert.equal(sampleValue(parsed, 'rbuddy_replica_lag_seconds', { replica: 'a:1' }), 1.5);
    assert.equal(sampleValue(parsed, 'rbuddy_replica_lag_seconds', { replica: 'b:2' }), undefined);
    for (const result of ['completed', 'aborted', 'failed']) {
      assert.equal(sampleValue(parsed, 'rbuddy_failovers_total', { result }), 0);
    }
    assert.equal(sampleValue(parsed, 'rbuddy_outbox_pending'), 0);
    // Every channel/result pair is there from the start, at 0: increase() of a series that is
    // born at 1 is 0, so an alert on the first webhook failure would never fire.
    for (const channel of ['webhook', 'pubsub', 'publish']) {
      for (const result of ['delivered', 'failed', 'dropped']) {
        assert.equal(
          sampleValue(parsed, 'rbuddy_notifications_total', { channel, result }),
          0,
          `${channel}/${result}`,
        );
      }
    }
  });

  test('follows the status between scrapes; a replica without a session is closed', async () => {
    const { source, current } = fakeSource();
    const metrics = new Metrics(source);
    current.state = 'failing-over';
    current.epoch = 7;
    current.masterUp = false;
    const parsed = parsePrometheusText(await metrics.render());
    assert.equal(sampleValue(parsed, 'rbuddy_state', { state: 'failing-over' }), 1);
    assert.equal(sampleValue(parsed, 'rbuddy_state', { state: 'healthy' }), 0);
    assert.equal(sampleValue(parsed, 'rbuddy_epoch'), 7);
    assert.equal(sampleValue(parsed, 'rbuddy_master_up'), 0);
    assert.equal(
      sampleValue(parsed, 'rbuddy_session_phase', { replica: 'a:1', phase: 'closed' }),
      1,
    );
    assert.equal(
      sampleValue(parsed, 'rbuddy_session_phase', { replica: 'b:2', phase: 'streaming' }),
      0,
    );
  });

  test('relay bytes stay monotonic across sessions, including bytes counted only at close', async () => {
    const { source, current } = fakeSource();
    const metrics = new Metrics(source);
    current.sessions = [session('1', 'a:1', { fromMaster: 100, toMaster: 10 })];
    let parsed = parsePrometheusText(await metrics.render());
    assert.equal(sampleValue(parsed, 'rbuddy_relay_bytes_total', { direction: 'to_replica' }), 100);
    // The session relays 50 more bytes, closes before the next scrape, and a new one starts.
    metrics.sessionClosed({ id: '1', bytes: { fromMaster: 150, toMaster: 12 } });
    current.sessions = [session('3', 'a:1', { fromMaster: 20, toMaster: 1 })];
    parsed = parsePrometheusText(await metrics.render());
    assert.equal(sampleValue(parsed, 'rbuddy_relay_bytes_total', { direction: 'to_replica' }), 170);
    assert.equal(sampleValue(parsed, 'rbuddy_relay_bytes_total', { direction: 'to_master' }), 13);
    current.sessions = [];
    parsed = parsePrometheusText(await metrics.render());
    assert.equal(sampleValue(parsed, 'rbuddy_relay_bytes_total', { direction: 'to_replica' }), 170);
  });

  test('failover results and durations come from the events', async () => {
    const { source, current } = fakeSource();
    let now = Date.parse('2026-01-01T00:00:10Z');
    const metrics = new Metrics(source, () => now);
    current.failover = { startedAt: '2026-01-01T00:00:07Z' };
    metrics.deliver(event('active.promoted'));
    metrics.deliver(event('failover.completed'));
    metrics.deliver(event('failover.failed', 'aborted by an operator'));
    metrics.deliver(event('failover.failed', 'the standby did not sync; retrying'));
    now += 1000;
    metrics.deliver(event('standby.ready'));
    const parsed = parsePrometheusText(await metrics.render());
    assert.equal(sampleValue(parsed, 'rbuddy_failovers_total', { result: 'completed' }), 1);
    assert.equal(sampleValue(parsed, 'rbuddy_failovers_total', { result: 'aborted' }), 1);
    assert.equal(sampleValue(parsed, 'rbuddy_failovers_total', { result: 'failed' }), 1);
    assert.equal(sampleValue(parsed, 'rbuddy_failover_duration_seconds_count'), 1);
    assert.equal(sampleValue(parsed, 'rbuddy_failover_duration_seconds_sum'), 3);
    assert.equal(sampleValue(parsed, 'rbuddy_failover_duration_seconds_bucket', { le: '2' }), 0);
    assert.equal(sampleValue(parsed, 'rbuddy_failover_duration_seconds_bucket', { le: '5' }), 1);
  });

  test("the RESP port's limits: refusals and closes by reason, and the input budget held", async () => {
    const { source, current } = fakeSource();
    const clients = {
      refused: { 'protected-mode': 0, 'max-clients': 3 },
      closed: { 'query-limit': 0, 'input-budget': 2, 'auth-timeout': 0 },
      input: { heldBytes: 4096 },
    };
    const metrics = new Metrics({ ...source, status: () => ({ ...current, clients }) });
    let parsed = parsePrometheusText(await metrics.render());
    assert.equal(parsed.type.get('rbuddy_client_connections_closed_total'), 'counter');
    assert.equal(parsed.type.get('rbuddy_client_connections_refused_total'), 'counter');
    assert.equal(parsed.type.get('rbuddy_client_input_held_bytes'), 'gauge');
    const closed = (reason: string): number | undefined =>
      sampleValue(parsed, 'rbuddy_client_connections_closed_total', { reason });
    // Every reason the status counts is a series from the start, at 0 if nothing happened.
    assert.equal(closed('query-limit'), 0);
    assert.equal(closed('input-budget'), 2);
    assert.equal(
      sampleValue(parsed, 'rbuddy_client_connections_refused_total', { reason: 'max-clients' }),
      3,
    );
    assert.equal(sampleValue(parsed, 'rbuddy_client_input_held_bytes'), 4096);

    clients.closed['input-budget'] = 5;
    clients.input.heldBytes = 0;
    parsed = parsePrometheusText(await metrics.render());
    assert.equal(closed('input-budget'), 5, 'what the status counted since, added');
    assert.equal(sampleValue(parsed, 'rbuddy_client_input_held_bytes'), 0);
  });

  test('notifications and the outbox are counted by whoever calls them', async () => {
    const { source } = fakeSource();
    const metrics = new Metrics(source);
    metrics.notification('publish', 'delivered');
    metrics.notification('publish', 'delivered');
    metrics.notification('publish', 'failed');
    metrics.notification('webhook', 'dropped');
    metrics.setOutboxPending(4);
    const parsed = parsePrometheusText(await metrics.render());
    assert.equal(
      sampleValue(parsed, 'rbuddy_notifications_total', {
        channel: 'publish',
        result: 'delivered',
      }),
      2,
    );
    assert.equal(
      sampleValue(parsed, 'rbuddy_notifications_total', { channel: 'publish', result: 'failed' }),
      1,
    );
    assert.equal(
      sampleValue(parsed, 'rbuddy_notifications_total', { channel: 'webhook', result: 'dropped' }),
      1,
    );
    assert.equal(sampleValue(parsed, 'rbuddy_outbox_pending'), 4);
  });

  test('two apps in one process keep separate numbers (own registries)', async () => {
    const first = new Metrics(fakeSource().source);
    const second = new Metrics(fakeSource().source);
    first.notification('publish', 'delivered');
    const parsed = parsePrometheusText(await second.render());
    assert.equal(
      sampleValue(parsed, 'rbuddy_notifications_total', {
        channel: 'publish',
        result: 'delivered',
      }),
      0,
    );
  });
});

describe('GET /metrics route', () => {
  const routes = (authReads: boolean) =>
    adminRoutes({
      token: 'reads-t0ken',
      authReads,
      status: () => ({}),
      // The /metrics handler never touches the engine: one that refuses everything.
      engine: {
        state: 'degraded',
        stopping: false,
        request: () => ({ accepted: false, reason: 'not in this test' }),
        roles: () => undefined,
        notReady: () => 'not in this test',
      },
      nodes: [],
      metrics: () => new Metrics(fakeSource().source).render(),
    }).find((route) => route.method === 'GET' && route.path === '/metrics');
  const request = (headers: Record<string, string>) => ({ headers }) as IncomingMessage;

  test('answers the exposition format, behind the bearer token with --http-auth-reads', async () => {
    const open = await routes(false)?.handler(request({}));
    assert.equal(open?.status, 200);
    assert.match(open?.headers?.['content-type'] ?? '', /^text\/plain; version=0\.0\.4/);
    assert.equal(sampleValue(parsePrometheusText(String(open?.body)), 'rbuddy_up'), 1);
    const refused = await routes(true)?.handler(request({}));
    assert.equal(refused?.status, 401);
    const allowed = await routes(true)?.handler(request({ authorization: 'Bearer reads-t0ken' }));
    assert.equal(allowed?.status, 200);
  });
});
