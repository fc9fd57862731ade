/** Checks on EAR payloads shared by the encoder's tests and the end-to-end ones (jose decodes; nothing of the issuer is used). */
import assert from 'node:assert/strict'

/** The submodule of `deviceId` in a verified EAR payload. */
export function submodOf(payload: Record<string, unknown>, deviceId: string): Record<string, unknown> {
  const submod = (payload.submods as Record<string, Record<string, unknown>> | undefined)?.[deviceId]
  assert.ok(submod !== undefined, `no submodule for ${deviceId}`)
  return submod
}

/** A trusted verdict on a software TPM: a warning, hardware 32 — a software TPM is never presented as hardware. */
export function assertTrustedOnSoftwareTpm(submod: Record<string, unknown>): void {
  assert.equal(submod['fleet.tpm-tier'], 'software')
  assert.equal(submod['ear.status'], 'warning')
  assert.deepEqual(submod['ear.trustworthiness-vector'], {
    'instance-identity': 2,
    executables: 3,
    configuration: 2,
    hardware: 32
  })
}
