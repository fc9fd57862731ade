/**
 * What an operator reads when the TPM cannot be used: a missing device, a permission (not the
 * TSS's bare "IO failure"), a software TPM that is not running, and object slots left full.
 */
import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import { chmod, writeFile } from 'node:fs/promises'
import path from 'node:path'
import { TpmCommandError, unreachableHint } from '../../../src/attest/index.js'
import { FLEET } from '../../helpers/cli.js'
import { tempDir } from '../../helpers/devices.js'

describe('attest/tpm: hints when the TPM cannot be used', () => {
  it('names a missing device, a software TPM not running, and nothing for a reachable path', async () => {
    assert.match(unreachableHint('device:/dev/tpmrm-fleet-none') ?? '', /does not exist \(no TPM/)
    assert.match(unreachableHint('swtpm:path=/nonexistent/tpm.sock') ?? '', /is the software TPM running/)
    assert.equal(unreachableHint('swtpm:host=127.0.0.1,port=2321'), undefined)
    assert.equal(unreachableHint('not a tcti'), undefined)
    const dir = await tempDir('hint-')
    await writeFile(path.join(dir, 'tpm'), '')
    assert.equal(unreachableHint(`device:${path.join(dir, 'tpm')}`), undefined)
  })

  it('a device the user may not open says permission denied and group tss (as an unprivileged user)', async function () {
    if (process.getuid?.() !== 0) this.skip() // needs root to run the CLI as nobody
    const dir = await tempDir('hint-')
    await chmod(dir, 0o755)
    const device = path.join(dir, 'tpm0')
    await writeFile(device, '')
    await chmod(device, 0o600)
    const result = spawnSync('runuser', ['-u', 'nobody', '--', FLEET, 'tpm', 'info', '--tcti', `device:${device}`], {
      encoding: 'utf8'
    })
    assert.equal(result.status, 1)
    assert.match(
      result.stderr,
      /^fleet: no TPM reachable at device:.*permission denied on .*tpm0 \(is this user in group tss\?\)/
    )
  })

  it('full object slots (TPM_RC_OBJECT_MEMORY, also format-one numbered) explain themselves; other codes do not', () => {
    const full = new TpmCommandError('swtpm:path=/x', 'load', 0x902, 'tpm:warn(2.0): out of memory for object contexts')
    assert.match(full.message, /object slots are full.*restart the software TPM/)
    const other = new TpmCommandError('swtpm:path=/x', 'load', 0x98e, 'tpm:parameter(1): integrity check failed')
    assert.doesNotMatch(other.message, /object slots/)
    const tcti = new TpmCommandError('swtpm:path=/x', 'load', 0xa0902, 'tcti: something')
    assert.doesNotMatch(tcti.message, /object slots/)
  })
})
