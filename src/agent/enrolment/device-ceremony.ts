/** The device's side of the enrolment ceremony: prove its TPM, show the digits, store the record. */
import { fromBase64 } from '../../common/index.js'
import type { Tpm, PcrSelection, HashAlg } from '../../attest/index.js'
import { type FramedStream, encodeMessage, MalformedMessageError } from '../../p2p/index.js'
import type { DeviceState } from '../device/index.js'
import { verifyGenesis } from '../owner/index.js'
import { ekPubHash, verifyDeviceEnrolment, type DeviceEnrolment, type DeviceRole } from './record.js'
import { ENROL_LIMITS } from './limits.js'
import {
  ENROL_PROTOCOL,
  CHALLENGE,
  RECORD,
  EnrolmentRefusedError,
  CeremonyAbortedError,
  Transcript,
  commitment,
  enrolmentQuoteData,
  receive,
  abortWith
} from './ceremony.js'

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
