// A bare TCP client for the proxy's RESP port that sends exactly the bytes a test gives it
// (malformed ones included) and decodes replies with redis-parser.
import { connect, type Socket } from 'node:net';
import RedisParser from 'redis-parser';
import { waitFor } from '../../harness/wait-for.js';

export type RawReply = string | number | null | Buffer | Error | RawReply[];

export class RawClient {
  private readonly socket: Socket;
  private readonly replies: RawReply[] = [];
  private ended = false;

  private constructor(socket: Socket) {
    this.socket = socket;
    const parser = new RedisParser({
      returnReply: (reply: RawReply) => this.replies.push(reply),
      returnError: (error: Error) => this.replies.push(error),
      returnFatalError: (error: Error) => this.replies.push(error),
    });
    socket.on('data', (chunk: Buffer) => parser.execute(chunk));
    socket.on('close', () => {
      this.ended = true;
    });
    socket.on('error', () => {
      this.ended = true;
    });
  }

  /** `localAddress`: the address to connect from (e.g. 127.0.0.2, or a non-loopback one). */
  static async connect(
    host: string,
    port: number,
    options: { localAddress?: string } = {},
  ): Promise<RawClient> {
    const socket = connect({ host, port, ...options });
    await new Promise<void>((resolve, reject) => {
      socket.once('connect', resolve);
      socket.once('error', reject);
    });
    return new RawClient(socket);
  }

  send(bytes: string | Buffer): void {
    this.socket.write(bytes);
  }

  /** Sends a command as a RESP array and returns its reply. */
  async command(...args: string[]): Promise<RawReply> {
    this.send(
      `*${args.length}\r\n${args.map((a) => `$${Buffer.byteLength(a)}\r\n${a}\r\n`).join('')}`,
    );
    return this.nextReply();
  }

  async nextReply(timeoutMs = 10_000): Promise<RawReply> {
    await waitFor(() => this.replies.length > 0, { what: 'a reply from the proxy', timeoutMs });
    return this.replies.shift() as RawReply;
  }

  get closed(): boolean {
    return this.ended;
  }

  async waitClosed(timeoutMs = 10_000): Promise<void> {
    await waitFor(() => this.ended, { what: 'the proxy to close the connection', timeoutMs });
  }

  close(): void {
    this.socket.destroy();
  }
}
