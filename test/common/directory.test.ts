/**
 * makeDirectory: the state directory's folder is made or refused with one typed error, never
 * looped on (fs.mkdir's `recursive` retries forever under /proc, where making a folder is ENOENT).
 */
import assert from 'node:assert/strict'
import { stat, writeFile } from 'node:fs/promises'
import path from 'node:path'
import { type DirectoryError, makeDirectory } from '../../src/common/index.js'
import { tempDir } from '../helpers/devices.js'

describe('common: makeDirectory', () => {
  it('makes the folder and its missing parents with the mode given, and accepts one that exists', async () => {
    const root = await tempDir('dir-')
    const dir = path.join(root, 'a', 'b', 'c')
    await makeDirectory(dir, { mode: 0o700 })
    assert.equal((await stat(dir)).mode & 0o777, 0o700)
    assert.equal((await stat(path.join(root, 'a'))).mode & 0o777, 0o700)
    await makeDirectory(dir)
  })

  it('refuses a path that is a file, or under one, with exit code 2', async () => {
    const root = await tempDir('dir-')
    const file = path.join(root, 'file')
    await writeFile(file, 'x')
    for (const dir of [file, path.join(file, 'below')]) {
      await assert.rejects(makeDirectory(dir), (err: DirectoryError) => {
        assert.equal(err.name, 'DirectoryError')
        assert.equal(err.exitCode, 2)
        assert.match(err.message, /is a file, not a folder/)
        return true
      })
    }
  })

  it('refuses a folder under /proc at once instead of retrying forever (regression)', async () => {
    await assert.rejects(makeDirectory('/proc/fleet-no-such/state'), (err: DirectoryError) => {
      assert.equal(err.name, 'DirectoryError')
      assert.match(err.message, /refuses to make it|permission denied/)
      return true
    })
  })
})
