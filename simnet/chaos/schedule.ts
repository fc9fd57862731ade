/**
 * The fault campaign's schedule: a pure function of (seed, nodes, minutes, fault kinds), so the
 * same seed replays the same faults at the same times. Every fault is followed by its repair on
 * the same node, no node has two faults at once, one node is always left alone (someone keeps
 * the fleet's history while the others are hurt), and every repair falls within the fault phase:
 * the final heal finds nothing broken that the schedule did not already mend.
 */

/** What can be done to an agent. */
export const FAULT_KINDS = ['agent-kill', 'tpm-kill', 'disk-full', 'partition', 'slow-disk', 'clock-step'] as const
export type FaultKind = (typeof FAULT_KINDS)[number]

/** The repair that follows each kind of fault. */
export const REPAIR_OF: Record<FaultKind, string> = {
  'agent-kill': 'the agent restarted',
  'tpm-kill': 'the swtpm restarted and booted, then the agent',
  'disk-full': 'the space given back',
  partition: 'the blocks lifted and the peers dialled again',
  'slow-disk': 'the disk at its own pace again',
  'clock-step': 'the clock set right again'
}

export interface Fault {
  kind: FaultKind
  /** Index of the agent hurt (0-based). */
  node: number
  /** When the fault is injected, from the start of the fault phase. */
  atMs: number
  /** When it is repaired (after `atMs`, at most `faultPhaseMs`). */
  repairAtMs: number
}

export interface ChaosSchedule {
  seed: number
  nodes: number
  /** Faults by injection time. */
  faults: Fault[]
  /** The fault phase's length; the final heal and the checks follow it. */
  faultPhaseMs: number
  /**
   * When asked for (`hostile`): when a hostile peer (simnet's equivocating agent, enrolled like
   * the others) joins, within the first half of the fault phase. It stays: honest agents must
   * quarantine it, which is its only repair.
   */
  hostileJoinAtMs?: number
}

export interface ScheduleInit {
  /** An unsigned 32-bit integer. */
  seed: number
  nodes: number
  minutes: number
  kinds: readonly FaultKind[]
  /** Whether a hostile peer joins mid-run (drawn from a stream of its own: the faults stay as without). */
  hostile?: boolean
}

/** Bounds of the campaign, in milliseconds. */
export const SCHEDULE_LIMITS = {
  /** A fault lasts at least this long before its repair… */
  minFaultMs: 2_000,
  /** …and at most this long. */
  maxFaultMs: 8_000,
  /** The pause after a node's repair before it may be hurt again (it has to rejoin first). */
  settleMs: 3_000,
  /** The mean pause between two injections anywhere in the fleet. */
  meanGapMs: 4_000
} as const

/**
 * SplitMix64 (Steele, Lea and Flood, 2014): a tiny generator good enough for drawing schedules,
 * written out so that a seed means the same sequence on every platform. Returns numbers in [0, 1).
 */
export function seededRandom(seed: number): () => number {
  let state = BigInt.asUintN(64, BigInt(seed))
  return () => {
    state = BigInt.asUintN(64, state + 0x9e3779b97f4a7c15n)
    let z = state
    z = BigInt.asUintN(64, (z ^ (z >> 30n)) * 0xbf58476d1ce4e5b9n)
    z = BigInt.asUintN(64, (z ^ (z >> 27n)) * 0x94d049bb133111ebn)
    z ^= z >> 31n
    // The top 53 bits, as a double in [0, 1).
    return Number(z >> 11n) / 2 ** 53
  }
}

/** The schedule for a run. Throws RangeError on arguments no schedule can be drawn for. */
export function chaosSchedule(init: ScheduleInit): ChaosSchedule {
  const { seed, nodes, minutes, kinds } = init
  if (!Number.isInteger(seed) || seed < 0 || seed > 0xffffffff)
    throw new RangeError('the seed is a 32-bit unsigned integer')
  if (!Number.isInteger(nodes) || nodes < 2) throw new RangeError('a campaign needs at least 2 agents')
  if (!(minutes > 0) || minutes > 24 * 60) throw new RangeError('minutes must be in (0, 1440]')
  if (kinds.length === 0 || kinds.some((k) => !FAULT_KINDS.includes(k)))
    throw new RangeError('unknown or no fault kinds')
  const random = seededRandom(seed)
  const between = (low: number, high: number): number => low + Math.floor(random() * (high - low + 1))
  const faultPhaseMs = Math.round(minutes * 60_000)
  const { minFaultMs, maxFaultMs, settleMs, meanGapMs } = SCHEDULE_LIMITS
  // When each node may be hurt next.
  const freeAt = new Array<number>(nodes).fill(0)
  const faults: Fault[] = []
  let at = between(500, meanGapMs)
  while (at + minFaultMs <= faultPhaseMs) {
    const kind = kinds[between(0, kinds.length - 1)]!
    const duration = Math.min(between(minFaultMs, maxFaultMs), faultPhaseMs - at)
    // Nodes free now, leaving at least one node untouched throughout this fault.
    const hurt = faults.filter((f) => f.repairAtMs > at).length
    const free = freeAt.flatMap((t, node) => (t <= at ? [node] : []))
    if (hurt < nodes - 1 && free.length > 0) {
      const node = free[between(0, free.length - 1)]!
      faults.push({ kind, node, atMs: at, repairAtMs: at + duration })
      freeAt[node] = at + duration + settleMs
    }
    // Exponential gaps (a Poisson process of injections), at least half a second.
    at += Math.max(500, Math.round(-Math.log(1 - random()) * meanGapMs))
  }
  if (init.hostile !== true) return { seed, nodes, faults, faultPhaseMs }
  const joining = seededRandom(seed ^ 0x5eed_4057)
  const hostileJoinAtMs = Math.round(faultPhaseMs * (0.1 + 0.4 * joining()))
  return { seed, nodes, faults, faultPhaseMs, hostileJoinAtMs }
}

/** One step of a schedule as the runner takes them: an injection or a repair, by time. */
export interface ChaosStep {
  atMs: number
  action: 'inject' | 'repair'
  fault: Fault
}

/** The schedule's injections and repairs in the order they happen (a repair before an injection at the same time). */
export function chaosSteps(schedule: ChaosSchedule): ChaosStep[] {
  const steps: ChaosStep[] = schedule.faults.flatMap((fault) => [
    { atMs: fault.atMs, action: 'inject' as const, fault },
    { atMs: fault.repairAtMs, action: 'repair' as const, fault }
  ])
  return steps.sort((a, b) => a.atMs - b.atMs || (a.action === b.action ? 0 : a.action === 'repair' ? -1 : 1))
}

/** How many faults of each kind a schedule injects. */
export function faultsByKind(faults: readonly Fault[]): Record<string, number> {
  const counts: Record<string, number> = {}
  for (const fault of faults) counts[fault.kind] = (counts[fault.kind] ?? 0) + 1
  return counts
}
