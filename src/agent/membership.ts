import { eccPoint, parsePublic, parseBootPolicy, bootPolicyId, type BootPolicy } from '../attest/index.js'
import type { HybridPublicKey } from '../identity/index.js'
import { BASE_ONTOLOGY, applyOntologyUpdateEntry, type Entry, type Ontology, type ReplicaTrust } from '../ledger/index.js'
import { ownerFeedId, verifyEnrolmentRecord, type DeviceEnrolment, type EnrolmentRecord, type SignedEnrolment } from './enrolment.js'

export interface Member {
  deviceId: string
  peerId: string
  feedKey: HybridPublicKey
  akPub: Uint8Array
  /** The owner-signed record, when known (passed on to peers so they learn the member too). */
  signed?: SignedEnrolment
}

/**
 * Who belongs to the fleet, as this agent knows it: devices from owner-signed enrolment records
 * (its own, those peers present when they attest, and device.enrol entries of the owner's feed),
 * minus devices the owner revoked (device.revoke) and feeds quarantined for equivocation (until
 * the owner clears that feed epoch with device.clear_quarantine). Revocations are a union: once
 * seen, never undone by a later or another branch.
 */
export class Membership {
  readonly fleetId: Uint8Array
  readonly ownerKey: HybridPublicKey
  readonly ownerFeed: string
  private readonly members = new Map<string, Member>()
  /** Revoked devices: why, and where the owner cut their feeds (see `cutOf`). */
  private readonly revoked = new Map<string, { reason: string, keep?: number }>()
  private readonly quarantined = new Map<string, { reason: string, epoch: number }>()
  /** Per device, the newest feed epoch whose equivocation the owner cleared. */
  private readonly cleared = new Map<string, number>()
  /** The boot policy peers are judged by: the enrolment's, until the owner sets another (policy.set). */
  policy: BootPolicy
  /** The ontology entries are checked against: version 1, plus the owner's ontology.update entries. */
  ontology: Ontology = BASE_ONTOLOGY

  constructor (enrolment: DeviceEnrolment) {
    this.fleetId = enrolment.fleetId
    this.ownerKey = enrolment.ownerKey
    this.ownerFeed = ownerFeedId(enrolment.fleetId)
    this.policy = enrolment.policy
    this.addRecord(enrolment.record, enrolment.signed)
  }

  /** Adds a device from an enrolment record already verified against the owner key; true when new. */
  addRecord (record: EnrolmentRecord, signed?: SignedEnrolment): boolean {
    const known = this.members.get(record.deviceId)
    if (known !== undefined) {
      if (known.signed === undefined && signed !== undefined) known.signed = signed
      return false
    }
    this.members.set(record.deviceId, { deviceId: record.deviceId, peerId: record.peerId, akPub: record.akPub, feedKey: { p256: eccPoint(parsePublic(record.dskPub)), mldsa65: record.pqPub }, ...(signed === undefined ? {} : { signed }) })
    return true
  }

  /** Verifies a signed record against the owner key and adds it; returns the record when it is new. */
  addSigned (signed: SignedEnrolment): EnrolmentRecord | undefined {
    // Peers pass the same records around on every pull: a record already held as is needs no check.
    for (const member of this.members.values()) {
      if (member.signed !== undefined && Buffer.compare(member.signed.record, signed.record) === 0 &&
        Buffer.compare(member.signed.signature.p256, signed.signature.p256) === 0 && Buffer.compare(member.signed.signature.mldsa65, signed.signature.mldsa65) === 0) return undefined
    }
    const record = verifyEnrolmentRecord(signed, { key: this.ownerKey, fleetId: this.fleetId })
    return this.addRecord(record, signed) ? record : undefined
  }

  /** Signed records of every member known, to pass on. */
  signedRecords (): SignedEnrolment[] {
    return [...this.members.values()].flatMap((m) => m.signed === undefined ? [] : [m.signed])
  }

