// A node's own values of the settings rbuddy changes (the write guard's min-replicas-*, and
// replica-serve-stale-data), read before rbuddy changes them and saved with the state, so that
// they are restored when the node is the active again (docs/design.md, "The write guard").
import type { ReplicaNode } from '../nodes/replica-node.js';
import type { ActionContext } from './action-types.js';
import { guardSettingsOf, isWriteGuard, REDIS_DEFAULTS, STALE_DATA_SETTING } from './node-ops.js';
import type { SavedConfig } from './persisted-state.js';

/**
 * A node's own values of the guarded settings. Our values are never taken for its own (a state
 * dir lost while the node was guarded or held): Redis's defaults stand in for them. A
 * `replica-serve-stale-data no` is taken for rbuddy's when the node replicates from rbuddy
 * (`followsProxy`), since that is how rbuddy leaves the idle standby.
 */
export async function originalSettings(
  c: ActionContext,
  node: ReplicaNode,
  followsProxy = false,
): Promise<SavedConfig> {
  const settings = await c.ops.configGet(node);
  const own = { ...settings };
  if (isWriteGuard(settings)) {
    Object.assign(own, guardSettingsOf(REDIS_DEFAULTS));
    c.log.warn(
      { node: node.id, settings },
      "the node holds rbuddy's write guard but no original settings are saved: Redis's defaults will be restored",
    );
  }
  if (followsProxy && settings[STALE_DATA_SETTING] === 'no') {
    own[STALE_DATA_SETTING] = REDIS_DEFAULTS[STALE_DATA_SETTING] ?? 'yes';
    c.log.warn(
      { node: node.id },
      "the node is held as rbuddy's idle standby but its own replica-serve-stale-data is not saved: Redis's default (yes) will be restored",
    );
  }
  return own;
}

/**
 * The standby's own settings, saved (committed) before anything changes them: a restart in
 * between never takes rbuddy's values for the node's own. Files written before
 * replica-serve-stale-data was saved get it added.
 */
export async function saveStandbySettings(c: ActionContext): Promise<SavedConfig> {
  const saved = c.persisted.standbySavedConfig ?? undefined;
  if (saved !== undefined && saved[STALE_DATA_SETTING] !== undefined) return saved;
  const view = await c.ops.view(c.standbyNode);
  const own = await originalSettings(c, c.standbyNode, view.followsProxy);
  const complete = saved === undefined ? own : { ...own, ...saved };
  await c.commit({ state: { ...c.persisted, standbySavedConfig: complete } });
  return complete;
}
