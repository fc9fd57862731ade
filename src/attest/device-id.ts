import { createHash } from 'node:crypto'
import { MalformedInputError, base32 } from '../common/index.js'
import { checkEndorsementKey, parsePublic } from './tpm2/index.js'

/**
 * The device's identity: lowercase base32 of SHA-256 over the EK public area (the TPMT_PUBLIC
 * inside the TPM2B_PUBLIC). Stable for the life of the TPM; copies of a state directory on other
 * machines get the other TPM's EK, hence another deviceId.
 *
 * The public area MUST be one of the TCG EK templates (checkEndorsementKey, else
 * EkTemplateMismatchError): the endorsement seed gives a key for any template, so one TPM could
 * otherwise present a new deviceId per attribute toggled.
 */
export function deviceIdFromEndorsementKey(ekPublic: Uint8Array): string {
  if (ekPublic.length < 2) throw new MalformedInputError('EK public is truncated')
  const size = (ekPublic[0]! << 8) | ekPublic[1]!
  if (size !== ekPublic.length - 2) throw new MalformedInputError('EK public is not a TPM2B_PUBLIC')
  checkEndorsementKey(parsePublic(ekPublic))
  return base32(createHash('sha256').update(ekPublic.subarray(2)).digest())
}

/** A short form for people to compare (e.g. on the enrolment screen): groups of 4 of the first 20. */
export function fingerprint(deviceId: string): string {
  return (deviceId.slice(0, 20).match(/.{1,4}/g) ?? []).join('-')
}
