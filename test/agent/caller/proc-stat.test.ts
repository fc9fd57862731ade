/**
 * The /proc texts that date a process: field 22 of /proc/PID/stat (counted after the last ')',
 * since a process names itself and the name may hold both) and /proc/uptime in clock ticks.
 */
import assert from 'node:assert/strict'
import { readFileSync } from 'node:fs'
import { parseProcessStat, parseUptimeTicks } from '../../../src/agent/caller/index.js'

/** A stat line with this command name, state and start time (fields 4..21 zero). */
function statLine(pid: number, name: string, state: string, startTime: number | string): string {
  return `${pid} (${name}) ${[state, ...Array<string>(18).fill('0'), String(startTime), '0', '0'].join(' ')}\n`
}

describe('agent/caller/proc-stat: dating a process', () => {
  it('reads the pid, state and start time of a stat line', () => {
    assert.deepEqual(parseProcessStat(statLine(4242, 'svc', 'S', 987654)), { pid: 4242, state: 'S', startTime: 987654 })
  })

  it('counts fields after the last parenthesis: a name like "x) R 1 2 (" cannot shift them', () => {
    const stat = parseProcessStat(statLine(7, 'x) R 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19 (', 'Z', 555))
    assert.deepEqual(stat, { pid: 7, state: 'Z', startTime: 555 })
  })

  it("reads this process's own stat from /proc", function () {
    if (process.platform !== 'linux') this.skip()
    const stat = parseProcessStat(readFileSync('/proc/self/stat', 'utf8'))
    assert.equal(stat.pid, process.pid)
    assert.equal(stat.state, 'R')
    assert.ok(stat.startTime <= parseUptimeTicks(readFileSync('/proc/uptime', 'utf8')))
  })

  for (const [what, text] of [
    ['an empty text', ''],
    ['no name', '12 S 1 2\n'],
    ['a pid that is not a number', statLine(1, 'a', 'S', 1).replace(/^1/, 'x')],
    ['a start time that is not a number', statLine(1, 'a', 'S', '12a')],
    ['a negative start time', statLine(1, 'a', 'S', '-5')],
    ['a line cut before field 22', '12 (a) S 1 2 3\n'],
    ['a state of two letters', statLine(1, 'a', 'SS', 1)]
  ] as const) {
    it(`refuses a stat text with ${what}`, () => {
      assert.throws(() => parseProcessStat(text), { name: 'ProcFormatError', code: 'ERR_PROC_FORMAT' })
    })
  }

  it('reads /proc/uptime in clock ticks (1/100 s), exactly', () => {
    assert.equal(parseUptimeTicks('12345.67 98765.43\n'), 1234567)
    assert.equal(parseUptimeTicks('0.05 0.00\n'), 5)
  })

  for (const text of ['', '12.3 4.56\n', '12.34\n', '-1.00 2.00\n', '1e3.00 1.00\n', '12.34 5.67 8.90\n']) {
    it(`refuses the uptime ${JSON.stringify(text)}`, () => {
      assert.throws(() => parseUptimeTicks(text), { name: 'ProcFormatError' })
    })
  }
})
