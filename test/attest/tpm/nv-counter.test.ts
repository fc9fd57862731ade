/**
 * Monotonic counters in TPM NV: the agent trusts an index at a counter's handle only if it is a
 * TPM_NT_COUNTER with exactly the attributes the agent defines. The owner hierarchy's password is
 * empty, so anyone on the machine can define an index there first (tpm2_nvdefine).
 */
import assert from 'node:assert/strict'
import { execFileSync } from 'node:child_process'
import { EsysTpm, COUNTER_ATTRIBUTES, counterNvName, type SwtpmDevice } from '../../../src/attest/index.js'
import { haveSwtpm, startDevice, stopAllDevices } from '../../helpers/devices.js'

describe('attest/tpm: NV counters', function () {
  this.timeout(60_000)
  let device: SwtpmDevice
  let tpm: EsysTpm
  const tools = (args: string[], input?: Buffer): string =>
    execFileSync(args[0]!, args.slice(1), {
      env: { ...process.env, TPM2TOOLS_TCTI: device.tcti },
      input: input ?? Buffer.alloc(0),
      stdio: ['pipe', 'pipe', 'pipe']
    }).toString()
  const hex = (index: number): string => `0x${index.toString(16)}`

  before(async function () {
    if (!haveSwtpm()) this.skip()
    device = await startDevice()
    tpm = await EsysTpm.open({ tcti: device.tcti })
  })

  after(async () => {
    await tpm?.close()
    await stopAllDevices()
  })

  it('defines a counter on first use with the attributes it checks; it only goes up', async () => {
    const index = 0x01000a00
    const first = await tpm.readCounter(index)
    assert.equal(await tpm.incrementCounter(index), first + 1n)
    assert.equal(await tpm.readCounter(index), first + 1n)
    // The name TPM2_PolicyNV will put in policies is the one of the index the TPM holds.
    const name = tools(['tpm2_nvreadpublic', hex(index)])
    assert.match(name, new RegExp(`name: ${Buffer.from(counterNvName(index)).toString('hex')}`))
    assert.equal(COUNTER_ATTRIBUTES & 0xf0, 0x10)
  })

  it("an ordinary NV index pre-defined at the counter's handle with tpm2_nvdefine (rewritable, so lowerable) is refused, never read or written", async () => {
    const index = 0x01000a01
    tools(['tpm2_nvdefine', hex(index), '-C', 'o', '-s', '8', '-a', 'ownerread|ownerwrite|authread|authwrite|no_da'])
    // Written, so that a reader that does not check gets a value: one the attacker can set lower at will.
    tools(['tpm2_nvwrite', hex(index), '-C', 'o', '-i', '-'], Buffer.alloc(8))
    await assert.rejects(
      tpm.readCounter(index),
      (err: Error & { nvIndex?: number; reason?: string }) =>
        err.name === 'NvCounterUntrustedError' &&
        err.nvIndex === index &&
        /not a monotonic counter/.test(err.reason ?? '')
    )
    await assert.rejects(tpm.incrementCounter(index), { name: 'NvCounterUntrustedError' })
  })

  it('a counter pre-defined with other attributes (owner-writable, under dictionary-attack lockout) is refused', async () => {
    const index = 0x01000a02
    tools(['tpm2_nvdefine', hex(index), '-C', 'o', '-a', 'nt=counter|ownerread|ownerwrite|authread|authwrite'])
    tools(['tpm2_nvincrement', hex(index), '-C', 'o'])
    await assert.rejects(
      tpm.readCounter(index),
      (err: Error & { reason?: string; attributes?: number }) =>
        err.name === 'NvCounterUntrustedError' &&
        /its attributes are/.test(err.reason ?? '') &&
        err.attributes !== undefined
    )
  })

  it('a counter pre-defined with our attributes but a SHA-1 name is refused', async () => {
    const index = 0x01000a03
    tools(['tpm2_nvdefine', hex(index), '-C', 'o', '-g', 'sha1', '-a', 'nt=counter|authread|authwrite|no_da'])
    tools(['tpm2_nvincrement', hex(index)])
    await assert.rejects(
      tpm.readCounter(index),
      (err: Error & { reason?: string; nameAlg?: number }) =>
        err.name === 'NvCounterUntrustedError' && err.nameAlg === 0x0004 && /nameAlg/.test(err.reason ?? '')
    )
  })
})
