// What a connection on the RESP port says about itself as a replica before its PSYNC or SYNC:
// REPLCONF listening-port, ip-address and capa (syncWithMaster sends them), and the sync request.
// A claim only: docs/design.md, "Identity of a replica", says what makes it a session.
import { RespError } from '../resp/encode.js';
import type { CertificateNames } from '../tls/peer-identity.js';
import type { PresentedCertificate, ReplicaHello, SyncRequest } from './session-types.js';

/** Who may count as a rival claimant of one node (see ClientConnection.couldBeReplicaOn). */
export interface RivalRules {
  /** The node's own user (--replica-credentials): only connections AUTHed as it count. */
  boundUser?: string | undefined;
  /** The node's addresses, when the claimant connects from one: only those addresses count. */
  fromAddresses?: ReadonlySet<string> | undefined;
  /**
   * Whether a verified client certificate can be the node's (its identity patterns): a
   * connection whose certificate is not the node's is never its handshake.
   */
  certificateMatches?: ((names: CertificateNames) => boolean) | undefined;
}

/** How long a connection may take from accept to its PSYNC and still count as a handshake. */
export const HANDSHAKE_WINDOW_MS = 5000;
/**
 * How long a connection may stay silent after its accept and still count as a handshake: a
 * replica writes its PING as soon as its connect completes (a lost segment is sent again after the
 * retransmission timeout, 200 ms at first on Linux), so idle strangers from a replica's address stop holding its
 * identification back after this, not after the whole handshake window.
 */
export const SILENT_WINDOW_MS = 1000;

/**
 * Whether a connection `ageMs` old that has read `bytesRead` bytes may still be a replica's
 * handshake: a replica writes its PING once connected and reaches its PSYNC a few round trips
 * later (syncWithMaster; rbuddy answers PING, AUTH and REPLCONF itself). Unknown bytes (a
 * Duplex in a unit test) are never taken for silence.
 */
export function inHandshakeWindow(ageMs: number, bytesRead: number | undefined): boolean {
  if (bytesRead === 0 && ageMs > SILENT_WINDOW_MS) return false;
  return ageMs <= HANDSHAKE_WINDOW_MS;
}
/** What a replica sends before its PSYNC/SYNC (syncWithMaster). */
export const REPLICA_HANDSHAKE_COMMANDS = new Set(['ping', 'auth', 'replconf', 'psync', 'sync']);

export class ReplicaClaim {
  private listeningPort: number | undefined;
  private announcedIp: string | undefined;
  private readonly capabilities: string[] = [];

  /** False once it claimed another listening port than `port`. */
  mayBeOnPort(port: number): boolean {
    return this.listeningPort === undefined || this.listeningPort === port;
  }

  /** Takes one REPLCONF; the error to answer, or undefined for +OK. */
  replconf(args: readonly Buffer[]): RespError | undefined {
    if (args.length % 2 === 0) return new RespError('ERR syntax error');
    for (let i = 1; i + 1 < args.length; i += 2) {
      const option = (args[i] ?? Buffer.alloc(0)).toString('latin1').toLowerCase();
      const value = (args[i + 1] ?? Buffer.alloc(0)).toString('latin1');
      switch (option) {
        case 'listening-port': {
          const port = Number(value);
          if (!Number.isInteger(port) || port < 0 || port > 65535) {
            return new RespError('ERR value is not an integer or out of range');
          }
          this.listeningPort = port;
          break;
        }
        case 'ip-address':
          this.announcedIp = value;
          break;
        case 'capa':
          this.capabilities.push(value);
          break;
        case 'rdb-only':
        case 'rdb-filter-only':
        case 'ack':
        case 'fack':
        case 'getack':
          // Accepted and ignored before a sync, as a master does for these.
          break;
        default:
          return new RespError(`ERR Unrecognized REPLCONF option: ${option}`);
      }
    }
    return undefined;
  }

  /** The replica's side of the handshake, for the session that takes it over. */
  hello(
    request: SyncRequest,
    peer: ReplicaHello['peer'],
    replicaUser: string | undefined,
    certificate?: PresentedCertificate,
  ): ReplicaHello {
    return {
      listeningPort: this.listeningPort,
      announcedIp: this.announcedIp,
      capabilities: [...this.capabilities],
      request,
      peer,
      ...(replicaUser === undefined ? {} : { replicaUser }),
      ...(certificate === undefined ? {} : { certificate }),
    };
  }
}

/** `PSYNC <replid> <offset>` or `SYNC`; the error to answer when the PSYNC is malformed. */
export function parseSyncRequest(args: readonly Buffer[]): SyncRequest | RespError {
  const name = (args[0] ?? Buffer.alloc(0)).toString('latin1').toLowerCase();
  if (name !== 'psync') return { kind: 'sync' };
  const offset = Number(args[2]?.toString('latin1'));
  if (args.length !== 3 || !Number.isSafeInteger(offset)) {
    return new RespError("ERR wrong number of arguments for 'psync' command");
  }
  return { kind: 'psync', replid: args[1]?.toString('latin1') ?? '?', offset };
}