  /**
   * Applies a verified entry of the owner's feed; returns what changed: a device revoked or
   * released from quarantine, a new boot policy, a new ontology version. A statement that does
   * not parse (it verified as an owner entry, so this would be the owner's mistake) is skipped.
   */
  applyOwnerEntry (entry: Entry): { revoked?: string, released?: string, policy?: BootPolicy, ontology?: Ontology } {
    if (entry.type === 'device.enrol') {
      const b = entry.body as { deviceId: string, peerId: string, akPub: Uint8Array, dskPub: Uint8Array, pqPub: Uint8Array }
      if (!this.members.has(b.deviceId)) this.members.set(b.deviceId, { deviceId: b.deviceId, peerId: b.peerId, akPub: b.akPub, feedKey: { p256: eccPoint(parsePublic(b.dskPub)), mldsa65: b.pqPub } })
    } else if (entry.type === 'device.revoke') {
      const b = entry.body as { deviceId: string, reason: string, keep?: number }
      const known = this.revoked.get(b.deviceId)
      // Two revocations of one device (branches of the owner's feed): the earlier cut wins.
      const cuts = [known?.keep, b.keep].filter((k): k is number => k !== undefined)
      const keep = cuts.length === 0 ? undefined : Math.min(...cuts)
      if (known === undefined || keep !== known.keep) {
        this.revoked.set(b.deviceId, { reason: known?.reason ?? b.reason, ...(keep === undefined ? {} : { keep }) })
        return { revoked: b.deviceId }
      }
    } else if (entry.type === 'policy.set') {
      const b = entry.body as { policyId: string, policy: Uint8Array }
      try {
        const policy = parseBootPolicy(b.policy)
        if (bootPolicyId(policy) !== b.policyId || b.policyId === bootPolicyId(this.policy)) return {}
        this.policy = policy
        return { policy }
      } catch {
        return {}
      }
    } else if (entry.type === 'ontology.update') {
      try {
        this.ontology = applyOntologyUpdateEntry(this.ontology, entry)
        return { ontology: this.ontology }
      } catch {
        return {}
      }
    } else if (entry.type === 'device.clear_quarantine') {
      const b = entry.body as { deviceId: string, epoch: number }
      if ((this.cleared.get(b.deviceId) ?? 0) < b.epoch) this.cleared.set(b.deviceId, b.epoch)
      const held = this.quarantined.get(b.deviceId)
      if (held !== undefined && held.epoch <= b.epoch) {
        this.quarantined.delete(b.deviceId)
        return { released: b.deviceId }
      }
    }
    return {}
  }

  /**
   * Quarantines a device for equivocating in a feed epoch (evidence already verified). Returns
   * false when it already is, or when the owner cleared that epoch.
   */
  quarantine (deviceId: string, reason: string, epoch: number): boolean {
    if (this.quarantined.has(deviceId) || (this.cleared.get(deviceId) ?? 0) >= epoch) return false
    this.quarantined.set(deviceId, { reason, epoch })
    return true
  }

  /** Whether the owner cleared equivocation of this device's feed in `epoch`. */
  isCleared (deviceId: string, epoch: number): boolean { return (this.cleared.get(deviceId) ?? 0) >= epoch }
  quarantinedDevices (): string[] { return [...this.quarantined.keys()] }
  isRevoked (deviceId: string): boolean { return this.revoked.has(deviceId) }
  /**
   * How many entries of a revoked device's feed stay in the fleet's record, when the owner's
   * revocation says (`keep`); undefined for a device in good standing or a revocation without it.
   */
  cutOf (deviceId: string): number | undefined { return this.revoked.get(deviceId)?.keep }
  isQuarantined (deviceId: string): boolean { return this.quarantined.has(deviceId) }
  member (deviceId: string): Member | undefined { return this.members.get(deviceId) }
  list (): Member[] { return [...this.members.values()] }

  /**
   * The key a feed must be signed with, or undefined when its writer is unknown or quarantined, or
   * revoked without a cut. A feed revoked with a cut is still taken up to it (with `cut`), so every
   * agent ends up holding the same entries of it, whatever it held when it learnt of the revocation.
   */
  trustFor (feed: string): ReplicaTrust | undefined {
    if (feed === this.ownerFeed) return { fleetId: this.fleetId, feedKey: this.ownerKey, ontology: this.ontology }
    const member = this.members.get(feed)
    const revoked = this.revoked.get(feed)
    if (member === undefined || this.quarantined.has(feed) || (revoked !== undefined && revoked.keep === undefined)) return undefined
    return { fleetId: this.fleetId, feedKey: member.feedKey, ontology: this.ontology, ...(revoked === undefined ? {} : { cut: revoked.keep }) }
  }
}
