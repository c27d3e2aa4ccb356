// An UpstreamLink over any Duplex that emits fresh chunks ('data' events): how unit tests hand a
// ReplicaSession an in-memory master (the proxy's own links read with net's `onread`).
import type { Duplex } from 'node:stream';
import type { UpstreamLink } from '../../src/proxy/session-types.js';

export function streamLink(stream: Duplex): UpstreamLink {
  return { stream, onData: (handler) => stream.on('data', handler), reusesChunks: false };
}
