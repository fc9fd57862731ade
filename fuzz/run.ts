/**
 * Coverage-guided fuzzing of the decoders with Jazzer.js (libFuzzer).
 *
 *   npm run fuzz -- NAME|all [--runs N] [--time SECONDS] [--parallel K] [--timeout MS] [--seed S] [--verbose]
 *   npm run fuzz -- --list
 *
 * Each target runs in its own process, seeded from ../shared/testdata (read in place) and from
 * generated samples (fuzz/corpus.ts); inputs that reach new coverage are kept in dist/fuzz-work/NAME/corpus and
 * reused by later runs. Prints one summary line per target; exits 1 on a finding (an error that
 * is not a FleetError, a per-input timeout or a crash), with the reproducer saved under
 * dist/fuzz-work/NAME/ and shown in hex.
 */
import { spawn } from 'node:child_process'
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { prepareSeeds, TARGETS } from './corpus.js'

const HERE = import.meta.dirname
const ROOT = path.resolve(HERE, '..', '..')
export const WORK = path.join(ROOT, 'dist', 'fuzz-work')

export interface FuzzOptions {
  runs?: number
  time?: number
  timeoutMs?: number
  seed?: number
  verbose?: boolean
  /** More libFuzzer flags, after the ones set here. */
  libFuzzerFlags?: string[]
  /** Where the corpus and reproducers are kept: `work`/NAME (default WORK). */
  work?: string
}

export interface FuzzResult {
  target: string
  ok: boolean
  exitCode: number | null
  runs: number
  seconds: number
  wallSeconds: number
  /** Inputs per second, over the fuzzing time libFuzzer reports (whole seconds); undefined under a second. */
  execPerSec: number | undefined
  cov: number
  ft: number
  corpus: string
  /** The reproducer, when there is a finding. */
  artifact?: string
  artifactHex?: string
  /** The fuzzer's report of the finding. */
  report?: string
  /** Sessions that ended without a finding before the asked number of runs, with their last lines. */
  earlyEnds?: string[]
}

/** How many more sessions a target gets when one ends without a finding short of its runs. */
const EARLY_END_RESUMES = 3

/**
 * Runs one target in a child process. A session asked for N runs that ends with exit 0 short of
 * N (libFuzzer's graceful exit on a request) is resumed from the corpus it grew, for the runs
 * still owed, at most EARLY_END_RESUMES times; each such end is kept in `earlyEnds`.
 */
export async function fuzzTarget(name: string, options: FuzzOptions = {}): Promise<FuzzResult> {
  const wanted = options.time === undefined ? options.runs : undefined
  const short = (r: FuzzResult & { tail?: string }): boolean => r.ok && wanted !== undefined && r.tail !== undefined
  let result = await fuzzSession(name, options)
  const earlyEnds: string[] = []
  for (let round = 1; short(result); round++) {
    earlyEnds.push(`ended with exit 0 after ${result.runs} of ${wanted} runs:\n${result.tail}`)
    if (round > EARLY_END_RESUMES) break
    const more = await fuzzSession(name, { ...options, runs: wanted! - result.runs, seed: (options.seed ?? 0) + round })
    result = {
      ...more,
      runs: result.runs + more.runs,
      seconds: result.seconds + more.seconds,
      wallSeconds: result.wallSeconds + more.wallSeconds
    }
    result.execPerSec = result.seconds > 0 ? Math.round(result.runs / result.seconds) : undefined
  }
  delete result.tail
  if (earlyEnds.length > 0) result.earlyEnds = earlyEnds
  return result
}

