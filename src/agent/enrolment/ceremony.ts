/**
 * The enrolment ceremony, /fleet/enrol/2: trust on first use, confirmed by a person on both sides
 * and signed by the owner. One stream; the device speaks first.
 *
 *   device → owner  hello      EK public + certificate, AK, DSK + certify evidence, ML-DSA-65 public,
 *                              PeerId, hostname, role, commit = SHA-256(tag ‖ nD)
 *   owner → device  challenge  genesis statement, MakeCredential(EK, AK name), quote nonce, PCRs, nO
 *   device → owner  evidence   ActivateCredential result, quote over
 *                              SHA-256("fleet-enrol-v1" ‖ nonce ‖ devicePeerId ‖ ownerPeerId), event log, nD
 *   both            6-digit SAS = SHA-256(tag ‖ both PeerIds ‖ hello ‖ challenge ‖ nO ‖ nD) mod 10^6,
 *                   confirmed by a person
 *   device → owner  confirm    {ok}
 *   owner → device  record     owner-signed EnrolmentRecord + the boot policy
 *   device → owner  done
 *
 * Either side sends {t: 'abort', reason} and stops at the first failed check.
 *
 * Why the digits cannot be chosen (the numeric comparison of SAS-based key agreement): every byte
 * they depend on was fixed before the other side's nonce was seen. The device sends its whole
 * hello, committing to nD, before it sees nO; the owner sends its whole challenge, nO in it,
 * before it sees nD. The evidence is NOT in the digits: it is made after nO is known, and an
 * event log has bytes nothing vouches for (events of PCRs the quote does not cover), so a man in
 * the middle could vary them until the digits on both screens agreed. The evidence is bound to the
 * session instead by its quote (over both PeerIds) and by the Noise channel the digits confirm.
 * A man in the middle runs two ceremonies with two different PeerId pairs, and on each side one
 * of the nonces that make the digits was hidden from it when it had to fix its own: the two
 * screens agree with probability 10^-6.
 *
 * Version 1 hashed the evidence into the digits; it is not spoken any more (a /fleet/enrol/1
 * stream is refused at protocol negotiation).
 */
import { createHash, timingSafeEqual, type X509Certificate } from 'node:crypto'
import { FleetError, sha256, fromBase64 } from '../../common/index.js'
import {
  deviceIdFromEndorsementKey,
  fingerprint,
  parsePublic,
  objectName,
  checkAttestationKey,
  checkDeviceSigningKey,
  verifyCertify,
  verifyEkCertificate,
  makeCredential,
  EkCertificateUntrustedError,
  KeyAttributesError,
  EkTemplateMismatchError,
  type TpmPublic,
  type VerifiedEkCertificate,
  verifyBoot,
  bootPolicyId,
  canonicalPolicyJson,
  type BootPolicy,
  type Tpm,
  type PcrSelection,
  type BootVerdict,
  type HashAlg
} from '../../attest/index.js'
import type { HybridSigner } from '../../identity/index.js'
import {
  type FramedStream,
  decodeMessage,
  encodeMessage,
  MalformedMessageError,
  type WireMessage,
  type WireSchema
} from '../../p2p/index.js'
import type { DeviceState } from '../device/index.js'
import { verifyGenesis, type OwnerState } from '../owner/index.js'
import {
  DEVICE_ROLES,
  ekPubHash,
  signEnrolmentRecord,
  verifyDeviceEnrolment,
  type DeviceEnrolment,
  type DeviceRole,
  type EnrolmentRecord,
  type SignedEnrolment
} from './record.js'
import { ENROL_LIMITS } from './limits.js'

export const ENROL_PROTOCOL = '/fleet/enrol/2'

/** The owner refused the device (identity, hardware, or boot evidence did not check out). */
export class EnrolmentRefusedError extends FleetError {
  constructor(reason: string) {
    super(`enrolment refused: ${reason}`, { code: 'ERR_ENROLMENT_REFUSED' })
  }
}

