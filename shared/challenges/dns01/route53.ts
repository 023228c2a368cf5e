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
  /** The first wait between GetChange calls (2 s); it doubles up to `pollMaxIntervalMs` (2.5x that). */
  pollIntervalMs?: number;
  pollMaxIntervalMs?: number;
  /** How long the hosted-zone list and a zone's name servers are reused between lookups. */
  zoneCacheMs?: number;
  /**
   * Zones in other accounts: hosted zone id (bare, "Z123") to the role in that account.
   * Every call about such a zone (GetHostedZone, ListResourceRecordSets,
   * ChangeResourceRecordSets, and GetChange for the changes made there) goes through
   * `clientForRole(roleArn)`; the other zones use the main client.
   */
  zoneRoles?: Readonly<Record<string, string>>;
  /**
   * A Route53 client holding the role's credentials (see assumeRoleCredentials). Called
   * once per role; zones sharing a role share the client and its credentials.
   */
  clientForRole?: (roleArn: string) => Route53Client;
}

/** The client that reaches a zone, and the role it acts as (undefined: the main client). */
interface ZoneAccess {
  client: Route53Client;
  roleArn?: string;
}

interface ListedZone extends DnsZone {
  private: boolean;
}

interface TxtSet {
  ttl: number;
  /** The record strings exactly as Route53 returned them, needed verbatim to DELETE them. */
  records: string[];
}

/**
 * Role-zone changes remembered for GetChange. A change is forgotten once INSYNC; this bounds
 * the ones never waited for (a renewal that failed between its write and its wait).
 */
const MAX_REMEMBERED_CHANGES = 100;

/** Record-set writes that lost a race are re-read and re-tried this many times. */
const MAX_CHANGE_ATTEMPTS = 4;
const LOST_RACE = Symbol('lost race');

/**
 * DnsProvider on Route53. TXT values are changed by compare-and-swap rather than UPSERT: one
 * atomic batch DELETEs the record set exactly as it was read and CREATEs the new one, so a
 * concurrent writer (another certificate sharing the name) makes the batch fail instead of
 * silently losing its value; we then re-read and retry.
 *
 * Zones in other accounts (`zoneRoles`) are reached through a client acting as the zone's
 * role, for every call about them; ListHostedZones cannot see them, so the longest-suffix
 * lookup adds them by GetHostedZone through that client.
 */
export class Route53DnsProvider implements DnsProvider {
  private readonly ttl: number;
  private readonly clock: Clock;
  private zoneCache: { at: number; zones: Promise<ListedZone[]> } | undefined;
  private readonly nameServerCache = new Map<string, { at: number; servers: Promise<string[]> }>();
  private readonly roleClients = new Map<string, Route53Client>();
  /** GetChange must ask the account that made the change: change id to the client. */
  private readonly roleChanges = new Map<string, Route53Client>();

  constructor(
    private readonly client: Route53Client,
    private readonly options: Route53ProviderOptions = {},
  ) {
    this.ttl = options.ttl ?? 60;
    this.clock = options.clock ?? systemClock;
    if (Object.keys(options.zoneRoles ?? {}).length > 0 && !options.clientForRole) {
      throw new Error('Route53DnsProvider: zoneRoles needs clientForRole to reach those zones');
    }
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
        `create a public hosted zone for ${domain} or a parent domain in this account (or list a zone in another account under hostedZones with its roleArn), or set hostedZoneId in the certificate's spec`,
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
    return toZone((await this.getHostedZone(bareZoneId(id), `hosted zone ${id}`)).HostedZone!);
  }

