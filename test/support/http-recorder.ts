/**
 * A local HTTP server on 127.0.0.1 that stands in for the Telegram Bot API, a Slack
 * incoming webhook and a generic webhook: it records every request and answers 200 unless
 * told otherwise for a path prefix.
 */
import { createServer, type IncomingMessage } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface RecordedRequest {
  method: string;
  path: string;
  contentType: string | undefined;
  body: unknown;
}

export interface Answer {
  status: number;
  body?: string;
  /** Hold the answer this long (a target that hangs). */
  delayMs?: number;
}

export interface HttpRecorder {
  /** http://127.0.0.1:<port> */
  readonly url: string;
  readonly requests: RecordedRequest[];
  /** Answer requests whose path starts with `prefix` like this from now on. */
  answer(prefix: string, answer: Answer): void;
  /** Forget the requests and the answers. */
  reset(): void;
  close(): Promise<void>;
}

export async function startHttpRecorder(): Promise<HttpRecorder> {
  const requests: RecordedRequest[] = [];
  const answers = new Map<string, Answer>();
  const server = createServer((req, res) => {
    void readBody(req).then(async (raw) => {
      const path = req.url ?? '/';
      requests.push({
        method: req.method ?? '',
        path,
        contentType: req.headers['content-type'],
        body: parseJson(raw),
      });
      const answer = [...answers].find(([prefix]) => path.startsWith(prefix))?.[1] ?? {
        status: 200,
        body: 'ok',
      };
      if (answer.delayMs) await new Promise((done) => setTimeout(done, answer.delayMs));
      if (!res.destroyed)
        res.writeHead(answer.status, { 'content-type': 'text/plain' }).end(answer.body ?? '');
    });
  });
  await new Promise<void>((ready) => server.listen(0, '127.0.0.1', ready));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    requests,
    answer: (prefix, answer) => answers.set(prefix, answer),
    reset: () => {
      requests.length = 0;
      answers.clear();
    },
    close: () =>
      new Promise((closed) => {
        server.closeAllConnections();
        server.close(() => closed());
      }),
  };
}

async function readBody(req: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

function parseJson(raw: string): unknown {
  try {
    return JSON.parse(raw);
  } catch {
    return raw;
  }
}
