/**
 * Plays the Lambda service for the built fleet bundle, in a plain `node` process (no tsx, so
 * its memory is the bundle's, as Lambda's "Max Memory Used" would be): loads the bundle once
 * (a cold start), then runs its handler each time the parent asks, in the same process (a
 * warm container), and answers with the tick's wall time, CPU time, the requests it sent by
 * "service operation" (aws-request-kind.mjs), the peaks of its RSS and heap during the tick
 * (sampled: the kernel's maxRSS of a forked child starts at its parent's size), and the
 * tick's result.
 * Started by bench/fleet.ts with fork(), with the heap limits Lambda's Node.js runtime gives
 * a function of the fleet function's memory, never by hand:
 *
 *   fork('bench/lib/fleet-tick-host.mjs', ['{"bundle": ".../fleet/index.mjs"}'])
 *   -> { op: 'ready' }; { op: 'run' } -> { op: 'ran', ... }; { op: 'exit' }
 *
 * The handler's environment (endpoints, bucket, tables, queue) comes from process.env.
 */
import diagnostics from 'node:diagnostics_channel';
import { performance } from 'node:perf_hooks';
import { clearInterval, setInterval } from 'node:timers';
import { pathToFileURL } from 'node:url';
import { requestKind } from './aws-request-kind.mjs';

const { bundle } = JSON.parse(process.argv[2] ?? '{}');
if (!bundle) throw new Error('fleet-tick-host: bundle is required');

let calls = {};
diagnostics.subscribe('http.client.request.start', ({ request }) => {
  const key = requestKind(request, undefined);
  calls[key] = (calls[key] ?? 0) + 1;
});

const loadStarted = performance.now();
const { handler } = await import(pathToFileURL(bundle).href);
const loadMs = performance.now() - loadStarted;

process.on('message', (message) => {
  if (message?.op === 'exit') process.exit(0);
  if (message?.op !== 'run') return;
  void (async () => {
    calls = {};
    let heapPeak = 0;
    let rssPeak = 0;
    const sample = () => {
      const { heapUsed, rss } = process.memoryUsage();
      heapPeak = Math.max(heapPeak, heapUsed);
      rssPeak = Math.max(rssPeak, rss);
    };
    const sampler = setInterval(sample, 10);
    const cpuBefore = process.cpuUsage();
    const started = performance.now();
    let result;
    let error;
    try {
      result = await handler();
    } catch (err) {
      error = err instanceof Error ? err.message : String(err);
    }
    const wallMs = performance.now() - started;
    const cpu = process.cpuUsage(cpuBefore);
    clearInterval(sampler);
    sample();
    process.send({
      op: 'ran',
      wallMs,
      cpuMs: (cpu.user + cpu.system) / 1000,
      calls,
      maxRssKb: rssPeak / 1024,
      heapPeakMb: heapPeak / 1024 / 1024,
      summary: result?.summary,
      published: result?.published,
      redelivered: result?.redelivered?.length,
      ignoredReports: result?.ignoredReports?.length,
      error,
    });
  })();
});

process.send({ op: 'ready', loadMs });
