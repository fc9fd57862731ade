/**
 * Equivocation for an agent: quarantining a device on verified evidence (found here, or in a
 * peer's alert.equivocation), keeping the evidence so that the quarantine survives a restart, and,
 * when the owner's own feed forked, passing the revocations of the branch held here on to the
 * fleet (alert.revocation).
 */
import {
  encodeEvidence,
  decodeEvidence,
  verifyEquivocationEvidence,
  forkOf,
  evidenceId,
  makeProofBundle,
  decodeEntry,
  encodeEntry,
  ProofError,
  replicaSpace,
  type ReplicaStore,
  type Entry,
  type EquivocationEvidence
} from '../../ledger/index.js'
import { toHex } from '../../common/index.js'
import { MEMBERSHIP_LIMITS } from './limits.js'
import type { AttestationService } from '../attestation/index.js'
import type { OpenedLedger } from '../feeds/index.js'
import type { Logger } from '../ops/index.js'
import type { Membership } from './members.js'
import type { quarantineSublevel } from './quarantine-store.js'

export interface QuarantinesInit {
  feedId: string
  membership: Membership
  replicas: ReplicaStore
  feed: OpenedLedger
  attestation: AttestationService
  quarantineStore: ReturnType<typeof quarantineSublevel>
  init: { logger?: Logger }
}

export class Quarantines {
  private readonly feedId: string
  private readonly membership: Membership
  private readonly replicas: ReplicaStore
  private readonly feed: OpenedLedger
  private readonly attestation: AttestationService
  private readonly quarantineStore: QuarantinesInit['quarantineStore']
  private readonly init: QuarantinesInit['init']

  constructor(deps: QuarantinesInit) {
    this.feedId = deps.feedId
    this.membership = deps.membership
    this.replicas = deps.replicas
    this.feed = deps.feed
    this.attestation = deps.attestation
    this.quarantineStore = deps.quarantineStore
    this.init = deps.init
  }

  /**
   * A feed's device signed two histories (evidence verified): quarantine it, hang up on it, keep
   * the evidence so the quarantine survives a restart, and (when this agent found it) record an
   * alert.equivocation, which replicates and quarantines it everywhere. Evidence the owner
   * cleared, or of a fork the owner authorised (a new epoch), quarantines nothing. When the feed
   * is the owner's, this agent passes on the revocations of the branch it holds (alert.revocation),
   * so that agents holding the other branch apply them too.
   */
  async quarantineFor(evidence: EquivocationEvidence, epoch: number, via: string, found = true): Promise<void> {
    const feed = evidence.feed
    const fork = forkOf(evidence)
    if (feed === this.feedId || fork === undefined || !this.membership.quarantine(feed, 'equivocation', evidence, fork))
      return
    const id = toHex(evidenceId(evidence))
    this.init.logger?.error(
      { feed, epoch, evidence: id, via },
      found ? 'equivocation: quarantining the device' : 'equivocation reported by a peer: quarantining the device'
    )
    const bytes = encodeEvidence(evidence)
    await this.quarantineStore.put(feed, bytes)
    if (feed === this.membership.ownerFeed) await this.passOnRevocations()
    else await this.attestation.revoke(feed, 'quarantined')
    if (found) {
      await this.feed.ledger.append({
        type: 'alert.equivocation',
        actor: { id: `agent/${this.feedId}`, role: 'agent' },
        attest: null,
        body: { feed, epoch, evidence: bytes }
      })
    }
  }

  /**
   * The owner's feed forked: an alert.revocation for every sealed device.revoke of the branch held
   * here, each with its proof (the entry under an owner-signed checkpoint).
   */
  private async passOnRevocations(): Promise<void> {
    let passed = 0
    for await (const bytes of this.replicas.entries(this.membership.ownerFeed)) {
      const { entry } = decodeEntry(bytes)
      if (entry.type !== 'device.revoke') continue
      if (passed >= MEMBERSHIP_LIMITS.maxRevocationsPassedOn) break
      if (await this.passOnRevocation(entry)) passed++
    }
    this.init.logger?.error(
      { feed: this.membership.ownerFeed, revocations: passed },
      "the owner's feed forked: its revocations held here are passed on to the fleet"
    )
  }

  /**
   * Records an alert.revocation for a device.revoke of the owner's feed held here (while that
   * feed is forked, also for each one that arrives later). Returns false when it is not sealed
   * here yet (nothing proves it).
   */
  async passOnRevocation(revocation: Entry): Promise<boolean> {
    const owner = this.membership.ownerFeed
    let proof: Uint8Array
    try {
      const bundle = await makeProofBundle(replicaSpace(this.feed.store, owner), { feedId: owner, seq: revocation.seq })
      // Only a revocation of the branch held here can be proved here.
      if (bundle.entry !== Buffer.from(encodeEntry(revocation)).toString('base64')) return false
      proof = new Uint8Array(Buffer.from(JSON.stringify(bundle)))
    } catch (err) {
      if (err instanceof ProofError) return false
      throw err
    }
    if (proof.length > MEMBERSHIP_LIMITS.maxRevocationProofBytes) return false
    await this.feed.ledger.append({
      type: 'alert.revocation',
      actor: { id: `agent/${this.feedId}`, role: 'agent' },
      attest: null,
      body: { deviceId: revocation.body.deviceId, proof }
    })
    return true
  }

  /**
   * An alert.equivocation in a peer's feed: quarantine too, once its evidence verifies. Returns
   * false when the device is not known here (its enrolment has not arrived): nothing verifies yet.
   */
  async onAlert(entry: Entry, from: string): Promise<boolean> {
    const body = entry.body as { feed: string; epoch: number; evidence: Uint8Array }
    const key =
      body.feed === this.membership.ownerFeed ? this.membership.ownerKey : this.membership.member(body.feed)?.feedKey
    if (key === undefined) return false
    if (this.membership.isQuarantined(body.feed)) return true
    let evidence: EquivocationEvidence
    let epoch: number
    try {
      evidence = decodeEvidence(body.evidence)
      epoch = verifyEquivocationEvidence(evidence, key).epoch
      if (evidence.feed !== body.feed) throw new Error('the evidence is about another feed')
    } catch (err) {
      this.init.logger?.warn(
        { feed: body.feed, reporter: from, err: (err as Error).message },
        'an equivocation alert whose evidence does not verify; ignored'
      )
      return true
    }
    // Not caught: a quarantine that could not be kept (a full disk) is not done; it is tried again.
    await this.quarantineFor(evidence, epoch, from, false)
    return true
  }

  /** Quarantines decided before a restart, each piece of evidence verified again. */
  async load(): Promise<void> {
    for await (const [deviceId, bytes] of this.quarantineStore.iterator()) {
      const key =
        deviceId === this.membership.ownerFeed ? this.membership.ownerKey : this.membership.member(deviceId)?.feedKey
      try {
        if (key === undefined) throw new Error('unknown device')
        const evidence = decodeEvidence(bytes)
        const { fork } = verifyEquivocationEvidence(evidence, key)
        if (evidence.feed !== deviceId) throw new Error('evidence of another feed')
        this.membership.quarantine(deviceId, 'equivocation', evidence, fork)
      } catch (err) {
        this.init.logger?.warn(
          { deviceId, err: (err as Error).message },
          'a stored quarantine does not verify; ignored'
        )
      }
    }
  }
}
