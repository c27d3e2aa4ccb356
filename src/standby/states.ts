// The failover engine's states (names are a contract: they appear in /v1/status as `state`)
// and the transitions allowed between them. Every change goes through FailoverEngine's
// transition() (engine.ts), which checks this table and logs `from → to`; a decision whose
// state this table refuses is not acted on at all.

export type EngineState =
  'starting' | 'healthy' | 'master-lost' | 'failing-over' | 'held' | 'switching' | 'degraded';

export const ENGINE_STATES: readonly EngineState[] = [
  'starting',
  'healthy',
  'master-lost',
  'failing-over',
  'held',
  'switching',
  'degraded',
];

const ALLOWED: Record<EngineState, readonly EngineState[]> = {
  starting: ['healthy', 'master-lost', 'failing-over', 'held', 'switching', 'degraded'],
  healthy: ['master-lost', 'failing-over', 'degraded', 'starting'],
  'master-lost': ['healthy', 'failing-over', 'degraded', 'starting'],
  'failing-over': ['held', 'switching', 'degraded'],
  held: ['switching', 'failing-over', 'degraded'],
  switching: ['healthy', 'master-lost', 'failing-over', 'degraded', 'starting'],
  degraded: ['starting', 'healthy', 'master-lost', 'failing-over', 'held', 'switching'],
};

export function canTransition(from: EngineState, to: EngineState): boolean {
  return from === to || ALLOWED[from].includes(to);
}
