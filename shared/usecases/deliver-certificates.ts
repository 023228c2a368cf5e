import type { AgentInboxes, InboxEntries, InboxEntry } from '../agents/inbox.js';
import { sameEntries } from '../agents/inbox.js';
import { deliveryKeyId, envelopeSha256, sealEnvelope } from '../agents/envelope.js';
import { type DeliveryShard, shardCount, shardOf } from '../agents/shards.js';
import type { AgentRegistry } from '../agents/registry.js';
import type { Inventory } from '../inventory/inventory.js';
import { type AgentRecord, isReceiving, selects } from '../model/agent.js';
import type { Clock } from '../model/clock.js';
import { asCertkeeperError } from '../model/errors.js';
import type { Log } from '../model/log.js';
import type { InventoryRecord } from '../model/state.js';
import { BUNDLE_FILES, RETENTION_TAG, agentDeliveryKey, retentionClass } from '../store/layout.js';
import type { CertificateStore, Manifest, ObjectStore } from '../store/store.js';

/**
 * Delivery to registry agents: every agent gets, under its own prefix, each certificate it
 * receives sealed to its delivery key (agents/envelope.ts), and an inbox entry naming it.
 * Three entry points, one rule (`expectedEntries`):
 * - a certificate issued or renewed goes to every agent that selects it now;
 * - an agent that joined or changed its selector gets everything it selects;
 * - the fleet tick finds inboxes that differ from the rule (a missed event, a label added)
 *   and asks for the agent's delivery.
 * Idempotent: an entry already right is left alone; an envelope is written before the entry
 * naming it, so an agent never reads an entry whose envelope is missing.
 */
export interface DeliveryDeps {
  registry: AgentRegistry;
  inventory: Inventory;
  store: CertificateStore;
  /** The bucket, where envelopes are written (SSE-KMS, with the lifetime tag for lifecycle). */
  objects: ObjectStore;
  inboxes: AgentInboxes;
  clock: Clock;
  log: Log;
  /** Agents served at once; default 16. */
  concurrency?: number;
  /**
   * Splitting a certificate's delivery across invocations: above `size` receiving agents,
   * `request` asks for that many shards (shared/agents/shards.ts), each its own invocation.
   * Without it, one invocation serves every agent.
   */
  shards?: { size: number; request(certificate: string, count: number): Promise<void> };
}

export interface DeliveryResult {
  /** Agents whose inbox changed. */
  delivered: string[];
  /** Agents whose inbox was already right. */
  unchanged: number;
  /** Agents that could not be served, with the reason; the fleet tick tries again. */
  failed: { agent: string; error: string }[];
  /** Set when the delivery was split instead: how many shards were asked for. */
  shards?: number;
}

interface Current {
  record: InventoryRecord;
  manifest: Manifest;
}

/**
 * After an issuance: `name` to every receiving agent that selects it, or to those of them in
 * `shard`. When more agents select it than one invocation should serve, the delivery is
 * split into shards instead (deps.shards) and nothing is delivered here.
 */
export async function deliverCertificate(
  deps: DeliveryDeps,
  name: string,
  shard?: DeliveryShard,
): Promise<DeliveryResult> {
  const record = await deps.inventory.get(name);
  const agents = (await deps.registry.list()).filter(
    (a) =>
      isReceiving(a) &&
      record !== undefined &&
      selects(a.selector, { name, labels: record.spec.labels }) &&
      (!shard || shardOf(a.name, shard.count) === shard.index),
  );
  if (!shard && deps.shards && agents.length > deps.shards.size) {
    const count = shardCount(agents.length, deps.shards.size);
    await deps.shards.request(name, count);
    deps.log.info(`delivery of ${name} split into ${count} shards`, { agents: agents.length });
    return { delivered: [], unchanged: 0, failed: [], shards: count };
  }
  const current = record && (await currentOf(deps, record));
  const changes = new Map([[name, current]]);
  const bundles = new BundleCache(deps);
  return forEachAgent(deps, agents, (agent) => updateInbox(deps, agent, bundles, changes, false));
}

/**
 * After a join, a selector change, or an inbox the fleet tick found stale (or an envelope
 * the agent refused): everything `agent` selects, and nothing else, every envelope sealed
 * and written anew, so a damaged or replaced one is not handed over again.
 */
export async function deliverToAgent(deps: DeliveryDeps, name: string): Promise<DeliveryResult> {
  const agent = await deps.registry.get(name);
  if (!agent || !isReceiving(agent)) {
    // A removed (or not yet joined) agent keeps no inbox: nothing new reaches it.
    if (agent?.status === 'removed') await deps.inboxes.remove(name);
    return { delivered: [], unchanged: 0, failed: [] };
  }
  const selected = (await deps.inventory.list()).filter(
    (r) =>
      r.state.status !== 'retired' && selects(agent.selector, { name: r.spec.name, labels: r.spec.labels }),
  );
  const currents = (await Promise.all(selected.map((r) => currentOf(deps, r)))).filter(
    (c): c is Current => !!c,
  );
  const changes = new Map(currents.map((c) => [c.record.spec.name, c]));
  return forEachAgent(deps, [agent], (a) => updateInbox(deps, a, new BundleCache(deps), changes, true, true));
}

