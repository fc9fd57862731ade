import { existsSync } from 'node:fs'
import path from 'node:path'
import { eccPoint, parsePublic, canonicalPolicyJson } from '../../attest/index.js'
import type { HybridPublicKey, HybridSignature } from '../../identity/index.js'
import { FleetError, MalformedInputError, toBase64, fromBase64 } from '../../common/index.js'
import { readDeviceState, DEVICE_STATE_FILE } from '../device/index.js'
import { readOwnerState, verifyGenesis, OWNER_STATE_FILE } from '../owner/index.js'
import {
  readDeviceEnrolment,
  verifyDeviceEnrolment,
  verifyEnrolmentRecord,
  decodeSignedEnrolment,
  ownerFeedId
} from '../enrolment/index.js'
import {
  BASE_ONTOLOGY,
  ReplicaStore,
  EntryRuns,
  decodeEntry,
  applyOntologyUpdateEntry,
  makeProofBundle,
  verifyProofBundle,
  ProofError,
  epochAuthorisationOf,
  epochsOf,
  LEDGER_SUBLEVELS,
  feedSublevels,
  replicaSpace,
  type Ontology,
  type ProofBundle,
  type EpochAuthorisation,
  type LedgerSpace,
  type LedgerStore
} from '../../ledger/index.js'

/**
 * Everything an auditor needs to trust a feed, rooted in the fleetId: the genesis statement (whose
 * hash is the fleetId, and which names the owner key), and for a device's feed the owner-signed
 * enrolment record that names the device's keys. Carried at the head of exports and proofs.
 */
export interface FeedTrust {
  genesis: { statement: string; p256: string; mldsa65: string }
  enrolment?: { record: string; p256: string; mldsa65: string; policy: string }
}

export interface FeedIdentity {
  kind: 'device' | 'owner'
  fleetId: Uint8Array
  feedId: string
  feedKey: HybridPublicKey
  trust: FeedTrust
}

/** The feed a state directory writes: a device's own (once enrolled), or the owner's. */
export async function feedIdentityOf(dir: string): Promise<FeedIdentity> {
  if (existsSync(path.join(dir, OWNER_STATE_FILE))) {
    const owner = await readOwnerState(dir)
    const verified = verifyGenesis(fromBase64(owner.genesis.statement), {
      p256: fromBase64(owner.genesis.p256),
      mldsa65: fromBase64(owner.genesis.mldsa65)
    })
    const fleetId = new Uint8Array(Buffer.from(owner.fleetId, 'hex'))
    return {
      kind: 'owner',
      fleetId,
      feedId: ownerFeedId(fleetId),
      feedKey: verified.ownerKey,
      trust: { genesis: owner.genesis }
    }
  }
  if (!existsSync(path.join(dir, DEVICE_STATE_FILE)))
    throw new MalformedInputError(`${dir} holds neither a device (fleet init) nor an owner (fleet owner init)`, {
      code: 'ERR_NO_STATE'
    })
  const state = await readDeviceState(dir)
  const enrolment = await readDeviceEnrolment(dir, state.deviceId)
  if (enrolment === undefined)
    throw new FleetError(`device ${state.deviceId} is not enrolled in a fleet yet (fleet join): it has no ledger`, {
      code: 'ERR_NOT_ENROLLED'
    })
  return {
    kind: 'device',
    fleetId: enrolment.fleetId,
    feedId: state.deviceId,
    feedKey: { p256: eccPoint(parsePublic(enrolment.record.dskPub)), mldsa65: enrolment.record.pqPub },
    trust: {
      genesis: {
        statement: toBase64(enrolment.genesis.statement),
        p256: toBase64(enrolment.genesis.signature.p256),
        mldsa65: toBase64(enrolment.genesis.signature.mldsa65)
      },
      enrolment: {
        record: toBase64(enrolment.signed.record),
        p256: toBase64(enrolment.signed.signature.p256),
        mldsa65: toBase64(enrolment.signed.signature.mldsa65),
        policy: canonicalPolicyJson(enrolment.policy)
      }
    }
  }
}

/** Thrown when a trust header does not lead from the expected fleetId to the feed. */
export class FeedTrustError extends FleetError {
  constructor(reason: string) {
    super(`feed trust: ${reason}`, { code: 'ERR_FEED_TRUST' })
  }
}

const BASE64 = /^[A-Za-z0-9+/]*={0,2}$/

