// Stand-ins for what the failover engine uses of the proxy and of the master probe (the
// SessionSource and MasterHealth of src/standby/ports.ts), for unit tests: sessions are plain
// objects whose life the test drives (connect, stream + ACK, close), each step reported as the
// real ProxyServer does, with a 'session-event'.
import { EventEmitter } from 'node:events';
import type {
  ReplicaHello,
  SessionCloseReason,
  SessionEvent,
  SessionInfo,
  SessionPhase,
} from '../../src/proxy/session-types.js';
import type { ReplicaNode } from '../../src/nodes/replica-node.js';
import type { MasterHealth, SessionHandle, SessionSource } from '../../src/standby/ports.js';

export class FakeSession implements SessionInfo, SessionHandle {
  phase: SessionPhase = 'handshake';
  closedWith: SessionCloseReason | undefined;

  constructor(
    readonly proxy: FakeProxy,
    readonly id: string,
    readonly node: ReplicaNode,
    readonly hello: ReplicaHello,
  ) {}

  close(reason: SessionCloseReason): void {
    if (this.phase === 'closed') return;
    this.phase = 'closed';
    this.closedWith = reason;
    this.proxy.closed(this, reason);
  }
}

interface FakeProxyEvents {
  'session-event': [FakeSession, SessionEvent];
}

export function replicaHello(port: number): ReplicaHello {
  return {
    listeningPort: port,
    announcedIp: undefined,
    capabilities: ['eof', 'psync2'],
    request: { kind: 'psync', replid: '?', offset: -1 },
    peer: { address: '127.0.0.1', port: 50000 },
  };
}

export class FakeProxy extends EventEmitter<FakeProxyEvents> implements SessionSource {
  private readonly byNode = new Map<string, FakeSession>();
  private nextId = 1;

  sessionFor(nodeId: string): FakeSession | undefined {
    return this.byNode.get(nodeId);
  }

  /** A replica's session starts (replacing its previous one, as the real proxy does). */
  connect(node: ReplicaNode): FakeSession {
    this.byNode.get(node.id)?.close('replaced');
    const session = new FakeSession(this, `fake-${this.nextId++}`, node, replicaHello(node.port));
    this.byNode.set(node.id, session);
    this.emit('session-event', session, { type: 'upstream-connected' });
    return session;
  }

  /** The snapshot (or +CONTINUE) went through, the stream flows and the replica ACKed. */
  stream(node: ReplicaNode): FakeSession {
    const session = this.byNode.get(node.id) ?? this.connect(node);
    session.phase = 'streaming';
    this.emit('session-event', session, { type: 'streaming', replid: 'f'.repeat(40), offset: 1 });
    this.emit('session-event', session, { type: 'ack', offset: 1 });
    return session;
  }

  /** The session's upstream (the master) went away: the real session reports it, then closes. */
  loseUpstream(node: ReplicaNode, message: string): void {
    const session = this.byNode.get(node.id);
    if (session === undefined) return;
    this.emit('session-event', session, { type: 'upstream-lost', error: new Error(message) });
    session.close('upstream-lost');
  }

  /** Called by FakeSession.close(). */
  closed(session: FakeSession, reason: SessionCloseReason): void {
    if (this.byNode.get(session.node.id) === session) this.byNode.delete(session.node.id);
    this.emit('session-event', session, { type: 'closed', reason, error: undefined });
  }
}

/** What the engine reads of the master probe; the test sets the verdict. */
export class FakeProbe implements MasterHealth {
  up = true;
  lastError: string | undefined;
  /** What keys() answers (the master's INFO keyspace); undefined: it cannot be read. */
  masterKeys: number | undefined;

  keys(): Promise<number | undefined> {
    return Promise.resolve(this.masterKeys);
  }
}
