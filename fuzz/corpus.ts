/**
 * The fuzz targets by name, with their seed inputs: real vectors from ../shared/testdata (used in
 * place) and small valid samples generated here.
 */
import { createHash } from 'node:crypto'
import { mkdirSync, readdirSync, readFileSync, writeFileSync, existsSync } from 'node:fs'
import path from 'node:path'
import { EV, encodeEventLog } from '../src/attest/eventlog/index.js'
import {
  attestationKeyTemplate,
  eccEkTemplate,
  marshalPublic,
  rsaEkTemplate,
  sealedDataTemplate
} from '../src/attest/tpm2/index.js'
import { canonicalPolicyJson, createBootPolicy } from '../src/attest/policy/index.js'
import { encodeEntry, type Entry } from '../src/ledger/entry.js'
import { encodeCanonical } from '../src/codec/index.js'
import { cosignCheckpoint, signCheckpoint } from '../src/ledger/checkpoint.js'
import { encodeEvidence } from '../src/ledger/equivocation.js'
import { leafHash, nodeHash } from '../src/ledger/merkle.js'
import { encodeMessage } from '../src/p2p/messages.js'
import { policyPcr, ZERO_POLICY } from '../src/attest/tpm2/index.js'
import { encodeReleaseRequest, encodeSignedApproval, approvalEpochIndex } from '../src/agent/release/index.js'
import { approvedPolicyDigest } from '../src/attest/release.js'
import { encodeRun } from '../src/ledger/entry-runs.js'
import { fixedFeedSigner } from './targets/proof-bundle.js'
import { WIRE_SCHEMAS } from './targets/wire.js'
import { WITNESS_VKEY } from './targets/witness-response.js'
import { encodeStoredAssertion } from '../src/webauthn/index.js'
import { CAPTURED_REGISTRATION } from './targets/webauthn-enrolment.js'

/** Stored assertions: the authenticator data of a ceremony on localhost, client data as Chromium writes it. */
function storedAssertions(): Uint8Array[] {
  const clientDataJSON = text(
    JSON.stringify({
      type: 'webauthn.get',
      challenge: 'BwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwc',
      origin: 'http://localhost:8443',
      crossOrigin: false
    })
  )
  const head = (flags: number, counter: number): Uint8Array =>
    new Uint8Array([...createHash('sha256').update('localhost').digest(), flags, 0, 0, 0, counter])
  return [
    encodeStoredAssertion({ authenticatorData: head(0x05, 3), clientDataJSON, signature: new Uint8Array(64).fill(1) }),
    encodeStoredAssertion({ authenticatorData: head(0x01, 0), clientDataJSON, signature: new Uint8Array(72).fill(2) })
  ]
}

/** The attestation object of the registration captured from Chromium (packed, one x5c certificate). */
function capturedAttestationObjects(): Uint8Array[] {
  const captured = JSON.parse(readFileSync(CAPTURED_REGISTRATION, 'utf8')) as {
    response: { attestationObject: string }
  }
  return [new Uint8Array(Buffer.from(captured.response.attestationObject, 'base64url'))]
}

/** A target NAME is the module dist/fuzz/targets/NAME.js, which exports `fuzz(data)`. */
export interface TargetSpec {
  /** Whether the function returns a promise (runs the fuzzer in its slower asynchronous mode). */
  async?: boolean
  /** Seed files of ../shared/testdata, relative to that folder. */
  shared?: string[]
  /** Generated valid samples. */
  generate: () => Promise<Uint8Array[]> | Uint8Array[]
}

/** ../shared/testdata, beside the repository. */
export const TESTDATA = path.resolve(import.meta.dirname, '..', '..', '..', 'shared', 'testdata')
const QUOTE = 'quotes/tpm2-tools-rsa'
const text = (s: string): Uint8Array => new Uint8Array(Buffer.from(s, 'utf8'))
const hex = (s: string): Uint8Array => new Uint8Array(Buffer.from(s, 'hex'))

