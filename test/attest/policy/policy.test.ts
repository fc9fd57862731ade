import assert from 'node:assert/strict'
import { createHash } from 'node:crypto'
import {
  createBootPolicy,
  evaluateVerifiedBoot,
  parseBootPolicy,
  canonicalPolicyJson,
  bootPolicyId,
  type PolicyEvent
} from '../../../src/attest/policy/index.js'
import type { PcrValues } from '../../../src/attest/pcrs.js'

const sha = (text: string): Uint8Array => new Uint8Array(createHash('sha256').update(text).digest())

function event(index: number, pcr: number, typeName: string, text: string): PolicyEvent {
  return { index, pcr, typeName, digests: { sha256: sha(text) } }
}

const reference: PolicyEvent[] = [
  event(0, 0, 'EV_S_CRTM_VERSION', 'firmware 1.0'),
  event(1, 7, 'EV_EFI_VARIABLE_DRIVER_CONFIG', 'SecureBoot=1'),
  event(2, 4, 'EV_EFI_BOOT_SERVICES_APPLICATION', 'shim'),
  event(3, 4, 'EV_EFI_BOOT_SERVICES_APPLICATION', 'grub'),
  event(4, 4, 'EV_EFI_BOOT_SERVICES_APPLICATION', 'kernel 6.1'),
  event(5, 9, 'EV_IPL', 'ignored: PCR 9 not in the policy')
]
const quoted: PcrValues = { sha256: new Map([0, 1, 2, 3, 4, 7].map((pcr) => [pcr, new Uint8Array(32)])) }

describe('attest/policy', () => {
  const policy = createBootPolicy(reference, true)

  it('creates a policy that requires Secure Boot when the reference had it, and trusts the reference boot', () => {
    assert.equal(policy.secureBoot, 'required')
    assert.deepEqual(policy.pcrs, [0, 1, 2, 3, 4, 7])
    assert.equal(policy.events['4']?.EV_EFI_BOOT_SERVICES_APPLICATION?.length, 3)
    assert.equal(policy.events['9'], undefined)
    const verdict = evaluateVerifiedBoot(policy, reference, quoted, true)
    assert.deepEqual(verdict.reasons, [])
    assert.equal(verdict.trusted, true)
  })

  it('refuses a tampered kernel, naming the PCR, event and digest', () => {
    const tampered = reference.map((e) =>
      e.index === 4 ? event(4, 4, 'EV_EFI_BOOT_SERVICES_APPLICATION', 'kernel 6.1 + rootkit') : e
    )
    const verdict = evaluateVerifiedBoot(policy, tampered, quoted, true)
    assert.equal(verdict.trusted, false)
    assert.equal(verdict.reasons.length, 1)
    const reason = verdict.reasons[0]!
    assert.equal(reason.code, 'event_not_allowed')
    assert.equal(reason.pcr, 4)
    assert.equal(reason.eventIndex, 4)
    assert.equal(reason.digest, Buffer.from(sha('kernel 6.1 + rootkit')).toString('hex'))
  })

  it('reports every reason at once: Secure Boot off, an extra event, a PCR not quoted', () => {
    const extra = [...reference, event(6, 4, 'EV_EFI_BOOT_SERVICES_APPLICATION', 'unknown.efi')]
    const partial: PcrValues = { sha256: new Map([0, 1, 2, 3, 4].map((pcr) => [pcr, new Uint8Array(32)])) }
    const verdict = evaluateVerifiedBoot(policy, extra, partial, false)
    assert.deepEqual(verdict.reasons.map((r) => r.code).sort(), [
      'event_not_allowed',
      'pcr_not_quoted',
      'secure_boot_off'
    ])
  })

  it('refuses a boot whose log lacks the events the policy expects', () => {
    const verdict = evaluateVerifiedBoot(
      policy,
      reference.filter((e) => e.pcr !== 4),
      quoted,
      true
    )
    assert.deepEqual(
      verdict.reasons.map((r) => [r.code, r.pcr]),
      [['pcr_unmeasured', 4]]
    )
  })

  it('round-trips through canonical JSON with a stable policyId', () => {
    const parsed = parseBootPolicy(canonicalPolicyJson(policy))
    assert.equal(bootPolicyId(parsed), bootPolicyId(policy))
    assert.match(bootPolicyId(policy), /^[0-9a-f]{64}$/)
  })

  const bad: Array<[string, unknown]> = [
    ['unknown version', { ...JSON.parse(canonicalPolicyJson(createBootPolicy(reference, true))), version: 2 }],
    ['unknown field', { ...JSON.parse(canonicalPolicyJson(createBootPolicy(reference, true))), allowAll: true }],
    ['empty PCR set', { version: 1, bank: 'sha256', pcrs: [], secureBoot: 'any', events: {} }],
    ['PCR out of range', { version: 1, bank: 'sha256', pcrs: [24], secureBoot: 'any', events: {} }],
    ['unknown bank', { version: 1, bank: 'md5', pcrs: [0], secureBoot: 'any', events: {} }],
    [
      'events for a PCR outside the set',
      { version: 1, bank: 'sha256', pcrs: [0], secureBoot: 'any', events: { 4: {} } }
    ],
    [
      'short digest',
      { version: 1, bank: 'sha256', pcrs: [0], secureBoot: 'any', events: { 0: { EV_S_CRTM_VERSION: ['abcd'] } } }
    ],
    ['bad secureBoot', { version: 1, bank: 'sha256', pcrs: [0], secureBoot: 'maybe', events: {} }],
    ['not an object', [1, 2]]
  ]
  for (const [name, value] of bad) {
    it(`refuses a policy with ${name} (fail closed)`, () => {
      assert.throws(() => parseBootPolicy(JSON.stringify(value)), { name: 'BootPolicyFormatError' })
    })
  }

  it('refuses text that is not JSON', () => {
    assert.throws(() => parseBootPolicy('{"version":1'), { name: 'BootPolicyFormatError' })
  })
})
