/**
 * Mutation fuzzing of every decoder with a fixed-seed PRNG (reproducible): from real seed inputs,
 * bit flips, truncations, insertions, splices and random bytes. Whatever happens, a decoder may
 * only return or throw one of the project's typed errors — never TypeError, RangeError or a hang.
 */
import assert from 'node:assert/strict'
import { readFileSync } from 'node:fs'
import { randomBytes } from 'node:crypto'
import { FleetError } from '../../src/common/errors.js'
import {
  parseEventLog,
  parseAttest,
  parsePublic,
  parseSignature,
  parseSerializedPcrs,
  readPcrsFile,
  parseBootPolicy,
  parseCapabilityData,
  parsePcrSelection,
  parseTcti,
  canonicalPolicyJson,
  createBootPolicy,
  marshalPublic,
  attestationKeyTemplate,
  rsaEkTemplate,
  sealedDataTemplate
} from '../../src/attest/index.js'
import { decodeCanonical } from '../../src/codec/index.js'
import {
  decodeEntry,
  parseCheckpoint,
  signCheckpoint,
  encodeEntry,
  decodeRun,
  encodeRun,
  type Entry
} from '../../src/ledger/index.js'
import { HybridSigner, softwareP256Signer, nodeMlDsa65 } from '../../src/identity/index.js'
import { parseOwnerState, readDeviceState, readOwnerState } from '../../src/agent/index.js'
import { projectRoot } from '../../src/common/index.js'
import { writeFileSync } from 'node:fs'
import path from 'node:path'
import { tempDir } from '../helpers/devices.js'
import { needsSharedTestdata, SHARED_TESTDATA } from '../helpers/shared.js'

/** xorshift32: deterministic, so a failure reproduces from its iteration number. */
function prng(seed: number): () => number {
  let x = seed >>> 0 || 1
  return () => {
    x ^= x << 13
    x >>>= 0
    x ^= x >>> 17
    x ^= x << 5
    x >>>= 0
    return x
  }
}

function mutate(input: Uint8Array, next: () => number): Uint8Array {
  const bytes = new Uint8Array(input)
  switch (next() % 6) {
    case 0: {
      const n = 1 + (next() % 8)
      for (let i = 0; i < n && bytes.length > 0; i++) bytes[next() % bytes.length]! ^= 1 << (next() % 8)
      return bytes
    }
    case 1:
      return bytes.subarray(0, next() % (bytes.length + 1))
    case 2: {
      const at = next() % (bytes.length + 1)
      const extra = new Uint8Array(1 + (next() % 16)).map(() => next() & 0xff)
      return new Uint8Array([...bytes.subarray(0, at), ...extra, ...bytes.subarray(at)])
    }
    case 3: {
      if (bytes.length < 4) return bytes
      const at = next() % (bytes.length - 3)
      bytes.set([0xff, 0xff, 0xff, 0x7f], at)
      return bytes
    }
    case 4: {
      const a = next() % (bytes.length + 1)
      const b = next() % (bytes.length + 1)
      return new Uint8Array([...bytes.subarray(0, Math.min(a, b)), ...bytes.subarray(Math.max(a, b))])
    }
    default:
      return new Uint8Array(next() % 64).map(() => next() & 0xff)
  }
}

/** `seeds` may be a function, read when the test runs (seeds from ../shared/testdata). */
function fuzz(
  name: string,
  seedsOrRead: Uint8Array[] | (() => Uint8Array[]),
  decode: (bytes: Uint8Array) => unknown,
  iterations = 3000
): Mocha.Test {
  return it(`${name}: ${iterations} mutations give only typed errors`, () => {
    const seeds = typeof seedsOrRead === 'function' ? seedsOrRead() : seedsOrRead
    const next = prng(0x5eed ^ name.length)
    for (let i = 0; i < iterations; i++) {
      const input = mutate(seeds[i % seeds.length]!, next)
      try {
        decode(input)
      } catch (err) {
        if (!(err instanceof FleetError)) {
          assert.fail(
            `${name} iteration ${i}: ${(err as Error)?.name}: ${(err as Error)?.message} on input ${Buffer.from(input).toString('hex').slice(0, 200)}`
          )
        }
      }
    }
  })
}

const read = (file: string): Uint8Array => new Uint8Array(readFileSync(file))
const q = `${SHARED_TESTDATA}/quotes/tpm2-tools-rsa`
const logs = (): Uint8Array[] =>
  ['debian-10', 'gdc-host', 'rhel8-uefi'].map((n) => read(`${SHARED_TESTDATA}/eventlogs/${n}.bin`))
const entry: Entry = {
  v: 1,
  fleet: new Uint8Array(32).fill(1),
  feed: 'a'.repeat(52),
  seq: 1,
  prev: new Uint8Array(32),
  time: 5,
  type: 'alert.tamper',
  actor: { id: 'a', role: 'agent' },
  device: 'b'.repeat(52),
  attest: null,
  body: { subject: 'b'.repeat(52), pcr: 7, detail: 'd' }
}

