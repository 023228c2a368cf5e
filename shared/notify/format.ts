import { wholeMinutes } from '../model/age.js';
import { DAY, HOUR } from '../model/clock.js';
import { CertkeeperError, shortProblemType } from '../model/errors.js';
import type { CertificateEvent } from '../model/event.js';
import type { CloudWatchAlarm, Notification } from '../events/notification.js';

/**
 * Turns certificate events and CloudWatch alarms into short messages a person can act on:
 * which certificate, how long it has left, what failed and how often, when certkeeper tries
 * again, and the command to run. Pure: the time comes in as `now`.
 */
export type Severity = 'info' | 'warning' | 'critical';

export interface NotificationMessage {
  /** One line, ASCII, under 100 characters (SNS email subjects allow no more). */
  subject: string;
  /** A few lines of plain text. */
  text: string;
  severity: Severity;
  /** What the message was made from, for targets that forward structured data (webhook). */
  event: CertificateEvent | CloudWatchAlarm;
}

export function formatNotification(notification: Notification, now: Date): NotificationMessage {
  const message =
    notification.kind === 'alarm'
      ? formatAlarm(notification.alarm)
      : formatCertificateEvent(notification.event, now);
  refuseKeyMaterial(message);
  return message;
}

export function formatCertificateEvent(event: CertificateEvent, now: Date): NotificationMessage {
  const name = event.certificate;
  const who = `${name} (${listIdentifiers(event.identifiers)})`;
  const left = event.notAfter ? new Date(event.notAfter).getTime() - now.getTime() : undefined;
  const lifetime = left === undefined ? undefined : describeTimeLeft(left);
  const lookUp = `Run \`certkeeper status ${name}\` for the full error and history.`;

  switch (event.type) {
    case 'certificate.renewal_failed':
    case 'certificate.expiring': {
      const failing = event.status === 'failing';
      // Under a day left (or already expired) is an outage about to happen, whatever the event.
      const urgent = failing || event.warning === 'day' || (left !== undefined && left < DAY);
      const lines = [
        sentence(`${who} ${lifetime ?? 'has no certificate yet'}; ${failures(event)}`),
        failing ? 'Status: failing. Attempts go on; the current certificate stays in place.' : undefined,
        event.nextAttemptAt ? nextAttempt(new Date(event.nextAttemptAt), now) : undefined,
        event.warning === 'third' ? 'A third of its lifetime is left.' : undefined,
        lookUp,
      ];
      const headline =
        event.type === 'certificate.expiring'
          ? (lifetime ?? 'is expiring')
          : `${event.notAfter ? 'renewal' : 'issuance'} ${failing ? 'failing' : 'failed'}`;
      return {
        subject: subject(`${name} ${headline}`),
        text: join(lines),
        severity: urgent ? 'critical' : 'warning',
        event,
      };
    }
    case 'certificate.revoked':
      // Clients that check revocation refuse the certificate from now on: it needs replacing.
      return {
        subject: subject(`${name} certificate revoked`),
        text: join([
          `${who}: certificate ${event.serial ?? '(serial unknown)'} was revoked.`,
          `Servers still serving it will be refused. Run \`certkeeper renew ${name}\` to replace it, and \`certkeeper status ${name}\` to check.`,
        ]),
        severity: 'critical',
        event,
      };
    case 'certificate.deployment_lagging':
    case 'certificate.deployment_recovered':
      return formatDeployment(event, who, now);
    case 'certificate.renewed':
    case 'certificate.issued': {
      const verb = event.type === 'certificate.renewed' ? 'renewed' : 'issued';
      const until =
        event.notAfter && left !== undefined
          ? `valid until ${clockTime(new Date(event.notAfter))} (${humanDuration(left)})`
          : 'no expiry given';
      return {
        subject: subject(`${name} ${verb}`),
        text: `${who} ${verb}: serial ${event.serial ?? '(unknown)'}, ${until}.`,
        severity: 'info',
        event,
      };
    }
  }
}

const TARGET_NOUN = { agent: 'agent', probe: 'endpoint', acm: 'ACM in' } as const;

