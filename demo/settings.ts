// The demo's dataset, rbuddy's timings, and what the story expects rbuddy to go through.

export const DATASET_MIB = 200;
export const DBS = [0, 1, 2] as const;
/** Fast but realistic: the defaults are 10 s grace, 5 s drain, a probe a second. */
export const SETTINGS = {
  graceMs: 2_000,
  drainMs: 2_000,
  probeIntervalMs: 250,
  probeTimeoutMs: 250,
};
/** Upper bound for any one wait: a 200 MiB sync on a loaded 2-core machine can take a while. */
export const STEP_TIMEOUT_MS = 120_000;
/** Reads the reader must serve at each stage, so that every stage is really read through. */
export const READS_PER_STAGE = 100;
export const READER_KEY = 'demo:reader';
export const READER_VALUE = 'the value every read must return';
export const EXPECTED_EVENTS = [
  'master.down',
  'active.promoted',
  'standby.attached',
  'master.up',
  'standby.synced',
  'failover.completed',
  'standby.ready',
] as const;
export const EXPECTED_STATES = ['healthy', 'master-lost', 'failing-over', 'switching', 'healthy'];
export const EXPECTED_TIMELINE = [
  'started',
  'standby-attached',
  'synced',
  'switched',
  'flushed',
  'standby-ready',
];
/**
 * `--ha`: the leader's etcd lease (a whole number of seconds: etcd counts leases in seconds).
 * Short, so that the takeover after the kill -9 comes within a few seconds.
 */
export const HA_LEASE_MS = 3_000;
/** `--ha`: the master's repl-backlog-size, ample for the writer through a takeover. */
export const HA_BACKLOG = '64mb';
