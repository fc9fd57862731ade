/**
 * Witnessing and equivocation for an agent: cosigning peers' checkpoints it verified, checking the
 * checkpoints peers announce against its own copies, keeping the cosignatures it lacks, and
 * quarantining a device on verified evidence (found here, or in a peer's alert.equivocation).
 */
import {
  parseCheckpoint,
  peekCheckpoint,
  verifyCheckpoint,
  cosignCheckpoint,
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
  type FeedSource,
  type Entry,
  type EquivocationEvidence,
  type VerifiedCheckpoint
} from '../../ledger/index.js'
import { toHex, type Clock } from '../../common/index.js'
import { MEMBERSHIP_LIMITS } from './limits.js'
import type { HybridPublicKey, HybridSigner } from '../../identity/index.js'
import type { AttestationService } from '../attestation/index.js'
import type { OpenedLedger } from '../feeds/index.js'
import type { Logger } from '../ops/index.js'
import type { Membership } from './members.js'
import type { quarantineSublevel } from './quarantine-store.js'
import {
  COSIGN_MAX_WAIT_INTERVALS,
  COSIGN_QUIET_INTERVALS,
  DEFAULT_WITNESSES_PER_FEED,
  witnessSet
} from './witness-set.js'

export interface WitnessingInit {
  feedId: string
  signer: HybridSigner
  membership: Membership
  replicas: ReplicaStore
  ownSource: FeedSource
  feed: OpenedLedger
  attestation: AttestationService
  quarantineStore: ReturnType<typeof quarantineSublevel>
  clock: Clock
  init: { cosignIntervalMs?: number; witnessesPerFeed?: number; logger?: Logger }
}

export class Witnessing {
  private readonly feedId: string
  private readonly signer: HybridSigner
  private readonly membership: Membership
  private readonly replicas: ReplicaStore
  private readonly ownSource: FeedSource
  private readonly feed: OpenedLedger
  private readonly attestation: AttestationService
  private readonly quarantineStore: WitnessingInit['quarantineStore']
  private readonly init: WitnessingInit['init']
  /** Witnessing: when each feed's checkpoint was last cosigned here, and of what size. */
  private readonly cosigned = new Map<string, { at: number; size: number }>()
  readonly cosignDue = new Set<string>()
  /** When each replica last grew (witnesses wait for a feed to settle before cosigning it). */
  readonly grewAt = new Map<string, number>()
  private readonly clock: Clock
  private readonly startedAt: number
  /** Feeds this agent cosigned since it last announced them: their announce carries the cosignatures. */
  readonly cosignedSinceAnnounce = new Set<string>()
  /** The last checkpoint text checked per feed from announces (the same note comes from many peers). */
  private readonly announcedNotes = new Map<string, string>()
  /** When an announced checkpoint of each feed was last checked against the stored tree. */
  private readonly treeChecked = new Map<string, number>()
  private witnessKeys: { count: number; keys: Map<string, HybridPublicKey> } = { count: -1, keys: new Map() }
  /** Per feed, whether this agent is in its witness set, for the member list it was computed from. */
  private readonly witnessOf = new Map<string, { members: string; is: boolean }>()
  /** Checkpoints announced before this agent held their size: checked and merged once it does. */
  private readonly pendingCosigned = new Map<string, VerifiedCheckpoint[]>()

  constructor(deps: WitnessingInit) {
    this.feedId = deps.feedId
    this.signer = deps.signer
    this.membership = deps.membership
    this.replicas = deps.replicas
    this.ownSource = deps.ownSource
    this.feed = deps.feed
    this.attestation = deps.attestation
    this.quarantineStore = deps.quarantineStore
    this.init = deps.init
    this.clock = deps.clock
    this.startedAt = deps.clock.now()
  }

  sourceOf(feed: string): FeedSource {
    return feed === this.feedId ? this.ownSource : this.replicas.source(feed)
  }

  /** The fleet devices whose cosignature on the newest checkpoint of the own feed verifies. */
  async witnessedBy(): Promise<string[]> {
    const sealed = await this.ownSource.sealed()
    if (sealed === undefined) return []
    try {
      return [
        ...verifyCheckpoint(
          parseCheckpoint(sealed.note),
          { name: this.feedId, key: this.signer.publicKey },
          this.witnesses()
        ).cosigners
      ]
    } catch {
      return []
    }
  }