const FEED = 'a'.repeat(52)
const FLEET = new Uint8Array(32).fill(1)
const entry = (seq: number, prev: Uint8Array): Entry => ({
  v: 1,
  fleet: FLEET,
  feed: FEED,
  seq,
  prev,
  time: 1_795_000_000_000 + seq,
  type: 'operator.data_access',
  actor: { id: 'alice', role: 'operator' },
  device: 'b'.repeat(52),
  attest: null,
  body: { resource: `record-${seq}`, purpose: 'care' }
})

function eventLogs(): Uint8Array[] {
  const sep = (pcr: number): { pcr: number; type: number; data: Uint8Array } => ({
    pcr,
    type: EV.EV_SEPARATOR,
    data: new Uint8Array(4)
  })
  return [
    encodeEventLog({ algorithms: ['sha256'], events: [sep(0), sep(7)] }).log,
    encodeEventLog({
      algorithms: ['sha1', 'sha256'],
      startupLocality: 3,
      events: [{ pcr: 0, type: EV.EV_S_CRTM_VERSION, data: text('1.0\0') }, sep(0), sep(1)]
    }).log,
    // Windows logs end with EV_NO_ACTION events at PCR index 0xFFFFFFFF.
    encodeEventLog({
      algorithms: ['sha256'],
      events: [sep(0), { pcr: 0xffffffff, type: EV.EV_NO_ACTION, data: text('trailing') }]
    }).log
  ]
}

async function checkpoints(): Promise<Uint8Array[]> {
  const signer = fixedFeedSigner()
  const note = await signCheckpoint(
    {
      origin: `fleet/${Buffer.from(FLEET).toString('hex')}/${FEED}`,
      size: 3,
      root: new Uint8Array(32),
      epoch: 1,
      tpm: { clock: 1n, resetCount: 0, restartCount: 0 },
      peers: []
    },
    signer,
    FEED
  )
  const cosigned = await cosignCheckpoint(note, signer, 'b'.repeat(52))
  // Lines by keys a verifier does not know: a post-quantum size, a non-ASCII name, a short one.
  const line = (name: string, size: number): string =>
    `\u2014 ${name} ${Buffer.concat([Buffer.of(1, 2, 3, 4), Buffer.alloc(size, 9)]).toString('base64')}\n`
  return [text(note), text(cosigned), text(note + line('witness.example/é', 3309) + line('k', 1))]
}

async function proofBundles(): Promise<Uint8Array[]> {
  const signer = fixedFeedSigner()
  const e0 = encodeEntry(entry(0, new Uint8Array(32)))
  const e1 = encodeEntry(entry(1, createHash('sha256').update(e0).digest()))
  const out: Uint8Array[] = []
  const b64 = (b: Uint8Array): string => Buffer.from(b).toString('base64')
  for (const [size, root, seq, bytes, proof] of [
    [1, leafHash(e0), 0, e0, []],
    [2, nodeHash(leafHash(e0), leafHash(e1)), 1, e1, [leafHash(e0)]]
  ] as const) {
    const note = await signCheckpoint(
      {
        origin: `fleet/${Buffer.from(FLEET).toString('hex')}/${FEED}`,
        size,
        root,
        epoch: 1,
        tpm: { clock: 5n, resetCount: 1, restartCount: 0 },
        peers: []
      },
      signer,
      FEED
    )
    out.push(
      text(
        JSON.stringify({
          format: 'fleet-proof/1',
          feed: FEED,
          seq,
          entry: b64(bytes),
          checkpoint: note,
          proof: proof.map(b64)
        })
      )
    )
  }
  return out
}

async function evidences(): Promise<Uint8Array[]> {
  const signer = fixedFeedSigner()
  const note = async (size: number, fill: number): Promise<string> =>
    await signCheckpoint(
      {
        origin: `fleet/${Buffer.from(FLEET).toString('hex')}/${FEED}`,
        size,
        root: new Uint8Array(32).fill(fill),
        epoch: 1,
        tpm: { clock: 1n, resetCount: 0, restartCount: 0 },
        peers: []
      },
      signer,
      FEED
    )
  return [
    encodeEvidence({
      v: 1,
      feed: FEED,
      first: await note(2, 1),
      second: await note(2, 2),
      prefixRoot: new Uint8Array(0),
      proof: []
    }),
    encodeEvidence({
      v: 1,
      feed: FEED,
      first: await note(2, 1),
      second: await note(3, 2),
      prefixRoot: new Uint8Array(32).fill(3),
      proof: [new Uint8Array(32).fill(4)]
    })
  ]
}

