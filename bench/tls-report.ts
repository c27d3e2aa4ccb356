// The TLS part's report: its rows (the relay part's figures 1, 3 and 5, over TLS), the runs, what
// TLS costs set against the plain figures of the same run (when the relay part ran), and the
// method as run.
import type { ReferencePath } from './reference-relays.js';
import type { RelayMeasurements } from './relay.js';
import {
  cpuRows,
  fullSyncDetails,
  fullSyncRows,
  proxyCpuPerGb,
  proxyCommand,
  relayCpuPerGb,
  resultsMarkdown,
  waitDetails,
  waitMedian,
  waitP99Rows,
} from './relay-report.js';
import type { TlsMeasurements } from './relay-tls.js';
import { skippedRow, type Row } from './report.js';
import { median } from './stats.js';

const over = (m: TlsMeasurements) => (reference: ReferencePath) =>
  `${m.references.labels[reference]}, TLS both sides`;

export function tlsRows(m: TlsMeasurements): Row[] {
  const label = over(m);
  const rows = [
    ...fullSyncRows(m, 'disk', 'T1', 'T1. full sync over TLS, disk snapshot', undefined, label),
    ...waitP99Rows(m, 'T3', 'T3. WAIT 1 p99 over TLS under load', undefined, label),
    ...cpuRows(m, 'T5', 'T5. proxy CPU per GB relayed over TLS', undefined, label),
  ];
  if (m.references.skipped !== undefined) {
    rows.push(skippedRow('T1., T3., T5. … via HAProxy', '—', `skipped: ${m.references.skipped}`));
  }
  return rows;
}

const ratio = (over: number, under: number): string =>
  Number.isFinite(over / under) ? `×${(over / under).toFixed(3)}` : 'n/a';
const fmt = (value: number, digits = 2): string =>
  Number.isFinite(value) ? value.toFixed(digits) : 'n/a';

/** What TLS adds, figure by figure, against the plain figures of the same run. */
export function tlsCost(m: TlsMeasurements, plain: RelayMeasurements | undefined): string {
  const syncS = (runs: TlsMeasurements['full']['disk'], path: 'direct' | 'proxied'): number =>
    median((runs?.[path] ?? []).map((run) => run.seconds));
  const tls = m.full.disk;
  const haproxy = m.references.paths.includes('haproxy') ? 'haproxy' : undefined;
  const tlsHaproxyCpu = haproxy === undefined ? NaN : median(relayCpuPerGb(m, haproxy));
  const lines: string[] = [];
  if (plain === undefined) {
    lines.push(
      '- The relay part did not run in this process (`RBUDDY_BENCH_ONLY=tls`): no plain figures ' +
        'to set these against; the full run puts both in one run.',
    );
  } else {
    const plainHaproxyCpu = median(relayCpuPerGb(plain, 'haproxy', 'disk'));
    const tlsCpu = median(proxyCpuPerGb(m));
    const plainCpu = median(proxyCpuPerGb(plain, 'disk'));
    lines.push(
      `- Full sync, disk, direct: ${fmt(syncS(tls, 'direct'))} s over TLS against ` +
        `${fmt(syncS(plain.full.disk, 'direct'))} s plain (${ratio(syncS(tls, 'direct'), syncS(plain.full.disk, 'direct'))}); ` +
        `through rbuddy ${fmt(syncS(tls, 'proxied'))} s against ` +
        `${fmt(syncS(plain.full.disk, 'proxied'))} s (${ratio(syncS(tls, 'proxied'), syncS(plain.full.disk, 'proxied'))}).`,
      `- CPU per GB relayed (disk syncs): rbuddy ${fmt(tlsCpu, 3)} s/GB over TLS against ` +
        `${fmt(plainCpu, 3)} plain, TLS adding ${fmt(tlsCpu - plainCpu, 3)} s/GB ` +
        `(${ratio(tlsCpu, plainCpu)}); HAProxy ${fmt(tlsHaproxyCpu, 3)} against ` +
        `${fmt(plainHaproxyCpu, 3)}, TLS adding ${fmt(tlsHaproxyCpu - plainHaproxyCpu, 3)} s/GB ` +
        `(${ratio(tlsHaproxyCpu, plainHaproxyCpu)}).`,
      `- WAIT 1 p99: direct ${fmt(waitMedian(m.wait.direct), 3)} ms over TLS against ` +
        `${fmt(waitMedian(plain.wait.direct), 3)} ms plain; through rbuddy ` +
        `${fmt(waitMedian(m.wait.proxied), 3)} ms against ${fmt(waitMedian(plain.wait.proxied), 3)} ms.`,
    );
  }
  lines.push(
    '- Why: every byte of the stream is encrypted by the master and decrypted by the replica on ' +
      'every path, direct included; a relay terminating TLS on both sides (rbuddy, HAProxy) ' +
      'decrypts it once more and encrypts it once more, so its CPU per GB grows by two passes ' +
      "of symmetric crypto (OpenSSL's AES-GCM in Node, HAProxy and Redis alike) plus the TLS " +
      "records' framing. rbuddy pays more than that: on a TLS socket it reads through `data` " +
      "events, and Node's TLS layer hands the decrypted stream over in chunks of at most " +
      '16 KiB (the peak write buffer to the replica in "TLS runs"), each a new buffer, where a ' +
      'plain link reads up to 256 KB at a time into one reused buffer: more, smaller chunks ' +
      'through the relay, each written (and encrypted) separately, and more garbage. HAProxy ' +
      'moves 16 KB records too, but in C without a garbage collector. On a machine whose cores are shared by the master, the replica and ' +
      'the relay, that CPU is taken from the master and the replica, which is where a longer ' +
      'transfer comes from; a `WAIT` round trip pays the crypto of two small records per hop ' +
      'and direction, small against the wait for a CPU that dominates its p99.',
  );
  return lines.join('\n');
}

