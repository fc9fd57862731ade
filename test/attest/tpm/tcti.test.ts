import assert from 'node:assert/strict'
import { parseTcti } from '../../../src/attest/index.js'

describe('attest/tpm/tcti', () => {
  it('accepts the TCTI forms tpm2-tss spells', () => {
    assert.deepEqual(parseTcti('device:/dev/tpmrm0'), {
      kind: 'device',
      conf: 'device:/dev/tpmrm0',
      path: '/dev/tpmrm0'
    })
    assert.equal(parseTcti('swtpm:path=/tmp/x/tpm.sock').path, '/tmp/x/tpm.sock')
    assert.equal(parseTcti('swtpm:host=127.0.0.1,port=2321').kind, 'swtpm')
  })

  for (const bad of [
    '',
    'mssim',
    'libtpms:',
    'device:tpmrm0',
    'swtpm:',
    'swtpm:path=',
    'swtpm:path=/a,host=b',
    'swtpm:port=1',
    'swtpm:host=h,port=70000',
    'swtpm:host=h,port=x',
    'swtpm:host=h,host=i',
    'swtpm:bogus=1',
    'device:/dev/tpm\n0',
    `swtpm:path=${'a'.repeat(600)}`
  ]) {
    it(`refuses ${JSON.stringify(bad.slice(0, 30))} with InvalidTctiError (exit 2)`, () => {
      assert.throws(
        () => parseTcti(bad),
        (err: Error & { exitCode?: number }) => {
          assert.equal(err.name, 'InvalidTctiError')
          assert.equal(err.exitCode, 2)
          return true
        }
      )
    })
  }
})
