/**
 * Witnessing for an agent: cosigning peers' checkpoints it verified, checking the checkpoints
 * peers announce against its own copies (a contradiction is evidence: quarantines.ts), and
 * keeping the cosignatures it lacks.
 */
import {
  parseCheckpoint,
  peekCheckpoint,
  verifyCheckpoint,
  cosignCheckpoint,
  type ReplicaStore,
  type FeedSource,
  type VerifiedCheckpoint
} from '../../ledger/index.js'
import type { Clock } from '../../common/index.js'
import type { HybridPublicKey, HybridSigner } from '../../identity/index.js'
import type { AttestationService } from '../attestation/index.js'
import type { OpenedLedger } from '../feeds/index.js'
import type { Logger } from '../ops/index.js'
import type { Membership } from './members.js'
import type { quarantineSublevel } from './quarantine-store.js'
import { Quarantines } from './quarantines.js'
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
  /** For the cosigning schedule and the throttle on checking announced checkpoints: a clock that never steps (steadyClock). */
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
  private readonly init: WitnessingInit['init']
  /** Quarantines on verified evidence, kept across restarts (quarantines.ts). */
  readonly quarantines: Quarantines
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
    this.init = deps.init
    this.quarantines = new Quarantines(deps)
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
        await this.quarantines.quarantineFor(evidence, checkpoint.body.epoch, peerId)
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
          await this.quarantines.quarantineFor(evidence, checkpoint.body.epoch, 'announce')
          return
        }
      }
      if (checkpoint.cosigners.length > 0) await source.mergeCosignatures(checkpoint)
    }
  }
}
