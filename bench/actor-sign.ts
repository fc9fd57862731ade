/**
 * actor-sign: operator actions signed by their actor's own key on a PKCS#11 token (SoftHSM2), as
 * entry version 2 with its proof, against plain device-signed entries (an agent's own action of the
 * same size: only operators and auditors sign) in the same run.
 *   append: actions/s through sign-on-the-token then a durable append (waves of WAVE actions, each
 *     signed, then its proof checked against the enrolled key and appended, acknowledged after the
 *     synced write), and plain appends/s;
 *   verify: entries/s a replica takes from the feed (checkpoint, chain, Merkle tree, ontology: what
 *     ReplicaStore.apply does; for the signed feed, with each entry's actor proof checked against
 *     the enrolled key by the replica's own ActorRegistry), against the same replica work on the plain feed.
 * Goal: verification of actor-signed entries at ≥ 50% of the rate of plain ones.
 */
import { execFileSync } from 'node:child_process'
import { mkdirSync, writeFileSync } from 'node:fs'
import { mkdtemp, rm } from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import { nativeHasher } from '../src/attest/index.js'
import { ActorRegistry } from '../src/agent/index.js'
import { HybridSigner, nodeMlDsa65, softwareP256Signer } from '../src/identity/index.js'
import {
  BASE_ONTOLOGY,
  FeedLedger,
  LevelLedgerStore,
  ReplicaStore,
  actorStatement,
  encodeActorProof,
  ownFeedSource,
  ownerFeedId,
  type ActorDirectory,
  type AppendInput
} from '../src/ledger/index.js'
import { loadModule } from '../src/pkcs11/index.js'
import { type Bench, nowMs, round } from './types.js'

const SECONDS = 3
const WAVE = 200
const MODULE = '/usr/lib/softhsm/libsofthsm2.so'
const PIN = '2468-1357'
const fleetId = new Uint8Array(32).fill(1)
const feedId = 'a'.repeat(52)
const body = { resource: 'r'.repeat(200), purpose: 'p'.repeat(56) }
const actor = { id: 'dr.smith', role: 'operator' }
/** The plain side: an agent's action with as much text in its body (52 + 204 bytes), which no actor signs. */
const plainAction: AppendInput = {
  type: 'alert.tamper',
  actor: { id: 'bench', role: 'agent' },
  attest: null,
  body: { subject: feedId, pcr: 7, detail: 'd'.repeat(204) }
}

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

/** A replica's work on the whole feed (with `actors` checking the actor proofs); entries/s. */
async function verifyAll(
  dir: string,
  name: string,
  source: ReturnType<typeof ownFeedSource>,
  feedKey: HybridSigner['publicKey'],
  actors?: ActorDirectory
): Promise<number> {
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
      count += (await replica.apply(batch, trust)).added
    }
    return count / ((nowMs() - start) / 1000)
  } finally {
    await store.close()
  }
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
      const registry = (): ActorRegistry => {
        const actors = new ActorRegistry()
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
      const plainRate = await verifyAll(
        dir,
        'plain-replica',
        ownFeedSource(plain.store, feedId),
        plain.signer.publicKey
      )
      const signedRate = await verifyAll(
        dir,
        'signed-replica',
        ownFeedSource(signed.store, feedId),
        signed.signer.publicKey,
        registry()
      )
      report({
        bench: 'actor-sign',
        metric: 'verify',
        value: round(signedRate, 0),
        unit: 'entries/s',
        peer: 'the same replica work on plain entries',
        peerValue: round(plainRate, 0),
        ratio: round(signedRate / plainRate, 3),
        goal: '>= 0.5 of plain'
      })
      for (const feed of [plain, signed]) await feed.store.close()
    } finally {
      await module.close()
      await rm(dir, { recursive: true, force: true })
    }
  }
}
