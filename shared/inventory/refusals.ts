import { ConflictError, NotFoundError, ValidationError } from '../model/errors.js';
import type { InventoryRecord } from '../model/state.js';

/** The refusals of a fenced state write whose lease was still current (both adapters). */
export const certificateGone = (name: string): NotFoundError =>
  new NotFoundError(
    `certificate ${name} is no longer in the inventory, so its state was not written`,
    'declare it again if it should still be renewed',
  );

/** Only possible if the lock's counter went backwards (hand edits): the newer write stands. */
export const newerFence = (name: string, stored: string | number, token: number): ConflictError =>
  new ConflictError(
    `the state of ${name} was written under a newer lease (fence ${stored}) than this one (${token}), ` +
      'so this write was refused',
  );

/** An update must write the record it was asked about: a spec under another name is a bug. */
export function checkSameName(name: string, record: InventoryRecord): void {
  if (record.spec.name !== name) {
    throw new ValidationError(
      'spec.name',
      `is "${record.spec.name}" in an update of "${name}"`,
      `write ${name}'s own spec`,
    );
  }
}