/**
 * Re-derives a feed's identity from a trust header alone: the genesis must hash to `expectFleetId`
 * (when given: an auditor pins the fleet), the enrolment must be signed by that owner.
 */
export function feedIdentityFromTrust(value: unknown, feedId: string, expectFleetId?: string): FeedIdentity {
  const t = value as FeedTrust
  const str = (v: unknown, field: string, max = 64 * 1024): Uint8Array => {
    if (typeof v !== 'string' || v.length > max || !BASE64.test(v)) throw new FeedTrustError(`bad field ${field}`)
    return fromBase64(v)
  }
  if (typeof value !== 'object' || value === null || typeof t.genesis !== 'object' || t.genesis === null)
    throw new FeedTrustError('no genesis statement')
  const genesis = {
    statement: str(t.genesis.statement, 'genesis.statement'),
    signature: { p256: str(t.genesis.p256, 'genesis.p256'), mldsa65: str(t.genesis.mldsa65, 'genesis.mldsa65') }
  }
  const verified = verifyGenesis(genesis.statement, genesis.signature as HybridSignature)
  if (expectFleetId !== undefined && verified.fleetId !== expectFleetId)
    throw new FeedTrustError(`the genesis statement founds fleet ${verified.fleetId}, not ${expectFleetId}`)
  const fleetId = new Uint8Array(Buffer.from(verified.fleetId, 'hex'))
  if (t.enrolment === undefined) {
    if (feedId !== ownerFeedId(fleetId))
      throw new FeedTrustError(`feed ${feedId} is not the owner's feed and no enrolment names it`)
    return { kind: 'owner', fleetId, feedId, feedKey: verified.ownerKey, trust: t }
  }
  if (typeof t.enrolment !== 'object' || t.enrolment === null || typeof t.enrolment.policy !== 'string')
    throw new FeedTrustError('malformed enrolment')
  const enrolment = verifyDeviceEnrolment(
    {
      genesis,
      signed: {
        record: str(t.enrolment.record, 'enrolment.record'),
        signature: {
          p256: str(t.enrolment.p256, 'enrolment.p256'),
          mldsa65: str(t.enrolment.mldsa65, 'enrolment.mldsa65')
        }
      },
      policy: t.enrolment.policy
    },
    feedId
  )
  return {
    kind: 'device',
    fleetId,
    feedId,
    feedKey: { p256: eccPoint(parsePublic(enrolment.record.dskPub)), mldsa65: enrolment.record.pqPub },
    trust: t
  }
}

/** The owner key of a feed's fleet, from the genesis statement in its trust chain (verified again). */
export function ownerKeyOf(identity: FeedIdentity): HybridPublicKey {
  const genesis = identity.trust.genesis
  return verifyGenesis(fromBase64(genesis.statement), {
    p256: fromBase64(genesis.p256),
    mldsa65: fromBase64(genesis.mldsa65)
  }).ownerKey
}

/**
 * The keys a state directory's store knows, for checking signatures offline: the owner's (from
 * the genesis statement), the device's own, and every member whose owner-signed enrolment record
 * the agent kept (each re-verified here). Keyed by feed id.
 */
export async function knownFeedKeys(store: LedgerStore, identity: FeedIdentity): Promise<Map<string, HybridPublicKey>> {
  const ownerKey = ownerKeyOf(identity)
  const keys = new Map<string, HybridPublicKey>([
    [ownerFeedId(identity.fleetId), ownerKey],
    [identity.feedId, identity.feedKey]
  ])
  for await (const bytes of store.sublevel(LEDGER_SUBLEVELS.members).values()) {
    try {
      const record = verifyEnrolmentRecord(decodeSignedEnrolment(bytes), { key: ownerKey, fleetId: identity.fleetId })
      keys.set(record.deviceId, { p256: eccPoint(parsePublic(record.dskPub)), mldsa65: record.pqPub })
    } catch {
      // A record that does not verify names no key.
    }
  }
  return keys
}

/** At most this many witness records in an export header. */
const MAX_WITNESSES = 1024

/** The signed enrolment records a store keeps of other members, base64, for an export header. */
export async function storedWitnessRecords(store: LedgerStore): Promise<string[]> {
  const out: string[] = []
  for await (const bytes of store.sublevel(LEDGER_SUBLEVELS.members).values({ limit: MAX_WITNESSES }))
    out.push(toBase64(bytes))
  return out
}

