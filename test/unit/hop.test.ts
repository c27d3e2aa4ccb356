// The Hop's flow control on plain streams: a full sink pauses the source until it drains, a
// sink that never drains is declared stuck, and holdSource() pauses reading for a moment
// without ever resuming a source that waits for the sink.
import assert from 'node:assert/strict';
import { Duplex, PassThrough } from 'node:stream';
import { describe, test } from 'node:test';
import { Hop } from '../../src/proxy/hop.js';
import { waitFor } from '../../harness/wait-for.js';

/** A sink whose writes complete only when `release()` is called. */
function heldSink(highWaterMark = 4): { sink: Duplex; release: () => void } {
  const pending: Array<() => void> = [];
  const sink = new Duplex({
    writableHighWaterMark: highWaterMark,
    read() {},
    write(_chunk, _encoding, callback) {
      pending.push(callback);
    },
  });
  return {
    sink,
    release() {
      for (const callback of pending.splice(0)) callback();
    },
  };
}

function hop(
  sink: Duplex,
  options: { drainTimeoutMs?: number; onStuck?: () => void } = {},
): { hop: Hop; source: PassThrough } {
  const source = new PassThrough();
  source.resume();
  const created = new Hop({
    source,
    sink,
    drainTimeoutMs: options.drainTimeoutMs ?? 60_000,
    onStuck: options.onStuck ?? (() => assert.fail('stuck')),
  });
  return { hop: created, source };
}

describe('Hop', () => {
  test('a full sink pauses the source; the drain resumes it', async () => {
    const { sink, release } = heldSink();
    const { hop: h, source } = hop(sink);
    h.write(Buffer.from('0123456789'));
    assert.ok(source.isPaused(), 'paused while the sink is full');
    assert.ok(h.waitingForDrain);
    release();
    await waitFor(() => !source.isPaused(), { what: 'the source to resume' });
    assert.equal(h.waitingForDrain, false);
    assert.equal(h.bytes, 10);
    h.dispose();
  });

  test('a sink that never drains is declared stuck after the drain timeout', async () => {
    const { sink } = heldSink();
    let stuck = 0;
    const { hop: h } = hop(sink, { drainTimeoutMs: 20, onStuck: () => (stuck += 1) });
    h.write(Buffer.from('0123456789'));
    await waitFor(() => stuck === 1, { what: 'onStuck' });
    h.dispose();
  });

  test('holdSource pauses reading, then resumes it by itself', async () => {
    const { hop: h, source } = hop(new PassThrough().resume());
    h.holdSource(20);
    assert.ok(source.isPaused());
    await waitFor(() => !source.isPaused(), { what: 'the source to resume after the hold' });
    h.dispose();
  });

  test('a hold never resumes a source that waits for the sink, and a drain waits for the hold', async () => {
    const { sink, release } = heldSink();
    const { hop: h, source } = hop(sink);
    h.write(Buffer.from('0123456789'));
    h.holdSource(1); // ignored: the source is paused for the sink already
    await new Promise((resolve) => setTimeout(resolve, 20));
    assert.ok(source.isPaused(), 'still waiting for the sink');
    release();
    await waitFor(() => !source.isPaused(), { what: 'the drain to resume the source' });

    h.holdSource(50);
    h.write(Buffer.from('abcdefghij'));
    release();
    await new Promise((resolve) => setImmediate(resolve));
    assert.ok(source.isPaused(), 'the drain did not cut the hold short');
    await waitFor(() => !source.isPaused(), { what: 'the hold to end' });
    h.dispose();
  });
});
