// Pub/sub on the proxy's own RESP port (docs/design.md, "Notifications"): clients
// SUBSCRIBE/PSUBSCRIBE and receive every event's JSON on `--channel` plus, at a switch, the messages
// Sentinel publishes during a failover (sentinel-events.ts). A RESP3 client (HELLO 3) gets them
// as push messages (`>`), as Redis sends them. Only the proxy publishes; clients cannot (there is no PUBLISH here), so nothing
// a stranger sends reaches another client. In a group every instance publishes on its own port,
// the leader's events read back from etcd on a follower (docs/ha.md, "Pub/sub and webhooks"):
// each event once per port, whichever way it arrives.
import type { Logger } from 'pino';
import {
  encode,
  encodeError,
  RespAggregate,
  type Protocol,
  type RespValue,
} from '../resp/encode.js';
import type { EventSink, RbuddyEvent } from '../notify/events.js';
import { SeenIds } from '../notify/seen-ids.js';
import type { EpochSwitch } from '../standby/persisted-state.js';
import { globMatch, type GlobWork } from './glob.js';
import {
  addressesOf,
  failoverMessages,
  SENTINEL_CHANNELS,
  switchAddresses,
  switchWasUnplanned,
  type SentinelMessage,
  type SwitchAddresses,
} from './sentinel-events.js';

export { switchMasterMessage } from './sentinel-events.js';

/** What the hub needs from a client connection (ClientConnection satisfies it; tests fake it). */
export interface Subscriber {
  readonly id: string;
  /** How many channels + patterns it holds; ClientConnection restricts commands while > 0. */
  subscriptions: number;
  /** 3 after HELLO 3: confirmations and messages are then RESP3 pushes. */
  readonly protocol: Protocol;
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
  /** Sentinel's id for `+vote-for-leader` (SENTINEL MYID answers the same). */
  sentinelId?: string | undefined;
  /**
   * The switch that made the current epoch, as persisted (the engine's `currentSwitch`): whether
   * its messages tell of the master going down is read from the record, so that a restarted
   * process tells of a switch as the one that made it did.
   */
  currentSwitch?: (() => EpochSwitch | undefined) | undefined;
  /** Counts the glob matcher's steps (tests bound the work without timing it). */
  globWork?: GlobWork | undefined;
}

interface Entry {
  client: Subscriber;
  channels: Set<string>;
  patterns: Set<string>;
  /** Per channel rbuddy publishes on, the patterns that match it, in subscription order. */
  matches: Map<string, Set<string>>;
}

export const DEFAULT_PUBSUB_OUTPUT_LIMIT = 32 * 1024 * 1024;
/** Channels + patterns one connection may hold, and the longest name. */
export const MAX_SUBSCRIPTIONS = 1024;
export const MAX_NAME_BYTES = 1024;
/**
 * Patterns held across all connections. Each matching pattern is one more message to write at
 * every publish, so this bounds the work of a switch whatever the number of connections.
 */
export const MAX_TOTAL_PATTERNS = 4096;
/**
 * Event ids remembered as told on this port. Copies of an event come back only within a takeover
 * or a few polls of the group's recent events (a few dozen events at most): far fewer than this.
 */
export const TOLD_IDS = 1024;

export class PubSubHub {
  private readonly entries = new Map<Subscriber, Entry>();
  private readonly log: Logger;
  private readonly limit: number;
  private droppedCount = 0;
  private readonly sentinelId: string;
  private readonly currentSwitch: () => EpochSwitch | undefined;
  /**
   * The messages of a switch this process resumed from a previous one, told to each client
   * that subscribes to one of their channels until the switch is retired (see resumeSwitch).
   */
  private resumed: SentinelMessage[] | undefined;
  /**
   * The channels rbuddy publishes on: Sentinel's and the `--channel` of sink(). A pattern is
   * matched against each when it is subscribed (or when a channel first appears), never at
   * publish: a switch costs one lookup per subscriber, whatever patterns they hold.
   */
  private readonly channelsKnown = new Set<string>(SENTINEL_CHANNELS);
  private totalPatterns = 0;
  private readonly globWork: GlobWork | undefined;
  /**
   * Each event is told once on this port, whichever way it arrives: from this process's own
   * engine, read back from the group's recent events in etcd (relayed()), or sent again by a new
   * leader or a restarted process with its id (docs/ha.md, "Pub/sub and webhooks").
   */
  private readonly toldIds = new SeenIds(TOLD_IDS);
  /**
   * The last switch whose Sentinel messages this port published (switchKey), and whether a
   * subscriber received any: a switch comes back without an id only when a new leader or a
   * restarted process resumes the latest one (resumeSwitch).
   */
  private lastSwitch: { key: string; heard: boolean } | undefined;

  constructor(options: PubSubHubOptions) {
    this.log = options.logger;
    this.sentinelId = options.sentinelId ?? '';
    this.limit = options.outputLimitBytes ?? DEFAULT_PUBSUB_OUTPUT_LIMIT;
    this.currentSwitch = options.currentSwitch ?? (() => undefined);
    this.globWork = options.globWork;
  }

