// Pub/sub on the proxy's own RESP port (docs/design.md, "Notifications"): clients
// SUBSCRIBE/PSUBSCRIBE and receive every event's JSON on `--channel` plus Sentinel's
// `+switch-master`. Only the proxy publishes; clients cannot (there is no PUBLISH here), so nothing
// a stranger sends reaches another client.
import type { Logger } from 'pino';
import { encode, encodeError, type RespValue } from '../resp/encode.js';
import type { EventSink, RbuddyEvent } from '../notify/events.js';
import { globMatch } from './glob.js';

/** What the hub needs from a client connection (ClientConnection satisfies it; tests fake it). */
export interface Subscriber {
  readonly id: string;
  /** How many channels + patterns it holds; ClientConnection restricts commands while > 0. */
  subscriptions: number;
  send(bytes: Buffer): void;
  readonly socket: {
    readonly writableLength: number;
    destroy(): void;
    once(event: 'close', listener: () => void): unknown;
  };
}

export interface PubSubHubOptions {
  logger: Logger;
  /**
   * Bytes queued for one subscriber beyond which it is dropped, like Redis's
   * `client-output-buffer-limit pubsub` hard limit (32 MB there too): a subscriber that stops
   * reading must not make the proxy grow without bound.
   */
  outputLimitBytes?: number | undefined;
}

interface Entry {
  client: Subscriber;
  channels: Set<string>;
  patterns: Set<string>;
}

export const DEFAULT_PUBSUB_OUTPUT_LIMIT = 32 * 1024 * 1024;
/** Channels + patterns one connection may hold, and the longest name. */
export const MAX_SUBSCRIPTIONS = 1024;
export const MAX_NAME_BYTES = 1024;

export class PubSubHub {
  private readonly entries = new Map<Subscriber, Entry>();
  private readonly log: Logger;
  private readonly limit: number;
  private droppedCount = 0;

  constructor(options: PubSubHubOptions) {
    this.log = options.logger;
    this.limit = options.outputLimitBytes ?? DEFAULT_PUBSUB_OUTPUT_LIMIT;
  }

  /** Subscribers dropped for exceeding the output limit (status, tests). */
  get dropped(): number {
    return this.droppedCount;
  }

  get subscriberCount(): number {
    return this.entries.size;
  }

  subscribe(client: Subscriber, channels: readonly Buffer[]): void {
    this.add(client, 'channels', 'subscribe', channels);
  }

  psubscribe(client: Subscriber, patterns: readonly Buffer[]): void {
    this.add(client, 'patterns', 'psubscribe', patterns);
  }

  /**
   * Only rbuddy's own channel and Sentinel's carry anything here, so a client needs a few
   * subscriptions; each one is held in memory, and without a cap one connection could hold
   * hundreds of MB of channel names (a review did). Past the cap: an error per name, kept open.
   */
  private add(
    client: Subscriber,
    kind: 'channels' | 'patterns',
    verb: 'subscribe' | 'psubscribe',
    names: readonly Buffer[],
  ): void {
    const entry = this.entry(client);
    for (const name of names) {
      const key = name.toString('latin1');
      const held = entry.channels.size + entry.patterns.size;
      if (!entry[kind].has(key) && (held >= MAX_SUBSCRIPTIONS || name.length > MAX_NAME_BYTES)) {
        client.send(
          encodeError(
            `ERR rbuddy: at most ${MAX_SUBSCRIPTIONS} channels and patterns of at most ${MAX_NAME_BYTES} bytes per connection`,
          ),
        );
        continue;
      }
      entry[kind].add(key);
      this.confirm(entry, verb, name);
    }
  }

  /** No names: unsubscribe from all (one reply each, or one with a null name if there were none). */
  unsubscribe(client: Subscriber, channels: readonly Buffer[]): void {
    this.remove(client, 'channels', 'unsubscribe', channels);
  }

  punsubscribe(client: Subscriber, patterns: readonly Buffer[]): void {
    this.remove(client, 'patterns', 'punsubscribe', patterns);
  }

