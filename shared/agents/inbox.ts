import * as z from 'zod';

/**
 * What an agent should have installed: per certificate it receives, the serial and where its
 * envelope is. Written by delivery (usecases/deliver-certificates.ts) on every issuance and
 * when an agent joins or its selector changes; read by the agent. The `generation` grows with
 * every change, so the agent's frequent poll reads one number and fetches the entries only
 * when it moved.
 */
const time = z.iso.datetime({ offset: true });

export const inboxEntrySchema = z
  .object({
    serial: z.string().regex(/^[0-9A-Fa-f]{1,64}$/),
    /** The envelope's object key and SHA-256: the agent installs that envelope and no other. */
    key: z.string().min(1).max(1024),
    sha256: z.string().regex(/^[0-9a-f]{64}$/),
    /** Which delivery key the envelope is sealed to (deliveryKeyId): a re-joined agent gets it sealed anew. */
    sealedTo: z.string().regex(/^[0-9a-f]{16}$/),
    /** What the certificate must name, from the spec (not from the bucket, which the agent cannot trust alone). */
    identifiers: z.array(z.string().min(1)).min(1),
    notBefore: time,
    notAfter: time,
  })
  .strict();

export const inboxEntriesSchema = z.record(z.string(), inboxEntrySchema);

export type InboxEntry = z.infer<typeof inboxEntrySchema>;
export type InboxEntries = z.infer<typeof inboxEntriesSchema>;

export interface Inbox {
  agent: string;
  generation: number;
  entries: InboxEntries;
  updatedAt: string;
}

/** Port: the agents' inboxes (the fleet table, see dynamo/fleet-table.ts). */
export interface AgentInboxes {
  /** The agent's cheap poll: the generation, undefined when it has no inbox (yet, or any more). */
  generation(agent: string): Promise<number | undefined>;
  /** The whole inbox, read consistently. */
  get(agent: string): Promise<Inbox | undefined>;
  /**
   * Changes the entries: `change` sees the stored ones ({} when absent) and returns new ones,
   * or undefined to leave them. Optimistic, like the registry: a concurrent change makes the
   * adapter read again and ask again. The generation grows by one with every write.
   */
  update(
    agent: string,
    change: (entries: InboxEntries) => InboxEntries | undefined,
  ): Promise<Inbox | undefined>;
  /** Removes the inbox (a removed agent); its poll then answers undefined. */
  remove(agent: string): Promise<void>;
  /** Every inbox (reconciliation). */
  list(): Promise<Inbox[]>;
}

/** Entries equal in everything the agent acts on. */
export const sameEntries = (a: InboxEntries, b: InboxEntries): boolean =>
  JSON.stringify(sorted(a)) === JSON.stringify(sorted(b));

const sorted = (e: InboxEntries) =>
  Object.fromEntries(Object.entries(e).sort(([x], [y]) => x.localeCompare(y)));
