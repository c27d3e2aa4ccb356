// Reading a node's INFO for the failover figures: a client that can ask a loading server, and the
// keyspace section per db or summed.

/** A client that can INFO a loading server (no ready check) and never queues for long. */
export function infoClientOptions(commandTimeout: number): {
  enableReadyCheck: false;
  maxRetriesPerRequest: 0;
  commandTimeout: number;
} {
  return { enableReadyCheck: false, maxRetriesPerRequest: 0, commandTimeout };
}

export function keysPerDb(keyspace: Record<string, string>): string {
  return Object.entries(keyspace)
    .filter(([name]) => /^db\d+$/.test(name))
    .map(([name, value]) => `${name}=${/keys=(\d+)/.exec(value)?.[1] ?? '?'}`)
    .join(' ');
}

export function sumKeys(keyspace: Record<string, string>): number {
  return Object.entries(keyspace)
    .filter(([name]) => /^db\d+$/.test(name))
    .reduce((sum, [, value]) => sum + Number(/keys=(\d+)/.exec(value)?.[1] ?? 0), 0);
}
