// The connection and server commands a Sentinel answers besides SENTINEL, in its formats: HELLO
// (helloCommand in networking.c: no `role` field in sentinel mode), CLIENT ID / INFO / GETNAME /
// SETNAME / SETINFO, INFO (sentinelInfoCommand: the Server, Clients, CPU and Sentinel sections)
// and ROLE (`sentinel` and the monitored names). SELECT is not here on purpose: Sentinel does not
// know it either, and clients only send it for a database other than 0.
import { arch, release, type as osType } from 'node:os';
import type { ClientConnection } from '../proxy/client-connection.js';
import { RespError, RespMap, RespSimple, RespVerbatim, type RespValue } from '../resp/encode.js';
import { PROCESS_RUN_ID } from '../run-id.js';
import { activeNode, wrongArgs, type DiscoveryView } from './discovery-view.js';

/** Advertised in HELLO and INFO; Sentinel-aware clients only look at `proto`. */
export const SERVER_VERSION = '7.0.0';
const STARTED_AT = Date.now();
const NOAUTH_HELLO =
  'NOAUTH HELLO must be called with the client already authenticated, otherwise the HELLO <proto> AUTH <user> <pass> option can be used to authenticate the client and select the RESP protocol version at the same time';
const BAD_NAME = 'ERR Client names cannot contain spaces, newlines or special characters.';

/** Names as CLIENT SETNAME / HELLO SETNAME set them (keyed by connection, gone with it). */
const clientNames = new WeakMap<ClientConnection, string>();

function text(arg: Buffer | undefined): string {
  return (arg ?? Buffer.alloc(0)).toString();
}

/** Redis's numeric client id; rbuddy's ids are `c<n>`. */
function numericId(connection: ClientConnection): number {
  return Number(connection.id.replace(/\D/g, '').slice(0, 15) || '0');
}

function validName(name: string): boolean {
  return !/[^\x21-\x7e]/.test(name);
}

export function helloReply(args: readonly Buffer[], connection: ClientConnection): RespValue {
  let protocol = connection.protocol;
  let index = 1;
  if (args.length > 1) {
    const version = Number(text(args[1]));
    if (!/^-?\d+$/.test(text(args[1])) || !Number.isSafeInteger(version)) {
      return new RespError('ERR Protocol version is not an integer or out of range');
    }
    if (version !== 2 && version !== 3)
      return new RespError('NOPROTO unsupported protocol version');
    protocol = version;
    index = 2;
  }
  let name: string | undefined;
  for (; index < args.length; index++) {
    const option = text(args[index]).toLowerCase();
    if (option === 'auth' && index + 2 < args.length) {
      const refusal = connection.authWith(
        args[index + 1] ?? Buffer.alloc(0),
        args[index + 2] ?? Buffer.alloc(0),
      );
      if (refusal !== undefined) return refusal;
      index += 2;
    } else if (option === 'setname' && index + 1 < args.length) {
      name = text(args[index + 1]);
      if (!validName(name)) return new RespError(BAD_NAME);
      index += 1;
    } else {
      return new RespError(`ERR Syntax error in HELLO option '${text(args[index]).slice(0, 128)}'`);
    }
  }
  if (!connection.isAuthenticated) return new RespError(NOAUTH_HELLO);
  if (name !== undefined) setName(connection, name);
  // Switched before the reply is encoded: HELLO 3's own answer is already a RESP3 map.
  connection.protocol = protocol;
  return new RespMap([
    ['server', 'redis'],
    ['version', SERVER_VERSION],
    ['proto', protocol],
    ['id', numericId(connection)],
    ['mode', 'sentinel'],
    ['modules', []],
  ]);
}

function setName(connection: ClientConnection, name: string): void {
  if (name === '') clientNames.delete(connection);
  else clientNames.set(connection, name);
}

/** One `CLIENT LIST` line for this connection, as clientInfoString formats it. */
function clientInfoLine(
  connection: ClientConnection,
  subscriptions: { sub: number; psub: number },
): string {
  const socket = connection.socket;
  const local = `${socket.localAddress ?? ''}:${socket.localPort ?? 0}`;
  const age = Math.floor((Date.now() - connection.openedAt) / 1000);
  return [
    `id=${numericId(connection)}`, `addr=${connection.peer}`, `laddr=${local}`, 'fd=-1',
    `name=${clientNames.get(connection) ?? ''}`, `age=${age}`, 'idle=0',
    `flags=${subscriptions.sub + subscriptions.psub > 0 ? 'P' : 'N'}`, 'db=0',
    `sub=${subscriptions.sub}`, `psub=${subscriptions.psub}`, 'ssub=0', 'multi=-1', 'qbuf=0',
    'qbuf-free=0', 'argv-mem=0', 'multi-mem=0', 'rbs=0', 'rbp=0', 'obl=0', 'oll=0',
    `omem=${socket.writableLength}`, 'tot-mem=0', 'events=r', 'cmd=client|info', 'user=default',
    'redir=-1', `resp=${connection.protocol}`,
  ].join(' ') + '\n'; // prettier-ignore
}

