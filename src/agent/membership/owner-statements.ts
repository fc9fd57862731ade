/** What an agent does with the owner's statements as they arrive in the owner's feed. */
import { bytesEqual, toHex } from '../../common/index.js'
import { verifyProofBundle, type Entry, type FeedSource, type ReplicaStore } from '../../ledger/index.js'
import { MEMBERSHIP_LIMITS } from './limits.js'
import type { AttestationService } from '../attestation/index.js'
import type { OpenedLedger } from '../feeds/index.js'
import type { Logger } from '../ops/index.js'
import type { Membership } from './members.js'
import type { MemberRecords } from './member-records.js'
import type { quarantineSublevel } from './quarantine-store.js'

export interface OwnerStatementTargets {
  membership: Membership
  attestation: AttestationService
  ledger: OpenedLedger['ledger']
  replicas: ReplicaStore
  quarantineStore: ReturnType<typeof quarantineSublevel>
  /** This device's own feed as stored (to check an epoch the owner authorised for it). */
  ownSource?: FeedSource
  /** While the owner's feed is forked: passes a revocation of the branch held here on to the fleet. */
  passOnRevocation?: (revocation: Entry) => Promise<unknown>
  logger?: Logger
}

/**
 * A new epoch the owner authorised for this device's own feed: its ledger signs in it from now
 * on, when the store holds the history the owner named (the root at the fork point) and has
 * signed nothing past that point (what it signed there is the history the owner replaced).
 */
export async function adoptOwnEpoch(t: OwnerStatementTargets): Promise<void> {
  if (t.ownSource === undefined) return
  const ledger = t.ledger
  for (const authorised of [...t.membership.epochsOf(ledger.feedId).values()].sort((a, b) => b.epoch - a.epoch)) {
    if (authorised.epoch <= ledger.epoch) return
    if (ledger.sealedSize > authorised.forkSize || ledger.size < authorised.forkSize) continue
    if (!bytesEqual(await t.ownSource.rootAt(authorised.forkSize), authorised.forkRoot)) continue
    await ledger.startEpoch(authorised.epoch)
    t.logger?.warn(
      { epoch: authorised.epoch, forkSize: authorised.forkSize },
      "the owner authorised a new epoch of this device's feed: its checkpoints are signed in it from now on"
    )
    return
  }
}

/**
 * The owner's device.revoke that a peer's alert.revocation proves (the entry, its inclusion proof
 * and the owner-signed checkpoint, verified against the genesis owner key), or undefined when the
 * proof does not verify or proves anything else. The revocation may be on a branch of a forked
 * owner's feed that this agent does not hold: revocations are a union over branches.
 */
export function provenRevocation(entry: Entry, membership: Membership): Entry | undefined {
  if (entry.type !== 'alert.revocation') return undefined
  const body = entry.body as { deviceId: string; proof: Uint8Array }
  if (body.proof.length > MEMBERSHIP_LIMITS.maxRevocationProofBytes) return undefined
  try {
    const text = Buffer.from(body.proof).toString('utf8')
    if (!Buffer.from(text).equals(body.proof)) return undefined
    const proved = verifyProofBundle(JSON.parse(text), {
      feedKey: membership.ownerKey,
      fleetId: membership.fleetId,
      ontology: membership.ontology
    })
    if (
      proved.feed !== membership.ownerFeed ||
      proved.entry.type !== 'device.revoke' ||
      proved.entry.body.deviceId !== body.deviceId
    )
      return undefined
    return proved.entry
  } catch {
    return undefined
  }
}

/**
 * Applies verified entries of the owner's feed: a new boot policy re-judges peers, an ontology
 * update reaches the own ledger, a revocation hangs up on the device (its feed cut where the
 * owner said), a cleared quarantine lets the device back in.
 */
export async function applyOwnerStatements(entries: readonly Entry[], t: OwnerStatementTargets): Promise<void> {
  for (const entry of entries) {
    const { revoked, released, policy, ontology, epoch, actor, workload, externalWitness } =
      t.membership.applyOwnerEntry(entry)
    if (externalWitness !== undefined)
      t.logger?.info(
        { witness: externalWitness.name, url: entry.body.url },
        externalWitness.change === 'added'
          ? "the owner listed an external witness: this device's checkpoints go to it"
          : 'the owner removed an external witness'
      )
    if (workload !== undefined)
      t.logger?.info(
        { service: workload.service, exeDigest: toHex(entry.body.exeDigest as Uint8Array) },
        workload.change === 'allowed'
          ? 'the owner allowed a program to act as a service'
          : "the owner revoked a service's program"
      )
    if (actor !== undefined) {
      const enrolled = t.membership.actors.get(actor.actorId)
      t.logger?.info(
        { actorId: actor.actorId, role: enrolled?.role, kind: enrolled?.kind, hardware: enrolled?.hardware },
        actor.change === 'enrolled' ? 'the owner enrolled an actor' : 'the owner revoked an actor'
      )
    }
    if (epoch !== undefined && epoch.feed === t.ledger.feedId) await adoptOwnEpoch(t)
    if (policy !== undefined) {
      t.logger?.warn(
        { policyId: entry.body.policyId },
        'the owner set a new boot policy: peers are judged by it from now on'
      )
      t.attestation.setPolicy(policy)
    }
    if (ontology !== undefined) {
      t.logger?.info({ version: ontology.version }, 'the owner updated the ontology')
      t.ledger.useOntology(ontology)
    }
    if (revoked !== undefined) {
      const keep = t.membership.cutOf(revoked)
      const held = (await t.replicas.meta(revoked)).size
      t.logger?.warn(
        { deviceId: revoked, keep, held },
        keep === undefined
          ? 'device revoked by the owner: hanging up and refusing it'
          : `device revoked by the owner: hanging up and refusing it; its feed is cut at ${keep} entries${held > keep ? ` (${held - keep} held past the cut are kept apart, unserved)` : ''}`
      )
      await t.attestation.revoke(revoked)
      if (entry.type === 'device.revoke' && t.membership.isQuarantined(t.membership.ownerFeed))
        await t.passOnRevocation?.(entry)
    }
    if (released !== undefined && !t.membership.isRevoked(released)) {
      t.logger?.warn({ deviceId: released }, 'the owner cleared a quarantine: the device may connect again')
      await t.quarantineStore.del(released)
      t.attestation.release(released)
    }
  }
}

/**
 * A peer's alert.revocation: when it proves an owner revocation (provenRevocation), the
 * revocation is applied as if it came in the owner's feed held here, and kept across restarts.
 */
export async function applyRevocationAlert(
  alert: Entry,
  from: string,
  t: OwnerStatementTargets & { records: MemberRecords }
): Promise<void> {
  const revocation = provenRevocation(alert, t.membership)
  if (revocation === undefined) {
    t.logger?.warn({ reporter: from }, 'a revocation alert whose proof does not verify; ignored')
    return
  }
  // Kept before it takes effect: a revocation this agent acts on (and others may see it act on)
  // is one a restart still knows. Kept after, it could be lost with a stop or a crash in between,
  // and the restarted agent would take the revoked device back. A store that cannot keep it
  // (a full disk) still does not stop it taking effect now: the failure is reported after.
  const failed = await t.records.saveRevocation(alert).then(
    () => undefined,
    (err: unknown) => err
  )
  // Another branch's revocation: applied here, not passed on from here (the peer did that).
  const { passOnRevocation: _, ...targets } = t
  await applyOwnerStatements([revocation], targets)
  if (failed !== undefined) throw failed
}
