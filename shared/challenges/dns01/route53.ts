import {
  type Change,
  ChangeResourceRecordSetsCommand,
  GetChangeCommand,
  GetHostedZoneCommand,
  type HostedZone,
  ListHostedZonesCommand,
  ListResourceRecordSetsCommand,
  type ResourceRecordSet,
  type Route53Client,
} from '@aws-sdk/client-route-53';
import { type AwsCallContext, callAws } from '../../aws/errors.js';
import { type Clock, systemClock } from '../../model/clock.js';
import { NotFoundError, ValidationError } from '../../model/errors.js';
import { pollUntil, type PollTiming } from '../poll.js';
import { type DnsProvider, type DnsZone, isInZone, normalizeDnsName } from './provider.js';

export interface Route53ProviderOptions extends PollTiming {
  /** TTL of the challenge records: short, so a retry's new value is not hidden by caches. */
  ttl?: number;
  /** Bound on the wait for a change to reach INSYNC (Route53 usually takes under a minute). */
  changeTimeoutMs?: number;
  pollIntervalMs?: number;
  /** How long the hosted-zone list is reused between lookups. */
  zoneCacheMs?: number;
  /**
   * Seam for zones in other accounts: return a client holding that zone's assumed-role
   * credentials. Zone lookup always uses the main client. Defaults to the main client.
   */
  clientForZone?: (zone: DnsZone) => Route53Client;
}

interface ListedZone extends DnsZone {
  private: boolean;
}

interface TxtSet {
  ttl: number;
  /** The record strings exactly as Route53 returned them, needed verbatim to DELETE them. */
  records: string[];
}

/** Record-set writes that lost a race are re-read and re-tried this many times. */
const MAX_CHANGE_ATTEMPTS = 4;
const LOST_RACE = Symbol('lost race');

/**
 * DnsProvider on Route53. TXT values are changed by compare-and-swap rather than UPSERT: one
 * atomic batch DELETEs the record set exactly as it was read and CREATEs the new one, so a
 * concurrent writer (another certificate sharing the name) makes the batch fail instead of
 * silently losing its value; we then re-read and retry.
 */
export class Route53DnsProvider implements DnsProvider {
  private readonly ttl: number;
  private readonly clock: Clock;
  private zoneCache: { at: number; zones: Promise<ListedZone[]> } | undefined;

  constructor(
    private readonly client: Route53Client,
    private readonly options: Route53ProviderOptions = {},
  ) {
    this.ttl = options.ttl ?? 60;
    this.clock = options.clock ?? systemClock;
  }

  async findZone(fqdn: string): Promise<DnsZone> {
    const name = normalizeDnsName(fqdn);
    const matching = (await this.listZones()).filter((z) => isInZone(name, z.name));
    // The CA cannot query private zones, so they never answer a challenge.
    const candidates = matching.filter((z) => !z.private);
    const longest = Math.max(...candidates.map((z) => z.name.length));
    const best = candidates.filter((z) => z.name.length === longest);
    if (best.length === 0) {
      // Name the domain the operator declared, not the challenge label in front of it.
      const domain = name.replace(/^_acme-challenge\./, '');
      const privateOnly = matching.length ? ' (only private zones match, which the CA cannot query)' : '';
      throw new NotFoundError(
        `no Route53 hosted zone for ${domain}${privateOnly}`,
        `create a public hosted zone for ${domain} or a parent domain in this account, or set hostedZoneId in the certificate's spec`,
      );
    }
    if (best.length > 1) {
      throw new ValidationError(
        'hostedZoneId',
        `${best.length} public hosted zones are named ${best[0]!.name} (${best.map((z) => z.id).join(', ')})`,
        "set hostedZoneId in the certificate's spec to the zone the domain is delegated to",
      );
    }
    return { id: best[0]!.id, name: best[0]!.name };
  }

  async getZone(id: string): Promise<DnsZone> {
    const out = await this.call({ operation: 'GetHostedZone', resource: `hosted zone ${id}` }, () =>
      this.client.send(new GetHostedZoneCommand({ Id: id })),
    );
    return toZone(out.HostedZone!);
  }

  async nameServers(zone: DnsZone): Promise<string[]> {
    const out = await this.call({ operation: 'GetHostedZone', resource: zoneLabel(zone) }, () =>
      this.client.send(new GetHostedZoneCommand({ Id: zone.id })),
    );
    return (out.DelegationSet?.NameServers ?? []).map(normalizeDnsName);
  }

  upsertTxt(zone: DnsZone, fqdn: string, values: readonly string[]): Promise<string | undefined> {
    // Our values need the short TTL; a longer one on the existing set is shortened with them.
    return this.changeTxt(zone, fqdn, (current, ttl) => ({
      values: [...current, ...values.filter((v) => !current.includes(v))],
      ttl: Math.min(ttl ?? this.ttl, this.ttl),
    }));
  }

  deleteTxt(zone: DnsZone, fqdn: string, values: readonly string[]): Promise<string | undefined> {
    // What stays keeps the TTL it had.
    return this.changeTxt(zone, fqdn, (current, ttl) => ({
      values: current.filter((v) => !values.includes(v)),
      ttl: ttl ?? this.ttl,
    }));
  }

  async waitForChange(changeId: string): Promise<void> {
    await pollUntil(
      async () => {
        const out = await this.call({ operation: 'GetChange', resource: changeId }, () =>
          this.client.send(new GetChangeCommand({ Id: changeId })),
        );
        return out.ChangeInfo?.Status === 'INSYNC';
      },
      {
        clock: this.clock,
        sleep: this.options.sleep,
        timeoutMs: this.options.changeTimeoutMs ?? 180_000,
        intervalMs: this.options.pollIntervalMs ?? 2_000,
        what: `Route53 change ${changeId} to reach INSYNC`,
        fix: 'Route53 is slow to propagate; the next attempt will pick this up',
      },
    );
  }