  /** Members' feed keys by deviceId: the witnesses whose cosignatures count. */
  witnesses(): Map<string, HybridPublicKey> {
    const members = this.membership.list()
    if (this.witnessKeys.count !== members.length)
      this.witnessKeys = { count: members.length, keys: new Map(members.map((m) => [m.deviceId, m.feedKey])) }
    return this.witnessKeys.keys
  }

  /** Whether this agent is in the witness set of `feed`, among the members in good standing. */
  isWitnessOf(feed: string): boolean {
    const inGood = this.membership
      .list()
      .map((m) => m.deviceId)
      .filter((d) => !this.membership.isRevoked(d) && !this.membership.isQuarantined(d))
    const members = inGood.join(',')
    const known = this.witnessOf.get(feed)
    if (known?.members === members) return known.is
    const is = witnessSet(feed, inGood, this.init.witnessesPerFeed ?? DEFAULT_WITNESSES_PER_FEED).includes(this.feedId)
    if (this.witnessOf.size >= 4096) this.witnessOf.clear()
    this.witnessOf.set(feed, { members, is })
    return is
  }

  /**
   * Witnessing: cosigns the newest stored checkpoint of a peer's feed (verified when it was
   * stored, so it extends every earlier one held) once the feed has been quiet for
   * COSIGN_QUIET_INTERVALS intervals, and at least every COSIGN_MAX_WAIT_INTERVALS while it keeps
   * growing, when this agent is in the feed's witness set. Returns whether a cosignature was added.
   */
  async cosign(feed: string): Promise<boolean> {
    const interval = this.init.cosignIntervalMs ?? 1_000
    if (
      interval <= 0 ||
      feed === this.feedId ||
      this.membership.isRevoked(feed) ||
      this.membership.trustFor(feed) === undefined ||
      !this.isWitnessOf(feed)
    ) {
      // Not (or no longer: the fleet grew, or the device was revoked) this agent's to cosign.
      this.cosignDue.delete(feed)
      return false
    }
    const last = this.cosigned.get(feed)
    const now = this.clock.now()
    const growing = now - (this.grewAt.get(feed) ?? 0) < COSIGN_QUIET_INTERVALS * interval
    if (
      (last !== undefined && now - last.at < interval) ||
      (growing && now - (last?.at ?? this.startedAt) < COSIGN_MAX_WAIT_INTERVALS * interval)
    ) {
      this.cosignDue.add(feed)
      return false
    }
    this.cosignDue.delete(feed)
    const source = this.replicas.source(feed)
    const sealed = await source.sealed()
    if (sealed === undefined || (last !== undefined && sealed.size <= last.size)) return false
    this.cosigned.set(feed, { at: this.clock.now(), size: sealed.size })
    const note = await cosignCheckpoint(sealed.note, this.signer, this.feedId)
    const verified = verifyCheckpoint(
      parseCheckpoint(note),
      { name: feed, key: this.membership.trustFor(feed)!.feedKey },
      new Map([[this.feedId, this.signer.publicKey]])
    )
    const added = (await source.mergeCosignatures(verified)) > 0
    if (added) this.cosignedSinceAnnounce.add(feed)
    return added
  }

