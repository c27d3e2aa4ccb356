// The handshake the proxy sends to the master on behalf of one replica (Redis
// src/replication.c syncWithMaster): AUTH with the proxy's own credentials, the replica's
// listening port and address, its capabilities (pipelined, as a replica does), then — only once
// their replies are in — its PSYNC/SYNC: Redis's syncCommand refuses a sync while replies are
// still pending ("SYNC and PSYNC are invalid with pending output"). AUTH is terminated at the
// proxy: the replica's own password never goes upstream.
import { encodeCommand } from '../resp/encode.js';
import type { SyncRequest } from './session-types.js';

export interface UpstreamHandshakeInput {
  auth: { user: string; password: string } | undefined;
  listeningPort: number | undefined;
  /** What the master should list as this replica's address. */
  ipAddress: string | undefined;
  capabilities: readonly string[];
  request: SyncRequest;
}

export interface UpstreamHandshake {
  /** AUTH and REPLCONF commands, sent together first. */
  prelude: Buffer;
  /** Replies to the prelude, which must all arrive before `sync` is sent. */
  replyCount: number;
  /** The PSYNC or SYNC command. */
  sync: Buffer;
}

/**
 * Capabilities that would make the master open a second connection (Valkey 8
 * dual-channel-replication answers +DUALCHANNELSYNC). The proxy relays one connection per
 * replica, so it strips them and the master falls back to the classic single-channel sync.
 */
const STRIPPED_CAPABILITIES = new Set(['dual-channel', 'rdb-channel']);

function upstreamCapabilities(capabilities: readonly string[]): string[] {
  return capabilities.filter((capa) => !STRIPPED_CAPABILITIES.has(capa.toLowerCase()));
}

export function buildUpstreamHandshake(input: UpstreamHandshakeInput): UpstreamHandshake {
  const commands: Buffer[] = [];
  if (input.auth !== undefined && input.auth.password !== '') {
    commands.push(
      encodeCommand(
        input.auth.user === ''
          ? ['AUTH', input.auth.password]
          : ['AUTH', input.auth.user, input.auth.password],
      ),
    );
  }
  if (input.listeningPort !== undefined) {
    commands.push(encodeCommand(['REPLCONF', 'listening-port', String(input.listeningPort)]));
  }
  if (input.ipAddress !== undefined && input.ipAddress !== '') {
    commands.push(encodeCommand(['REPLCONF', 'ip-address', input.ipAddress]));
  }
  const capabilities = upstreamCapabilities(input.capabilities);
  if (capabilities.length > 0) {
    commands.push(encodeCommand(['REPLCONF', ...capabilities.flatMap((capa) => ['capa', capa])]));
  }
  return {
    prelude: Buffer.concat(commands),
    replyCount: commands.length,
    sync:
      input.request.kind === 'psync'
        ? encodeCommand(['PSYNC', input.request.replid, String(input.request.offset)])
        : encodeCommand(['SYNC']),
  };
}
