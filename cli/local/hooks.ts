/**
 * `--pre-hook` / `--post-hook` around the orders of a `renew --out` run, as certbot runs them.
 * Each certificate's hooks are the ones given to `renew` on its command line, else the ones
 * `issue` saved in its settings (so a cron `renew --out DIR` needs no flags); each of the two
 * is chosen on its own. Every distinct pre-hook runs once, just before the first order that
 * has it (so a service holding port 80 steps aside only when something is renewed), and every
 * distinct post-hook once at the end for each certificate that reached its order, even when
 * the pre-hook or the order failed (the service always comes back). A failed pre-hook fails
 * the orders that have it, for the whole run, and is not run again.
 */
import { CertkeeperError } from '../../shared/model/errors.js';
import { runShell } from './shell.js';

export class OrderHooks {
  /** Exit code of each distinct pre-hook, once started. */
  private readonly pres = new Map<string, Promise<number>>();
  /** Distinct post-hooks in the order their certificates reached an order. */
  private readonly posts: string[] = [];
  private readonly postCodes: number[] = [];
  private preCodes: number[] = [];

  /** The `beforeOrder` (composition/local.ts) of a certificate with these hooks. */
  beforeOrder(preHook: string | undefined, postHook: string | undefined): () => Promise<void> {
    return async () => {
      if (postHook && !this.posts.includes(postHook)) this.posts.push(postHook);
      if (!preHook) return;
      let started = this.pres.get(preHook);
      if (!started) {
        started = runShell(preHook);
        this.pres.set(preHook, started);
        this.preCodes.push(await started);
      }
      const code = await started;
      if (code !== 0) {
        throw new CertkeeperError('internal', `the pre-hook failed (exit ${code}): nothing ordered`, {
          fix: 'make the pre-hook succeed (its output is above), then run renew again',
        });
      }
    };
  }

  /** The pre-hooks' outcome: the first failing exit code, else 0; undefined when none ran. */
  get pre(): number | undefined {
    return worst(this.preCodes);
  }

  /** The post-hooks' outcome, as `pre`. */
  get post(): number | undefined {
    return worst(this.postCodes);
  }

  /** Runs each post-hook that is due, one after the other; their outcome, as `post`. */
  async after(): Promise<number | undefined> {
    for (const postHook of this.posts.splice(0)) this.postCodes.push(await runShell(postHook));
    return this.post;
  }
}

const worst = (codes: readonly number[]): number | undefined =>
  codes.length === 0 ? undefined : (codes.find((code) => code !== 0) ?? 0);
