/**
 * The owner-signed enrolment records an agent holds: kept in its ledger store (so that it still knows
 * each feed's key after a restart, every record verified again when loaded), taken from the
 * members message of a pull, and handed out to a puller that lacks them.
 */
import type { Logger } from 'pino'
import { createHash } from 'node:crypto'
import { FleetError } from '../../common/index.js'
import {
  verifyEnrolmentRecord,
  encodeSignedEnrolment,
  decodeSignedEnrolment,
  type SignedEnrolment
} from '../enrolment/index.js'
import type { Membership } from './members.js'
import {
  decodeEntry,
  encodeEntry,
  LEDGER_SUBLEVELS,
  type Entry,
  type LedgerStore,
  type LedgerSublevel
} from '../../ledger/index.js'
import { MEMBERSHIP_LIMITS } from './limits.js'

/** A member record's id in a pull: the first bytes of its SHA-256. */
export const MEMBER_ID_BYTES = 8

/** What a puller holds of the enrolment records: their digest, and each one's id. */
export interface KnownMembers {
  digest: Uint8Array
  ids: Uint8Array[]
}

/** A member record's id (see PULL). */
export function memberId(record: Uint8Array): Uint8Array {
  return new Uint8Array(createHash('sha256').update(record).digest().subarray(0, MEMBER_ID_BYTES))
}

/** Digest of a set of encoded enrolment records (order-independent): equal sets, equal digests. */
export function membersDigest(records: readonly Uint8Array[]): Uint8Array {
  const hashes = records.map((record) => createHash('sha256').update(record).digest()).sort(Buffer.compare)
  const digest = createHash('sha256').update('fleet-members-v1')
  for (const h of hashes) digest.update(h)
  return new Uint8Array(digest.digest())
}

/** Thrown when a peer hands over a member record that does not decode. */
export class MemberRecordError extends FleetError {
  constructor(reason: string) {
    super(`member records: ${reason}`, { code: 'ERR_MEMBER_RECORD' })
  }
}

export class MemberRecords {
  private readonly membership: Membership
  private readonly db: LedgerStore
  private readonly store: LedgerSublevel
  /** Owner revocations proved by peers' alert.revocation entries: the alert entry, by the revoked deviceId. */
  private readonly revocations: LedgerSublevel
  private encoded: { count: number; records: Uint8Array[]; digest: Uint8Array; ids: Uint8Array[] } | undefined

  constructor(membership: Membership, db: LedgerStore) {
    this.membership = membership
    this.db = db
    this.store = db.sublevel(LEDGER_SUBLEVELS.members)
    this.revocations = db.sublevel(LEDGER_SUBLEVELS.provenRevocations)
  }

  /** Keeps the alert.revocation that proved an owner revocation (its proof is verified again on load). */
  async saveRevocation(alert: Entry): Promise<void> {
    const deviceId = alert.body.deviceId as string
    if ((await this.revocations.get(deviceId)) !== undefined) return
    let count = 0
    for await (const _ of this.revocations.keys({ limit: MEMBERSHIP_LIMITS.maxProvenRevocations })) count++
    if (count >= MEMBERSHIP_LIMITS.maxProvenRevocations) return
    await this.db.write([{ type: 'put', sublevel: this.revocations, key: deviceId, value: encodeEntry(alert) }], {
      sync: true
    })
  }

  /** The owner revocations proved by alerts kept earlier, each proof verified again; one that no longer verifies is skipped. */
  async loadRevocations(prove: (alert: Entry) => Entry | undefined, logger?: Logger): Promise<Entry[]> {
    const out: Entry[] = []
    for await (const [deviceId, bytes] of this.revocations.iterator()) {
      let revocation: Entry | undefined
      try {
        revocation = prove(decodeEntry(bytes).entry)
      } catch {}
      if (revocation === undefined) logger?.warn({ deviceId }, 'a stored revocation proof does not verify; ignored')
      else out.push(revocation)
    }
    return out
  }

  /** Adds the records kept earlier to the membership; one that no longer verifies is skipped. */
  async load(logger?: Logger): Promise<void> {
    for await (const [, bytes] of this.store.iterator()) {
      try {
        this.membership.addSigned(decodeSignedEnrolment(bytes))
      } catch (err) {
        logger?.warn({ err: (err as Error).message }, 'a stored member record does not verify; ignored')
      }
    }
  }

  /** Keeps a member's signed record (verified against the owner's key first). */
  async save(signed: SignedEnrolment): Promise<void> {
    const record = verifyEnrolmentRecord(signed, { key: this.membership.ownerKey, fleetId: this.membership.fleetId })
    const value = encodeSignedEnrolment(signed)
    await this.db.write([{ type: 'put', sublevel: this.store, key: record.deviceId, value }], { sync: true })
  }

  /** Records a peer sent: each new one that verifies is added and kept; a malformed one ends the pull. */
  async take(records: Uint8Array[]): Promise<void> {
    for (const bytes of records) {
      let signed: SignedEnrolment
      try {
        signed = decodeSignedEnrolment(bytes)
      } catch (err) {
        throw new MemberRecordError(`a member record is malformed: ${(err as Error).message}`)
      }
      if (this.membership.addSigned(signed) !== undefined) await this.save(signed)
    }
  }

  /** The records held, encoded, with their digest and ids (made again when one is added). */
  held(): { records: Uint8Array[]; digest: Uint8Array; ids: Uint8Array[] } {
    const signed = this.membership.signedRecords()
    if (this.encoded?.count !== signed.length) {
      const records = signed.map(encodeSignedEnrolment)
      this.encoded = { count: signed.length, records, digest: membersDigest(records), ids: records.map(memberId) }
    }
    return this.encoded
  }
}
