/**
 * actor-sign: operator actions signed by their actor's own key on a PKCS#11 token (SoftHSM2), as
 * entry version 2 with its proof, against plain device-signed entries (an agent's own action of the
 * same size: only operators and auditors sign) in the same run.
 *   append: actions/s through sign-on-the-token then a durable append (waves of WAVE actions, each
 *     signed, then its proof checked against the enrolled key and appended, acknowledged after the
 *     synced write), and plain appends/s;
 *   verify: entries/s a replica takes from the feed (checkpoint, chain, Merkle tree, ontology: what
 *     ReplicaStore.apply does, the actor rule included: for the signed feed, each batch's proofs
 *     checked by the replica's ActorRegistry, its token signatures together by the native
 *     P256BatchVerifier, as `fleet run` composes it), against the same replica work on the plain
 *     feed;
 *   verify-node: the same with node:crypto's P256BatchVerifier (one after another);
 *   verify-batch: the replica without the rule's directory work, the batch's signatures handed to
 *     the native verifier directly in calls of CHECK_CHUNK (the verifier's own ceiling);
 *   p256-verify: signatures/s of the native batch verifier against node:crypto's, batches of
 *     BATCH signatures by one key; p256-verify-cold: the same with a key of its own per signature
 *     (nothing to reuse between signatures).
 * Goal: verification of actor-signed entries at ≥ 50% of the rate of plain ones.
 */
import { execFileSync } from 'node:child_process'
import { mkdirSync, writeFileSync } from 'node:fs'
import { mkdtemp, rm } from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import { nativeHasher, nativeP256Verifier } from '../src/attest/index.js'
import { ActorRegistry } from '../src/agent/index.js'
import {
  HybridSigner,
  nodeMlDsa65,
  nodeP256Verifier,
  softwareP256Signer,
  type P256BatchItem,
  type P256BatchVerifier
} from '../src/identity/index.js'
import {
  BASE_ONTOLOGY,
  FeedLedger,
  LevelLedgerStore,
  ReplicaStore,
  actorStatement,
  decodeActorProof,
  encodeActorProof,
  ownFeedSource,
  ownerFeedId,
  type ActorDirectory,
  type AppendInput,
  type Entry
} from '../src/ledger/index.js'
import { loadModule } from '../src/pkcs11/index.js'
import { type Bench, nowMs, round } from './types.js'

const SECONDS = 3
const WAVE = 200
/** Signatures per batch of the p256-verify lines (a full sync batch). */
const BATCH = 2_000
/** Entries whose signatures the verify lines give a verifier at once. */
const CHECK_CHUNK = 250
const MODULE = '/usr/lib/softhsm/libsofthsm2.so'
const PIN = '2468-1357'
const fleetId = new Uint8Array(32).fill(1)
const feedId = 'a'.repeat(52)
/** The plain side: an agent's action with as much text in its body (52 + 204 bytes), which no actor signs. */
const plainAction: AppendInput = {
  type: 'alert.tamper',
  actor: { id: 'bench', role: 'agent' },
  attest: null,
  body: { subject: feedId, pcr: 7, detail: 'd'.repeat(204) }
}
const body = { resource: 'r'.repeat(200), purpose: 'p'.repeat(56) }
const actor = { id: 'dr.smith', role: 'operator' }

function openFeed(dir: string, name: string): { store: LevelLedgerStore; ledger: FeedLedger; signer: HybridSigner } {
  const store = new LevelLedgerStore(path.join(dir, name))
  const signer = new HybridSigner(softwareP256Signer(), nodeMlDsa65.fromSeed(new Uint8Array(32).fill(9)))
  const ledger = new FeedLedger(
    {
      store,
      signer,
      clock: { now: () => Date.now() },
      tpmClock: { readTpmClock: async () => ({ clock: BigInt(Date.now()), resetCount: 1, restartCount: 0 }) },
      ontology: BASE_ONTOLOGY,
      hasher: nativeHasher()
    },
    { fleetId, feedId, batchMs: 50 }
  )
  return { store, ledger, signer }
}

/** Appends waves for SECONDS; `proof` (when given) signs each action first. Returns actions/s and the count. */
async function appendFor(
  ledger: FeedLedger,
  proof?: () => Promise<Uint8Array>
): Promise<{ rate: number; count: number }> {
  let count = 0
  const start = nowMs()
  while (nowMs() - start < SECONDS * 1000) {
    await Promise.all(
      Array.from({ length: WAVE }, async () => {
        if (proof === undefined) await ledger.append(plainAction)
        else await ledger.append({ type: 'operator.data_access', actor, attest: null, body, proof: await proof() })
      })
    )
    count += WAVE
  }
  return { rate: count / ((nowMs() - start) / 1000), count }
}

/**
 * A replica's work on the whole feed into a new store `name`, and `check` on the entries of each
 * batch it adds, awaited before the next batch is taken. Returns the entries and the ms taken.
 */
