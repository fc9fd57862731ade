/**
 * The gate's grants file: written and read back, bounded, and any file that is not exactly one
 * (altered, a link, a FIFO, too large) refused, so the gate socket refuses everyone rather than
 * guess.
 */
import assert from 'node:assert/strict'
import { execFileSync } from 'node:child_process'
import { readFile, stat, symlink, writeFile } from 'node:fs/promises'
import path from 'node:path'
import {
  GATE_LIMITS,
  GRANTS_FILE,
  GRANTS_LOCK,
  GrantsBusyError,
  GrantsFileError,
  GrantsReader,
  SecretNameError,
  TooManyGrantsError,
  allowGrant,
  denyGrant,
  readGrants,
  tryLockFile
} from '../../../src/agent/index.js'
import { tempDir } from '../../helpers/devices.js'

const plain = (grants: ReadonlyMap<number, ReadonlySet<string>>): Array<[number, string[]]> =>
  [...grants].map(([uid, secrets]) => [uid, [...secrets]])

describe('agent/gate: grants of the gate socket', () => {
  it('grants, adds, withdraws and removes, in a 0600 file read back alike', async () => {
    const dir = await tempDir()
    assert.deepEqual(plain(await readGrants(dir)), [])
    assert.deepEqual(await allowGrant(dir, 1001, ['model-key']), ['model-key'])
    assert.deepEqual(await allowGrant(dir, 1001, ['db-password', 'model-key']), ['db-password', 'model-key'])
    assert.deepEqual(await allowGrant(dir, 7, []), [])
    assert.deepEqual(plain(await readGrants(dir)), [
      [7, []],
      [1001, ['db-password', 'model-key']]
    ])
    assert.equal((await stat(path.join(dir, GRANTS_FILE))).mode & 0o777, 0o600)
    assert.deepEqual(await denyGrant(dir, 1001, ['model-key']), ['db-password'])
    assert.equal(await denyGrant(dir, 1001, []), undefined)
    assert.equal(await denyGrant(dir, 1001, []), undefined, 'nothing to withdraw')
    assert.deepEqual(plain(await readGrants(dir)), [[7, []]])
    await assert.rejects(allowGrant(dir, 8, ['../device']), SecretNameError)
  })

  it('refuses a file that is not exactly a grants file, and changes nothing on disk', async () => {
    const dir = await tempDir()
    const file = path.join(dir, GRANTS_FILE)
    const bad = [
      'not json',
      '[]',
      '{"version":2,"grants":[]}',
      '{"version":1,"grants":[],"extra":1}',
      '{"version":1,"grants":[{"uid":-1,"secrets":[]}]}',
      '{"version":1,"grants":[{"uid":1.5,"secrets":[]}]}',
      '{"version":1,"grants":[{"uid":1,"secrets":[]},{"uid":1,"secrets":[]}]}',
      '{"version":1,"grants":[{"uid":1,"secrets":["../x"]}]}',
      '{"version":1,"grants":[{"uid":1,"secrets":[7]}]}',
      '{"version":1,"grants":[{"uid":1,"secrets":[],"all":true}]}',
      JSON.stringify({
        version: 1,
        grants: Array.from({ length: GATE_LIMITS.maxGrantUids + 1 }, (_, uid) => ({ uid, secrets: [] }))
      })
    ]
    for (const text of bad) {
      await writeFile(file, text)
      await assert.rejects(readGrants(dir), GrantsFileError, text.slice(0, 60))
      // A grant is not written over a file that cannot be read: the operator mends it first.
      await assert.rejects(allowGrant(dir, 1, []), GrantsFileError)
      assert.equal(await readFile(file, 'utf8'), text)
    }
    await writeFile(file, ' '.repeat(GATE_LIMITS.maxGrantsFileBytes + 1))
    await assert.rejects(readGrants(dir), /too large/)
  })

  it('refuses a grants file that is a symbolic link or a FIFO, without following or blocking', async () => {
    const dir = await tempDir()
    const elsewhere = path.join(await tempDir(), 'grants.json')
    await writeFile(elsewhere, '{"version":1,"grants":[{"uid":0,"secrets":[]}]}')
    await symlink(elsewhere, path.join(dir, GRANTS_FILE))
    await assert.rejects(readGrants(dir), /symlink/)
    const fifoDir = await tempDir()
    execFileSync('mkfifo', [path.join(fifoDir, GRANTS_FILE)])
    await assert.rejects(readGrants(fifoDir), /not regular/)
  })

  it('two changes at once never lose one: a change while another holds the grants is refused, not raced', async () => {
    const dir = await tempDir()
    await allowGrant(dir, 5, ['a'])
    const held = (await tryLockFile(path.join(dir, GRANTS_LOCK), true))!
    try {
      await assert.rejects(denyGrant(dir, 5, []), GrantsBusyError)
      await assert.rejects(allowGrant(dir, 6, []), GrantsBusyError)
    } finally {
      await held.release()
    }
    assert.deepEqual(plain(await readGrants(dir)), [[5, ['a']]])
    assert.equal(await denyGrant(dir, 5, []), undefined)
  })

  it('bounds the users granted', async () => {
    const dir = await tempDir()
    for (let uid = 0; uid < GATE_LIMITS.maxGrantUids; uid++) await allowGrant(dir, uid + 1000, [])
    await assert.rejects(allowGrant(dir, 99, []), TooManyGrantsError)
    // One already granted may still get more.
    assert.deepEqual(await allowGrant(dir, 1000, ['a']), ['a'])
  })

  it('the reader reads the file again only when it changed', async () => {
    const dir = await tempDir()
    const reader = new GrantsReader(dir)
    assert.equal((await reader.read()).size, 0)
    await allowGrant(dir, 5, ['a'])
    const first = await reader.read()
    assert.deepEqual(plain(first), [[5, ['a']]])
    assert.equal(await reader.read(), first, 'unchanged: the same table')
    await allowGrant(dir, 5, ['b'])
    assert.deepEqual(plain(await reader.read()), [[5, ['a', 'b']]])
    await writeFile(path.join(dir, GRANTS_FILE), '{')
    await assert.rejects(reader.read(), GrantsFileError)
  })
})
