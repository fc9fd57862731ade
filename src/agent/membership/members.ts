import {
  eccPoint,
  parsePublic,
  parseBootPolicy,
  bootPolicyId,
  checkAttestationKey,
  checkDeviceSigningKey,
  type BootPolicy
} from '../../attest/index.js'
import { TpmTiers, type TpmTier } from './tpm-tiers.js'
import type { HybridPublicKey } from '../../identity/index.js'
import { toHex } from '../../common/index.js'
import { ActorRegistry, type ActorRegistryInit } from './actors.js'
import { ExternalWitnessList } from '../external-witness/index.js'
import { HubList } from '../hubs/statements.js'
import { MEMBERSHIP_LIMITS } from './limits.js'
import {
  BASE_ONTOLOGY,
  applyOntologyUpdateEntry,
  epochAuthorisationOf,
  isAuthorisedFork,
  evidenceId,
  type Entry,
  type EpochAuthorisation,
  type EquivocationEvidence,
  type EquivocationFork,
  type Ontology,
  type ReplicaTrust
} from '../../ledger/index.js'
import {
  ownerFeedId,
  verifyEnrolmentRecord,
  type DeviceEnrolment,
  type EnrolmentRecord,
  type SignedEnrolment
} from '../enrolment/index.js'

const NO_EPOCHS: ReadonlyMap<number, EpochAuthorisation> = new Map()

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
 * the owner clears that piece of evidence with device.clear_quarantine: a later fork quarantines
 * again). Revocations are a union: once seen, on any branch of the owner's feed (also one proved
 * by a peer's alert.revocation), never undone by a later or another branch. A second history of a
 * feed is no equivocation only where the owner authorised it (device.new_epoch).
 */
/** The owner statements the actor registry keeps, and what they are about. */
const ACTOR_STATEMENTS: Readonly<Record<string, 'actor' | 'workload'>> = {
  'actor.enrol': 'actor',
  'actor.revoke': 'actor',
  'workload.allow': 'workload',
  'workload.revoke': 'workload'
}

export class Membership {
  readonly fleetId: Uint8Array
  readonly ownerKey: HybridPublicKey
  readonly ownerFeed: string
  private readonly members = new Map<string, Member>()
  /** Revoked devices: why, and where the owner cut their feeds (see `cutOf`). */
  private readonly revoked = new Map<string, { reason: string; keep?: number }>()
  /** Quarantined devices: why, and the evidence (its evidenceId, hex, and the fork it shows). */
  private readonly quarantined = new Map<string, { reason: string; evidence: string; fork: EquivocationFork }>()
  /** Evidence the owner cleared, as `deviceId:evidenceId` (hex). */
  private readonly cleared = new Set<string>()
  /** Per device, the feed epochs the owner authorised (device.new_epoch), by epoch. */
  private readonly epochs = new Map<string, Map<number, EpochAuthorisation>>()
  /** The boot policy peers are judged by: the enrolment's, until the owner sets another (policy.set). */
  policy: BootPolicy
  /** The ontology entries are checked against: the built-in one, plus the owner's ontology.update entries. */
  ontology: Ontology = BASE_ONTOLOGY
  /** The actors the owner enrolled (actor.enrol, actor.revoke), and the check of their signatures. */
  readonly actors: ActorRegistry
  /** The external witnesses the owner listed (witness.external, witness.external_remove). */
  readonly externalWitnesses = new ExternalWitnessList()
  /** The hubs the owner listed (fleet.hub, fleet.hub_remove). */
  readonly hubs = new HubList()
  /** Each device's TPM tier as the owner found it at enrolment (device.tpm). */
  readonly tpmTiers = new TpmTiers()

  /** `actors`: how the actor registry verifies and whom it tells of cloned authenticators. */
  constructor(enrolment: DeviceEnrolment, actors: ActorRegistryInit = {}) {
    this.actors = new ActorRegistry(actors)
    this.fleetId = enrolment.fleetId
    this.ownerKey = enrolment.ownerKey
    this.ownerFeed = ownerFeedId(enrolment.fleetId)
    this.policy = enrolment.policy
    this.addRecord(enrolment.record, enrolment.signed)
  }

  /** Adds a device from an enrolment record already verified against the owner key; true when new. */
  addRecord(record: EnrolmentRecord, signed?: SignedEnrolment): boolean {
    const known = this.members.get(record.deviceId)
    if (known !== undefined) {
      if (known.signed === undefined && signed !== undefined) known.signed = signed
      return false
    }
    this.members.set(record.deviceId, {
      deviceId: record.deviceId,
      peerId: record.peerId,
      akPub: record.akPub,
      feedKey: { p256: eccPoint(parsePublic(record.dskPub)), mldsa65: record.pqPub },
      signed
    })
    return true
  }