  /** Sends `message` to every matching subscriber; returns how many received it (as PUBLISH does). */
  publish(channel: string, message: string | Buffer): number {
    const channelBytes = Buffer.from(channel, 'latin1');
    let receivers = 0;
    for (const entry of [...this.entries.values()]) {
      if (entry.channels.has(channel)) {
        if (this.push(entry, ['message', channelBytes, message])) receivers++;
      }
      for (const pattern of entry.patterns) {
        if (!globMatch(Buffer.from(pattern, 'latin1'), channelBytes)) continue;
        if (this.push(entry, ['pmessage', Buffer.from(pattern, 'latin1'), channelBytes, message])) {
          receivers++;
        }
      }
    }
    return receivers;
  }

  /**
   * The EventBus sink: every event's JSON on `channel`, and on `failover.completed` Sentinel's
   * `+switch-master <group> <oldip> <oldport> <newip> <newport>` so Sentinel-aware clients move.
   */
  sink(channel: string): EventSink {
    return {
      deliver: (event: RbuddyEvent) => {
        this.publish(channel, JSON.stringify(event));
        if (event.type === 'failover.completed') {
          const message = switchMasterMessage(event);
          if (message !== undefined) this.publish('+switch-master', message);
        }
      },
    };
  }

  private entry(client: Subscriber): Entry {
    let entry = this.entries.get(client);
    if (entry === undefined) {
      entry = { client, channels: new Set(), patterns: new Set() };
      this.entries.set(client, entry);
      // A closed connection holds no subscription (and no reference to it stays here).
      client.socket.once('close', () => this.entries.delete(client));
    }
    return entry;
  }

  private remove(
    client: Subscriber,
    kind: 'channels' | 'patterns',
    verb: 'unsubscribe' | 'punsubscribe',
    names: readonly Buffer[],
  ): void {
    const entry = this.entries.get(client) ?? { client, channels: new Set(), patterns: new Set() };
    const set = entry[kind];
    const targets = names.length > 0 ? names : [...set].map((name) => Buffer.from(name, 'latin1'));
    if (targets.length === 0) {
      this.confirm(entry, verb, null);
    }
    for (const name of targets) {
      set.delete(name.toString('latin1'));
      this.confirm(entry, verb, name);
    }
    if (entry.channels.size + entry.patterns.size === 0) this.entries.delete(client);
  }

  private confirm(entry: Entry, verb: string, name: Buffer | null): void {
    entry.client.subscriptions = entry.channels.size + entry.patterns.size;
    entry.client.send(encode([verb, name, entry.client.subscriptions]));
  }

  /** Writes one push; drops the subscriber once its unsent output passes the limit. */
  private push(entry: Entry, message: RespValue[]): boolean {
    const client = entry.client;
    if (!this.entries.has(client)) return false;
    client.send(encode(message));
    const queued = client.socket.writableLength;
    if (queued > this.limit) {
      this.droppedCount++;
      this.entries.delete(client);
      this.log.warn(
        { connection: client.id, queuedBytes: queued, limitBytes: this.limit },
        'pub/sub subscriber is not reading: output buffer over the limit, closing its connection',
      );
      client.socket.destroy();
      return false;
    }
    return true;
  }
}

/** `<group> <oldip> <oldport> <newip> <newport>`; undefined if the event lacks an address. */
export function switchMasterMessage(event: RbuddyEvent): string | undefined {
  const previous = event.data.previousActive;
  // After the switch the outgoing active is the standby; `previousActive` says so explicitly.
  const oldAddress = typeof previous === 'string' ? previous : event.data.standby;
  const oldParts = splitHostPort(oldAddress);
  const newParts = splitHostPort(event.data.active);
  if (oldParts === undefined || newParts === undefined) return undefined;
  return [event.group, oldParts.host, oldParts.port, newParts.host, newParts.port].join(' ');
}

/** `host:port` or `[v6]:port` → parts (IPv6 without brackets, as Sentinel prints it). */
function splitHostPort(address: string): { host: string; port: string } | undefined {
  const colon = address.lastIndexOf(':');
  if (colon <= 0) return undefined;
  const host = address.slice(0, colon).replace(/^\[(.*)\]$/, '$1');
  const port = address.slice(colon + 1);
  return /^\d+$/.test(port) ? { host, port } : undefined;
}