/** The ceremony stopped: the other side aborted, or a person did not confirm the digits. */
export class CeremonyAbortedError extends FleetError {
  constructor(reason: string) {
    super(`enrolment aborted: ${reason}`, { code: 'ERR_ENROLMENT_ABORTED' })
  }
}

const BASE58 = '^[1-9A-HJ-NP-Za-km-z]{40,64}$'
export const HELLO = {
  deviceId: { kind: 'string', max: 52, pattern: '^[a-z2-7]{52}$' },
  ekPub: { kind: 'bytes', max: 1024 },
  ekCert: { kind: 'bytes', max: 8192, nullable: true },
  akPub: { kind: 'bytes', max: 1024 },
  dskPub: { kind: 'bytes', max: 1024 },
  certifyAttest: { kind: 'bytes', max: 1024 },
  certifySignature: { kind: 'bytes', max: 1024 },
  pqPub: { kind: 'bytes', size: 1952, max: 1952 },
  peerId: { kind: 'string', max: 64, pattern: BASE58 },
  hostname: { kind: 'string', max: 255 },
  role: { kind: 'string', max: 16 },
  commit: { kind: 'bytes', size: 32, max: 32 }
} as const satisfies WireSchema
export const CHALLENGE = {
  genesis: { kind: 'bytes', max: 8192 },
  genesisP256: { kind: 'bytes', max: 128 },
  genesisMldsa65: { kind: 'bytes', max: 4096 },
  credentialBlob: { kind: 'bytes', max: 1024 },
  encryptedSecret: { kind: 'bytes', max: 1024 },
  quoteNonce: { kind: 'bytes', size: 32, max: 32 },
  bank: { kind: 'string', max: 8, pattern: '^sha(1|256|384|512)$' },
  pcrs: { kind: 'bytes', max: 24 },
  nO: { kind: 'bytes', size: 32, max: 32 }
} as const satisfies WireSchema
export const EVIDENCE = {
  activated: { kind: 'bytes', max: 64 },
  quoteAttest: { kind: 'bytes', max: 2048 },
  quoteSignature: { kind: 'bytes', max: 1024 },
  eventLog: { kind: 'bytes', max: ENROL_LIMITS.maxEventLogBytes },
  nD: { kind: 'bytes', size: 32, max: 32 }
} as const satisfies WireSchema
export const CONFIRM = { ok: { kind: 'bool' } } as const satisfies WireSchema
export const RECORD = {
  record: { kind: 'bytes', max: 8192 },
  p256: { kind: 'bytes', max: 128 },
  mldsa65: { kind: 'bytes', max: 4096 },
  policy: { kind: 'bytes', max: 64 * 1024 }
} as const satisfies WireSchema
export const DONE = { ok: { kind: 'bool' } } as const satisfies WireSchema

/** The quote's qualifyingData during enrolment: bound to this ceremony's nonce and both Noise identities. */
export function enrolmentQuoteData(nonce: Uint8Array, devicePeerId: string, ownerPeerId: string): Uint8Array {
  return sha256('fleet-enrol-v1', nonce, devicePeerId, ownerPeerId)
}

/**
 * What the digits are made from: both PeerIds (each authenticated by Noise), then the hello and the
 * challenge, each added as it is sent or received. Nothing said after the challenge is added
 * (see the module comment).
 */
class Transcript {
  private readonly hash = createHash('sha256')
  private frames = 0
  constructor(ownerPeerId: string, devicePeerId: string) {
    this.hash
      .update('fleet-enrol-transcript-v2')
      .update(lengthPrefixed(Buffer.from(ownerPeerId)))
      .update(lengthPrefixed(Buffer.from(devicePeerId)))
  }

  /** The hello, then the challenge: the only frames the digits depend on. */
  add(frame: Uint8Array): void {
    if (++this.frames > 2) throw new Error('only the hello and the challenge are part of the transcript')
    this.hash.update(lengthPrefixed(frame))
  }