  /**
   * A peer's announced checkpoint of a feed held here: a contradiction with the stored history is
   * equivocation (evidence, quarantine, alert); otherwise its witnesses' cosignatures are kept.
   */
  async checkAnnounced(feed: string, note: string, peerId: string): Promise<void> {
    if (note.length === 0 || this.announcedNotes.get(feed) === note) return
    const trust = this.membership.trustFor(feed)
    if (trust === undefined) return
    const heldSize = feed === this.feedId ? this.feed.ledger.sealedSize : (await this.replicas.meta(feed)).size
    // Most announces repeat a checkpoint held here, with no signer it lacks: seen without parsing
    // or decoding its signature lines (each pair is ~4.5 KB).
    const peeked = peekCheckpoint(note)
    if (peeked !== undefined && peeked.size <= heldSize) {
      const stored = await this.sourceOf(feed).noteAt(peeked.size)
      const held = stored === undefined ? undefined : peekCheckpoint(stored)
      if (held !== undefined && held.text === peeked.text && [...peeked.names].every((name) => held.names.has(name)))
        return
    }
    let checkpoint: VerifiedCheckpoint
    try {
      const offered = parseCheckpoint(note)
      // The same checkpoint as the one stored, with no signer it lacks: nothing to check or keep.
      const stored = await this.sourceOf(feed).noteAt(offered.body.size)
      if (stored !== undefined) {
        const held = parseCheckpoint(stored)
        const names = new Set(held.signatures.map((line) => line.name))
        if (held.text === offered.text && offered.signatures.every((line) => names.has(line.name))) return
      } else if (
        feed !== this.feedId &&
        offered.body.size <= heldSize &&
        this.clock.now() - (this.treeChecked.get(`${feed} ${peerId}`) ?? 0) < 1_000
      ) {
        // No checkpoint of that size is stored: checking it means recomputing the tree's root at
        // that size, so it is done at most once a second per feed and peer (those of a stored size
        // always are; per peer, so that a device announcing its own feed often cannot crowd out
        // the one announce of another history a peer shows). Not remembered as checked: the next
        // announce of it is looked at again.
        return
      }
      if (this.announcedNotes.size >= 4096) this.announcedNotes.clear()
      this.announcedNotes.set(feed, note)
      checkpoint = verifyCheckpoint(offered, { name: feed, key: trust.feedKey }, this.witnesses())
    } catch (err) {
      this.init.logger?.debug({ peerId, feed, err: (err as Error).message }, 'an announced checkpoint does not verify')
      return
    }
    // The first checkpoint of a new epoch the owner authorised: the replica moves over to it (a pull follows).
    if (
      feed !== this.feedId &&
      trust.epochs !== undefined &&
      (await this.replicas.adoptEpoch(feed, checkpoint, trust))
    ) {
      this.init.logger?.warn(
        { feed, epoch: checkpoint.body.epoch },
        'the owner authorised a new epoch of this feed: its replica moves over to it from the fork point'
      )
      return
    }
    const source = this.sourceOf(feed)
    if (feed !== this.feedId) {
      if (checkpoint.body.size <= heldSize) {
        if (this.treeChecked.size >= 4096) this.treeChecked.clear()
        this.treeChecked.set(`${feed} ${peerId}`, this.clock.now())
      }
      const evidence = await source.contradiction(checkpoint, heldSize, trust.feedKey)
      if (evidence !== undefined) {
        await this.quarantineFor(evidence, checkpoint.body.epoch, peerId)
        return
      }
    }
    if (checkpoint.body.size <= heldSize) {
      if (checkpoint.cosigners.length > 0) await source.mergeCosignatures(checkpoint)
      return
    }
    // Not held yet (a pull is coming): keep it for when it is, a few per feed, to check it against
    // the history then (a device may show one peer a history the others never serve it, e.g. in an
    // epoch its replicas refuse) and to keep its cosignatures.
    const pending = this.pendingCosigned.get(feed) ?? []
    pending.push(checkpoint)
    if (pending.length > 8) pending.shift()
    if (this.pendingCosigned.size < 1024 || this.pendingCosigned.has(feed)) this.pendingCosigned.set(feed, pending)
  }

  /**
   * Checks the checkpoints announced before this agent held their size against the history now
   * held (equivocation: quarantine), and merges their cosignatures.
   */
  async mergePending(feed: string, held: number): Promise<void> {
    const pending = this.pendingCosigned.get(feed)
    if (pending === undefined) return
    const ready = pending.filter((c) => c.body.size <= held)
    const rest = pending.filter((c) => c.body.size > held)
    if (rest.length === 0) this.pendingCosigned.delete(feed)
    else this.pendingCosigned.set(feed, rest)
    const source = this.sourceOf(feed)
    for (const checkpoint of ready) {
      const trust = this.membership.trustFor(feed)
      if (trust === undefined) return
      if (feed !== this.feedId) {
        const evidence = await source.contradiction(checkpoint, held, trust.feedKey)
        if (evidence !== undefined) {
          await this.quarantineFor(evidence, checkpoint.body.epoch, 'announce')
          return
        }
      }
      if (checkpoint.cosigners.length > 0) await source.mergeCosignatures(checkpoint)
    }
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
  async loadQuarantines(): Promise<void> {
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