function wireMessages(): Uint8Array[] {
  const sample = (field: WireSchemaField, key: string): unknown => {
    switch (field.kind) {
      case 'bytes':
        return field.nullable === true ? null : new Uint8Array(field.size ?? Math.min(field.max, 4)).fill(7)
      case 'string':
        return key === 'deviceId' || key === 'feed'
          ? 'a'.repeat(52)
          : key === 'peerId'
            ? '12D3KooWSUrN2qxQShDdsyEbWSBPAvbgR7BroUpatJ4Wxay7AFXq'
            : key === 'bank'
              ? 'sha256'
              : 'x'
      case 'uint':
        return 1
      case 'bool':
        return true
      case 'list':
        return [new Uint8Array(32), new Uint8Array(32).fill(1)]
      default:
        throw new Error(`no sample of a ${field.kind} field`)
    }
  }
  const out = WIRE_SCHEMAS.map(({ type, schema }, i) => {
    const fields = Object.fromEntries(Object.entries(schema).map(([key, field]) => [key, sample(field, key)]))
    return new Uint8Array([i, ...encodeMessage(type, fields)])
  })
  out.push(new Uint8Array([0, ...encodeMessage('abort', { reason: 'no' })]))
  return out
}
type WireSchemaField = (typeof WIRE_SCHEMAS)[number]['schema'][string]

const state = {
  version: 1,
  deviceId: 'a'.repeat(52),
  tcti: 'swtpm:path=/x',
  endorsementKey: { kind: 'rsa', public: 'AAEC' },
  attestationKey: { public: 'AAEC', private: 'AAEC' },
  signingKey: { public: 'AAEC', private: 'AAEC', certify: { attest: 'AAEC', signature: 'AAEC', nonce: 'AAEC' } },
  mldsa: {
    publicKey: 'AAEC',
    sealed: {
      blob: { public: 'AAEC', private: 'AwQF' },
      selection: [{ hash: 'sha256', pcrs: [0, 7, 23] }],
      expected: { 0: '00'.repeat(32) }
    }
  },
  peer: {
    peerId: '12D3KooWSUrN2qxQShDdsyEbWSBPAvbgR7BroUpatJ4Wxay7AFXq',
    sealed: {
      blob: { public: 'AAEC', private: 'AwQF' },
      selection: [{ hash: 'sha256', pcrs: [0, 7, 23] }],
      expected: { 0: '00'.repeat(32) }
    }
  },
  sealing: { selection: [{ hash: 'sha256', pcrs: [0, 7, 23] }], agentPcr: 23 },
  createdAt: '2026-11-24T00:00:00.000Z'
}