  /**
   * A zone's delegation set is fixed for its life, so it is asked for once per zone and cache
   * period: Route53's API allows five requests a second per account, shared by every
   * renewal's dns-01 calls.
   */
  async nameServers(zone: DnsZone): Promise<string[]> {
    const now = this.clock.now().getTime();
    const cached = this.nameServerCache.get(zone.id);
    if (cached && now - cached.at <= (this.options.zoneCacheMs ?? 60_000)) return cached.servers;
    const servers = this.getHostedZone(zone.id, zoneLabel(zone)).then((out) =>
      (out.DelegationSet?.NameServers ?? []).map(normalizeDnsName),
    );
    this.nameServerCache.set(zone.id, { at: now, servers });
    // A failed lookup must not be cached.
    servers.catch(() => this.nameServerCache.delete(zone.id));
    return servers;
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
    const client = this.roleChanges.get(changeId) ?? this.client;
    const firstWait = this.options.pollIntervalMs ?? 2_000;
    await pollUntil(
      async () => {
        const out = await this.call({ operation: 'GetChange', resource: changeId, client }, () =>
          client.send(new GetChangeCommand({ Id: changeId })),
        );
        return out.ChangeInfo?.Status === 'INSYNC';
      },
      {
        clock: this.clock,
        sleep: this.options.sleep,
        timeoutMs: this.options.changeTimeoutMs ?? 180_000,
        // A change takes up to about a minute to reach INSYNC, and the Route53 API allows 5
        // requests/s per account, shared by every concurrent renewal (and ChangeResourceRecordSets):
        // at 2 s flat, ten dns-01 renewals waiting together would spend all of it on GetChange.
        // Backing off to 5 s keeps ten near 2 requests/s, at ~1.5 s more waiting on average.
        intervalMs: firstWait,
        maxIntervalMs: this.options.pollMaxIntervalMs ?? 2.5 * firstWait,
        what: `Route53 change ${changeId} to reach INSYNC`,
        fix: 'Route53 is slow to propagate; the next attempt will pick this up',
      },
    );
    this.roleChanges.delete(changeId);
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
    const access = this.access(zone.id);
    const { client } = access;
    const label = zoneLabel(zone, access);
    for (let attempt = 1; ; attempt++) {
      const current = await this.readTxt(client, label, zone, name);
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
        { operation: 'ChangeResourceRecordSets', resource: `TXT ${name} in ${label}`, client },
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
      if (changeId === LOST_RACE) continue;
      if (changeId && access.roleArn) this.rememberChange(changeId, client);
      return changeId;
    }
  }

  private async readTxt(
    client: Route53Client,
    label: string,
    zone: DnsZone,
    name: string,
  ): Promise<TxtSet | undefined> {
    const out = await this.call({ operation: 'ListResourceRecordSets', resource: label, client }, () =>
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

  /**
   * This account's zones and the role zones. A role zone that cannot be read fails the
   * lookup rather than being skipped: it may be the longest match, and a shorter zone here
   * would take the TXT record where the CA never looks.
   */
  private async fetchZones(): Promise<ListedZone[]> {
    const roleZoneIds = Object.keys(this.options.zoneRoles ?? {});
    const [own, roleZones] = await Promise.all([
      this.fetchOwnZones(),
      Promise.all(
        roleZoneIds.map(async (id) => {
          const out = await this.getHostedZone(id, `hosted zone ${id}`);
          return { ...toZone(out.HostedZone!), private: out.HostedZone?.Config?.PrivateZone ?? false };
        }),
      ),
    ]);
    return [...own.filter((z) => !roleZoneIds.includes(z.id)), ...roleZones];
  }

  private async fetchOwnZones(): Promise<ListedZone[]> {
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

  private getHostedZone(id: string, resource: string) {
    const access = this.access(id);
    return this.call(
      { operation: 'GetHostedZone', resource: withRole(resource, access), client: access.client },
      () => access.client.send(new GetHostedZoneCommand({ Id: id })),
    );
  }

  /** The role zone's client (one per role, made on first use), or the main client. */
  private access(zoneId: string): ZoneAccess {
    const roleArn = this.options.zoneRoles?.[zoneId];
    if (!roleArn) return { client: this.client };
    let client = this.roleClients.get(roleArn);
    if (!client) {
      client = this.options.clientForRole!(roleArn);
      this.roleClients.set(roleArn, client);
    }
    return { client, roleArn };
  }

  private rememberChange(changeId: string, client: Route53Client): void {
    this.roleChanges.set(changeId, client);
    if (this.roleChanges.size > MAX_REMEMBERED_CHANGES) {
      // Maps iterate in insertion order: the first key is the oldest change.
      this.roleChanges.delete(this.roleChanges.keys().next().value!);
    }
  }

  private async call<T>(
    ctx: Omit<AwsCallContext, 'service'> & { client?: Route53Client },
    send: () => Promise<T>,
  ): Promise<T> {
    return callAws({ service: 'Route53', clock: this.clock, client: this.client, ...ctx }, send);
  }
}

function toZone(z: HostedZone): DnsZone {
  return { id: bareZoneId(z.Id ?? ''), name: normalizeDnsName(z.Name ?? '') };
}

/** Route53 ids come as "/hostedzone/Z123"; the bare id is what people and the API accept. */
const bareZoneId = (id: string): string => id.replace(/^\/hostedzone\//, '');

/** "hosted zone Z123 (example.org) via role arn:aws:iam::...": errors name the role used. */
const zoneLabel = (zone: DnsZone, access?: ZoneAccess): string =>
  withRole(`hosted zone ${zone.id} (${zone.name})`, access);

const withRole = (resource: string, access?: ZoneAccess): string =>
  access?.roleArn ? `${resource} via role ${access.roleArn}` : resource;

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