const HEALTH_HEADLINE: Record<string, string> = {
  updating: 'is updating',
  behind: 'is behind',
  silent: 'is silent',
  unreachable: 'is unreachable',
  'wrong-certificate': 'serves another certificate',
  failed: 'import failed',
  expiring: 'serves a certificate about to expire',
};

/** A server (or endpoint, or ACM region) that fell behind, went quiet, or came back. */
function formatDeployment(event: CertificateEvent, who: string, now: Date): NotificationMessage {
  const t = event.target;
  const name = event.certificate;
  const where = t ? `${TARGET_NOUN[t.kind]} ${t.id}` : 'a delivery target';
  const has = t?.servedSerial ?? t?.installedSerial;
  if (event.type === 'certificate.deployment_recovered') {
    return {
      subject: subject(`${name}: ${where} recovered`),
      text: join([
        `${who}: ${where} has the current certificate again (serial ${has ?? event.serial ?? 'unknown'}).`,
      ]),
      severity: 'info',
      event,
    };
  }
  const ago = (iso: string | undefined) =>
    iso ? `${humanDuration(Math.max(0, now.getTime() - new Date(iso).getTime()))} ago` : 'never';
  const serials = [
    t?.installedSerial ? `installed ${t.installedSerial}` : undefined,
    t?.servedSerial ? `serves ${t.servedSerial}` : undefined,
  ].filter(Boolean);
  const lines = [
    sentence(
      `${who}: ${where} ${HEALTH_HEADLINE[t?.health ?? 'behind'] ?? 'needs attention'}; the current serial is ${event.serial ?? 'unknown'}${t?.behindSince ? `, stored ${ago(t.behindSince)}` : ''}`,
    ),
    serials.length ? sentence(`It ${serials.join(' and ')}`) : undefined,
    t?.kind === 'agent' ? `Last report: ${ago(t.lastReportAt)}.` : undefined,
    t?.error ? `Last error: ${clip(t.error)}` : undefined,
    `Run \`certkeeper status ${name}\` to see every server.`,
  ];
  // What it serves running out, or a silent server, is an outage in the making.
  const urgent = t?.health === 'expiring' || t?.health === 'silent' || t?.health === 'unreachable';
  return {
    subject: subject(`${name}: ${where} ${HEALTH_HEADLINE[t?.health ?? 'behind'] ?? 'needs attention'}`),
    text: join(lines),
    severity: urgent ? 'critical' : 'warning',
    event,
  };
}

const ALARM_SEVERITY: Record<string, Severity> = { ALARM: 'critical', OK: 'info' };

export function formatAlarm(alarm: CloudWatchAlarm): NotificationMessage {
  const state = alarm.NewStateValue;
  const since = alarm.StateChangeTime ? parseAlarmTime(alarm.StateChangeTime) : undefined;
  const was = alarm.OldStateValue ? ` (was ${alarm.OldStateValue})` : '';
  const link = consoleLink(alarm);
  return {
    subject: subject(`alarm ${alarm.AlarmName} is ${state}`),
    text: join([
      `${alarm.AlarmName} is ${state}${since ? ` since ${clockTime(since)}` : ''}${was}.`,
      alarm.NewStateReason ? `Reason: ${clip(alarm.NewStateReason)}` : undefined,
      // The stack writes what the alarm watches and what to do into the description.
      state === 'OK' ? undefined : (alarm.AlarmDescription ?? undefined),
      state === 'OK' || !link ? undefined : `Alarm: ${link}`,
    ]),
    // INSUFFICIENT_DATA and any state CloudWatch adds later: worth a look, not a page.
    severity: ALARM_SEVERITY[state] ?? 'warning',
    event: alarm,
  };
}

/** "19 h", "2 d 5 h": floored, so a message never promises more time than is left. */
export function humanDuration(ms: number): string {
  if (ms < HOUR) return `${wholeMinutes(ms)} min`;
  if (ms < 2 * DAY) return `${Math.floor(ms / HOUR)} h`;
  const days = Math.floor(ms / DAY);
  const hours = Math.floor((ms % DAY) / HOUR);
  return days < 10 && hours > 0 ? `${days} d ${hours} h` : `${days} d`;
}