export const TARGETS: Record<string, TargetSpec> = {
  eventlog: {
    shared: ['debian-10', 'gdc-host', 'glinux-alex', 'rhel8-uefi', 'ubuntu-2104-no-secure-boot'].map(
      (n) => `eventlogs/${n}.bin`
    ),
    generate: eventLogs
  },
  'tpm-public': {
    generate: () => [
      marshalPublic(attestationKeyTemplate()),
      marshalPublic(rsaEkTemplate()),
      marshalPublic(eccEkTemplate()),
      marshalPublic(sealedDataTemplate(new Uint8Array(32)))
    ]
  },
  /** Seed: a self-signed P-256 certificate with the TCG EK extensions, made with openssl req. */
  'ek-certificate': {
    generate: () => [
      hex(
        [
          '308201aa30820150a003020102021411e8856cae308902881a1475d4ddd8ae42bfe212300a06082a8648ce3d04030230',
          '003020170d3236313230353132313832315a180f32313236313131313132313832315a30003059301306072a8648ce3d',
          '020106082a8648ce3d03010703420004360a09a8ed1d028c5c8c298b261b0ecbe81f037226a6571db5a29924650b5438',
          '967f7c3c6899043044fb8a6f7b88963ab382d345523f8c5705513efa118d9148a381a53081a2300c0603551d130101ff',
          '04023000300e0603551d0f0101ff04040302030830100603551d25040930070605678105080130510603551d110101ff',
          '04473045a443304131163014060567810502010c0b69643a3030303031303134310f300d060567810502020c0466757a',
          '7a31163014060567810502030c0b69643a3030303030303031301d0603551d0e0416041487efb0f8d35ffa9aff71b5dd',
          'c088e14103c24757300a06082a8648ce3d040302034800304502210083f68b27541354fb83e545082b4b4cec3531184e',
          'cd415dc2088b25da1cb23ecc02207091f6ac4d20a76a1f1e54dd765b3b1ad0a2d10c6c175590f1ddeeddc5fe81d0'
        ].join('')
      )
    ]
  },
  'tpm-attest': { shared: [`${QUOTE}/quote.out`], generate: () => [] },
  'tpm-signature': { shared: [`${QUOTE}/quotesig.out`], generate: () => [] },
  'tpm-pcrs': { shared: [`${QUOTE}/quotepcr.out`], generate: () => [] },
  'tpm-capability': { generate: () => [hex('0000000600000002000001050000494200000106000053572020')] },
  'boot-policy': {
    generate: () => [
      text(
        canonicalPolicyJson(
          createBootPolicy(
            [{ index: 1, pcr: 0, typeName: 'EV_S_CRTM_VERSION', digests: { sha256: new Uint8Array(32) } }],
            false
          )
        )
      )
    ]
  },
  'cbor-entry': {
    generate: () => [encodeEntry(entry(0, new Uint8Array(32))), encodeEntry(entry(5, new Uint8Array(32).fill(9)))]
  },
  'cbor-canonical': {
    generate: () => [
      encodeEntry(entry(0, new Uint8Array(32))),
      hex('9f01ff'),
      encodeCanonical({ a: [1, -2, 'x', new Uint8Array(3), null, true, { b: 2 ** 40 }] })
    ]
  },
  checkpoint: { generate: checkpoints },
  'proof-bundle': { generate: proofBundles },
  wire: { generate: wireMessages },
  evidence: { generate: evidences },
  'witness-response': {
    generate: () =>
      [
        Buffer.concat([
          Buffer.of(0),
          text(
            '\u2014 witness.example.com/w1 fm9KqgAAAABkGFDL+TPmh4BYuAjsYRoqMJCWb/gWJaeRF/kmm5tlCr9sJ57DLErur7K0yDXc2ArN+TIuotuB/HbuL3AJsp3bv/aNCQ==\n'
          )
        ]),
        Buffer.concat([Buffer.of(1), text('20852014\n')]),
        Buffer.concat([Buffer.of(2), text(WITNESS_VKEY)])
      ].map((b) => new Uint8Array(b))
  },
  tcti: {
    generate: () =>
      ['swtpm:path=/tmp/x', 'swtpm:host=h,port=1', 'device:/dev/tpmrm0', 'mssim:host=localhost,port=2321'].map(text)
  },
  config: {
    async: true,
    generate: () => [
      text(
        JSON.stringify({
          state: '/var/lib/fleet',
          tcti: 'device:/dev/tpmrm0',
          listen: ['/ip4/0.0.0.0/tcp/0'],
          mdns: false,
          agentPcr: 23,
          bootPcrs: [0, 7],
          attestIntervalSec: 300,
          metricsPort: 0,
          logLevel: 'info',
          batchMs: 250,
          batchEntries: 10
        })
      )
    ]
  },
  'device-state': {
    async: true,
    generate: () => [
      text(JSON.stringify(state)),
      text(
        JSON.stringify({
          version: 1,
          kind: 'owner-sealed',
          deviceId: 'a'.repeat(52),
          authority: { point: `04${'11'.repeat(64)}`, policyRef: '22'.repeat(32) },
          mldsa: { public: 'AAEC', private: 'AwQF' },
          peer: { public: 'AAEC', private: 'AwQF' }
        })
      )
    ]
  },
  release: { generate: releaseSamples },
  'entry-run': {
    generate: () => [
      encodeEntry(entry(0, new Uint8Array(32))),
      encodeRun([encodeEntry(entry(0, new Uint8Array(32))), encodeEntry(entry(1, new Uint8Array(32).fill(9)))])
    ]
  },
  'webauthn-stored': { generate: storedAssertions },
  'webauthn-enrolment': { async: true, generate: capturedAttestationObjects }
}

