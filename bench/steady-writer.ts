// The steady load behind figure 3, in its own process so that its work never delays the
// WAIT client's event loop: pipelined SETs at a fixed rate until SIGTERM, then one JSON line
// `{ writes, seconds }` on stdout. A first line `{ "ready": true }` says the first batch landed.
//
// Usage: node --import tsx bench/steady-writer.ts <host> <port> <writes per second> [--acks]
// `--acks` (the chaos run): after each batch, a line `{ "acked": S }`, the highest sequence number
// the master acknowledged so far (its freshness check of the active's reads, chaos/freshness.ts).
import { Redis } from 'ioredis';

const TICK_MS = 10;
const KEYS = 10_000;

const [host = '127.0.0.1', portText = '', rateText = '', acksFlag] = process.argv.slice(2);
const reportAcks = acksFlag === '--acks';
const port = Number(portText);
const rate = Number(rateText);
if (!Number.isInteger(port) || !(rate > 0)) {
  console.error('usage: steady-writer.ts <host> <port> <writes per second>');
  process.exit(2);
}

const perTick = Math.max(1, Math.round((rate * TICK_MS) / 1000));
// A value of 100 bytes that carries the write's sequence number: a write lost, repeated or
// reordered on a replica changes its DEBUG DIGEST (with one constant value, once every key had
// been written no later write changed anything: the chaos run's digest check saw nothing).
const value = (seq: number): string => String(seq).padEnd(100, 'v');
const client = new Redis({ host, port, maxRetriesPerRequest: 1 });
client.on('error', (error: Error) => console.error(`steady-writer: ${error.message}`));

let running = true;
process.once('SIGTERM', () => {
  running = false;
});

const start = performance.now();
let writes = 0;
let seq = 0;
let due = start;
while (running) {
  const pipeline = client.pipeline();
  for (let i = 0; i < perTick; i += 1) {
    seq += 1;
    pipeline.set(`steady:${seq % KEYS}`, value(seq));
  }
  const results = (await pipeline.exec()) ?? [];
  writes += results.filter(([error]) => error === null).length;
  if (reportAcks) {
    // The batch ran in order: its last write acknowledged is the highest sequence the master has.
    const last = results.findLastIndex(([error]) => error === null);
    if (last >= 0) console.log(JSON.stringify({ acked: seq - perTick + 1 + last }));
  }
  if (seq === perTick) console.log(JSON.stringify({ ready: true }));
  due += TICK_MS;
  const wait = due - performance.now();
  // Behind schedule (a stall): carry on from now rather than firing a catch-up burst.
  if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait));
  else due = performance.now();
}
const seconds = (performance.now() - start) / 1000;
client.disconnect();
console.log(JSON.stringify({ writes, seconds }));