describe('hardening: decoders under mutation', function () {
  this.timeout(120_000)
  needsSharedTestdata(fuzz('parseEventLog', logs, parseEventLog, 1500))
  needsSharedTestdata(fuzz('parseAttest', () => [read(`${q}/quote.out`)], parseAttest))
  needsSharedTestdata(fuzz('parseSignature', () => [read(`${q}/quotesig.out`)], parseSignature))
  needsSharedTestdata(fuzz('parseSerializedPcrs', () => [read(`${q}/quotepcr.out`)], parseSerializedPcrs))
  fuzz('readPcrsFile (JSON)', [Buffer.from(`{"pcrs":{"sha256":{"0":"${'00'.repeat(32)}"}}}`)], readPcrsFile)
  fuzz(
    'parsePublic',
    [
      marshalPublic(attestationKeyTemplate()),
      marshalPublic(rsaEkTemplate()),
      marshalPublic(sealedDataTemplate(new Uint8Array(32)))
    ],
    parsePublic
  )
  fuzz('parsePcrSelection', [Buffer.from('00000001000b03ff0000', 'hex')], parsePcrSelection)
  fuzz(
    'parseCapabilityData',
    [Buffer.from('0000000600000002000001050000494200000106000053572020', 'hex')],
    parseCapabilityData
  )
  fuzz(
    'parseBootPolicy',
    [
      Buffer.from(
        canonicalPolicyJson(
          createBootPolicy(
            [{ index: 1, pcr: 0, typeName: 'EV_S_CRTM_VERSION', digests: { sha256: new Uint8Array(32) } }],
            false
          )
        )
      )
    ],
    parseBootPolicy
  )
  fuzz('decodeEntry', [encodeEntry(entry)], decodeEntry)
  fuzz('decodeCanonical', [encodeEntry(entry), Buffer.from('9f01ff', 'hex')], decodeCanonical)
  fuzz(
    'decodeRun',
    [
      encodeRun([encodeEntry(entry), encodeEntry({ ...entry, seq: 2 })]),
      encodeRun([encodeEntry(entry), encodeEntry(entry), encodeEntry(entry)])
    ],
    (b) => decodeRun('0000000000000002', b).map(decodeEntry)
  )
  fuzz('parseTcti', [Buffer.from('swtpm:path=/tmp/x'), Buffer.from('swtpm:host=h,port=1')], (b) =>
    parseTcti(Buffer.from(b).toString('latin1'))
  )

  it('parseCheckpoint: 1500 mutations of a signed note give only typed errors', async () => {
    const signer = new HybridSigner(softwareP256Signer(), nodeMlDsa65.fromSeed(randomBytes(32)))
    const note = await signCheckpoint(
      {
        origin: `fleet/${'0'.repeat(64)}/${'a'.repeat(52)}`,
        size: 3,
        root: new Uint8Array(32),
        epoch: 1,
        tpm: { clock: 1n, resetCount: 0, restartCount: 0 },
        peers: []
      },
      signer,
      'a'.repeat(52)
    )
    const next = prng(77)
    for (let i = 0; i < 1500; i++) {
      const input = Buffer.from(mutate(Buffer.from(note), next)).toString('utf8')
      try {
        parseCheckpoint(input)
      } catch (err) {
        if (!(err instanceof FleetError))
          assert.fail(`iteration ${i}: ${(err as Error).name}: ${(err as Error).message}`)
      }
    }
  })

  const ownerStates = (): Uint8Array[] =>
    ['owner-v1-tpm.json', 'owner-v2-pkcs11.json'].map((name) =>
      readFileSync(path.join(projectRoot(import.meta.url), 'test/vectors/owner', name))
    )
  fuzz('parseOwnerState (TPM and token forms)', ownerStates, (bytes) =>
    parseOwnerState('owner.json', Buffer.from(bytes).toString('utf8'))
  )

  it('readOwnerState: 400 mutations of both forms (parsed, then checked against the genesis) give only typed errors', async () => {
    const dir = await tempDir('fleet-fuzz-owner-')
    const next = prng(4321)
    const seeds = ownerStates()
    for (let i = 0; i < 400; i++) {
      writeFileSync(path.join(dir, 'owner.json'), mutate(seeds[i % 2]!, next))
      try {
        await readOwnerState(dir)
      } catch (err) {
        if (!(err instanceof FleetError))
          assert.fail(`iteration ${i}: ${(err as Error).name}: ${(err as Error).message}`)
      }
    }
  })

  it('readDeviceState: 400 mutations of a state file give only typed errors', async () => {
    const sealed = {
      blob: { public: 'AAEC', private: 'AwQF' },
      selection: [{ hash: 'sha256', pcrs: [0, 7, 23] }],
      expected: { 0: '00'.repeat(32) }
    }
    const state = {
      version: 1,
      deviceId: 'a'.repeat(52),
      tcti: 'swtpm:path=/x',
      endorsementKey: { kind: 'rsa', public: 'AAEC' },
      attestationKey: { public: 'AAEC', private: 'AAEC' },
      signingKey: { public: 'AAEC', private: 'AAEC', certify: { attest: 'AAEC', signature: 'AAEC', nonce: 'AAEC' } },
      mldsa: { publicKey: 'AAEC', sealed },
      peer: { peerId: '12D3KooWSUrN2qxQShDdsyEbWSBPAvbgR7BroUpatJ4Wxay7AFXq', sealed },
      sealing: { selection: [{ hash: 'sha256', pcrs: [0, 7, 23] }], agentPcr: 23 },
      createdAt: '2026-11-24T00:00:00.000Z'
    }
    const dir = await tempDir('fleet-fuzz-state-')
    writeFileSync(path.join(dir, 'device.json'), JSON.stringify(state))
    await readDeviceState(dir)
    const next = prng(1234)
    const seed = Buffer.from(JSON.stringify(state))
    for (let i = 0; i < 400; i++) {
      writeFileSync(path.join(dir, 'device.json'), mutate(seed, next))
      try {
        await readDeviceState(dir)
      } catch (err) {
        if (!(err instanceof FleetError))
          assert.fail(`iteration ${i}: ${(err as Error).name}: ${(err as Error).message}`)
      }
    }
  })
})
