// One ceiling on what all the RESP port's connections hold together in incomplete commands, in the
// spirit of Redis 7's maxmemory-clients. Each connection is bounded on its own (1 MB,
// CLIENT_MAX_QUERY_BYTES), but --max-clients connections each at that bound hold a gigabyte: one
// client that knows the password made rbuddy's RSS reach 457 MB so. Past the ceiling the
// connections holding the most are closed first, until the total is back under it, as Redis
// evicts its biggest clients first (client eviction, "maxmemory-clients"): the connection whose
// read crossed the line is not necessarily the culprit, and an attacker's megabyte must go before
// a replica's 40-byte REPLCONF. Pure: a holder is any object; closing it is the caller's.

/**
 * The bytes held in incomplete commands across the RESP port, at most (listeners together).
 * Nothing legitimate comes near it: rbuddy serves only small commands (a replica's handshake,
 * discovery, pub/sub), a few hundred bytes each; 32 attackers at the per-connection bound fill it.
 */
export const CLIENTS_INPUT_BUDGET = 32 * 1024 * 1024;

/**
 * The same ceiling on replies written and not yet taken by the clients (the class below serves
 * both). Each connection is bounded alone (16 MB, CLIENT_OUTPUT_LIMIT), but 20 clients that
 * knew the password and pipelined `COMMAND` without reading took rbuddy from 85 to 406 MB, and
 * --max-clients of them could ask for 16 GB (reviewer R11d, D2). rbuddy's own replies are small;
 * the client that is not reading loses its connection, as past client-output-buffer-limit.
 */
export const CLIENTS_OUTPUT_BUDGET = 64 * 1024 * 1024;

export interface InputBudgetStatus {
  /** Bytes held now in incomplete commands, all connections together. */
  heldBytes: number;
  /** The most held at once since the start, once over-budget holders were closed. */
  peakBytes: number;
  limitBytes: number;
}

export class InputBudget<H> {
  readonly limitBytes: number;
  /** Only holders of more than 0 bytes, in the order they began holding (ties: oldest first). */
  private readonly held = new Map<H, number>();
  private total = 0;
  private peak = 0;

  constructor(limitBytes: number = CLIENTS_INPUT_BUDGET) {
    this.limitBytes = limitBytes;
  }

  status(): InputBudgetStatus {
    return { heldBytes: this.total, peakBytes: this.peak, limitBytes: this.limitBytes };
  }

  /** What `holder` holds. */
  heldBy(holder: H): number {
    return this.held.get(holder) ?? 0;
  }

  /**
   * `holder` holds `bytes` now (after a read, a command completed: 0 when nothing is pending).
   * Returns the holders that must be closed, biggest first, already released: with them gone the
   * total is at most the limit. `holder` is among them only if it is one of the biggest.
   */
  hold(holder: H, bytes: number): H[] {
    this.set(holder, bytes);
    const evicted: H[] = [];
    while (this.total > this.limitBytes) {
      const biggest = this.biggest();
      if (biggest === undefined) break;
      this.set(biggest, 0);
      evicted.push(biggest);
    }
    this.peak = Math.max(this.peak, this.total);
    return evicted;
  }

  /** `holder` holds nothing any more (closed, handed over to a replica session). */
  release(holder: H): void {
    this.set(holder, 0);
  }

  private set(holder: H, bytes: number): void {
    this.total += bytes - (this.held.get(holder) ?? 0);
    if (bytes > 0) this.held.set(holder, bytes);
    else this.held.delete(holder);
  }

  /** A scan: it runs only past the limit, and the holders are at most --max-clients and a few. */
  private biggest(): H | undefined {
    let found: H | undefined;
    let most = 0;
    for (const [holder, bytes] of this.held) {
      if (bytes > most) {
        found = holder;
        most = bytes;
      }
    }
    return found;
  }
}