  /** Subscribers dropped for exceeding the output limit (status, tests). */
  get dropped(): number {
    return this.droppedCount;
  }

  get subscriberCount(): number {
    return this.entries.size;
  }

  /** Channels and patterns one client holds (CLIENT INFO's sub= and psub=). */
  counts(client: Subscriber): { sub: number; psub: number } {
    const entry = this.entries.get(client);
    return { sub: entry?.channels.size ?? 0, psub: entry?.patterns.size ?? 0 };
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
    const added: string[] = [];
    for (const name of names) {
      const key = name.toString('latin1');
      const held = entry.channels.size + entry.patterns.size;
      const isNew = !entry[kind].has(key);
      if (isNew && (held >= MAX_SUBSCRIPTIONS || name.length > MAX_NAME_BYTES)) {
        client.send(
          encodeError(
            `ERR rbuddy: at most ${MAX_SUBSCRIPTIONS} channels and patterns of at most ${MAX_NAME_BYTES} bytes per connection`,
          ),
        );
        continue;
      }
      if (isNew && kind === 'patterns' && this.totalPatterns >= MAX_TOTAL_PATTERNS) {
        client.send(encodeError(`ERR rbuddy: at most ${MAX_TOTAL_PATTERNS} patterns in all`));
        continue;
      }
      if (isNew) {
        added.push(key);
        entry[kind].add(key);
        if (kind === 'patterns') {
          this.totalPatterns++;
          for (const channel of this.channelsKnown) this.match(entry, key, channel);
        }
      }
      this.confirm(entry, verb, name);
    }
    this.retell(entry, kind, added);
  }

