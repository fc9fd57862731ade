import { bytesEqual, toHex } from '../common/index.js'
import type { Entry } from './entry.js'
import { UnauthorisedEpochError } from './errors.js'
import { EMPTY_ROOT } from './merkle.js'
import type { EquivocationFork } from './equivocation.js'

/**
 * Feed epochs. Every checkpoint states the epoch of its feed's history (the line `epoch <n>`). A
 * device writes epoch 1; only the owner opens another, with a device.new_epoch statement in its
 * feed naming the device, the new epoch and the fork point: the first `forkSize` entries the new
 * history shares with the old one, and their tree root `forkRoot`. So:
 *
 * - a checkpoint of epoch 1, or of an epoch the owner authorised for that feed, may be accepted;
 *   one of any other epoch MUST be refused (UnauthorisedEpochError), by agents and auditors alike,
 *   and so MUST one of an older epoch past the fork point of a later one (the replaced history);
 * - a history of an authorised epoch MUST have root `forkRoot` at `forkSize` entries;
 * - two checkpoints of a feed that are not consistent are equivocation whatever epochs they state,
 *   except an older-epoch checkpoint past the fork point against one of the authorised epoch
 *   (`isAuthorisedFork`): that is the history the owner replaced.
 */
export interface EpochAuthorisation {
  feed: string
  epoch: number
  forkSize: number
  forkRoot: Uint8Array
}

/** The authorisation in an owner's device.new_epoch entry (already verified as the owner's); undefined for any other entry or an epoch below 2. */
export function epochAuthorisationOf(entry: Entry): EpochAuthorisation | undefined {
  if (entry.type !== 'device.new_epoch') return undefined
  const b = entry.body as { deviceId: string; epoch: number; forkSize: number; forkRoot: Uint8Array }
  if (b.epoch < 2) return undefined
  return { feed: b.deviceId, epoch: b.epoch, forkSize: b.forkSize, forkRoot: b.forkRoot }
}

/** The authorisations of one feed, by epoch (the first statement of an epoch holds; later ones are ignored). */
export function epochsOf(feed: string, authorisations: Iterable<EpochAuthorisation>): Map<number, EpochAuthorisation> {
  const out = new Map<number, EpochAuthorisation>()
  for (const a of authorisations) if (a.feed === feed && !out.has(a.epoch)) out.set(a.epoch, a)
  return out
}

/**
 * Whether a checkpoint of `epoch` and `size` may stand for `feed`: not past the fork point of a
 * later authorised epoch; then epoch 1 always; another only when authorised, and then its tree's root at the fork point (from `rootAt`, when the caller
 * holds that many entries: undefined otherwise) must be the authorised one. Throws
 * UnauthorisedEpochError.
 */
export function checkEpoch(
  feed: string,
  epoch: number,
  size: number,
  epochs: ReadonlyMap<number, EpochAuthorisation>,
  rootAt: (size: number) => Uint8Array | undefined
): void {
  // Past the fork point of a later epoch, an older epoch's history is the one the owner replaced.
  for (const later of epochs.values()) {
    if (later.epoch > epoch && size > later.forkSize)
      throw new UnauthorisedEpochError(
        feed,
        epoch,
        size,
        `is of the history the owner replaced with epoch ${later.epoch} after ${later.forkSize} entries`
      )
  }
  if (epoch === 1) return
  const authorised = epochs.get(epoch)
  if (authorised === undefined)
    throw new UnauthorisedEpochError(feed, epoch, size, 'is of an epoch the owner never authorised for this feed')
  if (size < authorised.forkSize) return
  const root = authorised.forkSize === 0 ? EMPTY_ROOT : rootAt(authorised.forkSize)
  if (root !== undefined && !bytesEqual(root, authorised.forkRoot)) {
    throw new UnauthorisedEpochError(
      feed,
      epoch,
      size,
      `does not fork where the owner said: its root at ${authorised.forkSize} entries is ${toHex(root)}, not ${toHex(authorised.forkRoot)}`
    )
  }
}

/**
 * Whether verified evidence shows the fork the owner authorised, not equivocation: the two
 * checkpoints are of different epochs, the later one authorised, and the older-epoch checkpoint
 * lies past that epoch's fork point (before it, the two histories are one).
 */
export function isAuthorisedFork(fork: EquivocationFork, epochs: ReadonlyMap<number, EpochAuthorisation>): boolean {
  const [older, newer] = fork.first.epoch < fork.second.epoch ? [fork.first, fork.second] : [fork.second, fork.first]
  if (older.epoch === newer.epoch) return false
  const authorised = epochs.get(newer.epoch)
  return authorised !== undefined && older.size > authorised.forkSize && newer.size > authorised.forkSize
}

/**
 * The epochs of one feed's checkpoints in order of size, as an auditor checks them: each one
 * authorised (checkEpoch), and never going back (an older epoch after a newer one is the replaced
 * history signed again). Throws UnauthorisedEpochError.
 */
export class EpochSequence {
  private last = 1
  private readonly feed: string
  private readonly epochs: ReadonlyMap<number, EpochAuthorisation>

  constructor(feed: string, epochs: ReadonlyMap<number, EpochAuthorisation> = new Map()) {
    this.feed = feed
    this.epochs = epochs
  }

  check(epoch: number, size: number, rootAt: (size: number) => Uint8Array | undefined): void {
    checkEpoch(this.feed, epoch, size, this.epochs, rootAt)
    if (epoch < this.last)
      throw new UnauthorisedEpochError(this.feed, epoch, size, `follows one in epoch ${this.last}: the epoch went back`)
    this.last = epoch
  }
}
