import { resolve } from 'node:path';
import { FileGuard } from '../lock/file-guard.js';
import { parseStoredJson } from '../lock/stored.js';
import { AGENT_NAME_PATTERN } from '../model/delivery.js';
import { type AgentRecord, agentRecordSchema, parseAgentName } from '../model/agent.js';
import { IntegrityError } from '../model/errors.js';
import { FsObjectStore } from '../store/fs-store.js';
import type { AgentRegistry } from './registry.js';

const RECORD_FILE = /^(.+)\.json$/;

/**
 * The registry as one JSON file per agent (`<dir>/<name>.json`), for local mode without
 * AWS. Each change runs under the name's FileGuard (read, change, atomic write as one step),
 * the same mutual exclusion the file inventory and lock use.
 */
export class FileAgentRegistry implements AgentRegistry {
  private readonly dir: string;
  private readonly store: FsObjectStore;
  private readonly guard: FileGuard;

  constructor(options: { dir: string }) {
    this.dir = resolve(options.dir);
    this.store = new FsObjectStore({ root: this.dir });
    this.guard = new FileGuard(this.store, this.dir);
  }

  async get(name: string): Promise<AgentRecord | undefined> {
    parseAgentName(name);
    return this.read(name);
  }

  async list(): Promise<AgentRecord[]> {
    const names = (await this.store.list(''))
      .map(({ key }) => RECORD_FILE.exec(key)?.[1])
      .filter((name): name is string => name !== undefined && AGENT_NAME_PATTERN.test(name))
      .sort();
    const records = await Promise.all(names.map((name) => this.read(name)));
    return records.filter((r): r is AgentRecord => r !== undefined);
  }

  async update(
    name: string,
    change: (stored: AgentRecord | undefined) => AgentRecord | undefined,
  ): Promise<AgentRecord | undefined> {
    parseAgentName(name);
    return this.guard.run(name, async () => {
      const next = change(await this.read(name));
      if (!next) return undefined;
      if (next.name !== name) throw new Error(`registry: a record for ${next.name} written as ${name}`);
      const record = agentRecordSchema.parse(next);
      await this.store.put(`${name}.json`, `${JSON.stringify(record, null, 2)}\n`, { secret: true });
      return record;
    });
  }

  private async read(name: string): Promise<AgentRecord | undefined> {
    const text = await this.store.get(`${name}.json`);
    if (text === undefined) return undefined;
    const where = resolve(this.dir, `${name}.json`);
    const fix = `restore ${where} from a backup, or remove the agent and add it again`;
    const record = parseStoredJson(agentRecordSchema, text, { where, fix });
    if (record.name !== name)
      throw new IntegrityError(`${where} holds the record of agent ${record.name}`, fix);
    return record;
  }
}
