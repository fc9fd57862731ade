/**
 * Actors for tests of actions signed by their own hardware: the owner of a SimFleet enrols them in
 * its feed and hands the feed to an agent; a virtual security key in Chromium holds a software
 * authenticator's credential; the agent's approval page is answered as a person would.
 */
import assert from 'node:assert/strict'
import type { Page } from 'playwright-core'
import {
  Approvals,
  ownerFeedId,
  publishOwnerFeed,
  startControlServer,
  type Agent,
  type ApprovalsInit
} from '../../src/agent/index.js'
import { cryptoRandom } from '../../src/common/index.js'
import { decodeEntry, type Entry } from '../../src/ledger/index.js'
import { SimFleet, type SimDevice } from '../../simnet/fleet.js'
import type { AuthenticatorPage } from './browser.js'
import type { SoftwareAuthenticator } from './software-authenticator.js'
import { until } from './wait.js'

/** The actor.enrol body of a PKCS#11 token key (a SEC1 P-256 point). */
export const tokenActor = (actorId: string, publicKey: Uint8Array): Record<string, unknown> => ({
  actorId,
  role: 'operator',
  kind: 'pkcs11',
  publicKey,
  hardware: 'SoftHSM2 token "actors"'
})

/** The actor.enrol body of a security key for the agent's approval page (RP ID localhost). */
export const securityKeyActor = (actorId: string, key: SoftwareAuthenticator): Record<string, unknown> => ({
  actorId,
  role: 'operator',
  kind: 'webauthn',
  publicKey: key.publicKey,
  credentialId: key.credentialId,
  rpId: 'localhost',
  hardware: 'FIDO2 security key'
})

/** The owner enrols the actors in its feed (actor.enrol bodies) and hands the feed to `agent`, which then knows them. */
export async function enrolActors(
  fleet: SimFleet,
  agent: Agent,
  bodies: Array<Record<string, unknown>>
): Promise<void> {
  const owner = fleet.owner
  const actor = { id: 'owner/simnet', role: 'owner' }
  for (const body of bodies) await owner.feed.ledger.append({ type: 'actor.enrol', actor, attest: null, body })
  await owner.feed.ledger.checkpoint()
  const feed = ownerFeedId(new Uint8Array(Buffer.from(owner.state.fleetId, 'hex')))
  const address = agent.node.getMultiaddrs()[0]!
  const reached = await publishOwnerFeed(owner.node, owner.feed.store, feed, owner.feed.ledger.sealedSize, [address])
  assert.equal(reached.length, 1)
  await until(
    () => bodies.every((body) => agent.membership.actors.get(body.actorId as string) !== undefined),
    'the agent to know the enrolled actors'
  )
}

/** Puts `key`'s credential (for RP ID localhost) into the page's virtual authenticator. */
export async function holdCredential(on: AuthenticatorPage, key: SoftwareAuthenticator): Promise<void> {
  await on.cdp.send('WebAuthn.addCredential', {
    authenticatorId: on.authenticatorId,
    credential: {
      credentialId: Buffer.from(key.credentialId).toString('base64'),
      isResidentCredential: false,
      rpId: 'localhost',
      privateKey: key.privateKey.export({ format: 'der', type: 'pkcs8' }).toString('base64'),
      signCount: key.counter
    }
  })
}

/** Opens the approval page, presses the one pending action's button, and says how it ended (done, refused, failed). */
export async function pressApprove(page: Page, url: string): Promise<string> {
  await page.goto(url)
  await page.click('button[data-id]')
  const status = page.locator('button[data-id] + p.status')
  await page.waitForFunction(
    (element) => ['done', 'refused', 'failed'].includes(element?.dataset.outcome ?? ''),
    await status.elementHandle(),
    { timeout: 20_000 }
  )
  return (await status.getAttribute('data-outcome')) ?? ''
}

/** A control socket served in the test process, with its approval page when it has one. */
export interface ServedControl {
  readonly approvals: Approvals | undefined
  /** Closes the socket and stops the page. */
  close(): Promise<void>
}

/**
 * Serves the control socket of `runtime` (an agent, or one standing in for it) in `device`'s
 * directory, with an approval page on `agent`'s actors and feed when `page` is given.
 */
export async function serveControl(
  device: SimDevice,
  runtime: Agent,
  page?: Pick<ApprovalsInit, 'timeoutMs' | 'ceremonyTimeoutMs'>,
  agent: Agent = runtime
): Promise<ServedControl> {
  let approvals: Approvals | undefined
  if (page !== undefined) {
    approvals = new Approvals(
      { actors: agent.membership.actors, ledger: agent.feed.ledger, random: cryptoRandom },
      { port: 0, timeoutMs: page.timeoutMs, ceremonyTimeoutMs: page.ceremonyTimeoutMs }
    )
    await approvals.start()
  }
  const control = await startControlServer(runtime, device.dir, device.state.deviceId, { approvals })
  return {
    approvals,
    close: async () => {
      await control.close()
      await approvals?.stop()
    }
  }
}

/** A fleet of one enrolled device whose agent runs and knows the actors the owner enrolled (actor.enrol bodies). */
export async function agentWithActors(
  bodies: Array<Record<string, unknown>>
): Promise<{ fleet: SimFleet; device: SimDevice; agent: Agent }> {
  const fleet = await SimFleet.create()
  try {
    const [device] = (await fleet.addEnrolled(1)) as [SimDevice]
    const agent = await fleet.start(device)
    await enrolActors(fleet, agent, bodies)
    return { fleet, device, agent }
  } catch (err) {
    await fleet.close()
    throw err
  }
}

/** The entry at `seq` of `agent`'s own feed, decoded. */
export async function ownEntry(agent: Agent, seq: number): Promise<Entry> {
  return decodeEntry((await agent.feed.ledger.getEntry(seq))!).entry
}

/** The workload.* entries of the agent's own feed (its gate's records), decoded, in order. */
export async function workloadEntries(agent: Agent): Promise<Array<{ type: string; body: Record<string, unknown> }>> {
  const out: Array<{ type: string; body: Record<string, unknown> }> = []
  for (let seq = 0; seq < agent.feed.ledger.size; seq++) {
    const entry = await ownEntry(agent, seq)
    if (entry.type.startsWith('workload.')) out.push({ type: entry.type, body: entry.body as Record<string, unknown> })
  }
  return out
}
