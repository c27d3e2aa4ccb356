// What rbuddy's RESP port tells Sentinel clients, compared with the active /v1/status names
// (src/discovery/sentinel-replies.ts): `SENTINEL get-master-addr-by-name` answers the active,
// and `SENTINEL replicas` lists exactly the active, flagged `slave` (a client with
// `role: 'slave'`, as the run's ioredis reader, finds its node there; reviewer R11d, D4: only the
// first was checked).

/** One `SENTINEL replicas` entry as ioredis returns it: a flat field/value array (RESP2). */
function fields(entry: unknown): Map<string, string> {
  const map = new Map<string, string>();
  if (Array.isArray(entry)) {
    for (let i = 0; i + 1 < entry.length; i += 2) map.set(String(entry[i]), String(entry[i + 1]));
  }
  return map;
}

/** `host:port` of a `SENTINEL get-master-addr-by-name` reply, null for a null array. */
export function masterAddrNamed(reply: unknown): string | null {
  return Array.isArray(reply) ? reply.map(String).join(':') : null;
}

/**
 * Why a `SENTINEL replicas` reply disagrees with `active` (the node /v1/status names, or null),
 * or undefined when it agrees: exactly that node, flagged `slave` and nothing else (a client
 * skips an entry flagged `s_down`, `o_down` or `disconnected`); no entry when there is no active.
 */
export function replicasDisagree(reply: unknown, active: string | null): string | undefined {
  if (!Array.isArray(reply)) return `not a list: ${JSON.stringify(reply)}`;
  const entries = reply.map(fields);
  const named = entries.map((f) => `${f.get('ip') ?? '?'}:${f.get('port') ?? '?'}`);
  if (active === null) {
    return entries.length === 0 ? undefined : `listed ${named.join(', ')} with no active`;
  }
  if (entries.length !== 1 || named[0] !== active) {
    return `listed ${named.length === 0 ? 'none' : named.join(', ')} where the active is ${active}`;
  }
  const flags = entries[0].get('flags');
  return flags === 'slave' ? undefined : `listed ${active} with flags ${flags ?? 'none'}`;
}
