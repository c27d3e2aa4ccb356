// The messages Redis Sentinel publishes while it fails a master over (sentinelEvent and the
// failover state machine in sentinel.c), rebuilt around rbuddy's switch so that a client's
// listener fires whichever of them it watches: ioredis follows `+switch-master`, node-redis
// `[-+]sdown`, `[-+]odown` and `+slave-reconf-done`, others `+failover-end`. Sentinel's master is
// rbuddy's active, its promoted replica the standby that synced; the outgoing active, which
// rbuddy detaches and flushes, is the replica being "reconfigured".
//
// `%@` in sentinelEvent's format is `<type> <name> <ip> <port>`, followed for a replica by
// `@ <master-name> <master-ip> <master-port>`.
import type { RbuddyEvent } from '../notify/events.js';
import type { EpochSwitch } from '../standby/persisted-state.js';

export interface SwitchAddresses {
  group: string;
  previous: { host: string; port: string };
  next: { host: string; port: string };
}

/** Channel and message pairs, in the order Sentinel publishes them. */
export type SentinelMessage = [channel: string, message: string];

/**
 * A failover's messages, ending with `+switch-master <group> <oldip> <oldport> <newip> <newport>`.
 * An unplanned one (the active was promoted because the master was lost) starts with the master
 * going down (`+sdown`, `+odown`) and clears it (`-odown`) before `+failover-end`, as Sentinel's
 * does; a planned one (`POST /v1/failover`, like SENTINEL FAILOVER) starts at `+new-epoch`.
 */
export function failoverMessages(
  addresses: SwitchAddresses,
  options: { epoch: number; myid: string; unplanned: boolean },
): SentinelMessage[] {
  const { group, previous, next } = addresses;
  const master = `master ${group} ${previous.host} ${previous.port}`;
  const under = `@ ${group} ${previous.host} ${previous.port}`;
  const promoted = `slave ${next.host}:${next.port} ${next.host} ${next.port} ${under}`;
  const reconfigured = `slave ${previous.host}:${previous.port} ${previous.host} ${previous.port} ${under}`;
  const down: SentinelMessage[] = options.unplanned
    ? [
        ['+sdown', master],
        ['+odown', `${master} #quorum 1/1`],
      ]
    : [];
  return [
    ...down,
    ['+new-epoch', String(options.epoch)],
    ['+try-failover', master],
    ['+vote-for-leader', `${options.myid} ${options.epoch}`],
    ['+elected-leader', master],
    ['+failover-state-select-slave', master],
    ['+selected-slave', promoted],
    ['+failover-state-send-slaveof-noone', promoted],
    ['+failover-state-wait-promotion', promoted],
    ['+promoted-slave', promoted],
    ['+failover-state-reconf-slaves', master],
    ['+slave-reconf-sent', reconfigured],
    ['+slave-reconf-inprog', reconfigured],
    ['+slave-reconf-done', reconfigured],
    ...(options.unplanned ? [['-odown', master] as SentinelMessage] : []),
    ['+failover-end', master],
    ['+switch-master', `${group} ${previous.host} ${previous.port} ${next.host} ${next.port}`],
  ];
}

/**
 * Whether the switch an event announces was unplanned (Sentinel's `+sdown`, `+odown`), as the
 * persisted record of the epoch's switch (`known`) says, never as the events one process saw.
 */
export function switchWasUnplanned(event: RbuddyEvent, known: EpochSwitch | undefined): boolean {
  return known?.epoch === event.epoch && known.unplanned;
}

/** The outgoing and incoming active of a `failover.completed`; undefined if an address is bad. */
export function switchAddresses(event: RbuddyEvent): SwitchAddresses | undefined {
  const previous = event.data.previousActive;
  // After the switch the outgoing active is the standby; `previousActive` says so explicitly.
  const old = typeof previous === 'string' ? previous : event.data.standby;
  return addressesOf(event.group, old, event.data.active);
}

/** The switch from node `previous` to node `next` (`host:port` ids); undefined if one is bad. */
export function addressesOf(
  group: string,
  previous: string,
  next: string,
): SwitchAddresses | undefined {
  const oldParts = splitHostPort(previous);
  const newParts = splitHostPort(next);
  if (oldParts === undefined || newParts === undefined) return undefined;
  return { group, previous: oldParts, next: newParts };
}

/** `<group> <oldip> <oldport> <newip> <newport>`; undefined if the event lacks an address. */
export function switchMasterMessage(event: RbuddyEvent): string | undefined {
  const a = switchAddresses(event);
  return a === undefined
    ? undefined
    : [a.group, a.previous.host, a.previous.port, a.next.host, a.next.port].join(' ');
}

/** `host:port` or `[v6]:port` → parts (IPv6 without brackets, as Sentinel prints it). */
function splitHostPort(address: string): { host: string; port: string } | undefined {
  const colon = address.lastIndexOf(':');
  if (colon <= 0) return undefined;
  const host = address.slice(0, colon).replace(/^\[(.*)\]$/, '$1');
  const port = address.slice(colon + 1);
  return /^\d+$/.test(port) ? { host, port } : undefined;
}

/** Every channel a failover's messages use (the hub matches patterns against them in advance). */
export const SENTINEL_CHANNELS: readonly string[] = failoverMessages(
  { group: '', previous: { host: '', port: '0' }, next: { host: '', port: '0' } },
  { epoch: 0, myid: '', unplanned: true },
).map(([channel]) => channel);
