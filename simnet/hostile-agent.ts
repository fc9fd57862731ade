/**
 * A test-only hostile agent process for simnet (never installed as `fleet`):
 *
 *   node dist/simnet/hostile-agent.js --mode equivocate --victims K [fleet run options…]
 *
 * It runs exactly like `fleet run` (same key release, same runtime) and then misbehaves:
 * `equivocate` waits until every peer given with --peer has attested it, lets its feed replicate,
 * then signs a second history of its feed shown only to K of them (see hostile.ts).
 */
import { runAgent, type RunOptions } from '../src/cli/commands/agent.js'
import { Equivocator } from './hostile.js'

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
  if (mode !== 'equivocate') throw new Error('--mode must be equivocate')
  if (run.state === '' || !Number.isSafeInteger(victims) || victims < 1) throw new Error('--state and a positive --victims are required')
  return { run, mode, victims }
}

async function main (): Promise<void> {
  const { run, victims } = parse(process.argv.slice(2))
  const equivocator = new Equivocator()
  await runAgent(run, {
    hooks: equivocator.hooks,
    onRuntime: (runtime, signer) => {
      const expected = run.peer?.length ?? 0
      const timer = setInterval(() => {
        const attested = runtime.node.getConnections().map((c) => c.remotePeer.toString()).filter((id, i, all) => all.indexOf(id) === i && runtime.attestation.attested(id)).sort()
        if (attested.length < Math.max(1, expected)) return
        clearInterval(timer)
        // Let the honest history replicate first, so the fork contradicts what peers hold.
        setTimeout(() => {
          void equivocator.equivocate(runtime, signer, attested.slice(0, victims)).then(
            (size) => { process.stderr.write(`${JSON.stringify({ hostile: 'equivocate', forkSize: size, victims: attested.slice(0, victims) })}\n`) },
            (err: Error) => { process.stderr.write(`${JSON.stringify({ hostile: 'equivocate', error: err.message })}\n`) }
          )
        }, 3_000)
      }, 200)
    }
  })
}

main().catch((err: Error) => {
  process.stderr.write(`hostile-agent: ${err.message}\n`)
  process.exitCode = 1
})
