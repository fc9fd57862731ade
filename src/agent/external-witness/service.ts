/**
 * Submits this device's checkpoints to the external witnesses the owner listed (c2sp.org/tlog-witness)
 * and keeps their verified cosignatures on the stored notes. Never in the way of appends: it reads
 * the newest sealed checkpoint on its own schedule; one request in flight per witness, the newest
 * checkpoint taken when one finishes (those sealed meanwhile are skipped); every request has a
 * deadline and a cap on its answer; a failing witness is retried with backoff.
 */
import { steadyClock, type Clock } from '../../common/index.js'
import {
  CosignatureRejectedError,
  cosignersAmong,
  encodeAddCheckpoint,
  parseCheckpoint,
  parseConflictSize,
  parseCosignatureLines,
  verifyCosignature,
  withoutCosignatures,
  TLOG_WITNESS_LIMITS,
  type FeedLedger,
  type FeedSource,
  type Ontology
} from '../../ledger/index.js'
import type { Logger } from '../ops/index.js'
import { WitnessRefusedError } from './errors.js'
import { postToWitness, type Fetch, type WitnessAnswer } from './http.js'
import { EXTERNAL_WITNESS_LIMITS } from './limits.js'
import { AlertLimiter, judgeRefusal, type WitnessVerdict } from './split-view.js'
import { definesWellKnown, type ExternalWitness } from './statements.js'

export interface ExternalWitnessingComponents {
  /** This device's own feed. */
  ledger: FeedLedger
  /** The own feed as stored (consistency proofs; the cosignature lines are added to its notes). */
  source: FeedSource
  /** The external witnesses in force (read at every round: a witness the owner adds is taken at once). */
  witnesses: () => readonly ExternalWitness[]
  /** The ontology in force (an alert is recorded only when it defines alert.external_witness as the well-known one). */
  ontology: () => Ontology
  /** Compared with the witnesses' timestamps. */
  clock: Clock
  /** For backoff and retries: a clock that never steps. Default: steadyClock. */
  steady?: Clock
  /** Default: globalThis.fetch. */
  fetch?: Fetch
  logger?: Logger
}

export interface ExternalWitnessingInit {
  feedId: string
  /** How often the newest checkpoint is looked at (default 1 s; 0: only when sync() is called). */
  intervalMs?: number
  /** One request's deadline (default EXTERNAL_WITNESS_LIMITS.requestTimeoutMs). */
  timeoutMs?: number
}

/** What `fleet status` shows of one external witness. */
export interface ExternalWitnessStatus {
  name: string
  url: string
  /** The largest checkpoint size it cosigned since start. */
  cosignedSize?: number
  /** Its newest cosignature's time, ISO 8601. */
  cosignedAt?: string
  failures: number
  lastError?: string
  /** The last split view it showed: when, and why it is one. */
  splitView?: { at: string; detail: string }
}

interface WitnessState {
  witness: ExternalWitness
  /** The witness's latest cosigned size of this feed, as known here (0: unknown or none). */
  witnessSize: number
  cosignedSize?: number
  lastTimestamp?: bigint
  running?: Promise<void>
  again: boolean
  failures: number
  retryAt: number
  lastError?: string
  splitView?: { at: number; detail: string }
}

/** A witness's state is kept while the owner's statement about it stands as it is (a new URL or key starts afresh). */
const stateKey = (w: ExternalWitness): string => `${w.name}\n${w.vkey}\n${w.url}`

export class ExternalWitnessing {
  private readonly c: ExternalWitnessingComponents
  private readonly init: ExternalWitnessingInit
  private readonly states = new Map<string, WitnessState>()
  private readonly alerts = new AlertLimiter()
  private readonly stopping = new AbortController()
  /** Every submission running, also to a witness removed meanwhile (stop() waits for them all). */
  private readonly inFlight = new Set<Promise<void>>()
  private timer: NodeJS.Timeout | undefined
  private state: 'new' | 'started' | 'stopped' = 'new'
  /** Outcomes since start, by witness name: cosigned, failed, split-view. */
  readonly counts = new Map<string, { cosigned: number; failed: number; splitView: number }>()

  constructor(components: ExternalWitnessingComponents, init: ExternalWitnessingInit) {
    this.c = components
    this.init = init
  }

  /** Idempotent. */
  start(): void {
    if (this.state !== 'new') return
    this.state = 'started'
    const interval = this.init.intervalMs ?? 1_000
    if (interval > 0) {
      this.timer = setInterval(() => this.poke(), interval)
      this.timer.unref()
    }
  }

  /** Stops submitting; resolves once the requests in flight have ended (they are aborted). Idempotent. */
  async stop(): Promise<void> {
    if (this.state === 'stopped') return
    this.state = 'stopped'
    clearInterval(this.timer)
    this.stopping.abort()
    await Promise.all(this.inFlight)
  }