  /**
   * While a resumed switch drains, a client that subscribes to one of its channels is told of
   * it, once, right after the confirmation: it was most likely subscribed to the process that
   * died, and reconnected here too late for the messages published when this one resumed.
   */
  private retell(entry: Entry, kind: 'channels' | 'patterns', added: readonly string[]): void {
    for (const [channel, message] of this.resumed ?? []) {
      const channelBytes = Buffer.from(channel, 'latin1');
      for (const name of added) {
        if (kind === 'channels') {
          if (name === channel) this.push(entry, ['message', channelBytes, message]);
        } else if (entry.matches.get(channel)?.has(name) === true) {
          this.push(entry, ['pmessage', Buffer.from(name, 'latin1'), channelBytes, message]);
        }
      }
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
    this.learn(channel);
    let receivers = 0;
    for (const entry of [...this.entries.values()]) {
      if (entry.channels.has(channel)) {
        if (this.push(entry, ['message', channelBytes, message])) receivers++;
      }
      for (const pattern of entry.matches.get(channel) ?? []) {
        if (this.push(entry, ['pmessage', Buffer.from(pattern, 'latin1'), channelBytes, message])) {
          receivers++;
        }
      }
    }
    return receivers;
  }

  /**
   * The EventBus sink: every event's JSON on `channel`, and on `failover.completed` the messages
   * Sentinel publishes for a failover, ending with `+switch-master`, so that Sentinel-aware
   * clients move whichever message they watch. Whether the switch tells of the master going
   * down is read from the persisted record (currentSwitch).
   */
  sink(channel: string): EventSink {
    this.learn(channel);
    return {
      deliver: (event: RbuddyEvent) => {
        this.tellEvent(channel, event, switchWasUnplanned(event, this.currentSwitch()));
      },
    };
  }

  /**
   * An event another instance of the group emitted (its leader), read back from the group's
   * recent events with what its record said of the switch: told as the sink tells it, unless
   * this port told it already. False when it had.
   */
  relayed(channel: string, event: RbuddyEvent, unplanned: boolean): boolean {
    this.learn(channel);
    return this.tellEvent(channel, event, unplanned);
  }

  private tellEvent(channel: string, event: RbuddyEvent, unplanned: boolean): boolean {
    if (!this.toldIds.add(event.id)) return false;
    this.publish(channel, JSON.stringify(event));
    // The resumed switch is retired, or another one is told of below.
    if (event.type === 'standby.ready' || event.type === 'failover.completed') {
      this.resumed = undefined;
    }
    if (event.type !== 'failover.completed') return true;
    const addresses = switchAddresses(event);
    // A new leader that resumed this switch told its messages already (resumeSwitch).
    if (addresses !== undefined && this.lastSwitch?.key !== switchKey(addresses, event.epoch)) {
      this.tell(addresses, event.epoch, unplanned);
    }
    return true;
  }

  /**
   * A restarted process resumed a switch during its drain (the engine's `onSwitchResumed`): its
   * messages are published again, and told to whoever subscribes to them until the switch is
   * retired (`standby.ready`), since the subscribers of the process that died reconnect here
   * at their own pace (docs/design.md, "Restart and reconciliation"). Not through the event bus:
   * the switch's events are in the webhooks' outbox already, under their ids. A new leader that
   * told the switch as a follower, to subscribers who heard it, does not publish it again: it only
   * tells those who subscribe from now on.
   */
  resumeSwitch(group: string, resumed: EpochSwitch): void {
    const addresses = addressesOf(group, resumed.previousActive, resumed.active);
    if (addresses === undefined) return;
    const { epoch, unplanned } = resumed;
    const last = this.lastSwitch;
    this.resumed =
      last?.key === switchKey(addresses, epoch) && last.heard
        ? failoverMessages(addresses, { epoch, myid: this.sentinelId, unplanned })
        : this.tell(addresses, epoch, unplanned);
  }

  /**
   * Publishes a switch's Sentinel messages; returns them. The switch is the last one told here,
   * heard if a subscriber received one of its messages: published before anyone subscribed (a
   * restart sends its saved events again before the listeners open), it was heard by nobody.
   */
  private tell(addresses: SwitchAddresses, epoch: number, unplanned: boolean): SentinelMessage[] {
    const messages = failoverMessages(addresses, { epoch, myid: this.sentinelId, unplanned });
    let receivers = 0;
    for (const [name, message] of messages) receivers += this.publish(name, message);
    this.lastSwitch = { key: switchKey(addresses, epoch), heard: receivers > 0 };
    return messages;
  }

  /** A channel not seen before: every pattern held is matched against it, once. */
  private learn(channel: string): void {
    if (this.channelsKnown.has(channel)) return;
    this.channelsKnown.add(channel);
    for (const entry of this.entries.values()) {
      for (const pattern of entry.patterns) this.match(entry, pattern, channel);
    }
  }

  private match(entry: Entry, pattern: string, channel: string): void {
    const bytes = [Buffer.from(pattern, 'latin1'), Buffer.from(channel, 'latin1')] as const;
    if (!globMatch(bytes[0], bytes[1], this.globWork)) return;
    let matching = entry.matches.get(channel);
    if (matching === undefined) {
      matching = new Set();
      entry.matches.set(channel, matching);
    }
    matching.add(pattern);
  }

  private entry(client: Subscriber): Entry {
    let entry = this.entries.get(client);
    if (entry === undefined) {
      const created: Entry = {
        client,
        channels: new Set(),
        patterns: new Set(),
        matches: new Map(),
      };
      entry = created;
      this.entries.set(client, created);
      // A closed connection holds no subscription (and no reference to it stays here).
      client.socket.once('close', () => this.forget(created));
    }
    return entry;
  }

  private forget(entry: Entry): void {
    if (this.entries.get(entry.client) !== entry) return;
    this.entries.delete(entry.client);
    this.totalPatterns -= entry.patterns.size;
  }

  private remove(
    client: Subscriber,
    kind: 'channels' | 'patterns',
    verb: 'unsubscribe' | 'punsubscribe',
    names: readonly Buffer[],
  ): void {
    const entry: Entry = this.entries.get(client) ?? {
      client,
      channels: new Set(),
      patterns: new Set(),
      matches: new Map(),
    };
    const set = entry[kind];
    const targets = names.length > 0 ? names : [...set].map((name) => Buffer.from(name, 'latin1'));
    if (targets.length === 0) {
      this.confirm(entry, verb, null);
    }
    for (const name of targets) {
      const key = name.toString('latin1');
      if (set.delete(key) && kind === 'patterns' && this.entries.get(client) === entry) {
        this.totalPatterns--;
        for (const matching of entry.matches.values()) matching.delete(key);
      }
      this.confirm(entry, verb, name);
    }
    if (entry.channels.size + entry.patterns.size === 0) this.forget(entry);
  }

  private confirm(entry: Entry, verb: string, name: Buffer | null): void {
    entry.client.subscriptions = entry.channels.size + entry.patterns.size;
    entry.client.send(this.encodePush(entry.client, [verb, name, entry.client.subscriptions]));
  }

  /** Writes one push; drops the subscriber once its unsent output passes the limit. */
  private push(entry: Entry, message: RespValue[]): boolean {
    const client = entry.client;
    if (!this.entries.has(client)) return false;
    client.send(this.encodePush(client, message));
    const queued = client.socket.writableLength;
    if (queued > this.limit) {
      this.droppedCount++;
      this.forget(entry);
      this.log.warn(
        { connection: client.id, queuedBytes: queued, limitBytes: this.limit },
        'pub/sub subscriber is not reading: output buffer over the limit, closing its connection',
      );
      client.socket.destroy();
      return false;
    }
    return true;
  }

  private encodePush(client: Subscriber, items: RespValue[]): Buffer {
    return client.protocol === 3 ? encode(new RespAggregate('push', items), 3) : encode(items);
  }
}

/** One switch: its epoch and direction (a resumed switch carries no event id). */
function switchKey(addresses: SwitchAddresses, epoch: number): string {
  const { previous, next } = addresses;
  return `${epoch} ${previous.host}:${previous.port} ${next.host}:${next.port}`;
}
