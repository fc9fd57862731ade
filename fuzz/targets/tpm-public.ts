/** Input: TPM2B_PUBLIC; what parses is also judged as an AK, a DSK and an EK. */
import {
  parsePublic,
  checkAttestationKey,
  checkDeviceSigningKey,
  checkEndorsementKey,
  type TpmPublic
} from '../../src/attest/tpm2/index.js'
import { bytes, typed } from '../common.js'

export function fuzz(data: Buffer): void {
  let pub: TpmPublic | undefined
  typed(() => {
    pub = parsePublic(bytes(data))
  })
  if (pub === undefined) return
  const parsed = pub
  typed(() => checkAttestationKey(parsed))
  typed(() => checkDeviceSigningKey(parsed))
  typed(() => checkEndorsementKey(parsed))
}
