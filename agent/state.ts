import * as z from 'zod';
import { IntegrityError } from '../shared/model/errors.js';
import { describeJsonProblem, parseJson } from '../shared/model/json.js';
import { readIfExists, writeFileAtomic } from './files.js';

/**
 * What the agent knows about each certificate between runs (default
 * /var/lib/certkeeper/agent.json). `serial` is only ever a CA-issued certificate that
 * verified and was installed: a self-signed fallback sets `fallback` and clears `serial`,
 * so the next real certificate always replaces it.
 */
const timestamp = z.iso.datetime({ offset: true });
const certificateState = z.object({
  serial: z.string().optional(),
  /** The installed certificate's notBefore: a newer one must not start earlier (no going back). */
  notBefore: timestamp.optional(),
  notAfter: timestamp.optional(),
  installedAt: timestamp.optional(),
  lastCheck: timestamp.optional(),
  /** The last failure, as a person should read it (message and fix); cleared on success. */
  lastError: z.string().optional(),
  fallback: z.boolean().optional(),
  /** When the self-signed fallback on disk expires. */
  fallbackNotAfter: timestamp.optional(),
  /** The outcome of the last check (a SyncAction), for the fleet report. */
  lastAction: z.string().optional(),
  /** What the server presented at the last TLS check (with `verify`), for the fleet report. */
  servedSerial: z.string().optional(),
  servedNotAfter: timestamp.optional(),
  servedCheckedAt: timestamp.optional(),
  /** The identifiers of the last manifest read, for the fallback's SANs. */
  identifiers: z.array(z.string()).optional(),
  /**
   * What the installed certificate names, pinned at its first install when nothing trusted
   * said what it must name (direct mode without identifiers in the config): a later
   * certificate for other names is refused rather than taken from whoever wrote the bucket.
   */
  installedIdentifiers: z.array(z.string()).optional(),
});
const stateSchema = z.object({
  version: z.literal(1),
  certificates: z.record(z.string(), certificateState),
  /** When this agent's report was last written, and a digest of what it said. */
  reported: z.object({ at: timestamp, digest: z.string() }).optional(),
});

export type InstalledCertificateState = z.infer<typeof certificateState>;
export type AgentState = z.infer<typeof stateSchema>;

export const emptyState = (): AgentState => ({ version: 1, certificates: {} });

/** Reads the state file; a missing file is an empty state, a damaged one an IntegrityError. */
export async function readState(file: string): Promise<AgentState> {
  const text = await readIfExists(file);
  if (text === undefined) return emptyState();
  const fix = 'delete it: the agent rebuilds it on its next check (and reinstalls the current certificates)';
  return parseJson(text, stateSchema, {
    as: (p) => new IntegrityError(`the agent state file ${file} (${describeJsonProblem(p)}) is damaged`, fix),
  });
}

/** The state holds no secrets, but nothing else needs to read it either. */
export async function writeState(file: string, state: AgentState): Promise<void> {
  await writeFileAtomic({ path: file, content: `${JSON.stringify(state, null, 2)}\n`, mode: 0o640 });
}
