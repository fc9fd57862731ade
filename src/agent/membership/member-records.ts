/**
 * The owner-signed enrolment records an agent holds: kept in its ledger store (so that it still knows
 * each feed's key after a restart, every record verified again when loaded), taken from the
 * members message of a pull, and handed out to a puller that lacks them.
 */
import type { Logger } from 'pino'
import { SyncProtocolError, membersDigest, memberId } from '../replication/messages.js'
import { verifyEnrolmentRecord, encodeSignedEnrolment, decodeSignedEnrolment, type SignedEnrolment } from '../enrolment/record.js'
import type { Membership } from './members.js'
import { decodeEntry, encodeEntry, LEDGER_SUBLEVELS, type Entry, type LedgerStore, type LedgerSublevel } from '../../ledger/index.js'
import { MEMBERSHIP_LIMITS } from '../limits.js'

export class MemberRecords {
  private readonly membership: Membership
  private readonly db: LedgerStore
  private readonly store: LedgerSublevel
  /** Owner revocations proved by peers' alert.revocation entries: the alert entry, by the revoked deviceId. */
  private readonly revocations: LedgerSublevel
  private encoded: { count: number, records: Uint8Array[], digest: Uint8Array, ids: Uint8Array[] } | undefined

  constructor (membership: Membership, db: LedgerStore) {
    this.membership = membership
    this.db = db
    this.store = db.sublevel(LEDGER_SUBLEVELS.members)
    this.revocations = db.sublevel(LEDGER_SUBLEVELS.provenRevocations)
  }

  /** Keeps the alert.revocation that proved an owner revocation (its proof is verified again on load). */
  async saveRevocation (alert: Entry): Promise<void> {
    const deviceId = alert.body.deviceId as string
    if (await this.revocations.get(deviceId) !== undefined) return
    let count = 0
    for await (const _ of this.revocations.keys({ limit: MEMBERSHIP_LIMITS.maxProvenRevocations })) count++
    if (count >= MEMBERSHIP_LIMITS.maxProvenRevocations) return
    await this.db.write([{ type: 'put', sublevel: this.revocations, key: deviceId, value: encodeEntry(alert) }], { sync: true })
  }

  /** The owner revocations proved by alerts kept earlier, each proof verified again; one that no longer verifies is skipped. */
  async loadRevocations (prove: (alert: Entry) => Entry | undefined, logger?: Logger): Promise<Entry[]> {
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
  async load (logger?: Logger): Promise<void> {
    for await (const [, bytes] of this.store.iterator()) {
      try {
        this.membership.addSigned(decodeSignedEnrolment(bytes))
      } catch (err) {
        logger?.warn({ err: (err as Error).message }, 'a stored member record does not verify; ignored')
      }
    }
  }

  /** Keeps a member's signed record (verified against the owner's key first). */
  async save (signed: SignedEnrolment): Promise<void> {
    const record = verifyEnrolmentRecord(signed, { key: this.membership.ownerKey, fleetId: this.membership.fleetId })
    const value = encodeSignedEnrolment(signed)
    await this.db.write([{ type: 'put', sublevel: this.store, key: record.deviceId, value }], { sync: true })
  }

  /** Records a peer sent: each new one that verifies is added and kept; a malformed one ends the pull. */
  async take (records: Uint8Array[]): Promise<void> {
    for (const bytes of records) {
      let signed: SignedEnrolment
      try {
        signed = decodeSignedEnrolment(bytes)
      } catch (err) {
        throw new SyncProtocolError(`a member record is malformed: ${(err as Error).message}`)
      }
      if (this.membership.addSigned(signed) !== undefined) await this.save(signed)
    }
  }

  /** The records held, encoded, with their digest and ids (made again when one is added). */
  held (): { records: Uint8Array[], digest: Uint8Array, ids: Uint8Array[] } {
    const signed = this.membership.signedRecords()
    if (this.encoded?.count !== signed.length) {
      const records = signed.map(encodeSignedEnrolment)
      this.encoded = { count: signed.length, records, digest: membersDigest(records), ids: records.map(memberId) }
    }
    return this.encoded
  }
}