async function verifyAll(
  dir: string,
  name: string,
  source: ReturnType<typeof ownFeedSource>,
  feedKey: HybridSigner['publicKey'],
  check: (entries: Entry[]) => Promise<unknown>,
  actors?: ActorDirectory
): Promise<{ count: number; ms: number }> {
  const store = new LevelLedgerStore(path.join(dir, name))
  await store.open()
  try {
    const replica = new ReplicaStore(store, { hasher: nativeHasher() })
    const trust = { fleetId, feedKey, ontology: BASE_ONTOLOGY, actors }
    let count = 0
    const start = nowMs()
    for (;;) {
      const batch = await source.batch((await replica.meta(feedId)).size)
      if (batch === undefined) break
      const applied = await replica.apply(batch, trust)
      await check(applied.entries)
      count += applied.added
    }
    return { count, ms: nowMs() - start }
  } finally {
    await store.close()
  }
}

/**
 * Entries/s of verifyAll on the signed feed, repeated into new stores for at least SECONDS / 2 s
 * (the signed feed is short: one pass takes well under a second). `check` is the same function
 * throughout, so a verifier keeps what it learnt in the first pass, as a replica's would.
 */
async function verifyRepeatedly(
  verify: (pass: number) => Promise<{ count: number; ms: number }>
): Promise<{ rate: number; passes: number }> {
  let count = 0
  let ms = 0
  let passes = 0
  while (ms < (SECONDS / 2) * 1000) {
    const pass = await verify(passes++)
    count += pass.count
    ms += pass.ms
  }
  return { rate: count / (ms / 1000), passes }
}

/**
 * Checks the actor signatures of a batch's entries with `verifier`: each proof decoded and its
 * statement built, CHECK_CHUNK entries per verifyAll call, each call started as soon as its items
 * are built (so the verifier checks one chunk while the next is built). Resolves when every
 * signature of the batch has verified; throws if one does not.
 */
function batchCheck(
  verifier: P256BatchVerifier,
  keys: ReadonlyMap<string, Uint8Array>
): (entries: Entry[]) => Promise<void> {
  return async (entries) => {
    const checks: Promise<boolean[]>[] = []
    for (let from = 0; from < entries.length; from += CHECK_CHUNK) {
      const items = entries.slice(from, from + CHECK_CHUNK).map((entry): P256BatchItem => {
        const proof = decodeActorProof(entry.proof!)
        return { publicKey: keys.get(entry.actor.id)!, message: actorStatement(entry, proof.at), signature: proof.sig }
      })
      checks.push(verifier.verifyAll(items))
    }
    const valid = (await Promise.all(checks)).flat()
    if (!valid.every(Boolean)) throw new Error('an actor signature did not verify')
  }
}

/** Signatures/s of `verifier` over `items`, checked as batches of BATCH for about SECONDS / 2 s. */
async function signaturesPerSecond(verifier: P256BatchVerifier, items: P256BatchItem[]): Promise<number> {
  // A first pass, not timed: keys parsed and, for the native verifier, a hot key's table built.
  await verifier.verifyAll(items.slice(0, BATCH))
  let count = 0
  const start = nowMs()
  while (nowMs() - start < (SECONDS / 2) * 1000) {
    for (let from = 0; from < items.length; from += BATCH) {
      const valid = await verifier.verifyAll(items.slice(from, from + BATCH))
      if (!valid.every(Boolean)) throw new Error('a signature did not verify')
      count += valid.length
    }
  }
  return count / ((nowMs() - start) / 1000)
}

/** BATCH signed ~400-byte statements, by one software key, or by a key of their own each. */
async function p256Items(keyPerItem: boolean): Promise<P256BatchItem[]> {
  const shared = softwareP256Signer()
  const items: P256BatchItem[] = []
  for (let i = 0; i < BATCH; i++) {
    const signer = keyPerItem ? softwareP256Signer() : shared
    const message = new Uint8Array(400).fill(i & 0xff)
    message[0] = i >> 8
    items.push({ publicKey: signer.publicKey, message, signature: await signer.sign(message) })
  }
  return items
}