export function clientReply(
  args: readonly Buffer[],
  connection: ClientConnection,
  subscriptions: (connection: ClientConnection) => { sub: number; psub: number },
): RespValue {
  if (args.length < 2) return new RespError(wrongArgs('client'));
  const sub = text(args[1]).toLowerCase();
  const arity: Record<string, number> = { id: 2, info: 2, getname: 2, setname: 3, setinfo: 4 };
  if (arity[sub] !== undefined && args.length !== arity[sub]) {
    return new RespError(wrongArgs(`client|${sub}`));
  }
  switch (sub) {
    case 'id':
      return numericId(connection);
    case 'info':
      return new RespVerbatim(clientInfoLine(connection, subscriptions(connection)));
    case 'getname':
      return clientNames.get(connection) ?? null;
    case 'setname': {
      const name = text(args[2]);
      if (!validName(name)) return new RespError(BAD_NAME);
      setName(connection, name);
      return new RespSimple('OK');
    }
    case 'setinfo': {
      // Redis 7.2's: clients send it at connect and ignore the answer of a 7.0 Sentinel, which
      // does not know it; accepting it saves them an error in their logs.
      const attribute = text(args[2]).toLowerCase();
      if (attribute !== 'lib-name' && attribute !== 'lib-ver') {
        return new RespError(`ERR Unrecognized option '${text(args[2]).slice(0, 128)}'`);
      }
      return new RespSimple('OK');
    }
    default:
      return new RespError(
        `ERR unknown subcommand '${text(args[1]).slice(0, 128)}'. Try CLIENT HELP.`,
      );
  }
}

export function roleReply(args: readonly Buffer[], view: DiscoveryView): RespValue {
  if (args.length !== 1) return new RespError(wrongArgs('role'));
  return ['sentinel', [view.group]];
}

type Section = [string, [string, string | number][]];

function sections(view: DiscoveryView): Section[] {
  const active = activeNode(view);
  const uptime = Math.floor((Date.now() - STARTED_AT) / 1000);
  const cpu = process.cpuUsage();
  const seconds = (micros: number): string => (micros / 1e6).toFixed(6);
  return [
    ['Server', [
      ['redis_version', SERVER_VERSION], ['redis_git_sha1', '00000000'], ['redis_git_dirty', 0],
      ['redis_build_id', '0'], ['redis_mode', 'sentinel'], ['os', `${osType()} ${release()} ${arch()}`],
      ['arch_bits', 64], ['monotonic_clock', 'POSIX clock_gettime'], ['multiplexing_api', 'libuv'],
      ['atomicvar_api', 'none'], ['gcc_version', '0.0.0'], ['process_id', process.pid],
      ['process_supervised', 'no'], ['run_id', PROCESS_RUN_ID], ['tcp_port', view.port ?? 0],
      ['server_time_usec', Date.now() * 1000], ['uptime_in_seconds', uptime],
      ['uptime_in_days', Math.floor(uptime / 86400)], ['hz', 10], ['configured_hz', 10],
      ['lru_clock', 0], ['executable', process.execPath], ['config_file', ''], ['io_threads_active', 0],
    ]],
    ['Clients', [
      ['connected_clients', view.connectedClients?.() ?? 0], ['cluster_connections', 0],
      ['maxclients', 10000], ['client_recent_max_input_buffer', 0],
      ['client_recent_max_output_buffer', 0], ['blocked_clients', 0], ['tracking_clients', 0],
      ['clients_in_timeout_table', 0],
    ]],
    ['CPU', [
      ['used_cpu_sys', seconds(cpu.system)], ['used_cpu_user', seconds(cpu.user)],
      ['used_cpu_sys_children', '0.000000'], ['used_cpu_user_children', '0.000000'],
      ['used_cpu_sys_main_thread', seconds(cpu.system)], ['used_cpu_user_main_thread', seconds(cpu.user)],
    ]],
    ['Sentinel', [
      ['sentinel_masters', 1], ['sentinel_tilt', 0], ['sentinel_tilt_since_seconds', -1],
      ['sentinel_running_scripts', 0], ['sentinel_scripts_queue_length', 0],
      ['sentinel_simulate_failure_flags', 0],
      ['master0', `name=${view.group},status=${active === undefined ? 'sdown' : 'ok'},address=${active === undefined ? '' : `${active.host}:${active.port}`},slaves=${active === undefined ? 0 : 1},sentinels=${1 + (view.sentinels?.().length ?? 0)}`],
    ]],
  ]; // prettier-ignore
}

/**
 * INFO [section …]: `default`, `all` and `everything` give every section rbuddy keeps; a section
 * it does not keep gives nothing, as an unknown section does in Redis. Sentinel's `# Stats` is
 * left out: rbuddy counts none of its fields.
 */
export function infoReply(args: readonly Buffer[], view: DiscoveryView): RespValue {
  const wanted = new Set(args.slice(1).map((arg) => text(arg).toLowerCase()));
  const all = wanted.size === 0 || ['default', 'all', 'everything'].some((w) => wanted.has(w));
  const chosen = sections(view).filter(([name]) => all || wanted.has(name.toLowerCase()));
  return chosen
    .map(([name, fields]) => `# ${name}\r\n${fields.map(([k, v]) => `${k}:${v}\r\n`).join('')}`)
    .join('\r\n');
}