  sas(nO: Uint8Array, nD: Uint8Array): string {
    if (this.frames !== 2) throw new Error('the digits need the hello and the challenge')
    return sasDigits(this.hash.copy().digest(), nO, nD)
  }
}

/** The six digits: SHA-256(tag ‖ transcript hash ‖ nO ‖ nD), its first 32 bits mod 10^6. */
export function sasDigits(transcript: Uint8Array, nO: Uint8Array, nD: Uint8Array): string {
  const digest = createHash('sha256').update('fleet-sas-v2').update(transcript).update(nO).update(nD).digest()
  return (digest.readUInt32BE(0) % 1_000_000).toString().padStart(6, '0')
}

function lengthPrefixed(bytes: Uint8Array): Buffer {
  const head = Buffer.alloc(4)
  head.writeUInt32BE(bytes.length)
  return Buffer.concat([head, bytes])
}

const commitment = (nD: Uint8Array): Uint8Array => sha256('fleet-sas-commit-v2', nD)

async function receive<S extends WireSchema>(
  framed: FramedStream,
  type: string,
  schema: S,
  options: { timeoutMs?: number } = {}
): Promise<{ bytes: Uint8Array; message: WireMessage<S> }> {
  const bytes = await framed.read(options)
  const message = decodeMessage(ENROL_PROTOCOL, bytes, type, schema, ENROL_LIMITS.maxFrameBytes)
  if (message.t === 'abort')
    throw new CeremonyAbortedError(`the other side stopped: ${(message as { reason: string }).reason}`)
  return { bytes, message: message as WireMessage<S> }
}

async function abortWith(framed: FramedStream, err: unknown): Promise<never> {
  if (!(err instanceof CeremonyAbortedError && err.message.includes('the other side stopped'))) {
    const reason = err instanceof Error ? err.message : String(err)
    await framed.write(encodeMessage('abort', { reason: reason.slice(0, 1024) })).catch(() => undefined)
  }
  await framed.close()
  throw err
}

export interface DeviceCeremonyInput {
  tpm: Tpm
  state: DeviceState
  eventLog: Uint8Array
  hostname: string
  role: DeviceRole
  ownerPeerId: string
  /** Shows the digits and the fleet to the person at the device; true when they match the owner's screen. */
  confirm: (sas: string, fleet: { fleetId: string; name: string }) => Promise<boolean>
  /** Refuse any other fleet (scripted enrolment). */
  expectFleetId?: string
  random: (n: number) => Uint8Array
}