export const actorSignBench: Bench = {
  name: 'actor-sign',
  description: `operator actions signed on a SoftHSM2 token: appends/s for ${SECONDS} s, replica verification/s, vs plain`,
  async run(report) {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'fleet-bench-actor-'))
    const tokens = path.join(dir, 'tokens')
    mkdirSync(tokens)
    const conf = path.join(dir, 'softhsm2.conf')
    writeFileSync(conf, `directories.tokendir = ${tokens}\nobjectstore.backend = file\nlog.level = ERROR\n`)
    process.env.SOFTHSM2_CONF = conf
    execFileSync(
      'softhsm2-util',
      ['--init-token', '--free', '--label', 'actors', '--so-pin', '87654321', '--pin', PIN],
      {
        stdio: 'ignore'
      }
    )
    const module = loadModule(MODULE)
    try {
      const session = await module.openToken({ token: 'actors', pin: PIN })
      const key = await session.generateP256('dr.smith')
      const plain = openFeed(dir, 'plain')
      const signed = openFeed(dir, 'signed')
      for (const feed of [plain, signed]) {
        await feed.store.open()
        await feed.ledger.start()
      }
      // The owner enrols the token key now; the writer and the replica each keep their own registry.
      const enrolledAt = Date.now()
      const registry = (p256?: P256BatchVerifier): ActorRegistry => {
        const actors = new ActorRegistry({ p256 })
        actors.apply({
          v: 1,
          fleet: fleetId,
          feed: ownerFeedId(fleetId),
          seq: 0,
          prev: new Uint8Array(32),
          time: enrolledAt,
          type: 'actor.enrol',
          actor: { id: 'owner/bench', role: 'owner' },
          device: ownerFeedId(fleetId),
          attest: null,
          body: {
            actorId: 'dr.smith',
            role: 'operator',
            kind: 'pkcs11',
            publicKey: key.publicKey,
            hardware: 'SoftHSM2'
          }
        })
        return actors
      }
      signed.ledger.useActors(registry())
      const sign = async (): Promise<Uint8Array> => {
        const at = Date.now()
        const statement = actorStatement(
          { fleet: fleetId, device: feedId, type: 'operator.data_access', actor, attest: null, body },
          at
        )
        return encodeActorProof({ kind: 'pkcs11', at, sig: await key.sign(statement) })
      }
      const plainAppend = await appendFor(plain.ledger)
      const signedAppend = await appendFor(signed.ledger, sign)
      for (const feed of [plain, signed]) {
        await feed.ledger.checkpoint()
        await feed.ledger.stop()
      }
      report({
        bench: 'actor-sign',
        metric: 'append',
        value: round(signedAppend.rate, 0),
        unit: 'actions/s',
        peer: 'plain agent entries (no actor signature), same ledger settings',
        peerValue: round(plainAppend.rate, 0),
        ratio: round(signedAppend.rate / plainAppend.rate, 3),
        signed: signedAppend.count,
        plain: plainAppend.count
      })
      // Reopened read-only for the sources (the ledgers are stopped; their stores stay open).
      const plainPass = await verifyAll(
        dir,
        'plain-replica',
        ownFeedSource(plain.store, feedId),
        plain.signer.publicKey,
        async () => undefined
      )
      const plainRate = plainPass.count / (plainPass.ms / 1000)
      const enrolled = new Map([['dr.smith', key.publicKey]])
      const signedSource = ownFeedSource(signed.store, feedId)
      // One pass not timed, each entry's statement built but no signature checked: the signed lines
      // would otherwise differ by which ran first (the plain line warms up within its long pass).
      await verifyAll(
        dir,
        'signed-warm-up',
        signedSource,
        signed.signer.publicKey,
        async () => undefined,
        registry({ verifyAll: async (items) => items.map(() => true) })
      )
      const none = async (): Promise<undefined> => undefined
      const signedLines: [string, string, (entries: Entry[]) => Promise<unknown>, ActorDirectory | undefined][] = [
        [
          'verify',
          "the replica's ActorRegistry with the native P256BatchVerifier",
          none,
          registry(nativeP256Verifier())
        ],
        [
          'verify-node',
          "the replica's ActorRegistry with node:crypto's P256BatchVerifier",
          none,
          registry(nodeP256Verifier())
        ],
        [
          'verify-batch',
          'the native P256BatchVerifier on each batch, without the directory',
          batchCheck(nativeP256Verifier(), enrolled),
          registry({ verifyAll: async (items) => items.map(() => true) })
        ]
      ]
      for (const [metric, checker, check, actors] of signedLines) {
        const { rate, passes } = await verifyRepeatedly(
          async (pass) =>
            await verifyAll(dir, `signed-${metric}-${pass}`, signedSource, signed.signer.publicKey, check, actors)
        )
        report({
          bench: 'actor-sign',
          metric,
          value: round(rate, 0),
          unit: 'entries/s',
          peer: 'the same replica work on plain entries',
          peerValue: round(plainRate, 0),
          ratio: round(rate / plainRate, 3),
          checker,
          entries: signedAppend.count,
          passes,
          plainEntries: plainPass.count,
          goal: '>= 0.5 of plain'
        })
      }
      for (const feed of [plain, signed]) await feed.store.close()
      for (const [metric, keyPerItem] of [
        ['p256-verify', false],
        ['p256-verify-cold', true]
      ] as const) {
        const items = await p256Items(keyPerItem)
        const native = await signaturesPerSecond(nativeP256Verifier(), items)
        const node = await signaturesPerSecond(nodeP256Verifier(), items)
        report({
          bench: 'actor-sign',
          metric,
          value: round(native, 0),
          unit: 'signatures/s',
          peer: `node:crypto one by one (nodeP256Verifier), ${keyPerItem ? 'a key per signature' : 'one key'}`,
          peerValue: round(node, 0),
          ratio: round(native / node, 3),
          threads: os.availableParallelism()
        })
      }
    } finally {
      await module.close()
      await rm(dir, { recursive: true, force: true })
    }
  }
}
