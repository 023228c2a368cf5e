/**
 * An issuer worker that is killed (SIGKILL, no cleanup, no finally) at one step of a
 * renewal, for test/integration/crash-matrix.test.ts. It runs the issuer's own composition
 * (composition/aws-issuer.ts) on the peers its environment names, with the ports wrapped
 * so the process dies right after (or right before) the step:
 *
 *   order      after the new order exists and its URL is recorded
 *   challenge  after the challenge response is presented
 *   finalize   after finalize, before the download
 *   files      after the serial's files are written, before the manifest
 *   manifest   after the manifest, before the state
 *   state      after the state, before the event
 *
 * Usage: tsx test/support/crash-worker.ts <step> <certificate>. Prints `ORDER <url>` for each
 * order it places and `CRASH <step>` just before it dies.
 */
import { buildIssuerRuntime } from '../../composition/aws-issuer.js';
import type { ChallengeSolver } from '../../shared/challenges/solver.js';
import { ObjectCertificateStore } from '../../shared/store/object-certificate-store.js';
import { renewCertificate } from '../../shared/usecases/renew-certificate.js';
import { CRASH_STEPS, type CrashStep } from './crash-steps.js';

const [step, name] = process.argv.slice(2) as [CrashStep, string];
if (!CRASH_STEPS.includes(step) || !name) {
  console.error(`usage: crash-worker.ts <${CRASH_STEPS.join('|')}> <certificate>`);
  process.exit(2);
}

function die(at: CrashStep): never {
  // Pipes are written synchronously on Linux: the line is out before the signal lands.
  process.stdout.write(`CRASH ${at}\n`);
  process.kill(process.pid, 'SIGKILL');
  throw new Error('unreachable');
}

const runtime = buildIssuerRuntime(process.env);
const deps = runtime.renewDeps;
const before = (await deps.inventory.get(name))?.state.current?.serial;

const ca = deps.authorities[0]!.ca;
const issue = ca.issue.bind(ca);
ca.issue = (request, solver) =>
  issue(
    {
      ...request,
      onOrder: async (url) => {
        await request.onOrder?.(url);
        process.stdout.write(`ORDER ${url}\n`);
        if (step === 'order') die(step);
      },
      onProgress: (s) => {
        request.onProgress?.(s);
        if (step === 'finalize' && s === 'download') die(step);
      },
    },
    solver,
  );

const solverFor = (spec: Parameters<typeof deps.solverFor>[0]): ChallengeSolver | undefined => {
  const solver = deps.solverFor(spec);
  if (!solver || step !== 'challenge') return solver;
  return {
    type: solver.type,
    present: async (challenges) => {
      await solver.present(challenges);
      die(step);
    },
    waitReady: (challenges) => solver.waitReady(challenges),
    cleanup: (challenges) => solver.cleanup(challenges),
  };
};

// The bucket as the certificate store sees it, dying before the manifest is written.
const objects = new Proxy(runtime.objects, {
  get(target, property, receiver) {
    if (property === 'put') {
      return async (
        key: string,
        ...rest: Parameters<typeof target.put> extends [string, ...infer R] ? R : never
      ) => {
        if (step === 'files' && key.endsWith('/current.json')) die(step);
        return target.put(key, ...rest);
      };
    }
    const value: unknown = Reflect.get(target, property, receiver);
    return typeof value === 'function' ? value.bind(target) : value;
  },
});

const inventory = deps.inventory;
const putState = inventory.putState.bind(inventory);
inventory.putState = async (certificate, state, lease) => {
  // The write that records the new certificate as current.
  if (step === 'manifest' && state.current?.serial !== before) die(step);
  await putState(certificate, state, lease);
};

const events = deps.events;
const publish = events.publish.bind(events);
events.publish = async (event) => (step === 'state' ? die(step) : publish(event));

await renewCertificate(
  { ...deps, solverFor, store: new ObjectCertificateStore(objects), inventory, events },
  name,
);
console.error(`crash-worker: the renewal of ${name} ended without reaching the step "${step}"`);
process.exit(1);