/** A parseable request and an approval whose policy digest matches its values (signatures are not checked by the decoders). */
function releaseSamples(): Uint8Array[] {
  const pcrs = [0, 4, 7, 23]
  const values = pcrs.map((pcr) => new Uint8Array(32).fill(pcr))
  const request = encodeReleaseRequest({
    deviceId: FEED,
    pcrs,
    values,
    agentPcr: 23,
    agentMeasurement: new Uint8Array(32).fill(5),
    epoch: 1n,
    nonce: new Uint8Array(32).fill(6),
    quoteAttest: new Uint8Array(100).fill(7),
    quoteSignature: new Uint8Array(72).fill(8),
    eventLog: new Uint8Array(200).fill(9)
  })
  const approvedPolicy = policyPcr(ZERO_POLICY, [{ hash: 'sha256', pcrs }], {
    sha256: new Map(pcrs.map((pcr, i) => [pcr, values[i]!]))
  })
  const approval = encodeCanonical({
    v: 1,
    kind: 'release-approval',
    fleet: FLEET,
    deviceId: FEED,
    pcrs: Uint8Array.from(pcrs),
    values,
    agentMeasurement: new Uint8Array(32).fill(5),
    approvedPolicy,
    policyRef: new Uint8Array(32).fill(3),
    authorization: new Uint8Array(64).fill(2),
    policyId: 'c'.repeat(64),
    issuedAt: 1_795_000_000_000
  })
  const epoch = new Uint8Array(8)
  epoch[7] = 1
  const v2 = encodeCanonical({
    v: 2,
    kind: 'release-approval',
    fleet: FLEET,
    deviceId: FEED,
    pcrs: Uint8Array.from(pcrs),
    values,
    agentMeasurement: new Uint8Array(32).fill(5),
    approvedPolicy: approvedPolicyDigest(
      [{ hash: 'sha256', pcrs }],
      { sha256: new Map(pcrs.map((pcr, i) => [pcr, values[i]!])) },
      { nvIndex: approvalEpochIndex(FEED), epoch: 1n }
    ),
    policyRef: new Uint8Array(32).fill(3),
    authorization: new Uint8Array(64).fill(2),
    policyId: 'c'.repeat(64),
    issuedAt: 1_795_000_000_000,
    epoch
  })
  return [
    text(request),
    approval,
    v2,
    text(
      encodeSignedApproval({ approval: v2, p256: new Uint8Array(64).fill(1), mldsa65: new Uint8Array(3309).fill(1) })
    )
  ]
}

/** Writes a target's generated seeds into `dir` (created if needed); returns the shared seed files that exist. */
export async function prepareSeeds(name: string, dir: string): Promise<{ generated: number; shared: string[] }> {
  const spec = TARGETS[name]
  if (spec === undefined) throw new Error(`unknown fuzz target "${name}"`)
  mkdirSync(dir, { recursive: true })
  const seeds = await spec.generate()
  for (const seed of seeds) writeFileSync(path.join(dir, createHash('sha1').update(seed).digest('hex')), seed)
  const shared = (spec.shared ?? []).map((f) => path.join(TESTDATA, f)).filter((f) => existsSync(f))
  return { generated: readdirSync(dir).length, shared }
}