  /** Verifies a signed record against the owner key and adds it; returns the record when it is new. */
  addSigned(signed: SignedEnrolment): EnrolmentRecord | undefined {
    // Peers pass the same records around on every pull: a record already held as is needs no check.
    for (const member of this.members.values()) {
      if (
        member.signed !== undefined &&
        Buffer.compare(member.signed.record, signed.record) === 0 &&
        Buffer.compare(member.signed.signature.p256, signed.signature.p256) === 0 &&
        Buffer.compare(member.signed.signature.mldsa65, signed.signature.mldsa65) === 0
      )
        return undefined
    }
    const record = verifyEnrolmentRecord(signed, { key: this.ownerKey, fleetId: this.fleetId })
    return this.addRecord(record, signed) ? record : undefined
  }

  /** Signed records of every member known, to pass on. */
  signedRecords(): SignedEnrolment[] {
    return [...this.members.values()].flatMap((m) => (m.signed === undefined ? [] : [m.signed]))
  }

  /**
   * Applies a verified entry of the owner's feed; returns what changed: a device revoked or
   * released from quarantine, a new boot policy, a new ontology version. A statement that does
   * not parse (it verified as an owner entry, so this would be the owner's mistake) is skipped.
   */
  applyOwnerEntry(entry: Entry): {
    revoked?: string
    released?: string
    policy?: BootPolicy
    ontology?: Ontology
    epoch?: EpochAuthorisation
    actor?: { actorId: string; change: 'enrolled' | 'revoked' }
    workload?: { service: string; change: 'allowed' | 'revoked' }
    externalWitness?: { name: string; change: 'added' | 'removed' }
    hub?: { deviceId: string; change: 'added' | 'removed' }
    tpm?: { deviceId: string; tier: TpmTier }
  } {
    if (entry.type === 'device.tpm') {
      // Taken only where the ontology in force defines the action as the well-known one.
      const tpm = this.tpmTiers.apply(entry, this.ontology)
      return tpm === undefined ? {} : { tpm }
    }
    if (entry.type === 'fleet.hub' || entry.type === 'fleet.hub_remove') {
      // Taken only where the ontology in force defines the action as the well-known one.
      const hub = this.hubs.apply(entry, this.ontology)
      return hub === undefined ? {} : { hub }
    }
    if (entry.type === 'witness.external' || entry.type === 'witness.external_remove') {
      // Taken only where the ontology in force defines the action as the well-known one.
      const externalWitness = this.externalWitnesses.apply(entry, this.ontology)
      return externalWitness === undefined ? {} : { externalWitness }
    }
    const kind = Object.hasOwn(ACTOR_STATEMENTS, entry.type) ? ACTOR_STATEMENTS[entry.type] : undefined
    if (kind !== undefined) {
      let change: 'enrolled' | 'revoked' | 'allowed' | undefined
      try {
        change = this.actors.apply(entry)
      } catch {
        return {} // More actors or workloads than their caps: the new one is not taken.
      }
      if (change === undefined) return {}
      if (kind === 'workload')
        return {
          workload: { service: String(entry.body.service), change: change === 'allowed' ? 'allowed' : 'revoked' }
        }
      return { actor: { actorId: String(entry.body.actorId), change: change === 'enrolled' ? 'enrolled' : 'revoked' } }
    }
    if (entry.type === 'device.enrol') {
      const b = entry.body as {
        deviceId: string
        peerId: string
        akPub: Uint8Array
        dskPub: Uint8Array
        pqPub: Uint8Array
      }
      if (this.members.has(b.deviceId)) return {}
      // The owner checked these at enrolment; a member whose keys were not made in a TPM is not
      // taken from any feed, whoever signed it.
      let dsk: ReturnType<typeof parsePublic>
      try {
        checkAttestationKey(parsePublic(b.akPub))
        dsk = parsePublic(b.dskPub)
        checkDeviceSigningKey(dsk)
      } catch {
        return {}
      }
      this.members.set(b.deviceId, {
        deviceId: b.deviceId,
        peerId: b.peerId,
        akPub: b.akPub,
        feedKey: { p256: eccPoint(dsk), mldsa65: b.pqPub }
      })
    } else if (entry.type === 'device.revoke') {
      const b = entry.body as { deviceId: string; reason: string; keep?: number }
      const known = this.revoked.get(b.deviceId)
      // Two revocations of one device (branches of the owner's feed): the earlier cut wins.
      const cuts = [known?.keep, b.keep].filter((k): k is number => k !== undefined)
      const keep = cuts.length === 0 ? undefined : Math.min(...cuts)
      if (known === undefined || keep !== known.keep) {
        this.revoked.set(b.deviceId, { reason: known?.reason ?? b.reason, keep })
        return { revoked: b.deviceId }
      }
    } else if (entry.type === 'policy.set') {
      const b = entry.body as { policyId: string; policy: Uint8Array }
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
      // Version 1's form names an epoch only: it clears nothing (clearing a whole epoch made the
      // device immune to any later fork).
      const b = entry.body as { deviceId: string; evidence?: Uint8Array }
      if (b.evidence === undefined) return {}
      const id = toHex(b.evidence)
      if (this.cleared.size < MEMBERSHIP_LIMITS.maxCleared) this.cleared.add(`${b.deviceId}:${id}`)
      if (this.quarantined.get(b.deviceId)?.evidence === id) {
        this.quarantined.delete(b.deviceId)
        return { released: b.deviceId }
      }
    } else if (entry.type === 'device.new_epoch') {
      const authorised = epochAuthorisationOf(entry)
      if (authorised === undefined) return {}
      const epochs = this.epochs.get(authorised.feed) ?? new Map<number, EpochAuthorisation>()
      if (epochs.has(authorised.epoch) || epochs.size >= MEMBERSHIP_LIMITS.maxEpochsPerFeed) return {}
      epochs.set(authorised.epoch, authorised)
      this.epochs.set(authorised.feed, epochs)
      // A quarantine for the fork the owner has now authorised is lifted.
      const held = this.quarantined.get(authorised.feed)
      if (held !== undefined && isAuthorisedFork(held.fork, epochs)) {
        this.quarantined.delete(authorised.feed)
        return { epoch: authorised, released: authorised.feed }
      }
      return { epoch: authorised }
    }
    return {}
  }

