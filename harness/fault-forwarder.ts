// A TCP forwarder that injects link faults between two peers on loopback: the chaos run puts one
// in front of the master (rbuddy's --master) and one in front of rbuddy's listener (rbuddy's
// --announce, so every replica's replication link passes through it). Faults are modes switched
// at any moment, for the connections open and those to come:
//
// - `pass`: bytes flow, with backpressure (a reader that does not drain stops our reads);
// - `blackhole`: both ways silent, no FIN, bytes dropped. TCP never delivers a stream with a gap,
//   so a connection that lost bytes is reset when the blackhole lifts, as the peers' kernels
//   would once their retransmissions time out;
// - `stall`: one direction stops (we stop reading it: the sender's buffers fill), the other flows;
// - `latency`: every chunk is delivered `ms` later, in order;
// - `bandwidth`: at most `bytesPerSecond` each way;
// and `resetAll()` resets (RST) every open connection at once, and `silenceOpen()` turns the
// connections open now into a blackhole that never lifts (a path that lost its state: a NAT or
// conntrack entry gone, an address moved) while new connections pass as the mode says.
import { createServer, Socket, type Server } from 'node:net';

export type Direction = 'up' | 'down';

export type LinkMode =
  | { kind: 'pass' }
  | { kind: 'blackhole' }
  | { kind: 'stall'; direction: Direction }
  | { kind: 'latency'; ms: number }
  | { kind: 'bandwidth'; bytesPerSecond: number };

export interface FaultForwarder {
  readonly port: number;
  /** `127.0.0.1:<port>`. */
  readonly address: string;
  readonly mode: LinkMode;
  setMode(mode: LinkMode): void;
  /** Resets every open connection (RST both sides). */
  resetAll(): void;
  /** The connections open now drop every byte both ways, pass no FIN, until resetAll/close. */
  silenceOpen(): void;
  /** Open client connections. */
  readonly connections: number;
  /** Bytes a blackhole has dropped so far. */
  readonly dropped: number;
  close(): Promise<void>;
}

/** Past this many queued bytes in one direction we stop reading its source (backpressure). */
const HIGH_WATER = 256 * 1024;
const TICK_MS = 10;

interface Chunk {
  data: Buffer;
  dueAt: number;
}

/** One direction of one connection: reads `src`, queues, writes `dst` when the mode allows. */
class Pipe {
  private readonly queue: Chunk[] = [];
  private queued = 0;
  private timer: NodeJS.Timeout | undefined;
  private waitingDrain = false;
  private budget = 0;
  private budgetAt = Date.now();
  tainted = false;
  /** Set by silenceOpen(): a blackhole of this connection alone, for good. */
  silent = false;

  constructor(
    private readonly src: Socket,
    private readonly dst: Socket,
    readonly direction: Direction,
    private readonly mode: () => LinkMode,
    private readonly onDrop: (bytes: number) => void,
  ) {
    src.on('data', (data: Buffer) => this.push(data));
    dst.on('drain', () => {
      this.waitingDrain = false;
      this.flush();
    });
  }

  private push(data: Buffer): void {
    const mode = this.mode();
    if (mode.kind === 'blackhole' || this.silent) {
      this.tainted = true;
      this.onDrop(data.length);
      return;
    }
    const delay = mode.kind === 'latency' ? mode.ms : 0;
    this.queue.push({ data, dueAt: Date.now() + delay });
    this.queued += data.length;
    this.flush();
  }

  /** Writes what the mode allows now; schedules the rest; pauses or resumes the source. */
  flush(): void {
    if (this.timer !== undefined) {
      clearTimeout(this.timer);
      this.timer = undefined;
    }
    const mode = this.mode();
    if (mode.kind === 'blackhole' || this.silent) {
      // Keep reading (the sender sees its bytes go) and drop everything, queued bytes too.
      if (this.queue.length > 0) this.tainted = true;
      this.onDrop(this.queued);
      this.queue.length = 0;
      this.queued = 0;
      if (!this.src.destroyed) this.src.resume();
      return;
    }
    const stalled = mode.kind === 'stall' && mode.direction === this.direction;
    while (!stalled && !this.waitingDrain && this.queue.length > 0 && !this.dst.destroyed) {
      const head = this.queue[0];
      const now = Date.now();
      if (head.dueAt > now) {
        this.timer = setTimeout(() => this.flush(), head.dueAt - now);
        break;
      }
      let data = head.data;
      if (mode.kind === 'bandwidth') {
        this.budget = Math.min(
          mode.bytesPerSecond,
          this.budget + ((now - this.budgetAt) * mode.bytesPerSecond) / 1000,
        );
        this.budgetAt = now;
        if (this.budget < 1) {
          this.timer = setTimeout(() => this.flush(), TICK_MS);
          break;
        }
        const take = Math.min(data.length, Math.floor(this.budget));
        this.budget -= take;
        if (take < data.length) {
          head.data = data.subarray(take);
          data = data.subarray(0, take);
        } else this.queue.shift();
      } else this.queue.shift();
      this.queued -= data.length;
      if (!this.dst.write(data)) this.waitingDrain = true;
    }
    // Backpressure: stop reading while stalled, while the peer does not drain, or past the mark.
    if (stalled || this.waitingDrain || this.queued > HIGH_WATER) this.src.pause();
    else if (!this.src.destroyed) this.src.resume();
  }