function describeTimeLeft(ms: number): string {
  return ms > 0 ? `expires in ${humanDuration(ms)}` : `expired ${humanDuration(-ms)} ago`;
}

function failures(event: CertificateEvent): string {
  const what = event.notAfter ? 'renewal' : 'issuance';
  const count =
    event.attempt === undefined
      ? `${what} has not succeeded`
      : `${event.attempt} ${what} attempt${event.attempt === 1 ? '' : 's'} failed`;
  return event.error ? `${count}: ${problem(event.error)}` : count;
}

/** The ACME problem URN first (searchable), then the detail without the URN repeated. */
function problem(error: NonNullable<CertificateEvent['error']>): string {
  if (!error.type) return clip(error.detail);
  const repeated = `ACME ${shortProblemType(error.type)}: `;
  const detail = error.detail.startsWith(repeated) ? error.detail.slice(repeated.length) : error.detail;
  return `${error.type} — ${clip(detail)}`;
}

function nextAttempt(at: Date, now: Date): string {
  const wait = at.getTime() - now.getTime();
  return `Next attempt: ${clockTime(at)} (${wait > 0 ? `in ${humanDuration(wait)}` : 'due now'}).`;
}

const SHOWN_IDENTIFIERS = 3;

function listIdentifiers(identifiers: readonly string[]): string {
  const shown = identifiers.slice(0, SHOWN_IDENTIFIERS).join(', ');
  const more = identifiers.length - SHOWN_IDENTIFIERS;
  return more > 0 ? `${shown} +${more} more` : shown;
}

/** "2026-11-22 09:00 UTC": minutes are enough for a person, and UTC avoids guessing zones. */
function clockTime(at: Date): string {
  return `${at.toISOString().slice(0, 16).replace('T', ' ')} UTC`;
}

/** CloudWatch writes "2026-11-22T11:00:00.000+0000"; Date wants the offset as +00:00. */
function parseAlarmTime(text: string): Date | undefined {
  const at = new Date(text.replace(/([+-]\d\d)(\d\d)$/, '$1:$2'));
  return Number.isNaN(at.getTime()) ? undefined : at;
}

/** The alarm's page in the console, from its ARN (the message names the region only in words). */
function consoleLink(alarm: CloudWatchAlarm): string | undefined {
  const region = alarm.AlarmArn?.split(':')[3];
  if (!region) return undefined;
  return `https://${region}.console.aws.amazon.com/cloudwatch/home?region=${region}#alarmsV2:alarm/${encodeURIComponent(alarm.AlarmName)}`;
}

const MAX_DETAIL = 300;
const MAX_SUBJECT = 100;

function clip(text: string): string {
  const flat = text.replace(/\s+/g, ' ').trim();
  return flat.length > MAX_DETAIL ? `${flat.slice(0, MAX_DETAIL - 1)}…` : flat;
}

/** SNS email subjects must be printable ASCII without line breaks, at most 100 characters. */
function subject(text: string): string {
  const ascii = `certkeeper: ${text}`.replace(/\s+/g, ' ').replace(/[^\x20-\x7E]/g, '?');
  return ascii.length > MAX_SUBJECT ? `${ascii.slice(0, MAX_SUBJECT - 3)}...` : ascii;
}

/** Ends with a full stop, unless the detail it ends with already did. */
function sentence(text: string): string {
  return /[.!?…]$/.test(text) ? text : `${text}.`;
}

function join(lines: (string | undefined)[]): string {
  return lines.filter((line): line is string => line !== undefined && line !== '').join('\n');
}

/**
 * Messages go to chats, mailboxes and third-party webhooks. Events never carry key material,
 * but a bug upstream must not be able to change that: such a message is refused whole. The
 * error names the subject only.
 */
function refuseKeyMaterial(message: NotificationMessage): void {
  if (`${message.text}${JSON.stringify(message.event)}`.includes('PRIVATE KEY')) {
    throw new CertkeeperError(
      'internal',
      `refused to send "${message.subject}": it contains private key material`,
      {
        retryable: false,
        fix: 'this is a bug in whatever built the event; report it (nothing was sent)',
      },
    );
  }
}
