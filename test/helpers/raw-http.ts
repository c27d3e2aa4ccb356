// A bare TCP client for the admin HTTP port: it sends exactly the bytes a test gives it (malformed
// request lines, oversize headers, half a request) and keeps everything the server answers.
import { connect, type Socket } from 'node:net';
import { waitFor } from '../../harness/wait-for.js';

export class RawHttpConnection {
  private readonly chunks: Buffer[] = [];
  private closed = false;

  private constructor(private readonly socket: Socket) {
    socket.on('data', (chunk: Buffer) => this.chunks.push(chunk));
    socket.on('close', () => {
      this.closed = true;
    });
    // A reset by the server counts as closed; 'close' follows.
    socket.on('error', () => undefined);
  }

  static async open(url: string): Promise<RawHttpConnection> {
    const { hostname, port } = new URL(url);
    const socket = connect({ host: hostname, port: Number(port) });
    await new Promise<void>((resolve, reject) => {
      socket.once('connect', resolve);
      socket.once('error', reject);
    });
    return new RawHttpConnection(socket);
  }

  /** Opens a connection, sends `bytes` and waits for the server to close it. */
  static async exchange(url: string, bytes: string | Buffer): Promise<RawHttpConnection> {
    const connection = await RawHttpConnection.open(url);
    connection.send(bytes);
    await connection.waitClosed('the server to answer and close');
    return connection;
  }

  send(bytes: string | Buffer): void {
    this.socket.write(bytes);
  }

  /** Everything received so far. */
  text(): string {
    return Buffer.concat(this.chunks).toString('latin1');
  }

  /** The status code of the first response, or undefined when nothing was answered. */
  status(): number | undefined {
    const match = /^HTTP\/1\.[01] (\d{3}) /.exec(this.text());
    return match?.[1] === undefined ? undefined : Number(match[1]);
  }

  isClosed(): boolean {
    return this.closed;
  }

  async waitClosed(what: string, timeoutMs = 30_000): Promise<void> {
    await waitFor(() => this.closed, {
      what,
      timeoutMs,
      explain: () => `received so far: ${JSON.stringify(this.text().slice(0, 300))}`,
    });
  }

  destroy(): void {
    this.socket.destroy();
  }
}