  stop(): void {
    if (this.timer !== undefined) clearTimeout(this.timer);
  }
}

interface Link {
  client: Socket;
  upstream: Socket;
  pipes: Pipe[];
}

export async function startFaultForwarder(options: {
  target: { host: string; port: number };
  /** A fixed port (kept across the target's restarts); default ephemeral. */
  port?: number;
}): Promise<FaultForwarder> {
  let mode: LinkMode = { kind: 'pass' };
  const links = new Set<Link>();
  const currentMode = (): LinkMode => mode;
  let dropped = 0;
  const onDrop = (bytes: number): void => {
    dropped += bytes;
  };

  const end = (link: Link, reset: boolean): void => {
    if (!links.delete(link)) return;
    for (const pipe of link.pipes) pipe.stop();
    for (const socket of [link.client, link.upstream]) {
      if (reset && !socket.destroyed && socket.readyState === 'open') socket.resetAndDestroy();
      else socket.destroy();
    }
  };

  const server: Server = createServer({ pauseOnConnect: true, allowHalfOpen: true }, (client) => {
    // Half-open both sides: a FIN crosses only when the mode lets it (see the 'end' handlers).
    const upstream = new Socket({ allowHalfOpen: true });
    const link: Link = { client, upstream, pipes: [] };
    links.add(link);
    link.pipes.push(
      new Pipe(client, upstream, 'up', currentMode, onDrop),
      new Pipe(upstream, client, 'down', currentMode, onDrop),
    );
    // A FIN is passed on as a FIN, except in a blackhole (nothing crosses it, not even that).
    const silent = (): boolean => mode.kind === 'blackhole' || link.pipes.some((p) => p.silent);
    client.on('end', () => {
      if (!silent()) upstream.end();
    });
    upstream.on('end', () => {
      if (!silent()) client.end();
    });
    for (const socket of [client, upstream]) {
      socket.on('error', () => end(link, true));
      socket.on('close', () => {
        // A blackholed link stays silent on the other side until the blackhole lifts.
        if (!silent()) end(link, false);
      });
    }
    upstream.connect(options.target.port, options.target.host, () => {
      for (const pipe of link.pipes) pipe.flush();
    });
    upstream.pause();
  });

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen({ host: '127.0.0.1', port: options.port ?? 0 }, () => resolve());
  });
  const address = server.address();
  if (address === null || typeof address === 'string') throw new Error('forwarder: no address');
  const port = address.port;

  return {
    port,
    address: `127.0.0.1:${port}`,
    get mode() {
      return mode;
    },
    get connections() {
      return links.size;
    },
    get dropped() {
      return dropped;
    },
    setMode(next) {
      const wasBlackhole = mode.kind === 'blackhole';
      mode = next;
      for (const link of [...links]) {
        if (link.pipes.some((pipe) => pipe.silent)) continue;
        // A FIN or a close during the blackhole never crossed it: end the link now instead.
        const closed = [link.client, link.upstream].some((x) => x.destroyed || x.readableEnded);
        if (wasBlackhole && (closed || link.pipes.some((pipe) => pipe.tainted))) {
          end(link, true);
          continue;
        }
        for (const pipe of link.pipes) pipe.flush();
      }
    },
    resetAll() {
      for (const link of [...links]) end(link, true);
    },
    silenceOpen() {
      for (const link of links) for (const pipe of link.pipes) pipe.silent = true;
    },
    async close() {
      for (const link of [...links]) end(link, true);
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
