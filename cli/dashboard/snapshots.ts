/**
 * The dashboard's answers, made from a fleet source: the snapshot (the document `status
 * --json` prints) and one certificate's history, or, when the source cannot be read (a
 * stack out of reach, credentials refused), a problem document with the message and its
 * fix, which the page shows instead of going blank. The source is opened on first use and
 * again after a failure, so a stack that comes back is picked up without a restart.
 */
import { asCertkeeperError, NotFoundError } from '../../shared/model/errors.js';
import { NAME_PATTERN } from '../../shared/model/spec.js';
import { buildFleetSnapshot } from '../fleet-view/build.js';
import type { SnapshotProblem } from '../fleet-view/schema.js';
import type { FleetSource, SourceInfo } from '../fleet-view/source.js';

/** A JSON answer, serialised once however many tabs ask for it. */
export interface Answer {
  status: number;
  json: string;
}

export interface SnapshotServiceOptions {
  /** Opens the source (connects to the stack); called again after a failure. */
  open(): Promise<FleetSource>;
  /** What the source is, for problem documents before it could be opened. */
  describe: SourceInfo;
  /**
   * How often the source is read while a page is open (its polling interval). A page is
   * answered the latest snapshot at once and never waits for a read (seconds at 10,000
   * certificates, and a read keeps this process busy): the next read is started by a timer
   * after the answer, not by the request. Nobody asking for two intervals stops the reads.
   */
  refreshMs?: number;
  now?: () => Date;
}

export interface SnapshotService {
  snapshot(): Promise<Answer>;
  history(name: string): Promise<Answer>;
  /** Stops the read-ahead timer. */
  close(): void;
}

export function snapshotService(options: SnapshotServiceOptions): SnapshotService {
  const now = options.now ?? (() => new Date());
  const refreshMs = options.refreshMs ?? 15_000;
  let source: Promise<FleetSource> | undefined;
  let latest: { at: number; answer: Answer } | undefined;
  let reading: Promise<Answer> | undefined;
  let askedAt = 0;
  let timer: NodeJS.Timeout | undefined;

  const opened = (): Promise<FleetSource> => {
    source ??= options.open().catch((err: unknown) => {
      source = undefined;
      throw err;
    });
    return source;
  };

  const problem = (err: unknown, status = 503): Answer => {
    const e = asCertkeeperError(err);
    const body: SnapshotProblem = {
      error: { code: e.code, message: e.message, fix: e.fix ?? null },
      source: { kind: options.describe.kind, location: options.describe.location },
      at: now().toISOString(),
    };
    return { status, json: JSON.stringify(body) };
  };

  const read = async (): Promise<Answer> => {
    try {
      const src = await opened();
      const reading = await src.read();
      const snapshot = buildFleetSnapshot(reading, src, src.clock.now());
      return { status: 200, json: JSON.stringify(snapshot) };
    } catch (err) {
      return problem(err);
    }
  };

  const refresh = (): Promise<Answer> =>
    (reading ??= read().then((answer) => {
      latest = { at: Date.now(), answer };
      reading = undefined;
      schedule();
      return answer;
    }));

  // The next read, a refresh interval after the last one, while pages keep asking.
  const schedule = (): void => {
    clearTimeout(timer);
    timer = undefined;
    if (Date.now() - askedAt > 2 * refreshMs) return;
    timer = setTimeout(() => {
      timer = undefined;
      void refresh();
    }, refreshMs);
    timer.unref();
  };

  return {
    async snapshot() {
      askedAt = Date.now();
      if (!timer && !reading && latest) schedule();
      // A problem is never answered from before: this request tries again.
      if (!latest || latest.answer.status !== 200 || Date.now() - latest.at > 3 * refreshMs) return refresh();
      return latest.answer;
    },
    close() {
      askedAt = 0;
      clearTimeout(timer);
      timer = undefined;
    },
    async history(name) {
      if (!NAME_PATTERN.test(name)) return notFound(name);
      try {
        const history = await (await opened()).history(name);
        return history ? { status: 200, json: JSON.stringify(history) } : notFound(name);
      } catch (err) {
        return problem(err);
      }
    },
  };

  function notFound(name: string): Answer {
    return problem(
      new NotFoundError(`certificate "${name}" is not in the inventory`, 'pick one from the timeline'),
      404,
    );
  }
}
