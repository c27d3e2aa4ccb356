// A real HTTP webhook receiver for the tests and the chaos run. Every request is checked with the independent
// `standardwebhooks` package (the reference implementation receivers use); `respond` decides
// per attempt what to answer: a status (with headers) or 'hang' (never answer: a timeout).
import { randomBytes } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Webhook } from 'standardwebhooks';
import type { RbuddyEvent } from '../src/notify/events.js';

export interface Attempt {
  id: string;
  timestamp: string;
  signature: string;
  contentType: string;
  body: string;
  /** Whether `new Webhook(secret).verify(body, headers)` accepted it. */
  verified: boolean;
  verifyError?: string;
  answered: number | 'hang';
  /** When the request was received (ms since the Unix epoch). */
  at: number;
}

export type Answer = { status: number; headers?: Record<string, string> } | 'hang';

export interface WebhookReceiver {
  url: string;
  port: number;
  secret: string;
  attempts: Attempt[];
  /** Events answered 2xx, first acknowledgement per id, in arrival order. */
  delivered(): RbuddyEvent[];
  /** How many 2xx acknowledgements each id got (exactly-once check). */
  ackCounts(): Map<string, number>;
  respond: (attempt: Attempt, index: number) => Answer;
  close(): Promise<void>;
}

export function newWebhookSecret(): string {
  return `whsec_${randomBytes(24).toString('base64')}`;
}

export async function startWebhookReceiver(
  options: { secret?: string | undefined; port?: number; path?: string } = {},
): Promise<WebhookReceiver> {
  const secret = options.secret ?? newWebhookSecret();
  const verifier = new Webhook(secret);
  const hanging = new Set<ServerResponse>();
  const receiver: WebhookReceiver = {
    url: '',
    port: 0,
    secret,
    attempts: [],
    delivered() {
      const seen = new Set<string>();
      const out: RbuddyEvent[] = [];
      for (const attempt of this.attempts) {
        const ok = typeof attempt.answered === 'number' && attempt.answered < 300;
        if (!ok || !attempt.verified || seen.has(attempt.id)) continue;
        seen.add(attempt.id);
        out.push(JSON.parse(attempt.body) as RbuddyEvent);
      }
      return out;
    },
    ackCounts() {
      const counts = new Map<string, number>();
      for (const attempt of this.attempts) {
        if (typeof attempt.answered === 'number' && attempt.answered < 300) {
          counts.set(attempt.id, (counts.get(attempt.id) ?? 0) + 1);
        }
      }
      return counts;
    },
    respond: () => ({ status: 204 }),
    close: async () => {
      for (const response of hanging) response.destroy();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
  const handle = (request: IncomingMessage, response: ServerResponse): void => {
    const chunks: Buffer[] = [];
    request.on('data', (chunk: Buffer) => chunks.push(chunk));
    request.on('end', () => {
      const body = Buffer.concat(chunks).toString('utf8');
      const header = (name: string): string => {
        const value = request.headers[name];
        return Array.isArray(value) ? value.join(',') : (value ?? '');
      };
      const attempt: Attempt = {
        id: header('webhook-id'),
        timestamp: header('webhook-timestamp'),
        signature: header('webhook-signature'),
        contentType: header('content-type'),
        body,
        verified: false,
        answered: 0,
        at: Date.now(),
      };
      try {
        verifier.verify(body, {
          'webhook-id': attempt.id,
          'webhook-timestamp': attempt.timestamp,
          'webhook-signature': attempt.signature,
        });
        attempt.verified = true;
      } catch (error) {
        attempt.verifyError = String(error);
      }
      const answer: Answer = attempt.verified
        ? receiver.respond(attempt, receiver.attempts.length)
        : { status: 401 };
      attempt.answered = answer === 'hang' ? 'hang' : answer.status;
      receiver.attempts.push(attempt);
      if (answer === 'hang') {
        hanging.add(response);
        return;
      }
      response.writeHead(answer.status, answer.headers ?? {});
      response.end();
    });
  };
  const server: Server = createServer(handle);
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, '127.0.0.1', () => resolve());
  });
  receiver.port = (server.address() as AddressInfo).port;
  receiver.url = `http://127.0.0.1:${receiver.port}${options.path ?? '/hook'}`;
  return receiver;
}
