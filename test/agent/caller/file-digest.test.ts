/**
 * Hashing an open file: bounded chunks, and a refusal when the file changes while it is read
 * rather than a digest of two versions mixed.
 */
import assert from 'node:assert/strict'
import { createHash } from 'node:crypto'
import { digestOpenFile } from '../../../src/agent/caller/file-digest.js'
import { MemoryFile } from './memory-file.js'

const sha256 = (bytes: Uint8Array): Uint8Array => new Uint8Array(createHash('sha256').update(bytes).digest())

describe('agent/caller/file-digest: SHA-256 of an open file', () => {
  const bytes = new Uint8Array(10_000).map((_, i) => i % 251)

  it('hashes the whole file in chunks of the size given', async () => {
    const file = new MemoryFile(bytes)
    assert.deepEqual(await digestOpenFile(file, await file.status(), 'f', 1024), sha256(bytes))
    // 10 chunks, and one more read that finds the end.
    assert.equal(file.reads, 11)
  })

  it('hashes an empty file', async () => {
    const file = new MemoryFile(new Uint8Array(0))
    assert.deepEqual(await digestOpenFile(file, await file.status(), 'f', 1024), sha256(new Uint8Array(0)))
  })

  it('refuses a file that is shorter than its status said (truncated while read)', async () => {
    const file = new MemoryFile(bytes)
    const status = await file.status()
    file.bytes = bytes.subarray(0, 5000)
    await assert.rejects(digestOpenFile(file, status, 'f', 1024), { name: 'FileChangedError', file: 'f' })
  })

  it('refuses a file that grew past its status', async () => {
    const file = new MemoryFile(bytes)
    const status = await file.status()
    file.bytes = new Uint8Array(20_000)
    await assert.rejects(digestOpenFile(file, status, 'f', 1024), { name: 'FileChangedError' })
  })

  it('refuses a file rewritten in place while read (same size, new ctime)', async () => {
    const file = new MemoryFile(bytes)
    file.afterRead = (reads) => {
      if (reads === 3) file.fileStatus = { ctimeNs: 99n }
    }
    await assert.rejects(digestOpenFile(file, await file.status(), 'f', 1024), {
      name: 'FileChangedError',
      code: 'ERR_FILE_CHANGED'
    })
  })
})
