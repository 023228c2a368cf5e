/**
 * Where the fleet snapshot is read from: the deployed stack (the operator's own credentials,
 * the same reads as `certkeeper status`), a local-mode directory (`--out DIR`), or, for the
 * bench, data made up in memory. Read-only: nothing here writes.
 */
import { loadFleetStatus } from '../../shared/fleet/monitor.js';
import type { FleetStatus } from '../../shared/fleet/status.js';
import type { Inventory } from '../../shared/inventory/inventory.js';
import type { Clock } from '../../shared/model/clock.js';
import { asCertkeeperError } from '../../shared/model/errors.js';
import type { InventoryRecord } from '../../shared/model/state.js';
import type { ListableObjectStore } from '../../shared/store/object-certificate-store.js';
import type { CertificateStore } from '../../shared/store/store.js';
import type { CertificateHistory } from './schema.js';

export interface SourceInfo {
  kind: 'stack' | 'local' | 'fixture';
  /** "s3://bucket (table T)" or the directory, for people. */
  location: string;
}

/**
 * An agent of the registry (the fleet issue): what it receives, who it is, how it stands.
 * The registry is not there yet; when it is, its adapter fills `FleetReading.agents`.
 */
export interface RegistryAgent {
  name: string;
  status: 'pending' | 'active' | 'removed';
  selector: { certificates: string[]; labels: Record<string, string> | null };
  identity: { serial: string; notAfter: string } | null;
  lastReportAt: string | null;
}

/** One reading of everything the snapshot is made of. */
export interface FleetReading {
  /** Every certificate, sorted by name. */
  records: readonly InventoryRecord[];
  /** The view the fleet Lambda saved on its last tick; undefined before the first. */
  view: FleetStatus | undefined;
  agents?: readonly RegistryAgent[];
}

export interface FleetSource extends SourceInfo {
  readonly clock: Clock;
  read(): Promise<FleetReading>;
  /** One certificate's serials and manifest; undefined when it is not in the inventory. */
  history(name: string): Promise<CertificateHistory | undefined>;
}

/** What the stack and local sources are made of: the same ports, wired two ways. */
export interface SourceParts extends SourceInfo {
  clock: Clock;
  inventory: Inventory;
  /** The bucket (or DIR): fleet/status.json is read from it. */
  objects: ListableObjectStore;
  store: CertificateStore;
  agents?: () => Promise<readonly RegistryAgent[]>;
}

export function fleetSource(parts: SourceParts): FleetSource {
  return {
    kind: parts.kind,
    location: parts.location,
    clock: parts.clock,
    async read() {
      const [records, view, agents] = await Promise.all([
        parts.inventory.list(),
        loadFleetStatus(parts.objects),
        parts.agents?.() ?? Promise.resolve([]),
      ]);
      return { records, view, agents };
    },
    async history(name) {
      const record = await parts.inventory.get(name);
      if (!record) return undefined;
      const currentSerial = record.state.current?.serial;
      try {
        const [serials, manifest] = await Promise.all([
          parts.store.listSerials(name),
          parts.store.getManifest(name),
        ]);
        return {
          name,
          serials: serials.map((serial) => ({ serial, current: serial === currentSerial })),
          manifest: manifest
            ? {
                serial: manifest.serial,
                issuedAt: manifest.issuedAt,
                notBefore: manifest.notBefore,
                notAfter: manifest.notAfter,
                ca: manifest.ca ?? null,
                keyType: manifest.keyType,
                profile: manifest.profile ?? null,
                identifiers: manifest.identifiers,
              }
            : null,
          error: null,
        };
      } catch (err) {
        // The inventory part of the detail still helps: say why the bucket part is missing.
        return { name, serials: [], manifest: null, error: asCertkeeperError(err).describe() };
      }
    },
  };
}
