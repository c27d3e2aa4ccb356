// A client connection as the pub/sub hub sees it (src/discovery/pubsub-hub.ts's Subscriber): what
// it was sent, and a socket whose unread bytes and close the test controls.
import { EventEmitter } from 'node:events';
import type { Subscriber } from '../../src/discovery/pubsub-hub.js';

export class FakeSubscriber implements Subscriber {
  subscriptions = 0;
  protocol: 2 | 3 = 2;
  readonly written: Buffer[] = [];
  destroyed = false;
  /** Simulates bytes the peer has not read yet. */
  pending = 0;
  private readonly emitter = new EventEmitter();
  readonly socket: Subscriber['socket'];
  constructor(readonly id: string) {
    const pending = (): number => this.pending;
    this.socket = {
      get writableLength(): number {
        return pending();
      },
      destroy: (): void => {
        this.destroyed = true;
        this.emitter.emit('close');
      },
      once: (name: 'close', listener: () => void): unknown => this.emitter.once(name, listener),
    };
  }
  send(bytes: Buffer): void {
    this.written.push(bytes);
  }
  text(): string {
    return Buffer.concat(this.written).toString();
  }
  close(): void {
    this.emitter.emit('close');
  }
}