/**
 * Writes the envelopes `changes` call for (a certificate mapped to undefined leaves the
 * inbox), then the inbox in one optimistic write. `replaceAll`: the inbox becomes exactly
 * `changes`; otherwise the other entries stay. An entry a concurrent delivery made for a
 * newer certificate is never replaced by an older one.
 */
async function updateInbox(
  deps: DeliveryDeps,
  agent: AgentRecord,
  bundles: BundleCache,
  changes: ReadonlyMap<string, Current | undefined>,
  replaceAll: boolean,
  reseal = false,
): Promise<boolean> {
  const keyId = deliveryKeyId(agent.deliveryKey!);
  const stored = (await deps.inboxes.get(agent.name))?.entries ?? {};
  const fresh = new Map<string, InboxEntry>();
  for (const [name, current] of changes) {
    if (!current) continue;
    const had = stored[name];
    fresh.set(
      name,
      !reseal && had && had.serial === current.manifest.serial && had.sealedTo === keyId
        ? had
        : await writeEnvelope(deps, agent, current, await bundles.files(current.manifest), keyId),
    );
  }
  const written = await deps.inboxes.update(agent.name, (entries) => {
    const next: InboxEntries = replaceAll ? {} : { ...entries };
    for (const [name, current] of changes) {
      const entry = fresh.get(name);
      const theirs = entries[name];
      if (!current || !entry) delete next[name];
      else if (
        theirs &&
        theirs.sealedTo === keyId &&
        Date.parse(theirs.notBefore) > Date.parse(entry.notBefore)
      )
        next[name] = theirs;
      else next[name] = entry;
    }
    return sameEntries(next, entries) ? undefined : next;
  });
  return written !== undefined;
}

async function writeEnvelope(
  deps: DeliveryDeps,
  agent: AgentRecord,
  { record, manifest }: Current,
  files: Record<(typeof BUNDLE_FILES)[number], string>,
  keyId: string,
): Promise<InboxEntry> {
  const binding = { agent: agent.name, certificate: manifest.name, serial: manifest.serial };
  const text = sealEnvelope(binding, files, agent.deliveryKey!);
  const key = agentDeliveryKey(agent.name, manifest.name, manifest.serial);
  const lifetime = retentionClass(Date.parse(manifest.notAfter) - Date.parse(manifest.notBefore));
  await deps.objects.put(key, text, {
    secret: true,
    contentType: 'application/json',
    ...(lifetime ? { tags: { [RETENTION_TAG]: String(lifetime) } } : {}),
  });
  return {
    serial: manifest.serial,
    key,
    sha256: envelopeSha256(text),
    sealedTo: keyId,
    identifiers: record.spec.identifiers.map((i) => i.value),
    notBefore: manifest.notBefore,
    notAfter: manifest.notAfter,
  };
}

/** The manifest the state names as current; undefined before the first issuance or when retired. */
async function currentOf(deps: DeliveryDeps, record: InventoryRecord): Promise<Current | undefined> {
  const serial = record.state.current?.serial;
  if (!serial || record.state.status === 'retired') return undefined;
  const manifest = await deps.store.getManifest(record.spec.name);
  // The state is written after the manifest: a manifest newer than the state is delivered
  // by the event of that issuance; one older (a failed write) waits for the next pass.
  return manifest && manifest.serial === serial ? { record, manifest } : undefined;
}

/** Each serial's files read once per delivery, however many agents receive it. */
class BundleCache {
  private readonly files_ = new Map<string, Promise<Record<(typeof BUNDLE_FILES)[number], string>>>();
  constructor(private readonly deps: DeliveryDeps) {}
  files(manifest: Manifest): Promise<Record<(typeof BUNDLE_FILES)[number], string>> {
    const id = `${manifest.name}/${manifest.serial}`;
    let files = this.files_.get(id);
    if (!files) {
      files = Promise.all(BUNDLE_FILES.map((f) => this.deps.store.readFile(manifest.files[f].key))).then(
        (texts) =>
          Object.fromEntries(BUNDLE_FILES.map((f, i) => [f, texts[i]!])) as Record<
            (typeof BUNDLE_FILES)[number],
            string
          >,
      );
      this.files_.set(id, files);
    }
    return files;
  }
}

async function forEachAgent(
  deps: DeliveryDeps,
  agents: readonly AgentRecord[],
  serve: (agent: AgentRecord) => Promise<boolean>,
): Promise<DeliveryResult> {
  const result: DeliveryResult = { delivered: [], unchanged: 0, failed: [] };
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < agents.length) {
      const agent = agents[next++]!;
      try {
        if (await serve(agent)) result.delivered.push(agent.name);
        else result.unchanged++;
      } catch (err) {
        const error = asCertkeeperError(err).describe();
        result.failed.push({ agent: agent.name, error });
        deps.log.warn(`delivery to agent ${agent.name} failed; the fleet tick tries again`, { error });
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(deps.concurrency ?? 16, agents.length) }, worker));
  result.delivered.sort();
  return result;
}
