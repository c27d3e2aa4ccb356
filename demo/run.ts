// `npm run demo`: the failover story of docs/design.md, "Roles and states", on local ephemeral
// ports. A master, two replicas and the real rbuddy CLI; rbuddy attaches the active replica itself
// and holds the standby, empty, as a replica of itself that refuses reads and writes. A writer keeps the master busy and a reader follows
// GET /active. The master is killed (kill -9): the active is promoted and keeps serving; the master
// comes back from its RDB; the standby full-syncs through rbuddy; the roles switch and the old
// active is flushed to stand by. Every claim printed is checked, and the exit code says whether
// all checks held.
//
// `npm run demo -- --ha`: the same story with two rbuddy instances of one group on a 3-member etcd
// cluster (docs/ha.md); the leader is killed first and the other takes over (ha-story.ts).
//
// This file is the run itself: the ways a run ends. The story is in story.ts, one act per file
// in acts/; what the run owns and has checked in run-state.ts; the way out in finish.ts.
import { hasExited, killTrackedNow } from '../harness/processes.js';
import { finish, isFinishing } from './finish.js';
import { expectedDown, owned } from './run-state.js';
import { haStory } from './ha-story.js';
import { story } from './story.js';
import { message } from './texts.js';

function onSignal(signal: 'SIGINT' | 'SIGTERM', code: number): void {
  process.on(signal, () => {
    if (isFinishing()) {
      // A second signal while cleaning up: stop waiting, kill what is left, go.
      killTrackedNow();
      process.exit(code);
    }
    void finish({ kind: 'interrupted', signal, code });
  });
}

// Installed before any child exists, so they run first on Ctrl-C. (processes.ts adds its own
// last-resort SIGKILL of every child this process started, and an exit hook for temp dirs.)
onSignal('SIGINT', 130);
onSignal('SIGTERM', 143);

// A process of ours that dies unasked ends the demo at once, with the reason, instead of leaving
// a step to wait for its timeout.
let reportDeath: (error: Error) => void = () => undefined;
const death = new Promise<never>((_, reject) => {
  reportDeath = reject;
});
setInterval(() => {
  if (isFinishing()) return;
  for (const server of owned.servers) {
    if (server.exited && !expectedDown.has(server)) {
      reportDeath(
        new Error(
          `redis-server ${server.name} (pid ${server.pid}) exited unexpectedly; ` +
            `its log ends with: ${server.logTail(3).replace(/\n/g, ' | ')}`,
        ),
      );
    }
  }
  for (const rbuddy of [owned.rbuddy, ...owned.group]) {
    if (rbuddy !== undefined && hasExited(rbuddy.child)) {
      const how = rbuddy.child.signalCode ?? `exit code ${String(rbuddy.child.exitCode)}`;
      reportDeath(new Error(`rbuddy (pid ${rbuddy.child.pid}) exited unexpectedly (${how})`));
    }
  }
}, 250).unref();

const args = process.argv.slice(2);
const unknown = args.filter((arg) => arg !== '--ha');
if (unknown.length > 0) {
  process.stderr.write(`demo: unknown argument ${unknown.join(' ')} (the only one is --ha)\n`);
  process.exit(2);
}

Promise.race([args.includes('--ha') ? haStory() : story(), death]).then(
  () => finish({ kind: 'done' }),
  (error: unknown) => finish({ kind: 'failed', reason: message(error) }),
);
