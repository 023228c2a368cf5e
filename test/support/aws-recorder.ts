/**
 * Records the AWS calls made in this process, with the principal that made them: code run
 * inside `actingAs('issuer', fn)` is the issuer. Every SDK v3 client gets one recording
 * middleware (initialize step) the first time it sends, so the runtimes in functions/ and
 * agent/ need no change: they build their clients as in Lambda, and the hook sees them all.
 * Calls outside `actingAs` (the test's own setup) are not recorded.
 */
import { AsyncLocalStorage } from 'node:async_hooks';
import { Client } from '@smithy/core/client';

export interface RecordedCall {
  principal: string;
  /** The SDK's service id: "S3", "DynamoDB", "SQS", "SNS", "Route 53", ... */
  service: string;
  /** The operation: "GetObject", "ChangeResourceRecordSets", ... */
  operation: string;
  input: Record<string, unknown>;
}

const acting = new AsyncLocalStorage<string>();
const calls: RecordedCall[] = [];
const MARK = Symbol.for('certkeeper.aws-recorder');
let installed = false;

interface ClientInternals {
  config: { serviceId?: string };
  middlewareStack: {
    add(
      mw: (next: (args: { input: object }) => Promise<unknown>, context: { commandName?: string }) => unknown,
      options: { step: 'initialize'; name: string },
    ): void;
  };
  [MARK]?: true;
}

/** Installs the hook (once per process); returns the calls recorded from now on. */
export function recordAwsCalls(): { calls: RecordedCall[]; clear(): void } {
  if (!installed) {
    installed = true;
    const send = Client.prototype.send;
    Client.prototype.send = function (this: ClientInternals, ...args: unknown[]) {
      if (!this[MARK]) {
        this[MARK] = true;
        const service = this.config.serviceId ?? 'unknown';
        this.middlewareStack.add(
          (next, context) => async (args: { input: object }) => {
            const principal = acting.getStore();
            if (principal !== undefined) {
              calls.push({
                principal,
                service,
                operation: (context.commandName ?? 'Unknown').replace(/Command$/, ''),
                // Bodies are not needed to decide on a call, and may be streams.
                input: { ...(args.input as Record<string, unknown>), Body: undefined },
              });
            }
            return next(args);
          },
          { step: 'initialize', name: 'certkeeperAwsRecorder' },
        );
      }
      return (send as (...a: unknown[]) => unknown).apply(this, args);
    } as typeof send;
  }
  return { calls, clear: () => void calls.splice(0) };
}

/** Runs `fn` as `principal`: the AWS calls it makes (awaited or not) are recorded as theirs. */
export function actingAs<T>(principal: string, fn: () => T): T {
  return acting.run(principal, fn);
}
