/**
 * `node dist/scripts/console-screenshot.js [OUT.png]`: the screenshot of the web console in
 * docs/operations.md. A fleet of three agents on swtpm (as the demo makes), a clone attempt, a
 * revoked device and a boot the owner's new policy refuses, seen from the first agent's console
 * in headless Chromium.
 */
import { mkdtemp, readFile, rm } from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import { bootPolicyId, canonicalPolicyJson } from '../src/attest/index.js'
import { simulatedBootPolicy } from '../src/attest/simulated-boot.js'
import { ownerFeedId } from '../src/ledger/index.js'
import { startAgentConsole } from '../src/agent/console/index.js'
import { publishOwnerFeed } from '../src/agent/index.js'
import { SimFleet } from '../simnet/fleet.js'
import { findChromium, launchChromium } from '../simnet/chromium.js'

async function main(out: string): Promise<void> {
  const executable = findChromium()
  if (executable === undefined) throw new Error('no Chromium (apt-get install chromium)')
  const fleet = await SimFleet.create()
  const dir = await mkdtemp(path.join(os.tmpdir(), 'console-shot-'))
  const browser = await launchChromium(executable)
  try {
    const devices = await fleet.addEnrolled(3)
    const agents = []
    for (const device of devices) agents.push(await fleet.start(device))
    const [a, b, c] = agents as [(typeof agents)[0], (typeof agents)[0], (typeof agents)[0]]
    await a.node.dial(b.node.getMultiaddrs()[0]!)
    await a.node.dial(c.node.getMultiaddrs()[0]!)
    const peer = (x: typeof a): string => x.node.peerId.toString()
    await waitFor(() => a.attestation.attested(peer(b)) && a.attestation.attested(peer(c)))
    const clone = await fleet.addDevice('good')
    const impostor = await fleet.start(clone, { enrolment: devices[1]!.enrolment })
    await impostor.node.dial(a.node.getMultiaddrs()[0]!).catch(() => undefined)
    await fleet.revoke(devices[2]!.state.deviceId, [a.node.getMultiaddrs()[0]!])
    const owner = fleet.owner
    const policy = simulatedBootPolicy('new-kernel')
    await owner.feed.ledger.append({
      type: 'policy.set',
      actor: { id: 'owner/simnet', role: 'owner' },
      attest: null,
      body: { policyId: bootPolicyId(policy), policy: new Uint8Array(Buffer.from(canonicalPolicyJson(policy))) }
    })
    await owner.feed.ledger.checkpoint()
    const fleetId = new Uint8Array(Buffer.from(owner.state.fleetId, 'hex'))
    await publishOwnerFeed(owner.node, owner.feed.store, ownerFeedId(fleetId), owner.feed.ledger.sealedSize, [
      a.node.getMultiaddrs()[0]!
    ])
    await waitFor(() => a.attestation.list().some((p) => p.peerId === peer(b) && !p.trusted))
    await a.feed.ledger.checkpoint()
    const server = await startAgentConsole(a, {
      dir,
      deviceId: devices[0]!.state.deviceId,
      port: 0,
      stateDir: devices[0]!.dir
    })
    const token = (await readFile(path.join(dir, 'console.token'), 'utf8')).trim()
    const context = await browser.browser.newContext({ viewport: { width: 1400, height: 1100 } })
    const page = await context.newPage()
    await page.goto(`${server.url}#token=${token}`)
    await page.waitForSelector('#alerts li')
    await page.click(`#feeds tr[data-feed="${devices[0]!.state.deviceId}"] button`)
    await page.waitForSelector('#timeline-rows .row')
    await page.screenshot({ path: out, fullPage: false })
    await server.close()
    process.stderr.write(`wrote ${out}\n`)
  } finally {
    await browser.close()
    await fleet.close()
    await rm(dir, { recursive: true, force: true })
  }
}

async function waitFor(condition: () => boolean, ms = 60_000): Promise<void> {
  const started = Date.now()
  while (!condition()) {
    if (Date.now() - started > ms) throw new Error('timed out')
    await new Promise((resolve) => setTimeout(resolve, 100))
  }
}

main(process.argv[2] ?? 'docs/console.png').catch((err: unknown) => {
  process.stderr.write(`console-screenshot: ${(err as Error).message}\n`)
  process.exitCode = 1
})