/**
 * Witness keys from an export header's `witnesses` (base64 signed enrolment records), each
 * verified against the owner key of the header's genesis statement. Absent: no witnesses.
 */
export function witnessKeysFromHeader(value: unknown, identity: FeedIdentity): Map<string, HybridPublicKey> {
  const keys = new Map<string, HybridPublicKey>()
  if (value === undefined) return keys
  if (!Array.isArray(value) || value.length > MAX_WITNESSES)
    throw new FeedTrustError(`witnesses must be a list of at most ${MAX_WITNESSES} records`)
  const ownerKey = ownerKeyOf(identity)
  for (const item of value) {
    if (typeof item !== 'string' || item.length > 32 * 1024 || !BASE64.test(item))
      throw new FeedTrustError('a witness record is not base64')
    let record: ReturnType<typeof verifyEnrolmentRecord>
    try {
      record = verifyEnrolmentRecord(decodeSignedEnrolment(fromBase64(item)), {
        key: ownerKey,
        fleetId: identity.fleetId
      })
    } catch (err) {
      throw new FeedTrustError(`a witness record does not verify: ${(err as Error).message}`)
    }
    keys.set(record.deviceId, { p256: eccPoint(parsePublic(record.dskPub)), mldsa65: record.pqPub })
  }
  keys.delete(identity.feedId)
  return keys
}

/** The entries of a store's own feed, in order. */
export async function* ownEntries(store: LedgerStore): AsyncGenerator<Uint8Array> {
  for await (const { bytes } of new EntryRuns(feedSublevels(store).entries).entries()) yield bytes
}

/**
 * The ontology in force for a store: version 1 plus the owner's ontology.update entries that the
 * store holds (its own feed for the owner, the verified replica of the owner's feed for a device).
 */
export async function storedOntology(store: LedgerStore, identity: FeedIdentity): Promise<Ontology> {
  let ontology = BASE_ONTOLOGY
  const owner = ownerFeedId(identity.fleetId)
  const entries = identity.kind === 'owner' ? ownEntries(store) : new ReplicaStore(store).entries(owner)
  for await (const bytes of entries) {
    const { entry } = decodeEntry(bytes)
    if (entry.type !== 'ontology.update') continue
    try {
      ontology = applyOntologyUpdateEntry(ontology, entry)
    } catch {
      // An update that does not apply is skipped, as the agents skip it.
    }
  }
  return ontology
}

/** At most this many ontology updates in an export header (each proof bundle is up to ~8 KB of the 256 KB header line). */
const MAX_ONTOLOGY_UPDATES = 16

/**
 * Proof bundles of the owner's sealed ontology.update entries that the store holds, for an export
 * header: with them an auditor checks entries of actions added after version 1 from the export
 * alone.
 */
export async function storedOntologyProofs(store: LedgerStore, identity: FeedIdentity): Promise<ProofBundle[]> {
  const owner = ownerFeedId(identity.fleetId)
  const space = ownerSpaceOf(store, identity)
  const out: ProofBundle[] = []
  for await (const { seq, bytes } of new EntryRuns(feedSublevels(space).entries).entries()) {
    if (decodeEntry(bytes).entry.type !== 'ontology.update') continue
    try {
      out.push(await makeProofBundle(space, { feedId: owner, seq }))
    } catch (err) {
      // Not sealed yet: it is not part of what an auditor can check.
      if (!(err instanceof ProofError)) throw err
    }
    if (out.length >= MAX_ONTOLOGY_UPDATES) break
  }
  return out
}

/**
 * The ontology an export's entries are checked by: version 1 plus the header's `ontology` updates,
 * each an inclusion proof of an owner-signed ontology.update under an owner-signed checkpoint of
 * the owner's feed (verified against the genesis statement's owner key), in feed order.
 */
