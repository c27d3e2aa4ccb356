// What a replication session is, says and reports. The failover engine consumes these events;
// /v1/status renders the snapshots.
import type { Duplex } from 'node:stream';
import type { CertificateNames } from '../tls/peer-identity.js';
import type { ReplicaNode } from '../nodes/replica-node.js';
import type { PsyncReply, SnapshotFormat } from '../resp/replication-framer.js';

/** handshake → waiting-snapshot → snapshot → streaming; closed at the end. */
export type SessionPhase = 'handshake' | 'waiting-snapshot' | 'snapshot' | 'streaming' | 'closed';

/** What the replica asked for: `PSYNC <replid> <offset>` or plain `SYNC`. */
export type SyncRequest = { kind: 'psync'; replid: string; offset: number } | { kind: 'sync' };

/** The replica's side of the handshake, collected before the session starts. */
export interface ReplicaHello {
  listeningPort: number | undefined;
  /** REPLCONF ip-address (replica-announce-ip), if the replica sent one. */
  announcedIp: string | undefined;
  capabilities: string[];
  request: SyncRequest;
  peer: { address: string; port: number };
  /** The per-replica user (--replica-credentials) the connection AUTHed as, if any. */
  replicaUser?: string;
  /** The client certificate the TLS listener verified, if the connection presented one. */
  certificate?: PresentedCertificate;
}

/**
 * A client certificate that the TLS handshake verified against --tls-ca-cert-file: its names are
 * part of a replica's claim (docs/design.md, "Identity of a replica").
 */
export interface PresentedCertificate {
  names: CertificateNames;
  fingerprint256: string;
}

export type SessionCloseReason =
  | 'replica-hangup'
  | 'upstream-lost'
  | 'upstream-unavailable'
  | 'upstream-protocol-error'
  | 'replica-protocol-error'
  | 'replica-stuck'
  | 'replica-timeout'
  | 'upstream-stuck'
  | 'gated'
  | 'psync-refused'
  | 'replaced'
  | 'shutdown';

export type SessionEvent =
  | { type: 'upstream-connected' }
  | { type: 'psync-reply'; reply: PsyncReply; relayed: boolean }
  | { type: 'snapshot-started'; snapshot: SnapshotFormat }
  | { type: 'snapshot-finished'; size: number }
  | { type: 'streaming'; replid: string | undefined; offset: number }
  | { type: 'ack'; offset: number }
  | { type: 'upstream-lost'; error: Error }
  | { type: 'closed'; reason: SessionCloseReason; error: Error | undefined };

/**
 * How a full sync is about to reach a replica: the master answered its PSYNC with +FULLRESYNC, or
 * began sending a snapshot after an inline SYNC (which a replica falls back to when its PSYNC gets
 * an error, e.g. -NOPERM from an ACL without `psync`: syncWithMaster). Both converge here, as SYNC
 * and PSYNC converge on one path in Redis's own syncCommand.
 */
export type FullSyncStart = { via: 'fullresync'; replid: string; offset: number } | { via: 'sync' };

/**
 * Decides, on the master's reply, whether a full sync may reach the replica. The failover engine
 * closes the session instead of letting a snapshot reach an active replica that holds a dataset
 * (invariant I1).
 */
export type SyncGate = (session: SessionInfo, start: FullSyncStart) => 'relay' | 'close';

export interface SessionInfo {
  id: string;
  node: ReplicaNode;
  hello: ReplicaHello;
}

export interface SessionStatus {
  id: string;
  replica: string;
  peer: string;
  phase: SessionPhase;
  request: SyncRequest;
  replid: string | null;
  /** Replication offset at the last byte relayed to the replica (null before the PSYNC reply). */
  offset: number | null;
  snapshot: {
    format: 'disk' | 'eof';
    /** Known up front for disk snapshots; for diskless ones once the mark has passed. */
    size: number | null;
    transferred: number;
    startedAt: string;
    finishedAt: string | null;
  } | null;
  lastAck: { offset: number; at: string } | null;
  /** offset − last ACK: bytes the replica has not yet confirmed. */
  lagBytes: number | null;
  /**
   * How long ago (ms, ±250) the oldest byte the replica has not acknowledged was relayed: 0 when
   * it acknowledged everything, null before its first ACK. About a second under a steady stream
   * (replicas ACK once a second); growing, a replica that stopped applying the stream.
   */
  lagMs: number | null;
  bytes: { fromMaster: number; toMaster: number };
  /** Keepalive newlines the master sent before the PSYNC reply or the snapshot, relayed. */
  keepalives: number;
  buffered: { toReplica: number; toMaster: number; peakToReplica: number; peakToMaster: number };
  connectedAt: string;
}

/** The proxy's connection to the master for one session, and how its bytes are read. */
export interface UpstreamLink {
  stream: Duplex;
  /** Registers the one reader of the master's bytes. */
  onData(handler: (chunk: Buffer) => void): void;
  /**
   * Chunks are views of one buffer that the next read overwrites (net's `onread`): whoever
   * keeps bytes past the handler must copy them, and reading waits while a write holds a view.
   */
  reusesChunks: boolean;
}