/** The device's side. Resolves with the verified enrolment, which the caller stores. */
export async function runDeviceCeremony(stream: FramedStream, input: DeviceCeremonyInput): Promise<DeviceEnrolment> {
  const state = input.state
  const transcript = new Transcript(input.ownerPeerId, state.peer.peerId)
  try {
    const nD = input.random(32)
    const helloBytes = encodeMessage('hello', {
      deviceId: state.deviceId,
      ekPub: fromBase64(state.endorsementKey.public),
      ekCert: state.endorsementKey.certificate === undefined ? null : fromBase64(state.endorsementKey.certificate),
      akPub: fromBase64(state.attestationKey.public),
      dskPub: fromBase64(state.signingKey.public),
      certifyAttest: fromBase64(state.signingKey.certify.attest),
      certifySignature: fromBase64(state.signingKey.certify.signature),
      pqPub: fromBase64(state.mldsa.publicKey),
      peerId: state.peer.peerId,
      hostname: input.hostname,
      role: input.role,
      commit: commitment(nD)
    })
    await stream.write(helloBytes)
    transcript.add(helloBytes)

    const challenge = await receive(stream, 'challenge', CHALLENGE)
    transcript.add(challenge.bytes)
    const c = challenge.message
    const genesis = verifyGenesis(c.genesis, { p256: c.genesisP256, mldsa65: c.genesisMldsa65 })
    if (input.expectFleetId !== undefined && genesis.fleetId !== input.expectFleetId) {
      throw new EnrolmentRefusedError(
        `the owner founded fleet ${genesis.fleetId}, not the expected ${input.expectFleetId}`
      )
    }
    const pcrs = [...c.pcrs]
    if (pcrs.length === 0 || new Set(pcrs).size !== pcrs.length || pcrs.some((pcr) => pcr > 23))
      throw new MalformedMessageError(ENROL_PROTOCOL, 'challenge.pcrs is not a PCR list')
    const ak = { public: fromBase64(state.attestationKey.public), private: fromBase64(state.attestationKey.private) }
    const activated = await input.tpm.activateCredential(ak, 'rsa', c.credentialBlob, c.encryptedSecret)
    const selection: PcrSelection = [{ hash: c.bank as HashAlg, pcrs }]
    const quote = await input.tpm.quote(
      ak,
      enrolmentQuoteData(c.quoteNonce, state.peer.peerId, input.ownerPeerId),
      selection
    )
    const evidenceBytes = encodeMessage('evidence', {
      activated,
      quoteAttest: quote.attest,
      quoteSignature: quote.signature,
      eventLog: input.eventLog,
      nD
    })
    // The evidence is not part of the digits: it was made after nO was known.
    await stream.write(evidenceBytes)

    const sas = transcript.sas(c.nO, nD)
    const ok = await input.confirm(sas, { fleetId: genesis.fleetId, name: genesis.genesis.name })
    await stream.write(encodeMessage('confirm', { ok }))
    if (!ok) throw new CeremonyAbortedError('the digits were not confirmed at the device')

    const signed = await receive(stream, 'record', RECORD, { timeoutMs: ENROL_LIMITS.confirmTimeoutMs })
    const enrolment = verifyDeviceEnrolment(
      {
        genesis: { statement: c.genesis, signature: { p256: c.genesisP256, mldsa65: c.genesisMldsa65 } },
        signed: {
          record: signed.message.record,
          signature: { p256: signed.message.p256, mldsa65: signed.message.mldsa65 }
        },
        policy: Buffer.from(signed.message.policy).toString('utf8')
      },
      state.deviceId
    )
    const r = enrolment.record
    if (
      r.peerId !== state.peer.peerId ||
      Buffer.compare(r.akPub, ak.public) !== 0 ||
      Buffer.compare(r.dskPub, fromBase64(state.signingKey.public)) !== 0 ||
      Buffer.compare(r.pqPub, fromBase64(state.mldsa.publicKey)) !== 0 ||
      Buffer.compare(r.ekPubHash, ekPubHash(fromBase64(state.endorsementKey.public))) !== 0
    ) {
      throw new EnrolmentRefusedError("the owner signed keys that are not this device's")
    }
    await stream.write(encodeMessage('done', { ok: true }))
    await stream.close()
    return enrolment
  } catch (err) {
    return await abortWith(stream, err)
  }
}

export interface EnrolledDevice {
  deviceId: string
  fingerprint: string
  hostname: string
  role: DeviceRole
  peerId: string
  verdict: BootVerdict
  softwareTpm: boolean
  /** Event-log PCRs the quote does not cover, with their event counts: unverified, shown to the owner, judged by nothing. */
  unquoted: Array<{ pcr: number; events: number }>
}

export interface OwnerCeremonyInput {
  owner: { state: OwnerState; signer: HybridSigner }
  policy: BootPolicy
  /** EK CA certificates of TPM makers: a chain ending in one of them is a hardware TPM's. */
  trustStore: X509Certificate[]
  /**
   * EK CA certificates of software TPMs (swtpm's local CA): a chain ending in one of them is a
   * software TPM's, whatever its names say, and is accepted only with allowSoftwareTpm.
   */
  softwareTpmCas?: X509Certificate[]
  /** Accept EK certificates that chain to softwareTpmCas (simnet, tests); EnrolledDevice.softwareTpm says so. */
  allowSoftwareTpm: boolean
  expectDeviceId?: string
  devicePeerId: string
  ownerPeerId: string
  /** Shows the digits and the device to the owner; true when they match the device's screen. */
  confirm: (sas: string, device: EnrolledDevice) => Promise<boolean>
  /** Durably records the signed enrolment (the owner's feed) before the device gets it. */
  record: (signed: SignedEnrolment, record: EnrolmentRecord) => Promise<void>
  random: (n: number) => Uint8Array
  now: () => Date
}

