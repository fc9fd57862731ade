/** The owner's side of the enrolment ceremony: check the device's TPM and boot, show the digits, sign. */
import { timingSafeEqual, type X509Certificate } from 'node:crypto'
import { sha256, fromBase64 } from '../../common/index.js'
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
  type BootVerdict
} from '../../attest/index.js'
import type { HybridSigner } from '../../identity/index.js'
import { type FramedStream, encodeMessage } from '../../p2p/index.js'
import type { OwnerState } from '../owner/index.js'
import {
  DEVICE_ROLES,
  ekPubHash,
  signEnrolmentRecord,
  type DeviceRole,
  type EnrolmentRecord,
  type SignedEnrolment
} from './record.js'
import { ENROL_LIMITS } from './limits.js'
import {
  CONFIRM,
  DONE,
  EVIDENCE,
  HELLO,
  EnrolmentRefusedError,
  CeremonyAbortedError,
  Transcript,
  commitment,
  enrolmentQuoteData,
  receive,
  abortWith
} from './ceremony.js'

export interface EnrolledDevice {
  deviceId: string
  fingerprint: string
  hostname: string
  role: DeviceRole
  peerId: string
  verdict: BootVerdict
  softwareTpm: boolean
  /** SHA-256 of the CA certificate (DER) the device's EK certificate chained to: hardware or software by the list it is in. */
  ekCa: Uint8Array
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
    const { softwareTpm, certificate: ekCertificate } = await checkEkCertificate(h.ekCert!, ekPublic, input)
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
      ekCa: Uint8Array.from(Buffer.from(ekCertificate.chain.at(-1)!.fingerprint256.replaceAll(':', ''), 'hex')),
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
