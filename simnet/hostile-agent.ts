/**
 * A test-only hostile agent process for simnet (never installed as `fleet`):
 *
 *   node dist/simnet/hostile-agent.js --mode equivocate|relay-quote [--victims K] [fleet run options…]
 *
 * It runs exactly like `fleet run` (same key release, same runtime) and then misbehaves:
 * - `equivocate` waits until every peer given with --peer has attested it, lets its feed
 *   replicate, then signs a second history of its feed shown only to K of them;
 * - `relay-quote` attests honestly to the peers given with --peer, then answers every later
 *   challenge (new connections, re-attestation) with the quote it made for the first session.
 * See hostile.ts.
 */
import { multiaddr } from '@multiformats/multiaddr'
import { readFile } from 'node:fs/promises'
import { EsysTpm, type Tpm } from '../src/attest/index.js'
import {
  AGENT_BUFFER_POOL_BYTES,
  createLogger,
  loadConfig,
  readDeviceState,
  startDeviceAgent,
  type Agent,
  type AgentComponents,
  type RunningDevice
} from '../src/agent/index.js'
import type { HybridSigner } from '../src/identity/index.js'
import { Equivocator, QuoteRelay } from './hostile.js'

interface RunOptions {
  state: string
  eventlog?: string
  listen?: string
  peer?: string[]
  json?: boolean
}

function parse(argv: string[]): { run: RunOptions; mode: string; victims: number } {
  const run: RunOptions = { state: '' }
  let mode = ''
  let victims = 1
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!
    const value = (): string => {
      const v = argv[++i]
      if (v === undefined) throw new Error(`${arg} needs a value`)
      return v
    }
    if (arg === '--mode') mode = value()
    else if (arg === '--victims') victims = Number(value())
    else if (arg === '--state') run.state = value()
    else if (arg === '--eventlog') run.eventlog = value()
    else if (arg === '--listen') run.listen = value()
    else if (arg === '--peer') run.peer = [...(run.peer ?? []), value()]
    else if (arg === '--json') run.json = true
    else throw new Error(`unknown option ${arg}`)
  }
  if (mode !== 'equivocate' && mode !== 'relay-quote') throw new Error('--mode must be equivocate or relay-quote')
  if (run.state === '' || !Number.isSafeInteger(victims) || victims < 1)
    throw new Error('--state and a positive --victims are required')
  return { run, mode, victims }
}

/** What the hostile agent did, as a JSON line on stderr (simnet reads it). */
const say = (mode: string, what: Record<string, unknown>): void => {
  process.stderr.write(`${JSON.stringify({ hostile: mode, ...what })}\n`)
}

/** Listeners of the agent's peers' verdicts (its onPeersChange). */
const peersChanged = new Set<() => void>()

/**
 * Calls `then` with the attested peers once every peer given with --peer attested this agent
 * (looked at now and on each change of the peers' verdicts).
 */
function whenAttested(runtime: Agent, expected: number, then: (attested: string[]) => void): void {
  const check = (): void => {
    const attested = runtime.node
      .getConnections()
      .map((c) => c.remotePeer.toString())
      .filter((id, i, all) => all.indexOf(id) === i && runtime.attestation.attested(id))
      .sort()
    if (attested.length < Math.max(1, expected)) return
    peersChanged.delete(check)
    then(attested)
  }
  peersChanged.add(check)
  check()
}

/**
 * Runs the agent as `fleet run` does (same key release, same service), with the hostile mode's
 * components, until SIGTERM. `then` sees the running agent.
 */
async function run(
  options: RunOptions,
  components: Omit<AgentComponents, 'tpm' | 'logger'>,
  wrapTpm: (tpm: Tpm) => Tpm,
  then: (agent: Agent, signer: HybridSigner) => void
): Promise<void> {
  Buffer.poolSize = AGENT_BUFFER_POOL_BYTES
  for (const address of options.peer ?? []) multiaddr(address)
  const state = await readDeviceState(options.state)
  const config = await loadConfig({
    env: { ...process.env, FLEET_TCTI: process.env.FLEET_TCTI ?? state.tcti },
    flags: { state: options.state, listen: options.listen === undefined ? undefined : [options.listen] }
  })
  const logger = createLogger({ level: config.logLevel, pretty: false })
  const tpm = await EsysTpm.open({ tcti: config.tcti })
  const eventLog = options.eventlog
  let running: RunningDevice | undefined
  try {
    running = await startDeviceAgent(
      { ...components, tpm: wrapTpm(tpm), logger },
      {
        dir: options.state,
        state,
        config,
        peers: options.peer,
        onPeersChange: () => {
          for (const check of [...peersChanged]) check()
        },
        eventLog: async () => (eventLog === undefined ? new Uint8Array() : new Uint8Array(await readFile(eventLog)))
      }
    )
    if (running.agent === undefined) throw new Error('the hostile agent is not enrolled')
    process.stdout.write(`${JSON.stringify(running.status)}\n`)
    then(running.agent, running.signer)
    await new Promise<void>((resolve) => {
      process.once('SIGTERM', () => resolve())
      process.once('SIGINT', () => resolve())
    })
  } finally {
    await running?.stop()
    await tpm.close()
  }
}

async function main(): Promise<void> {
  const { run: options, mode, victims } = parse(process.argv.slice(2))
  const expected = options.peer?.length ?? 0
  if (mode === 'relay-quote') {
    const relay = new QuoteRelay()
    await run(
      options,
      {},
      (tpm) => relay.wrap(tpm),
      (agent) => {
        whenAttested(agent, expected, (attested) => {
          relay.armed = true
          say(mode, { armed: true, attestedBy: attested })
        })
      }
    )
    return
  }
  const equivocator = new Equivocator()
  await run(
    options,
    { ownFeedServer: equivocator.ownFeedServer },
    (tpm) => tpm,
    (agent, signer) => {
      whenAttested(agent, expected, (attested) => {
        // The honest history replicates first (an entry of its own and the verdicts recorded with
        // it, sealed and served to every attested peer), so that the fork contradicts what peers hold.
        void (async () => {
          await agent.feed.ledger.append({
            type: 'alert.tamper',
            actor: { id: `agent/${agent.feed.ledger.feedId}`, role: 'agent' },
            attest: null,
            body: { subject: agent.feed.ledger.feedId, pcr: 7, detail: 'before-the-fork' }
          })
          await agent.feed.ledger.checkpoint()
          await equivocator.whenServed(attested, agent.feed.ledger.sealedSize)
          return await equivocator.equivocate(agent, signer, attested.slice(0, victims))
        })().then(
          (size) => {
            say(mode, { forkSize: size, victims: attested.slice(0, victims) })
          },
          (err: Error) => {
            say(mode, { error: err.message })
          }
        )
      })
    }
  )
}

main().catch((err: Error) => {
  process.stderr.write(`hostile-agent: ${err.message}\n`)
  process.exitCode = 1
})
