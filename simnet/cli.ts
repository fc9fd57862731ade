/**
 * `npm run simnet -- --scenario NAME [--nodes N] [--mode loopback|netns] [--seed S] [--minutes M] [--hostile] [--keep DIR] [--json]`
 * Runs a scenario on a fleet of agent processes, each with its own swtpm and state directory,
 * tears everything down afterwards (also on failure or Ctrl-C), and reports each check with its
 * time. With --json the last line is {scenario, nodes, passed, checks: [{name, passed, ms}]}, plus
 * what the scenario reports (chaos: seed, minutes, faults by kind). A failed run names its first
 * failed check, and its seed when it has one.
 */
import { Command, CommanderError } from 'commander'
import { ProcessFleet } from './process-fleet.js'
import { NetnsLan } from './netns.js'
import { NetnsSites } from './netns-sites.js'
import { SCENARIOS } from './scenarios/all.js'
import type { Check } from './scenarios/index.js'

async function main(argv: string[]): Promise<number> {
  const program = new Command('simnet')
    .description('run a scenario on a simulated fleet: agent processes with their own software TPMs')
    .requiredOption('--scenario <name>', `one of ${SCENARIOS.map((s) => s.name).join(', ')}`)
    .option('--nodes <n>', "number of agents (default: the scenario's)")
    .option(
      '--mode <mode>',
      'loopback (agents on 127.0.0.1, peers given by address) or netns (each agent in its own network namespace on a bridge, peers found by mDNS; root only)',
      'loopback'
    )
    .option(
      '--topology <topology>',
      "netns: lan (one bridge) or sites (two sites behind NAT and a WAN with the hubs); default: the scenario's"
    )
    .option('--entries <n>', 'multi-site: entries written at one site and checked at every agent (default 200)')
    .option('--seed <n>', 'chaos: the seed of the fault schedule, 0..4294967295 (default: random, printed)')
    .option('--minutes <m>', 'chaos: how long faults are injected, fractions allowed (default 1)')
    .option('--hostile', 'chaos: an equivocating peer (enrolled like the others) joins mid-run; it must be quarantined')
    .option('--keep <dir>', 'run in DIR and leave the state directories there for inspection with the fleet CLI')
    .option('--json', 'print the summary as one JSON line at the end')
    .exitOverride()
  try {
    program.parse(argv, { from: 'user' })
  } catch (err) {
    return err instanceof CommanderError && (err.code === 'commander.helpDisplayed' || err.code === 'commander.help')
      ? 0
      : 2
  }
  const options = program.opts<{
    scenario: string
    nodes?: string
    mode: string
    topology?: string
    entries?: string
    seed?: string
    minutes?: string
    hostile?: boolean
    keep?: string
    json?: boolean
  }>()
  const scenario = SCENARIOS.find((s) => s.name === options.scenario)
  if (scenario === undefined)
    return usage(`unknown scenario "${options.scenario}"; known: ${SCENARIOS.map((s) => s.name).join(', ')}`)
  if (options.mode !== 'loopback' && options.mode !== 'netns')
    return usage(`--mode must be loopback or netns, not ${options.mode}`)
  const topology = options.topology ?? scenario.topology ?? 'lan'
  if (topology !== 'lan' && topology !== 'sites') return usage(`--topology must be lan or sites, not ${topology}`)
  if (scenario.topology === 'sites' && topology !== 'sites' && scenario.lanBaseline !== true)
    return usage(`${scenario.name} runs on sites (--topology sites)`)
  // Sites are namespaces behind NAT: netns mode, whatever --mode said.
  const mode = topology === 'sites' ? 'netns' : options.mode
  if (mode === 'netns') {
    const missing = topology === 'sites' ? await NetnsSites.available() : await NetnsLan.available()
    if (missing !== undefined)
      return usage(
        `--mode netns${topology === 'sites' ? ' --topology sites' : ''} needs ${missing === 'not root' ? 'root' : missing}`
      )
  }
  const nodes = options.nodes === undefined ? scenario.defaultNodes : Number(options.nodes)
  if (!Number.isInteger(nodes) || nodes < scenario.minNodes || nodes > 64)
    return usage(`--nodes must be ${scenario.minNodes}..64 for ${scenario.name}`)

  const seed = options.seed === undefined ? undefined : Number(options.seed)
  if (seed !== undefined && !(/^\d+$/.test(options.seed!) && seed <= 0xffffffff))
    return usage(`--seed must be an integer 0..4294967295, not ${options.seed}`)
  const entries = options.entries === undefined ? undefined : Number(options.entries)
  if (entries !== undefined && !(/^\d+$/.test(options.entries!) && entries >= 1 && entries <= 1_000_000))
    return usage(`--entries must be an integer 1..1000000, not ${options.entries}`)
  const minutes = options.minutes === undefined ? undefined : Number(options.minutes)
  if (minutes !== undefined && !(minutes > 0 && minutes <= 24 * 60))
    return usage(`--minutes must be a number in (0, 1440], not ${options.minutes}`)

  const checks: Check[] = []
  const extra: Record<string, unknown> = {}
  const log = (text: string): void => {
    process.stderr.write(`simnet: ${text}\n`)
  }
  const fleet = await ProcessFleet.create(options.keep, { mode, topology })
  const teardown = (): void => {
    void fleet.close({ keep: options.keep !== undefined }).finally(() => process.exit(130))
  }
  process.once('SIGINT', teardown)
  process.once('SIGTERM', teardown)
  log(
    `${scenario.name}: ${scenario.description} (${nodes} agents, ${mode}${topology === 'sites' ? ' sites' : ''}, in ${fleet.root})`
  )
  try {
    await scenario.run({
      fleet,
      nodes,
      log,
      ...(seed === undefined ? {} : { seed }),
      ...(minutes === undefined ? {} : { minutes }),
      ...(options.hostile === true ? { hostile: true } : {}),
      ...(entries === undefined ? {} : { entries }),
      topology,
      report: (fields) => Object.assign(extra, fields),
      check: async (name, fn) => {
        const started = Date.now()
        let detail: string | undefined
        try {
          const reason = await fn()
          if (typeof reason === 'string') detail = reason
        } catch (err) {
          detail = err instanceof Error ? err.message : String(err)
        }
        const check: Check = { name, passed: detail === undefined, ms: Date.now() - started, detail }
        checks.push(check)
        log(`${check.passed ? 'pass' : 'FAIL'} ${name} (${check.ms} ms)${detail === undefined ? '' : `: ${detail}`}`)
        if (!check.passed) throw new ScenarioStopped()
        return true
      }
    })
  } catch (err) {
    if (!(err instanceof ScenarioStopped))
      checks.push({ name: 'scenario ran to the end', passed: false, ms: 0, detail: (err as Error).message })
  } finally {
    process.removeListener('SIGINT', teardown)
    process.removeListener('SIGTERM', teardown)
    await fleet.close({ keep: options.keep !== undefined })
  }
  const passed = checks.length > 0 && checks.every((c) => c.passed)
  if (options.keep !== undefined)
    log(`state left in ${fleet.root}: try ./bin/fleet ledger verify --state ${fleet.root}/dev1`)
  const failed = checks.find((c) => !c.passed)
  if (failed !== undefined)
    log(
      `${scenario.name} FAILED${extra.seed === undefined ? '' : ` with seed ${String(extra.seed)} (replay: --seed ${String(extra.seed)})`}: first failed check: ${failed.name}${failed.detail === undefined ? '' : `: ${failed.detail}`}`
    )
  if (options.json === true)
    process.stdout.write(`${JSON.stringify({ scenario: scenario.name, nodes, passed, checks, ...extra })}\n`)
  else
    process.stdout.write(
      `${scenario.name}: ${passed ? 'passed' : 'FAILED'} (${checks.filter((c) => c.passed).length}/${checks.length} checks)\n`
    )
  return passed ? 0 : 1
}

class ScenarioStopped extends Error {}

function usage(message: string): number {
  process.stderr.write(`simnet: ${message}\n`)
  return 2
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code
  },
  (err: unknown) => {
    process.stderr.write(`simnet: ${err instanceof Error ? err.message : String(err)}\n`)
    process.exitCode = 1
  }
)