function method(m: TlsMeasurements): string {
  const s = m.settings;
  return [
    `- As the relay part (its "Method, as run"), on a dataset of its own (${s.megabytes} MiB, ` +
      `${m.dataset.keys} keys, used_memory ${m.dataset.usedMemory}): disk-snapshot full syncs ` +
      `only, a warm-up then ${s.syncReps} × (direct, proxied) in ABBA order, each proxied one ` +
      `back to back with one through HAProxy (rbuddy first, then last, alternating); then ` +
      `${s.reps} × (direct, proxied) WAIT runs of ${s.waitIterations} under ${s.writeRate} ` +
      `SET/s, each proxied run back to back with one through HAProxy in the same order. No ` +
      `bare Node pipe: it relays plain TCP only. No targets: the rows are informational.`,
    '- TLS: a throwaway CA made with openssl for the run (harness/tls-certs.ts) and one P-256 ' +
      'certificate for 127.0.0.1 / localhost that every party presents and verifies against ' +
      "the CA. The master: `tls-port` beside its plain port (the bench's own clients stay " +
      'plain), `tls-auth-clients yes`. The replica: `tls-replication yes`. Direct: the replica ' +
      "`REPLICAOF`s the master's TLS port. rbuddy: `--listen none --tls-listen` (client " +
      "certificates required, the replica recognised by its certificate's IP SAN), " +
      "`--master-tls yes` with its client certificate, the master's name verified. HAProxy: " +
      '`bind … ssl … verify required` and `server … ssl … verify required verifyhost localhost` ' +
      'with its client certificate.',
    `- Proxy: ${proxyCommand(s.proxy)}, one fresh process per proxied full sync, one for the ` +
      'WAIT runs.',
  ].join('\n');
}

export function tlsResultsMarkdown(
  m: TlsMeasurements,
  plain: RelayMeasurements | undefined,
  rows: readonly Row[],
  seconds: number,
): string {
  return resultsMarkdown(m, 'Latest TLS results', rows, seconds, [
    ['What TLS costs', tlsCost(m, plain)],
    ['TLS runs', tlsDetails(m)],
    ['TLS method, as run', method(m)],
  ]);
}

export function tlsDetails(m: TlsMeasurements): string {
  return [...fullSyncDetails(m, ['disk']), ...waitDetails(m)].join('\n');
}
