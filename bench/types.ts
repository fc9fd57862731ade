/**
 * One result line of `npm run bench -- NAME --json`. `ratio` is how many times better than the
 * peer, measured in the same run (for rates ours/peer, for latencies peer/ours).
 */
export interface BenchLine {
  bench: string
  value: number
  unit: string
  peer: string
  peerValue: number
  ratio: number
  [extra: string]: unknown
}

export interface Bench {
  name: string
  description: string
  run(report: (line: BenchLine) => void): Promise<void>
}

export function round(value: number, digits = 3): number {
  const factor = 10 ** digits
  return Math.round(value * factor) / factor
}

export function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return Number.NaN
  const index = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))
  return sorted[index]!
}

export function nowMs(): number {
  return Number(process.hrtime.bigint()) / 1e6
}