  /** Starts a submission to each witness that lacks the newest checkpoint and is not waiting out a failure. */
  poke(): void {
    if (this.state === 'stopped') return
    const sealed = this.c.ledger.sealedSize
    const listed = new Map(this.c.witnesses().map((w) => [stateKey(w), w]))
    for (const key of this.states.keys()) if (!listed.has(key)) this.states.delete(key)
    const now = (this.c.steady ?? steadyClock).now()
    for (const [key, witness] of listed) {
      let state = this.states.get(key)
      if (state === undefined) {
        state = { witness, witnessSize: 0, again: false, failures: 0, retryAt: 0 }
        this.states.set(key, state)
      }
      if (sealed === 0 || (state.cosignedSize ?? -1) >= sealed || now < state.retryAt) continue
      if (state.running !== undefined) {
        state.again = true
        continue
      }
      const running = this.run(state).finally(() => {
        if (state.running === running) state.running = undefined
        this.inFlight.delete(running)
      })
      state.running = running
      this.inFlight.add(running)
    }
  }

  /** Submits the newest checkpoint to every witness due, and resolves once they answered (tests, tools). */
  async sync(options: { signal?: AbortSignal } = {}): Promise<void> {
    this.poke()
    while (true) {
      options.signal?.throwIfAborted()
      if (this.inFlight.size === 0) return
      await Promise.all(this.inFlight)
    }
  }

  /** The witnesses in force, as submitting to them went (one not tried yet shows no failures and no size). */
  status(): ExternalWitnessStatus[] {
    return this.c.witnesses().map((witness) => {
      const s = this.states.get(stateKey(witness))
      return {
        name: witness.name,
        url: witness.url,
        cosignedSize: s?.cosignedSize,
        cosignedAt: s?.lastTimestamp === undefined ? undefined : new Date(Number(s.lastTimestamp) * 1000).toISOString(),
        failures: s?.failures ?? 0,
        lastError: s?.lastError,
        splitView:
          s?.splitView === undefined
            ? undefined
            : { at: new Date(s.splitView.at).toISOString(), detail: s.splitView.detail }
      }
    })
  }

  /** The external witnesses in force whose cosignature on the newest stored checkpoint verifies. */
  async cosignersOfNewest(): Promise<string[]> {
    const note = await this.c.ledger.latestCheckpoint()
    const witnesses = this.c.witnesses()
    if (note === undefined || witnesses.length === 0) return []
    const split = note.lastIndexOf('\n\n')
    return cosignersAmong(
      note.slice(split + 2, -1).split('\n'),
      note.slice(0, split + 1),
      witnesses.map((w) => w.key)
    )
  }

  private async run(state: WitnessState): Promise<void> {
    do {
      state.again = false
      try {
        await this.submit(state)
      } catch (err) {
        this.failed(state, (err as Error).message)
      }
    } while (
      state.again &&
      this.state !== 'stopped' &&
      (this.c.steady ?? steadyClock).now() >= state.retryAt &&
      (state.cosignedSize ?? -1) < this.c.ledger.sealedSize
    )
  }

  /** One submission of the newest checkpoint, with at most one retry after a 409. */
  private async submit(state: WitnessState): Promise<void> {
    const note = await this.c.ledger.latestCheckpoint()
    if (note === undefined) return
    const checkpoint = parseCheckpoint(note)
    const size = checkpoint.body.size
    if ((state.cosignedSize ?? -1) >= size) return
    const signed = Math.max(this.c.ledger.sealedSize, size)
    // The feed's own pair only: fleet cosignatures are ~4.5 KB each and mean nothing to the witness.
    const sent = withoutCosignatures(note, this.init.feedId)
    const { witness } = state
    let old = state.witnessSize <= size ? state.witnessSize : 0
    let retried = false
    for (;;) {
      const proof = old === 0 || old === size ? [] : await this.c.source.proofBetween(old, size)
      const askedAt = this.c.clock.now()
      const answer = await postToWitness(
        this.c.fetch ?? globalThis.fetch,
        `${witness.url}/add-checkpoint`,
        encodeAddCheckpoint({ oldSize: old, proof, note: sent }),
        {
          timeoutMs: this.init.timeoutMs ?? EXTERNAL_WITNESS_LIMITS.requestTimeoutMs,
          maxBytes: TLOG_WITNESS_LIMITS.maxResponseBytes
        },
        { signal: this.stopping.signal }
      )
      if (answer.status === 200) {
        const cosignature = verifyCosignature(parseCosignatureLines(answer.body), checkpoint.text, witness.key, {
          nowSeconds: this.c.clock.now() / 1000,
          notBeforeSeconds: askedAt / 1000
        })
        if (state.lastTimestamp !== undefined && cosignature.timestamp < state.lastTimestamp)
          throw new CosignatureRejectedError(witness.name, 'timestamp older than its previous one', cosignature.line)
        await this.c.source.addSignatureLines(size, checkpoint.text, [cosignature.line])
        state.witnessSize = size
        state.cosignedSize = size
        state.lastTimestamp = cosignature.timestamp
        state.failures = 0
        state.retryAt = 0
        state.lastError = undefined
        this.count(witness.name, 'cosigned')
        this.c.logger?.debug({ witness: witness.name, size }, 'an external witness cosigned the checkpoint')
        return
      }
      if (answer.status !== 409 && answer.status !== 422)
        throw new WitnessRefusedError(witness.name, answer.status, answer.body.slice(0, 200))
      const verdict: WitnessVerdict = judgeRefusal(
        answer.status === 409
          ? { status: 409, witnessSize: parseConflictSize(answer.body, answer.contentType) }
          : { status: 422 },
        { sent: old, signed, retried }
      )
      if (verdict.kind === 'failed') throw new WitnessRefusedError(witness.name, answer.status, verdict.detail)
      if (verdict.kind === 'split-view') {
        await this.splitView(state, verdict, answer, { size, old })
        return
      }
      state.witnessSize = verdict.from
      if (verdict.from > size) {
        // The witness already holds a newer checkpoint of this device's: the next round sends the newest.
        state.again = true
        return
      }
      old = verdict.from
      retried = true
    }
  }

