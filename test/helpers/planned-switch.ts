// A planned switch (POST /v1/failover), the only way outside a master loss that the idle standby,
// held by rbuddy (docs/design.md, "Roles and states"), takes a full sync through the proxy.
import assert from 'node:assert/strict';

/** Asks rbuddy for a planned switch and checks it was accepted (202). */
export async function requestPlannedSwitch(httpUrl: string, token: string): Promise<void> {
  const response = await fetch(`${httpUrl}/v1/failover`, {
    method: 'POST',
    headers: { authorization: `Bearer ${token}` },
    signal: AbortSignal.timeout(5_000),
  });
  assert.equal(response.status, 202, await response.text());
}