  /**
   * Quarantines a device for equivocating (evidence already verified, showing `fork`). Returns
   * false when it already is, when the owner cleared this evidence, or when the fork is one the
   * owner authorised (a new epoch of the feed).
   */
  quarantine(deviceId: string, reason: string, evidence: EquivocationEvidence, fork: EquivocationFork): boolean {
    if (this.quarantined.has(deviceId) || !this.isEquivocation(deviceId, evidence, fork)) return false
    this.quarantined.set(deviceId, { reason, evidence: toHex(evidenceId(evidence)), fork })
    return true
  }

  /** Whether verified evidence about a device stands: the owner neither cleared it nor authorised the fork it shows. */
  isEquivocation(deviceId: string, evidence: EquivocationEvidence, fork: EquivocationFork): boolean {
    if (this.cleared.has(`${deviceId}:${toHex(evidenceId(evidence))}`)) return false
    const epochs = this.epochs.get(deviceId)
    return epochs === undefined || !isAuthorisedFork(fork, epochs)
  }

  /** The feed epochs the owner authorised for a device, by epoch (empty: epoch 1 only). */
  epochsOf(deviceId: string): ReadonlyMap<number, EpochAuthorisation> {
    return this.epochs.get(deviceId) ?? NO_EPOCHS
  }
  quarantinedDevices(): string[] {
    return [...this.quarantined.keys()]
  }
  isRevoked(deviceId: string): boolean {
    return this.revoked.has(deviceId)
  }
  /**
   * How many entries of a revoked device's feed stay in the fleet's record, when the owner's
   * revocation says (`keep`); undefined for a device in good standing or a revocation without it.
   */
  cutOf(deviceId: string): number | undefined {
    return this.revoked.get(deviceId)?.keep
  }
  isQuarantined(deviceId: string): boolean {
    return this.quarantined.has(deviceId)
  }
  /** The evidenceId (hex) a device is quarantined for: what the owner's device.clear_quarantine names. */
  quarantineEvidence(deviceId: string): string | undefined {
    return this.quarantined.get(deviceId)?.evidence
  }
  member(deviceId: string): Member | undefined {
    return this.members.get(deviceId)
  }
  list(): Member[] {
    return [...this.members.values()]
  }

  /**
   * The key a feed must be signed with, or undefined when its writer is unknown or quarantined, or
   * revoked without a cut. A feed revoked with a cut is still taken up to it (with `cut`), so every
   * agent ends up holding the same entries of it, whatever it held when it learnt of the revocation.
   */
  trustFor(feed: string): ReplicaTrust | undefined {
    if (feed === this.ownerFeed)
      return { fleetId: this.fleetId, feedKey: this.ownerKey, ontology: this.ontology, actors: this.actors }
    const member = this.members.get(feed)
    const revoked = this.revoked.get(feed)
    if (member === undefined || this.quarantined.has(feed) || (revoked !== undefined && revoked.keep === undefined))
      return undefined
    const epochs = this.epochs.get(feed)
    return {
      fleetId: this.fleetId,
      feedKey: member.feedKey,
      ontology: this.ontology,
      cut: revoked?.keep,
      epochs,
      actors: this.actors
    }
  }
}
