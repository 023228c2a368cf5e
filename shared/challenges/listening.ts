import type { Clock } from '../model/clock.js';
import { CertkeeperError } from '../model/errors.js';
import type { ChallengeType } from '../model/spec.js';
import type { Challenge, ChallengeSolver } from './solver.js';

interface Listener {
  close(): Promise<void>;
}

export interface ListeningOptions {
  /** Where the address came from (a flag, a config field), for errors. */
  flag: string;
  /** What listens, for the notes: "HTTP-01 responder". */
  what: string;
  address: { host: string; port: number };
  /** How long to wait for a taken port. */
  retryMs: number;
  /** How to wait longer for a taken port, for the error's fix (a flag), if the caller offers one. */
  retryHint?: string;
  clock: Clock;
  /** A line for people while it happens (listening, waiting for the port). */
  note(text: string): void;
  start(host: string, port: number): Promise<Listener>;
}

/**
 * A store-backed solver (HTTP-01 or TLS-ALPN-01) plus the responder that serves what it
 * writes from the same store, started on the first challenge and kept until close(): a run
 * with nothing to validate never binds the port.
 */
export class ListeningSolver implements ChallengeSolver {
  readonly type: ChallengeType;
  private responder: Promise<Listener> | undefined;

  constructor(
    private readonly solver: ChallengeSolver,
    private readonly options: ListeningOptions,
  ) {
    this.type = solver.type;
  }

  async listen(): Promise<void> {
    this.responder ??= this.start();
    await this.responder;
  }
  async present(challenges: readonly Challenge[]): Promise<void> {
    await this.listen();
    await this.solver.present(challenges);
  }
  waitReady(challenges: readonly Challenge[]): Promise<void> {
    return this.solver.waitReady(challenges);
  }
  cleanup(challenges: readonly Challenge[]): Promise<void> {
    return this.solver.cleanup(challenges);
  }

  async close(): Promise<void> {
    const pending = this.responder;
    this.responder = undefined;
    if (pending) await (await pending.catch(() => undefined))?.close();
  }

  private async start(): Promise<Listener> {
    const { address, clock, note } = this.options;
    const { host, port } = address;
    const deadline = clock.now().getTime() + this.options.retryMs;
    let told = false;
    for (;;) {
      try {
        const responder = await this.options.start(host, port);
        note(`${this.options.what} listening on ${host}:${port}`);
        return responder;
      } catch (err) {
        const code = (err as NodeJS.ErrnoException).code;
        if (code === 'EADDRINUSE' && clock.now().getTime() < deadline) {
          if (!told) note(`${host}:${port} is in use; waiting for it to be free`);
          told = true;
          await new Promise((done) => setTimeout(done, 100));
          continue;
        }
        throw listenError(this.type, this.options, code, err);
      }
    }
  }
}

/** Why the responder cannot listen, and what to do: HTTP-01 is fetched on port 80, TLS-ALPN-01 on 443. */
function listenError(
  type: ChallengeType,
  options: ListeningOptions,
  code: string | undefined,
  cause: unknown,
): CertkeeperError {
  const { flag, retryHint } = options;
  const { host, port } = options.address;
  const http = type === 'http-01';
  const fix =
    code === 'EADDRINUSE'
      ? http
        ? `stop what listens there, or listen elsewhere and forward /.well-known/acme-challenge/ from port 80 to it${retryHint ? ` (or ${retryHint})` : ''}`
        : 'listen elsewhere and route ALPN acme-tls/1 on port 443 to it (nginx stream with ssl_preread, or HAProxy: see agent/README.md)'
      : code === 'EACCES'
        ? `ports below 1024 need root or CAP_NET_BIND_SERVICE; or listen on a high port and forward port ${http ? 80 : 443} to it`
        : `check the ${flag} address`;
  return new CertkeeperError('validation', `${flag}: cannot listen on ${host}:${port} (${code ?? 'error'})`, {
    fix,
    retryable: code === 'EADDRINUSE',
    cause,
  });
}