  /** Reads the record set, computes the new values, swaps it in one batch; retries lost races. */
  private async changeTxt(
    zone: DnsZone,
    fqdn: string,
    edit: (current: string[], ttl: number | undefined) => { values: string[]; ttl: number },
  ): Promise<string | undefined> {
    const name = normalizeDnsName(fqdn);
    if (!isInZone(name, zone.name)) {
      throw new ValidationError(
        'hostedZoneId',
        `${name} is not inside ${zoneLabel(zone)}`,
        'use a zone that contains the name',
      );
    }
    const client = this.options.clientForZone?.(zone) ?? this.client;
    for (let attempt = 1; ; attempt++) {
      const current = await this.readTxt(client, zone, name);
      const values = current?.records.map(unquoteTxt) ?? [];
      const next = edit(values, current?.ttl);
      if (next.values.length === values.length && next.values.every((v) => values.includes(v)))
        return undefined;
      const changes: Change[] = [];
      if (current)
        changes.push({ Action: 'DELETE', ResourceRecordSet: txtSet(name, current.ttl, current.records) });
      if (next.values.length)
        changes.push({
          Action: 'CREATE',
          ResourceRecordSet: txtSet(name, next.ttl, next.values.map(quoteTxt)),
        });
      const changeId = await this.call(
        { operation: 'ChangeResourceRecordSets', resource: `TXT ${name} in ${zoneLabel(zone)}`, client },
        async () => {
          try {
            const batch = { Comment: 'certkeeper dns-01', Changes: changes };
            const out = await client.send(
              new ChangeResourceRecordSetsCommand({ HostedZoneId: zone.id, ChangeBatch: batch }),
            );
            return out.ChangeInfo?.Id;
          } catch (err) {
            // Route53 says InvalidChangeBatch when the DELETE no longer matches or the CREATE
            // finds a record set (moto says InvalidInput): someone wrote in between.
            const lostRace = ['InvalidChangeBatch', 'InvalidInput'].includes((err as Error).name);
            if (lostRace && attempt < MAX_CHANGE_ATTEMPTS) return LOST_RACE;
            throw err;
          }
        },
      );
      if (changeId !== LOST_RACE) return changeId;
    }
  }

  private async readTxt(client: Route53Client, zone: DnsZone, name: string): Promise<TxtSet | undefined> {
    const out = await this.call(
      { operation: 'ListResourceRecordSets', resource: zoneLabel(zone), client },
      () =>
        client.send(
          new ListResourceRecordSetsCommand({
            HostedZoneId: zone.id,
            StartRecordName: name,
            StartRecordType: 'TXT',
            MaxItems: 1,
          }),
        ),
    );
    // The listing starts at the name but returns the next record set when there is none.
    const set = out.ResourceRecordSets?.[0];
    if (!set || set.Type !== 'TXT' || normalizeDnsName(set.Name ?? '') !== name) return undefined;
    return { ttl: set.TTL ?? this.ttl, records: (set.ResourceRecords ?? []).map((r) => r.Value ?? '') };
  }

  private async listZones(): Promise<ListedZone[]> {
    const now = this.clock.now().getTime();
    if (!this.zoneCache || now - this.zoneCache.at > (this.options.zoneCacheMs ?? 60_000)) {
      const zones = this.fetchZones();
      this.zoneCache = { at: now, zones };
      // A failed listing must not be cached.
      zones.catch(() => (this.zoneCache = undefined));
    }
    return this.zoneCache.zones;
  }

  private async fetchZones(): Promise<ListedZone[]> {
    const zones: ListedZone[] = [];
    let marker: string | undefined;
    do {
      const page = await this.call({ operation: 'ListHostedZones' }, () =>
        this.client.send(new ListHostedZonesCommand({ Marker: marker })),
      );
      for (const z of page.HostedZones ?? [])
        zones.push({ ...toZone(z), private: z.Config?.PrivateZone ?? false });
      marker = page.IsTruncated ? page.NextMarker : undefined;
    } while (marker);
    return zones;
  }

  private async call<T>(
    ctx: Omit<AwsCallContext, 'service'> & { client?: Route53Client },
    send: () => Promise<T>,
  ): Promise<T> {
    return callAws({ service: 'Route53', clock: this.clock, client: this.client, ...ctx }, send);
  }
}

/** Route53 ids come as "/hostedzone/Z123"; the bare id is what people and the API accept. */
function toZone(z: HostedZone): DnsZone {
  return { id: (z.Id ?? '').replace(/^\/hostedzone\//, ''), name: normalizeDnsName(z.Name ?? '') };
}

const zoneLabel = (zone: DnsZone): string => `hosted zone ${zone.id} (${zone.name})`;

function txtSet(name: string, ttl: number, records: string[]): ResourceRecordSet {
  return { Name: name, Type: 'TXT', TTL: ttl, ResourceRecords: records.map((Value) => ({ Value })) };
}

/** Zone-file form Route53 expects: one quoted character-string, with `"` and `\` escaped. */
export const quoteTxt = (value: string): string => `"${value.replace(/["\\]/g, '\\$&')}"`;

/** The value of one TXT record as Route53 returns it; long values come as several strings. */
export function unquoteTxt(record: string): string {
  const strings = [...record.matchAll(/"((?:[^"\\]|\\.)*)"/g)].map((m) => m[1]!.replace(/\\(.)/g, '$1'));
  return strings.length ? strings.join('') : record;
}