export function ontologyFromHeader(value: unknown, identity: FeedIdentity): Ontology {
  let ontology = BASE_ONTOLOGY
  if (value === undefined) return ontology
  if (!Array.isArray(value) || value.length > MAX_ONTOLOGY_UPDATES)
    throw new FeedTrustError(`ontology must be a list of at most ${MAX_ONTOLOGY_UPDATES} proof bundles`)
  const ownerKey = ownerKeyOf(identity)
  const owner = ownerFeedId(identity.fleetId)
  let last = -1
  for (const bundle of value) {
    let proved: ReturnType<typeof verifyProofBundle>
    try {
      proved = verifyProofBundle(bundle, { feedKey: ownerKey, fleetId: identity.fleetId })
    } catch (err) {
      throw new FeedTrustError(`an ontology update does not verify: ${(err as Error).message}`)
    }
    if (proved.feed !== owner || proved.entry.type !== 'ontology.update')
      throw new FeedTrustError("an ontology update is not an ontology.update of the owner's feed")
    if (proved.seq <= last) throw new FeedTrustError('the ontology updates are not in feed order')
    last = proved.seq
    try {
      ontology = applyOntologyUpdateEntry(ontology, proved.entry)
    } catch {
      // An update that does not apply is skipped, as the agents skip it.
    }
  }
  return ontology
}

/** At most this many epoch authorisations in an export header. */
const MAX_EPOCH_PROOFS = 16

/** The owner's feed as a store holds it: its own for the owner, the replica for a device. */
export function ownerSpaceOf(store: LedgerStore, identity: FeedIdentity): LedgerSpace {
  return identity.kind === 'owner' ? store : replicaSpace(store, ownerFeedId(identity.fleetId))
}

/**
 * The feed epochs the owner authorised for the store's own feed (device.new_epoch entries of the
 * owner's feed the store holds), by epoch.
 */
export async function storedEpochs(
  store: LedgerStore,
  identity: FeedIdentity
): Promise<Map<number, EpochAuthorisation>> {
  const found: EpochAuthorisation[] = []
  if (identity.kind === 'device') {
    for await (const { bytes } of new EntryRuns(feedSublevels(ownerSpaceOf(store, identity)).entries).entries()) {
      const authorised = epochAuthorisationOf(decodeEntry(bytes).entry)
      if (authorised !== undefined) found.push(authorised)
    }
  }
  return epochsOf(identity.feedId, found)
}

/**
 * Proof bundles of the owner's sealed device.new_epoch entries about the store's own feed, for an
 * export header: with them an auditor accepts a history in an epoch the owner authorised, and
 * only such a history, from the export alone.
 */
export async function storedEpochProofs(store: LedgerStore, identity: FeedIdentity): Promise<ProofBundle[]> {
  if (identity.kind !== 'device') return []
  const owner = ownerFeedId(identity.fleetId)
  const space = ownerSpaceOf(store, identity)
  const out: ProofBundle[] = []
  for await (const { seq, bytes } of new EntryRuns(feedSublevels(space).entries).entries()) {
    if (epochAuthorisationOf(decodeEntry(bytes).entry)?.feed !== identity.feedId) continue
    try {
      out.push(await makeProofBundle(space, { feedId: owner, seq }))
    } catch (err) {
      if (!(err instanceof ProofError)) throw err
    }
    if (out.length >= MAX_EPOCH_PROOFS) break
  }
  return out
}

/**
 * The epochs an export's checkpoints may state besides 1: the header's `epochs`, each an inclusion
 * proof of an owner-signed device.new_epoch about this feed under an owner-signed checkpoint of the
 * owner's feed (verified against the genesis statement's owner key). Absent: epoch 1 only.
 */
export function epochsFromHeader(value: unknown, identity: FeedIdentity): Map<number, EpochAuthorisation> {
  if (value === undefined) return new Map()
  if (!Array.isArray(value) || value.length > MAX_EPOCH_PROOFS)
    throw new FeedTrustError(`epochs must be a list of at most ${MAX_EPOCH_PROOFS} proof bundles`)
  const ownerKey = ownerKeyOf(identity)
  const owner = ownerFeedId(identity.fleetId)
  const found: EpochAuthorisation[] = []
  for (const bundle of value) {
    let proved: ReturnType<typeof verifyProofBundle>
    try {
      proved = verifyProofBundle(bundle, { feedKey: ownerKey, fleetId: identity.fleetId, ontology: BASE_ONTOLOGY })
    } catch (err) {
      throw new FeedTrustError(`an epoch authorisation does not verify: ${(err as Error).message}`)
    }
    const authorised = epochAuthorisationOf(proved.entry)
    if (proved.feed !== owner || authorised === undefined || authorised.feed !== identity.feedId)
      throw new FeedTrustError("an epoch authorisation is not a device.new_epoch of the owner's feed about this feed")
    found.push(authorised)
  }
  return epochsOf(identity.feedId, found)
}