/** The owner's side. Resolves with the signed record once the device stored it. */
export async function runOwnerCeremony(
  stream: FramedStream,
  input: OwnerCeremonyInput
): Promise<{ signed: SignedEnrolment; record: EnrolmentRecord; device: EnrolledDevice }> {
  const transcript = new Transcript(input.ownerPeerId, input.devicePeerId)
  const refuse = (reason: string): never => {
    throw new EnrolmentRefusedError(reason)
  }
  try {
    const hello = await receive(stream, 'hello', HELLO)
    transcript.add(hello.bytes)
    const h = hello.message
    if (h.peerId !== input.devicePeerId)
      refuse(`the device claims PeerId ${h.peerId} but connected as ${input.devicePeerId}`)
    if (!(DEVICE_ROLES as readonly string[]).includes(h.role)) refuse(`unknown role "${h.role}"`)
    let deviceId = ''
    try {
      deviceId = deviceIdFromEndorsementKey(h.ekPub)
    } catch (err) {
      if (err instanceof EkTemplateMismatchError) refuse(err.message)
      throw err
    }
    if (deviceId !== h.deviceId) refuse(`the deviceId ${h.deviceId} is not the one of its EK (${deviceId})`)
    if (input.expectDeviceId !== undefined && deviceId !== input.expectDeviceId)
      refuse(`found device ${deviceId}, expected ${input.expectDeviceId}`)
    const ekPublic = parsePublic(h.ekPub)
    if (h.ekCert === null) refuse('the device has no EK certificate, so its TPM cannot be told from software')
    const { softwareTpm } = await checkEkCertificate(h.ekCert!, ekPublic, input)
    if (softwareTpm && !input.allowSoftwareTpm)
      refuse("its EK certificate chains to a software TPM's CA (allow software TPMs only for testing)")
    const ak = parsePublic(h.akPub)
    checkKey(ak, checkAttestationKey)
    if (ak.type !== 'ecc') refuse('its AK is not an ECC key')
    verifyCertify({
      signer: ak,
      attest: h.certifyAttest,
      signature: h.certifySignature,
      nonce: sha256('fleet-dsk-certify-v1', h.dskPub),
      certifiedPublic: h.dskPub
    })
    // Certified means loaded in the AK's TPM; the attributes say it was also made there and stays there.
    checkKey(parsePublic(h.dskPub), checkDeviceSigningKey)

    const secret = input.random(32)
    const credential = makeCredential({
      ekPublic,
      objectName: objectName(ak),
      credential: secret,
      random: input.random
    })
    const quoteNonce = input.random(32)
    const nO = input.random(32)
    const genesis = input.owner.state.genesis
    const challengeBytes = encodeMessage('challenge', {
      genesis: fromBase64(genesis.statement),
      genesisP256: fromBase64(genesis.p256),
      genesisMldsa65: fromBase64(genesis.mldsa65),
      credentialBlob: credential.credentialBlob,
      encryptedSecret: credential.secret,
      quoteNonce,
      bank: input.policy.bank,
      pcrs: Uint8Array.from(input.policy.pcrs),
      nO
    })
    await stream.write(challengeBytes)
    transcript.add(challengeBytes)

    // Not part of the digits: the device (or a man in the middle) made it after seeing nO.
    const evidence = await receive(stream, 'evidence', EVIDENCE)
    const e = evidence.message
    if (e.activated.length !== secret.length || !timingSafeEqual(e.activated, secret))
      refuse('ActivateCredential failed: its AK is not in the TPM that holds its EK')
    if (!timingSafeEqual(commitment(e.nD), h.commit)) refuse('the device revealed a value it had not committed to')
    const boot = verifyBoot(
      {
        ak,
        attest: e.quoteAttest,
        signature: e.quoteSignature,
        nonce: enrolmentQuoteData(quoteNonce, input.devicePeerId, input.ownerPeerId),
        eventLog: e.eventLog
      },
      input.policy
    )
    if (!boot.verdict.trusted)
      refuse(`its boot does not satisfy the policy: ${boot.verdict.reasons.map((r) => r.message).join('; ')}`)

    const device: EnrolledDevice = {
      deviceId,
      fingerprint: fingerprint(deviceId),
      hostname: h.hostname,
      role: h.role as DeviceRole,
      peerId: h.peerId,
      verdict: boot.verdict,
      softwareTpm,
      unquoted: boot.unquoted
    }
    const sas = transcript.sas(nO, e.nD)
    // The device's answer is read while the owner decides, so its abort is seen at once.
    const deviceAnswer = receive(stream, 'confirm', CONFIRM, { timeoutMs: ENROL_LIMITS.confirmTimeoutMs })
    deviceAnswer.catch(() => undefined)
    if (!(await input.confirm(sas, device)))
      throw new CeremonyAbortedError('the digits were not confirmed by the owner')
    if (!(await deviceAnswer).message.ok) throw new CeremonyAbortedError('the digits were not confirmed at the device')

    const record: EnrolmentRecord = {
      v: 1,
      kind: 'enrolment',
      fleet: new Uint8Array(Buffer.from(input.owner.state.fleetId, 'hex')),
      deviceId,
      ekPubHash: ekPubHash(h.ekPub),
      akPub: h.akPub,
      dskPub: h.dskPub,
      pqPub: h.pqPub,
      peerId: h.peerId,
      role: h.role as DeviceRole,
      policyId: bootPolicyId(input.policy),
      hostname: h.hostname,
      issuedAt: input.now().getTime()
    }
    const signed = await signEnrolmentRecord(record, input.owner.signer)
    await input.record(signed, record)
    await stream.write(
      encodeMessage('record', {
        record: signed.record,
        p256: signed.signature.p256,
        mldsa65: signed.signature.mldsa65,
        policy: Buffer.from(canonicalPolicyJson(input.policy))
      })
    )
    await receive(stream, 'done', DONE)
    await stream.close()
    return { signed, record, device }
  } catch (err) {
    return await abortWith(stream, err)
  }
}

