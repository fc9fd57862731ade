/**
 * `npm run bench -- [NAME…] [--json]`: runs the named benches (all when none is named).
 * With --json each result is one JSON object per line on stdout; progress goes to stderr.
 */
import type { Bench, BenchLine } from './types.js'
import { quoteVerifyBench } from './quote-verify.js'
import { tpmSignBench } from './tpm-sign.js'
import { eventlogReplayBench } from './eventlog-replay.js'
import { ledgerAppendBench } from './ledger-append.js'
import { crashBench } from './crash.js'
import { handshakeBench } from './handshake.js'
import { replicationBench, convergenceBench } from './replication.js'
import { scaleBench } from './scale.js'
import { memoryBench } from './memory.js'
import { actorSignBench } from './actor-sign.js'
import { gateBench } from './gate.js'
import { earBench } from './ear.js'
import { sinkBench } from './sink.js'
import { chaosBench } from './chaos.js'
import { consoleBench } from './console.js'
import { multiSiteBench } from './multi-site.js'

const benches: Bench[] = [
  quoteVerifyBench,
  tpmSignBench,
  eventlogReplayBench,
  ledgerAppendBench,
  crashBench,
  handshakeBench,
  replicationBench,
  convergenceBench,
  scaleBench,
  memoryBench,
  actorSignBench,
  gateBench,
  earBench,
  sinkBench,
  chaosBench,
  consoleBench,
  multiSiteBench
]

async function main(argv: string[]): Promise<number> {
  const json = argv.includes('--json')
  const names = argv.filter((arg) => !arg.startsWith('--'))
  if (argv.includes('--help') || argv.includes('-h')) {
    process.stdout.write(
      `usage: npm run bench -- [NAME…] [--json]\n\n${benches.map((b) => `  ${b.name.padEnd(16)} ${b.description}`).join('\n')}\n`
    )
    return 0
  }
  const unknown = names.filter((name) => !benches.some((b) => b.name === name))
  if (unknown.length > 0) {
    process.stderr.write(
      `bench: unknown bench ${unknown.join(', ')}; known: ${benches.map((b) => b.name).join(', ')}\n`
    )
    return 2
  }
  const selected = names.length === 0 ? benches : benches.filter((b) => names.includes(b.name))
  let failed = 0
  for (const bench of selected) {
    process.stderr.write(`bench: ${bench.name}: ${bench.description}\n`)
    try {
      await bench.run((line: BenchLine) => {
        process.stdout.write(json ? `${JSON.stringify(line)}\n` : `${formatLine(line)}\n`)
      })
    } catch (err) {
      failed++
      process.stderr.write(`bench: ${bench.name} failed: ${(err as Error).message}\n`)
    }
  }
  return failed === 0 ? 0 : 1
}

function formatLine(line: BenchLine): string {
  const metric = typeof line.metric === 'string' ? ` ${line.metric}` : ''
  return `${line.bench}${metric}: ${line.value} ${line.unit}  (${line.peer}: ${line.peerValue} ${line.unit}; ${line.ratio}x)`
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code
  },
  (err: unknown) => {
    process.stderr.write(`bench: ${String(err)}\n`)
    process.exitCode = 1
  }
)