  private failed(state: WitnessState, detail: string, outcome: 'failed' | 'splitView' = 'failed'): void {
    if (this.state === 'stopped') return
    state.failures++
    state.lastError = detail
    const backoff = Math.min(
      EXTERNAL_WITNESS_LIMITS.backoffMaxMs,
      EXTERNAL_WITNESS_LIMITS.backoffBaseMs * 2 ** Math.min(state.failures - 1, 20)
    )
    state.retryAt = (this.c.steady ?? steadyClock).now() + backoff
    this.count(state.witness.name, outcome)
    if (outcome === 'failed')
      this.c.logger?.warn(
        { witness: state.witness.name, url: state.witness.url, failures: state.failures, retryInMs: backoff },
        `external witness: ${detail.slice(0, 300)}`
      )
  }

  /** A split view: a log line every time, and an alert in the own feed as often as AlertLimiter allows. */
  private async splitView(
    state: WitnessState,
    verdict: Extract<WitnessVerdict, { kind: 'split-view' }>,
    answer: WitnessAnswer,
    sizes: { size: number; old: number }
  ): Promise<void> {
    const now = this.c.clock.now()
    const { witness } = state
    state.splitView = { at: now, detail: verdict.detail }
    this.failed(state, `split view: ${verdict.detail}`, 'splitView')
    const response = Buffer.from(answer.body, 'utf8').subarray(0, EXTERNAL_WITNESS_LIMITS.maxEvidenceBytes)
    this.c.logger?.error(
      {
        witness: witness.name,
        url: witness.url,
        status: answer.status,
        checkpointSize: sizes.size,
        oldSize: sizes.old,
        witnessSize: verdict.witnessSize,
        response: response.toString('utf8').slice(0, 200)
      },
      `equivocation: an external witness holds another view of this device's feed: ${verdict.detail}`
    )
    if (
      !definesWellKnown(this.c.ontology(), 'alert.external_witness') ||
      !this.alerts.take(witness.name, (this.c.steady ?? steadyClock).now())
    )
      return
    const body: Record<string, unknown> = {
      witness: witness.name,
      url: witness.url.slice(0, EXTERNAL_WITNESS_LIMITS.maxUrlLength),
      status: answer.status,
      checkpointSize: sizes.size,
      oldSize: sizes.old,
      detail: verdict.detail.slice(0, 512),
      response: new Uint8Array(response)
    }
    if (verdict.witnessSize !== undefined) body.witnessSize = verdict.witnessSize
    try {
      await this.c.ledger.append({
        type: 'alert.external_witness',
        actor: { id: `agent/${this.init.feedId}`, role: 'agent' },
        attest: null,
        body
      })
    } catch (err) {
      this.c.logger?.error({ err: (err as Error).message }, 'the external witness alert was not recorded')
    }
  }

  private count(name: string, outcome: 'cosigned' | 'failed' | 'splitView'): void {
    const counts = this.counts.get(name) ?? { cosigned: 0, failed: 0, splitView: 0 }
    counts[outcome]++
    if (this.counts.has(name) || this.counts.size < EXTERNAL_WITNESS_LIMITS.maxWitnesses * 4)
      this.counts.set(name, counts)
  }
}