/** A key whose attributes do not make it what it is trusted as refuses the device, naming them. */
function checkKey(pub: TpmPublic, check: (pub: TpmPublic) => void): void {
  try {
    check(pub)
  } catch (err) {
    if (err instanceof KeyAttributesError) throw new EnrolmentRefusedError(err.message)
    throw err
  }
}

/**
 * Verifies the EK certificate and tells by the anchor its chain ends in whether the TPM is a
 * software TPM: software CAs are tried first, so a CA the owner listed in both counts as software.
 * Names in the certificates play no part.
 */
async function checkEkCertificate(
  certificate: Uint8Array,
  ekPublic: TpmPublic,
  input: OwnerCeremonyInput
): Promise<{ certificate: VerifiedEkCertificate; softwareTpm: boolean }> {
  const software = input.softwareTpmCas ?? []
  const stores = [
    { anchors: software, softwareTpm: true },
    { anchors: input.trustStore, softwareTpm: false }
  ].filter((s) => s.anchors.length > 0)
  if (stores.length === 0)
    throw new EnrolmentRefusedError("the owner has no EK CA certificate to check the device's EK certificate with")
  let untrusted: unknown
  for (const store of stores) {
    try {
      return {
        certificate: await verifyEkCertificate({ certificate, trustStore: store.anchors, ekPublic, now: input.now() }),
        softwareTpm: store.softwareTpm
      }
    } catch (err) {
      if (!(err instanceof EkCertificateUntrustedError)) throw err
      untrusted = err
    }
  }
  throw untrusted
}

export { ENROL_LIMITS }