async function fuzzSession(name: string, options: FuzzOptions): Promise<FuzzResult & { tail?: string }> {
  const spec = TARGETS[name]
  if (spec === undefined) throw new Error(`unknown fuzz target "${name}" (known: ${Object.keys(TARGETS).join(', ')})`)
  const work = path.join(options.work ?? WORK, name)
  const seeds = mkdtempSync(path.join(tmpdir(), `fleet-fuzz-seeds-${name}-`))
  const corpus = path.join(work, 'corpus')
  const artifacts = path.join(work, 'artifacts')
  mkdirSync(corpus, { recursive: true })
  mkdirSync(artifacts, { recursive: true })
  const { shared } = await prepareSeeds(name, seeds)
  const before = new Set(readdirSync(artifacts))

  const libFuzzer = [`-artifact_prefix=${artifacts}${path.sep}`, '-print_final_stats=1', `-seed=${options.seed ?? 0}`]
  if (options.runs !== undefined) libFuzzer.push(`-runs=${options.runs}`)
  if (options.time !== undefined) libFuzzer.push(`-max_total_time=${options.time}`)
  if (shared.length > 0) libFuzzer.push(`-seed_inputs=${shared.join(',')}`)
  libFuzzer.push(...(options.libFuzzerFlags ?? []))
  const args = [
    path.join(HERE, 'jazzer.js'),
    path.join(HERE, 'targets', `${name}.js`),
    corpus,
    seeds,
    '--timeout',
    String(options.timeoutMs ?? 10_000),
    '-i',
    path.join(ROOT, 'dist'),
    // Decoders are given paths by design (a config file names the state directory): not a finding here.
    '--disable_bug_detectors',
    'path-traversal',
    ...(spec.async === true ? [] : ['--sync']),
    '--',
    ...libFuzzer
  ]
  const started = Date.now()
  const child = spawn(process.execPath, args, { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] })
  let output = ''
  const collect = (chunk: Buffer): void => {
    output += chunk.toString()
    if (output.length > 4_000_000) output = output.slice(-2_000_000)
    if (options.verbose === true) process.stderr.write(chunk)
  }
  child.stdout.on('data', collect)
  child.stderr.on('data', collect)
  const exitCode = await new Promise<number | null>((resolve) => {
    child.on('error', (err) => {
      output += `\nspawn failed: ${err.message}\n`
      resolve(null)
    })
    child.on('close', (code, signal) => resolve(code ?? (signal === null ? null : 128)))
  })
  const wallSeconds = (Date.now() - started) / 1000
  rmSync(seeds, { recursive: true, force: true })

  const done = /Done (\d+) runs in (\d+) second/.exec(output)
  const stats = [...output.matchAll(/#(\d+)\s+\S+\s+cov: (\d+) ft: (\d+) corp: (\S+)/g)].at(-1)
  const finalRuns = /stat::number_of_executed_units:\s*(\d+)/.exec(output)
  const runs = Number(done?.[1] ?? finalRuns?.[1] ?? stats?.[1] ?? 0)
  const seconds = Number(done?.[2] ?? 0)
  const result: FuzzResult & { tail?: string } = {
    target: name,
    ok: exitCode === 0,
    exitCode,
    runs,
    seconds,
    wallSeconds,
    execPerSec: seconds > 0 ? Math.round(runs / seconds) : undefined,
    cov: Number(stats?.[2] ?? 0),
    ft: Number(stats?.[3] ?? 0),
    corpus: stats?.[4] ?? '?'
  }
  if (!result.ok) {
    const fresh = readdirSync(artifacts)
      .filter((f) => !before.has(f))
      .map((f) => path.join(artifacts, f))
    const artifact = fresh.sort((a, b) => statSync(b).mtimeMs - statSync(a).mtimeMs)[0]
    if (artifact !== undefined) {
      result.artifact = artifact
      result.artifactHex = readFileSync(artifact).toString('hex')
    }
    const lines = output.split('\n').filter((l) => !/^#\d+\s|^INFO:|^\s*$|Recommended dictionary|^".*" # Uses/.test(l))
    result.report = lines.slice(-60).join('\n')
  } else if (options.runs !== undefined && runs < options.runs) {
    result.tail = output
      .split('\n')
      .filter((l) => !/^\s*$/.test(l))
      .slice(-15)
      .join('\n')
  }
  return result
}

export function formatResult(r: FuzzResult): string {
  const execPerSec = (r.execPerSec === undefined ? '<1s' : String(r.execPerSec)).padStart(7)
  const head = [
    `${r.ok ? 'ok     ' : 'FINDING'} ${r.target.padEnd(15)} ${String(r.runs).padStart(10)} runs`,
    `${execPerSec} exec/s`,
    `${r.wallSeconds.toFixed(1).padStart(7)} s wall`,
    `cov ${r.cov} ft ${r.ft} corpus ${r.corpus}`
  ].join('  ')
  const early = (r.earlyEnds ?? []).map((e) => `  session ${e.replaceAll('\n', '\n    ')}`)
  if (r.ok) return [head, ...early].join('\n')
  return [
    head,
    ...early,
    `  exit code ${r.exitCode}`,
    r.artifact !== undefined
      ? `  reproducer ${r.artifact}\n  hex ${r.artifactHex!.slice(0, 4096)}`
      : '  (no reproducer file)',
    r.report ?? ''
  ].join('\n')
}

/** Runs targets with at most `parallel` processes at once, in the given order. */
export async function fuzzTargets(
  names: string[],
  options: FuzzOptions & { parallel?: number },
  each?: (r: FuzzResult) => void
): Promise<FuzzResult[]> {
  const results: FuzzResult[] = new Array(names.length)
  let next = 0
  const worker = async (): Promise<void> => {
    while (next < names.length) {
      const i = next++
      results[i] = await fuzzTarget(names[i]!, options)
      each?.(results[i]!)
    }
  }
  await Promise.all(Array.from({ length: Math.max(1, options.parallel ?? 1) }, worker))
  return results
}

async function main(argv: string[]): Promise<number> {
  const options: FuzzOptions & { parallel?: number } = {}
  const names: string[] = []
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!
    const value = (): number => {
      const v = Number(argv[++i])
      if (!Number.isFinite(v) || v < 0) throw new Error(`${arg} needs a number`)
      return v
    }
    if (arg === '--runs') options.runs = value()
    else if (arg === '--time') options.time = value()
    else if (arg === '--parallel') options.parallel = value()
    else if (arg === '--timeout') options.timeoutMs = value()
    else if (arg === '--seed') options.seed = value()
    else if (arg === '--verbose') options.verbose = true
    else if (arg === '--list') {
      console.log(Object.keys(TARGETS).join('\n'))
      return 0
    } else if (arg.startsWith('-')) throw new Error(`unknown option ${arg}`)
    else names.push(arg)
  }
  if (names.length === 0)
    throw new Error(
      'usage: npm run fuzz -- NAME|all [--runs N] [--time SECONDS] [--parallel K] [--timeout MS] [--seed S] [--verbose] | --list'
    )
  const targets = names.includes('all') ? Object.keys(TARGETS) : names
  for (const t of targets)
    if (TARGETS[t] === undefined)
      throw new Error(`unknown fuzz target "${t}" (known: ${Object.keys(TARGETS).join(', ')})`)
  if (options.runs === undefined && options.time === undefined) options.runs = 10_000
  const results = await fuzzTargets(targets, options, (r) => console.log(formatResult(r)))
  const findings = results.filter((r) => !r.ok)
  const total = results.reduce((n, r) => n + r.runs, 0)
  console.log(
    `fuzz: ${results.length} targets, ${total} inputs, ${findings.length} with findings${findings.length > 0 ? `: ${findings.map((r) => r.target).join(', ')}` : ''}`
  )
  return findings.length > 0 ? 1 : 0
}

if (process.argv[1] !== undefined && path.resolve(process.argv[1]) === path.join(HERE, 'run.js')) {
  main(process.argv.slice(2)).then(
    (code) => {
      process.exitCode = code
    },
    (err: Error) => {
      console.error(`fuzz: ${err.message}`)
      process.exitCode = 2
    }
  )
}
