/**
 * The memory figures of `fleet status`: the resident set split, from /proc/self/status, into the
 * process's own pages and those mapped from files.
 */
import assert from 'node:assert/strict'
import { procStatusMemory, residentMemory } from '../../src/agent/index.js'

describe('agent/control: resident memory', () => {
  it('reads the anonymous and file-backed resident sizes from /proc/self/status', () => {
    const memory = residentMemory(
      'Name:\tnode\nVmRSS:\t  113000 kB\nRssAnon:\t   58000 kB\nRssFile:\t   54000 kB\nRssShmem:\t       0 kB\n'
    )
    assert.equal(memory.anonBytes, 58000 * 1024)
    assert.equal(memory.fileBytes, 54000 * 1024)
    assert.ok(memory.rssBytes > 0 && memory.heapUsedBytes > 0)
  })

  it("reads VmRSS, RssAnon and RssFile of any process's status (the memory bench reads the agent's)", () => {
    assert.deepEqual(procStatusMemory('VmRSS:\t  113000 kB\nRssAnon:\t   58000 kB\nRssFile:\t   54000 kB\n'), {
      rss: 113000 * 1024,
      anon: 58000 * 1024,
      file: 54000 * 1024
    })
    assert.deepEqual(procStatusMemory('VmRSS: 1 MB\nRssAnon:\t-5 kB\nRssFile:\t7 kB\n'), { file: 7 * 1024 })
  })

  it('leaves out what the status does not say, or says malformed', () => {
    const memory = residentMemory('RssAnon:\tlots kB\nRssFile: 12 MB\n')
    assert.equal(memory.anonBytes, undefined)
    assert.equal(memory.fileBytes, undefined)
    assert.ok(memory.rssBytes > 0)
  })

  it('on this machine, own and file-backed pages add up to about the resident set', function () {
    if (process.platform !== 'linux') this.skip()
    const memory = residentMemory()
    assert.ok(memory.anonBytes! > 0 && memory.fileBytes! > 0)
    assert.ok(memory.anonBytes! + memory.fileBytes! <= memory.rssBytes * 1.1)
  })
})
