/**
 * One competing process for the multi-process test in file.test.ts: waits for the shared
 * start time, tries to take the lease, prints its fencing token or null.
 */
import { FileLeaseLock } from '../../shared/lock/file.js';

const [dir, go] = process.argv.slice(2);
while (Date.now() < Number(go)) await new Promise((r) => setTimeout(r, 1));
const lease = await new FileLeaseLock({ dir: dir! }).acquire('web', 60_000);
console.log(JSON.stringify(lease?.fencingToken ?? null));
