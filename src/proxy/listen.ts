// Binding a listener (plain or TLS) and reading back the address it bound.
import type { Server } from 'node:net';
import type { HostPort } from '../config/types.js';

/** Listens on `listen`; rejects with the bind error (a port in use, say). */
export function listenOn(server: Server, listen: HostPort): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(listen.port, listen.host, () => {
      server.off('error', reject);
      resolve();
    });
  });
}

/** The bound address (the real port when configured with port 0). */
export function boundAddress(server: Server, configured: HostPort): HostPort {
  const bound = server.address();
  if (bound === null || typeof bound === 'string') return configured;
  return { host: bound.address, port: bound.port };
}
