import assert from 'node:assert/strict'
import { readdir, readFile, stat } from 'node:fs/promises'
import path from 'node:path'
import { writeFileDurably } from '../../src/common/index.js'
import { tempDir } from '../helpers/devices.js'

describe('common/writeFileDurably', () => {
  it('makes the folder 0700 and the file 0600, replaces it whole, and leaves no temporary file, even with concurrent writers', async () => {
    const dir = path.join(await tempDir('fleet-durable-'), 'state')
    const file = path.join(dir, 'device.json')
    await writeFileDurably(file, 'first\n')
    assert.equal((await stat(dir)).mode & 0o777, 0o700)
    assert.equal((await stat(file)).mode & 0o777, 0o600)
    const texts = Array.from({ length: 16 }, (_, i) => `writer ${i}\n`.repeat(1000))
    await Promise.all(texts.map(async (text) => await writeFileDurably(file, text)))
    assert.ok(texts.includes(await readFile(file, 'utf8')), 'one writer’s whole text, not a mix')
    assert.deepEqual(await readdir(dir), ['device.json'])
  })
})
