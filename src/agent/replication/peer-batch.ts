/**
 * What a batch of another device's feed (or the owner's) means once it is verified and stored:
 * the owner's statements go to membership; a peer's alerts (equivocation, revocation) to
 * witnessing and membership; its verdicts to whoever counts them (the workload gate's quorum). A
 * batch showing two histories of one feed quarantines that feed's device.
 */
import {
  EquivocationDetectedError,
  ReplicaRejectedError,
  type Entry,
  type ReplicaStore,
  type SyncBatch
} from '../../ledger/index.js'
import type { Clock } from '../../common/index.js'
import {
  applyOwnerStatements,
  applyRevocationAlert,
  type MemberRecords,
  type Membership,
  type OwnerStatementTargets,
  type Witnessing
} from '../membership/index.js'
import type { ReplicationEvent } from './events.js'
import { isPeerAlert, type AlertOutcome, type PeerAlerts } from './peer-alerts.js'

export interface PeerBatchTargets {
  membership: Membership
  members: MemberRecords
  replicas: ReplicaStore
  witnessing: Witnessing
  ownerTargets: () => OwnerStatementTargets
  /** Told each verified entry of a peer's feed that is a verdict (attest.verdict). */
  onVerdict?: (feed: string, entry: Entry) => void
  /** Acts on peers' alerts, at least once (peer-alerts.ts, built on actOnPeerAlert). */
  alerts: PeerAlerts
  /** For the cosigning schedule (when a feed last grew): Witnessing's clock, which never steps. */
  clock: Clock
}

/** A peer's alert, verified and acted on (an equivocation quarantines, a proven revocation revokes). */
export async function actOnPeerAlert(
  entry: Entry,
  feed: string,
  c: Omit<PeerBatchTargets, 'alerts' | 'clock'>
): Promise<AlertOutcome> {
  if (entry.type === 'alert.equivocation')
    return (await c.witnessing.quarantines.onAlert(entry, feed)) ? 'done' : 'unknown-device'
  if (entry.type === 'alert.revocation')
    await applyRevocationAlert(entry, feed, { ...c.ownerTargets(), records: c.members })
  return 'done'
}

/**
 * Verifies and stores `batch` (from `peerId`) as the feed's trust allows, then acts on what it
 * added (`grew` is told as soon as the replica grew). A refused batch is reported to `onEvent`; an
 * equivocation quarantines the feed's device (not the relaying peer's fault); any other error is thrown.
 */
export async function applyPeerBatch(
  batch: SyncBatch,
  peerId: string,
  c: PeerBatchTargets,
  events: { grew: () => void; onEvent?: (event: ReplicationEvent) => void }
): Promise<void> {
  const { membership, witnessing, replicas } = c
  const trust = membership.trustFor(batch.feed)
  if (trust === undefined) return
  try {
    const { added, entries } = await replicas.apply(batch, { ...trust, witnesses: witnessing.witnesses() })
    if (added === 0) return
    events.grew()
    witnessing.grewAt.set(batch.feed, c.clock.now())
    await witnessing.mergePending(batch.feed, (await replicas.meta(batch.feed)).size)
    if (batch.feed === membership.ownerFeed) {
      await applyOwnerStatements(entries, c.ownerTargets())
      // The owner may have enrolled a device that peers' waiting alerts are about.
      await c.alerts.retryWaiting()
      return
    }
    for (const entry of entries) if (entry.type === 'attest.verdict') c.onVerdict?.(batch.feed, entry)
    await c.alerts.afterBatch(batch.feed, entries)
    for (const entry of entries)
      if (isPeerAlert(entry)) events.onEvent?.({ type: 'alert-read', peerId, feed: batch.feed, alert: entry.type })
  } catch (err) {
    if (err instanceof ReplicaRejectedError) {
      events.onEvent?.({ type: 'batch-refused', peerId, feed: batch.feed, reason: err.message })
    }
    // The owner's feed forked: a peer holding the other branch serves it in good faith (this
    // agent keeps its branch; revocations cross over as alert.revocation).
    if (
      batch.feed === membership.ownerFeed &&
      membership.isQuarantined(batch.feed) &&
      err instanceof ReplicaRejectedError &&
      !(err instanceof EquivocationDetectedError)
    )
      return
    if (!(err instanceof EquivocationDetectedError)) throw err
    // The feed's device signed two histories: quarantine it and tell the fleet (not the relaying peer's fault).
    await witnessing.quarantines.quarantineFor(err.evidence, err.epoch, peerId)
  }
}
