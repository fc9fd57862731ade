/**
 * console: the agent's web console in headless Chromium (Debian's chromium, playwright-core),
 * against an agent on swtpm whose own feed holds 5,000 sealed entries:
 * - first render: from navigating to the console's address (the token in its fragment: sign-in,
 *   then the overview read and drawn) until the members table is drawn;
 * - timeline: from a click on the feed's "timeline" button until its 5,000 rows are drawn: one
 *   API read of 5,000 entries, the table built, and the frame after it was laid out and painted,
 *   as the page times it (performance.now() in its click handler, then after that frame).
 * Each is measured RUNS times in a fresh browser context; the median is the value, min and max
 * the spread. The peer is the goal the console is held to (1 s each): ratio = goal / median.
 */
import { mkdtemp, readFile, rm } from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import { startAgentConsole } from '../src/agent/console/index.js'
import { SimFleet } from '../simnet/fleet.js'
import { findChromium, launchChromium } from '../simnet/chromium.js'
import { type Bench, nowMs, round } from './types.js'

const ENTRIES = 5_000
const RUNS = 7
const GOAL_MS = 1_000

export const consoleBench: Bench = {
  name: 'console',
  description: `web console in headless Chromium: first render, and a timeline of ${ENTRIES} entries (median of ${RUNS})`,
  async run(report) {
    const executable = findChromium()
    if (executable === undefined) throw new Error('no Chromium (apt-get install chromium)')
    const fleet = await SimFleet.create()
    const dir = await mkdtemp(path.join(os.tmpdir(), 'bench-console-'))
    const browser = await launchChromium(executable)
    try {
      const [device] = await fleet.addEnrolled(1)
      const agent = await fleet.start(device!, { batchMs: 50 })
      const self = agent.feed.ledger.feedId
      const writes: Array<Promise<unknown>> = []
      for (let i = agent.feed.ledger.size; i < ENTRIES; i++)
        writes.push(
          agent.feed.ledger.append({
            type: 'alert.tamper',
            actor: { id: `agent/${self}`, role: 'agent' },
            attest: null,
            body: { subject: self, pcr: 7, detail: `record ${i}` }
          })
        )
      await Promise.all(writes)
      await agent.feed.ledger.checkpoint()
      const server = await startAgentConsole(agent, { dir, deviceId: self, port: 0, stateDir: device!.dir })
      const token = (await readFile(path.join(dir, 'console.token'), 'utf8')).trim()
      const first: number[] = []
      const timeline: number[] = []
      for (let run = 0; run < RUNS; run++) {
        const context = await browser.browser.newContext()
        const page = await context.newPage()
        const started = nowMs()
        await page.goto(`${server.url}#token=${token}`)
        await page.waitForSelector('#members tbody tr')
        first.push(nowMs() - started)
        // The page times itself: from the click's handler to the frame after the rows were painted.
        await page.click(`#feeds tr[data-feed="${self}"] button`)
        await page.waitForSelector('body[data-timeline-ms]', { state: 'attached', timeout: 60_000 })
        const drawn = await page.locator('#timeline-rows .row').count()
        if (drawn !== ENTRIES) throw new Error(`the timeline drew ${drawn} rows, not ${ENTRIES}`)
        timeline.push(Number(await page.getAttribute('body', 'data-timeline-ms')))
        await context.close()
      }
      await server.close()
      for (const [metric, samples] of [
        ['first render', first],
        [`timeline of ${ENTRIES} entries`, timeline]
      ] as const) {
        const sorted = [...samples].sort((a, b) => a - b)
        const median = sorted[Math.floor(sorted.length / 2)]!
        report({
          bench: 'console',
          metric,
          value: round(median, 1),
          unit: 'ms',
          peer: 'goal',
          peerValue: GOAL_MS,
          ratio: round(GOAL_MS / median, 2),
          min: round(sorted[0]!, 1),
          max: round(sorted[sorted.length - 1]!, 1),
          runs: RUNS
        })
      }
    } finally {
      await browser.close()
      await fleet.close()
      await rm(dir, { recursive: true, force: true })
    }
  }
}
