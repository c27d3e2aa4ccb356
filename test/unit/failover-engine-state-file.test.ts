// The real FailoverEngine (observe → decide → act) driven with fakes (test/helpers/engine-
// harness.ts): a bad state file, and no state file (roles from the nodes).
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { WRITE_GUARD } from '../../src/standby/node-ops.js';
import {
  FakeNodeOps,
  idleMasterModel,
  ORIGINAL_CONFIG,
  replicaModel,
} from '../helpers/fake-node-ops.js';
import { waitFor } from '../../harness/wait-for.js';
import {
  stateDir,
  healthyNodes,
  countingLoops,
  startEngine,
  loseMaster,
  A,
  psync,
  FULLRESYNC,
  WAIT,
  B,
  healthyState,
  onDisk,
  waitForAttached,
  waitTicks,
} from '../helpers/engine-harness.js';

describe('FailoverEngine: bad state files', () => {
  test('a corrupt state file: degraded naming the file, and no node operation but INFO, ever', async () => {
    const garbage = '{"version":1,"epoch":3,"active":"10.0.0.5:6379",';
    const dir = await stateDir(garbage);
    const ops = healthyNodes();
    const loops = countingLoops();
    const h = await startEngine({ dir, ops, config: { graceMs: 0 }, patch: loops.patch });
    const file = join(dir, 'state.json');

    const status = h.engine.status();
    assert.equal(status.state, 'degraded');
    assert.ok(status.reason?.includes(file), `the reason names ${file}: ${status.reason ?? ''}`);
    assert.match(status.reason ?? '', /not valid JSON/);

    // Everything that would otherwise act: the master lost, the active's upstream lost, a full
    // resync demand, an operator.
    loseMaster(h);
    h.proxy.connect(A);
    h.proxy.loseUpstream(A, 'master gone');
    assert.equal(psync(h, A, FULLRESYNC), 'close');
    const answer = h.engine.request('failover');
    assert.ok(!answer.accepted && answer.reason.includes(file));
    const start = loops.rounds();
    await waitFor(() => loops.rounds() >= start + 20, { what: '20 rounds of the loop', ...WAIT });

    assert.deepEqual(ops.operations(), [], 'no node operation but INFO');
    assert.equal(h.engine.state, 'degraded');
    assert.equal(h.engine.ready(), false);
    // Discovery names the node the nodes show serving: A replicates from the proxy with data.
    assert.deepEqual(h.engine.roles(), { active: A.id, standby: B.id });
    assert.equal(h.events.length, 0, 'no event announces anything');
    assert.equal(await readFile(file, 'utf8'), garbage, 'the file is left for the operator');
  });

  test('a state file naming other nodes than the configuration: degraded, nothing done', async () => {
    const dir = await stateDir({ ...healthyState(), active: '10.9.9.9:6379' });
    const ops = healthyNodes();
    const loops = countingLoops();
    const h = await startEngine({ dir, ops, patch: loops.patch });
    const status = h.engine.status();
    assert.equal(status.state, 'degraded');
    assert.match(status.reason ?? '', /10\.9\.9\.9:6379/);
    assert.ok(status.reason?.includes(join(dir, 'state.json')));
    loseMaster(h);
    assert.equal(psync(h, A, FULLRESYNC), 'close');
    assert.equal(h.engine.request('failover').accepted, false);
    const start = loops.rounds();
    await waitFor(() => loops.rounds() >= start + 20, { what: '20 rounds of the loop', ...WAIT });
    assert.deepEqual(ops.operations(), []);
    assert.equal(h.engine.state, 'degraded');
  });
});

describe('FailoverEngine: no state file, roles from the nodes', () => {
  test('the configured standby serves: adopted as the active, nothing flushed, even with --init-flush-standby', async () => {
    const dir = await stateDir();
    const ops = new FakeNodeOps({
      [A.id]: idleMasterModel({ runId: 'run-a' }),
      [B.id]: replicaModel({ keys: 1000, runId: 'run-b' }),
    });
    const h = await startEngine({ dir, ops, config: { initFlushStandby: true } });
    await waitFor(() => h.engine.status().epoch !== null, { what: 'roles persisted', ...WAIT });
    h.proxy.stream(B);
    await waitFor(() => h.engine.state === 'healthy', { what: 'healthy', ...WAIT });
    // The adopted standby, an idle master (the former layout), is made the held standby, its
    // own settings read first; nothing else is done.
    assert.deepEqual(
      ops.operations(),
      [
        { op: 'configGet', node: A.id },
        { op: 'makeIdleStandby', node: A.id },
      ],
      'no node operation but holding the idle standby',
    );
    const disk = onDisk(dir);
    assert.deepEqual([disk.active, disk.standby, disk.epoch], [B.id, A.id, 0]);
    assert.equal(disk.activeHoldsData, true);
    assert.equal(h.events.length, 0, 'no role changed: nothing announced');
    assert.equal(psync(h, B, FULLRESYNC), 'close', 'I1 protects the adopted active');
  });

  test('an active found promoted: a stopped failover, degraded; a failover request resumes it', async () => {
    const dir = await stateDir();
    const ops = new FakeNodeOps({
      [A.id]: idleMasterModel({ keys: 1000, runId: 'run-a', config: { ...WRITE_GUARD } }),
      [B.id]: replicaModel({ keys: 0, linkUp: false, syncInProgress: true, runId: 'run-b' }),
    });
    const h = await startEngine({ dir, ops });
    await waitFor(() => h.engine.status().failover?.step === 'aborted', {
      what: 'the adopted failover',
      ...WAIT,
    });
    await waitFor(() => h.engine.state === 'degraded', { what: 'degraded', ...WAIT });
    assert.match(h.engine.status().reason ?? '', /no state file, but the nodes show 10\.0\.0\.5/);
    const record = onDisk(dir).failover;
    assert.deepEqual([record?.outgoing, record?.incoming], [A.id, B.id]);
    assert.deepEqual(record?.savedConfig, ORIGINAL_CONFIG, "Redis's defaults, to be restored");
    assert.deepEqual(
      ops.operations(),
      [
        { op: 'configGet', node: B.id },
        { op: 'makeIdleStandby', node: B.id },
      ],
      'only the empty replica: held as the idle standby, never detached (nils as a master)',
    );

    assert.equal(h.engine.request('failover').accepted, true);
    await waitForAttached(h);
    assert.deepEqual(ops.callsOf('flush'), []);
  });

  test('both nodes replicate from the proxy with data: degraded naming both, nothing written or done', async () => {
    const dir = await stateDir();
    const ops = new FakeNodeOps({
      [A.id]: replicaModel({ runId: 'run-a' }),
      [B.id]: replicaModel({ runId: 'run-b' }),
    });
    const h = await startEngine({ dir, ops, config: { initFlushStandby: true } });
    await waitFor(() => h.engine.state === 'degraded', { what: 'degraded', ...WAIT });
    await waitTicks(h, 3);
    assert.match(h.engine.status().reason ?? '', /both nodes may be serving reads/);
    assert.deepEqual(ops.operations(), []);
    assert.equal(h.engine.roles(), undefined, 'discovery names no one rather than guess');
    await assert.rejects(readFile(join(dir, 'state.json')), { code: 'ENOENT' });
    assert.equal(h.engine.request('failover').accepted, false);
  });
});
