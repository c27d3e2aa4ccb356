// Two in-memory Duplex ends wired to each other, with real backpressure: a write on one end
// completes only as the other end's reader consumes it (node:stream has duplexPair from
// Node 22 only).
import { Duplex } from 'node:stream';

class End extends Duplex {
  peer: End | undefined;
  private pendingCallback: (() => void) | undefined;

  constructor(highWaterMark: number) {
    super({ highWaterMark, allowHalfOpen: false });
  }

  override _write(chunk: Buffer, _encoding: BufferEncoding, callback: () => void): void {
    const peer = this.peer;
    if (peer === undefined || peer.destroyed) {
      callback();
      return;
    }
    if (peer.push(chunk)) callback();
    else peer.pendingCallback = callback;
  }

  override _read(): void {
    const callback = this.pendingCallback;
    this.pendingCallback = undefined;
    callback?.();
  }

  override _final(callback: () => void): void {
    this.peer?.push(null);
    callback();
  }

  override _destroy(error: Error | null, callback: (error: Error | null) => void): void {
    const peer = this.peer;
    if (peer !== undefined && !peer.destroyed) {
      peer.push(null);
      peer.destroy();
    }
    callback(error);
  }
}

export function duplexPair(highWaterMark = 16 * 1024): [Duplex, Duplex] {
  const a = new End(highWaterMark);
  const b = new End(highWaterMark);
  a.peer = b;
  b.peer = a;
  return [a, b];
}

/** Collects everything an end receives. */
export function collect(stream: Duplex): { bytes: () => Buffer } {
  const chunks: Buffer[] = [];
  stream.on('data', (chunk: Buffer) => chunks.push(chunk));
  return { bytes: () => Buffer.concat(chunks) };
}
