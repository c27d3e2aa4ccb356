// The bench's verdicts against HAProxy (bench/verdicts.ts): the arithmetic behind each PASS,
// FAIL and NOT SETTLED, and the order in which rbuddy and the reference relays alternate.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { relayOrder } from '../../bench/relay.js';
import {
  cpuVerdict,
  pairs,
  ratioVerdict,
  rssVerdict,
  syncVerdict,
  verdictLine,
  waitVerdict,
} from '../../bench/verdicts.js';

describe('bench verdicts: pairs', () => {
  it('pairs runs of the same repetition and drops those missing either side', () => {
    assert.deepEqual(pairs([1, 2, NaN, 4], [10, 20, 30]), [
      [1, 10],
      [2, 20],
    ]);
    assert.deepEqual(pairs([], [1]), []);
  });
});

describe('bench verdicts: full sync', () => {
  it('passes at exactly 1.03 × HAProxy, judged on the medians', () => {
    // Medians: rbuddy 10.3, HAProxy 10 (one outlier each side does not move them).
    const verdict = syncVerdict('disk', [10.3, 10.3, 99, 1], [10, 10, 1, 99]);
    assert.equal(verdict.state, 'PASS');
    assert.match(verdict.text, /rbuddy 10\.30 s, HAProxy 10\.00 s/);
    assert.match(verdict.text, /4 rbuddy\/HAProxy pairs/);
    assert.match(verdict.text, /1\.030 × HAProxy, target ≤ 1\.03 × HAProxy/);
  });

  it('fails just above 1.03', () => {
    const verdict = syncVerdict('diskless', [10.31, 10.31, 10.31, 10.31], [10, 10, 10, 10]);
    assert.equal(verdict.state, 'FAIL');
    assert.match(verdict.text, /1\.031 × HAProxy/);
  });

  it('settles nothing on fewer than 4 pairs, however good the figures', () => {
    const verdict = syncVerdict('disk', [1, 1, 1, 1], [10, 10, 10]);
    assert.equal(verdict.state, 'NOT SETTLED');
    assert.match(verdict.text, /3 rbuddy\/HAProxy pairs, at least 4 needed/);
  });

  it('says why when the mode was skipped or HAProxy missing', () => {
    const skipped = syncVerdict('diskless', undefined, undefined, undefined, 'time budget');
    assert.equal(skipped.state, 'NOT SETTLED');
    assert.match(skipped.text, /not measured \(time budget\)/);
    const missing = syncVerdict('disk', [1, 1, 1, 1], undefined, 'haproxy is not installed');
    assert.equal(missing.state, 'NOT SETTLED');
    assert.match(missing.text, /HAProxy not measured \(haproxy is not installed\)/);
  });

  it('gives the median of the ratios within pairs beside the verdict', () => {
    const verdict = ratioVerdict({
      target: 't',
      rbuddy: [2, 3, 4],
      haproxy: [1, 3, 8],
      maxRatio: 1,
      minPairs: 1,
      unit: 's',
      digits: 1,
      what: 'median',
    });
    // Medians 3 / 3 = 1 (PASS); the ratios within pairs 2, 1, 0.5 have median 1.
    assert.equal(verdict.state, 'PASS');
    assert.match(verdict.text, /within pairs: median 1\.000/);
  });
});

describe('bench verdicts: WAIT p99 and CPU', () => {
  it('judges WAIT p99 against 1.10 × HAProxy', () => {
    assert.equal(waitVerdict([1.1, 1.1], [1, 1]).state, 'PASS');
    const fail = waitVerdict([1.2, 1.11, 1.3], [1, 1, 1]);
    assert.equal(fail.state, 'FAIL');
    assert.match(fail.text, /rbuddy 1\.200 ms, HAProxy 1\.000 ms/);
    assert.match(fail.text, /3 rbuddy\/HAProxy pairs/);
  });

  it('judges CPU per GB against HAProxy itself', () => {
    assert.equal(cpuVerdict([0.9, 1.0, 0.9, 1.0], [1.0, 0.95, 1.0, 0.95]).state, 'PASS');
    assert.equal(cpuVerdict([1.01, 1.01, 1.01, 1.01], [1.0, 1.0, 1.0, 1.0]).state, 'FAIL');
    assert.equal(cpuVerdict([], []).state, 'NOT SETTLED');
    // One pair, or syncs too small to count ticks (reviewer R11d, D6: 3 ticks against 1 FAILed).
    assert.equal(cpuVerdict([3], [1]).state, 'NOT SETTLED');
    const small = cpuVerdict([3, 3, 3, 3], [1, 1, 1, 1], undefined, 8.4e6);
    assert.equal(small.state, 'NOT SETTLED');
    assert.match(small.text, /too few clock ticks/);
    assert.equal(cpuVerdict([0.9, 0.9, 0.9, 0.9], [1, 1, 1, 1], undefined, 1.1e9).state, 'PASS');
  });
});

describe('bench verdicts: peak RSS', () => {
  it('judges the highest peak on a snapshot of 1 GB or more', () => {
    assert.equal(rssVerdict([80e6, 99.9e6], 1.1e9).state, 'PASS');
    const fail = rssVerdict([80e6, 100.1e6], 1.1e9);
    assert.equal(fail.state, 'FAIL');
    assert.match(fail.text, /peak 100\.1 MB \(highest of 2 full syncs, a 1\.10 GB snapshot\)/);
  });

  it('does not claim the target on a smaller snapshot, pass or fail', () => {
    for (const peak of [50e6, 150e6]) {
      const verdict = rssVerdict([peak], 0.27e9);
      assert.equal(verdict.state, 'NOT SETTLED');
      assert.match(verdict.text, /a 0\.27 GB snapshot: not settled at this size/);
    }
    assert.equal(rssVerdict([50e6], null).state, 'NOT SETTLED');
    assert.equal(rssVerdict([], 2e9).state, 'NOT SETTLED');
  });

  it('prints one line per verdict, state first', () => {
    assert.match(verdictLine(rssVerdict([50e6], 2e9)), /^PASS — proxy peak RSS relaying a 1 GB/);
  });
});

describe('bench verdicts: run order', () => {
  it('alternates rbuddy and each reference relay from one repetition to the next (ABBA)', () => {
    const references = ['bare-relay', 'haproxy'] as const;
    assert.deepEqual(relayOrder(0, references), ['proxied', 'bare-relay', 'haproxy']);
    assert.deepEqual(relayOrder(1, references), ['haproxy', 'bare-relay', 'proxied']);
    assert.deepEqual(relayOrder(2, references), relayOrder(0, references));
    assert.deepEqual(relayOrder(1, []), ['proxied']);
  });
});
