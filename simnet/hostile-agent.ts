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
import { runAgent, type RunOptions } from '../src/cli/commands/agent.js'
import { Equivocator, QuoteRelay } from './hostile.js'
import type { AgentRuntime } from '../src/agent/index.js'

function parse (argv: string[]): { run: RunOptions, mode: string, victims: number } {
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
    else if (arg === '--peer') (run.peer ??= []).push(value())
    else if (arg === '--json') run.json = true
    else throw new Error(`unknown option ${arg}`)
  }
  if (mode !== 'equivocate' && mode !== 'relay-quote') throw new Error('--mode must be equivocate or relay-quote')
  if (run.state === '' || !Number.isSafeInteger(victims) || victims < 1) throw new Error('--state and a positive --victims are required')
  return { run, mode, victims }
}

/** What the hostile agent did, as a JSON line on stderr (simnet reads it). */
const say = (mode: string, what: Record<string, unknown>): void => { process.stderr.write(`${JSON.stringify({ hostile: mode, ...what })}\n`) }

/** Calls `then` with the attested peers once every peer given with --peer attested this agent. */
function whenAttested (runtime: AgentRuntime, expected: number, then: (attested: string[]) => void): void {
  const timer = setInterval(() => {
    const attested = runtime.node.getConnections().map((c) => c.remotePeer.toString()).filter((id, i, all) => all.indexOf(id) === i && runtime.attestation.attested(id)).sort()
    if (attested.length < Math.max(1, expected)) return
    clearInterval(timer)
    then(attested)
  }, 200)
}

async function main (): Promise<void> {
  const { run, mode, victims } = parse(process.argv.slice(2))
  const expected = run.peer?.length ?? 0
  if (mode === 'relay-quote') {
    const relay = new QuoteRelay()
    await runAgent(run, {
      wrapTpm: (tpm) => relay.wrap(tpm),
      onRuntime: (runtime) => { whenAttested(runtime, expected, (attested) => { relay.armed = true; say(mode, { armed: true, attestedBy: attested }) }) }
    })
    return
  }
  const equivocator = new Equivocator()
  await runAgent(run, {
    hooks: equivocator.hooks,
    onRuntime: (runtime, signer) => {
      whenAttested(runtime, expected, (attested) => {
        // Let the honest history replicate first, so the fork contradicts what peers hold.
        setTimeout(() => {
          void equivocator.equivocate(runtime, signer, attested.slice(0, victims)).then(
            (size) => { say(mode, { forkSize: size, victims: attested.slice(0, victims) }) },
            (err: Error) => { say(mode, { error: err.message }) }
          )
        }, 3_000)
      })
    }
  })
}

main().catch((err: Error) => {
  process.stderr.write(`hostile-agent: ${err.message}\n`)
  process.exitCode = 1
})
