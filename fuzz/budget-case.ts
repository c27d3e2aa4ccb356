// The fuzzer's input-budget case (harness/input-hogs.ts): a few hundred connections at once,
// each holding an incomplete command as large as its limits allow, held a moment, then closed.
// Mostly after AUTH with the password (a megabyte each: without the budget rbuddy's RSS goes
// past the fuzzer's bound), sometimes as strangers before AUTH (ten bulks of 16 KB each).
import type { Prng } from './prng.js';
import { startHogs, type HogTally } from '../harness/input-hogs.js';

/** Case `index` is one every this many (from the middle): 5 in `--cases 3000`, whatever the seed. */
export const BUDGET_EVERY = 600;

export function isBudgetCase(index: number): boolean {
  return index % BUDGET_EVERY === BUDGET_EVERY / 2;
}

/**
 * Connections of one case at most. The live target runs with the default --max-clients (1000),
 * and the other workers' cases (a burst is 20 connections) must still get in.
 */
export const MAX_HOGS = 400;

export interface BudgetPlan {
  /** AUTH with the password first (a megabyte each), or hold what a stranger may. */
  authenticated: boolean;
  connections: number;
  /** Of what each connection may hold, how much it sends (0.8 to 1). */
  fills: number[];
  /** How long the connections are held once every one has sent its command. */
  holdMs: number;
}

export function budgetPlan(rng: Prng): BudgetPlan {
  const authenticated = rng.chance(0.75);
  // Enough to pass the 32 MiB budget either way: 250 strangers hold about 40 MB.
  const connections = authenticated ? rng.range(300, MAX_HOGS) : rng.range(250, MAX_HOGS);
  const fills = Array.from({ length: connections }, () => 0.8 + 0.2 * rng.next());
  return { authenticated, connections, fills, holdMs: rng.range(200, 1_500) };
}

export async function runBudgetCase(
  rng: Prng,
  target: { host: string; port: number; password: string },
  localAddress: () => string,
  closeTimeoutMs: number,
): Promise<HogTally> {
  const plan = budgetPlan(rng);
  const addresses = plan.fills.map(() => localAddress());
  const hogs = startHogs({
    host: target.host,
    port: target.port,
    count: plan.connections,
    password: plan.authenticated ? target.password : undefined,
    fill: (i) => plan.fills[i] ?? 1,
    localAddress: (i) => addresses[i] ?? '127.0.0.2',
  });
  await hogs.loaded;
  await new Promise((resolve) => setTimeout(resolve, plan.holdMs));
  return hogs.release(closeTimeoutMs);
}
