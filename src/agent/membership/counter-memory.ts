/**
 * What the ActorRegistry remembers of WebAuthn signatures for its clone check (actors.ts), kept
 * across restarts in the agent's ledger store. Three tables, each of at most
 * MEMBERSHIP_LIMITS.maxActorCounters rows, forgetting the row it learnt first when full:
 *   c  per actor, enrolment and feed: the last counter judged, its entry and place in the feed's order;
 *   s  per credential: its latest sightings across feeds (at most ACTOR_LIMITS.maxSightings);
 *   r  per actor and feed: a clone was told (onClone hears of each once).
 *
 * How they are kept: write-ahead. Every check that changed a row ends by writing the rows changed
 * (a put, or a del for one forgotten) in one synced store write, the writes one after another,
 * before the entries it checked can be stored: FeedLedger.append queues an entry, and
 * ReplicaStore.apply stores a batch, only once verifyAll resolved. So no entry is on disk before
 * what judging it taught, and restore() reads back, at start, exactly what the registry knew when
 * it stopped: the judgement of every stored entry (and of entries checked and then not stored,
 * refused further on or lost in a crash: that errs only towards seeing a clone). A write that
 * fails fails the check (LedgerWriteError): the entry is not stored, its rows stay to be written.
 * Only WebAuthn checks change rows (a token's or a service's proof moves nothing here), so the
 * extra sync falls on an operator's touch of a security key, and on a replica batch that holds one.
 *
 * Why not otherwise: rebuilding at start from the stored feeds reads every entry of every feed on
 * every start, and cannot replay the cross-feed sightings in the order they were judged; writing
 * the rows in the batch of the entries that moved them saves that sync, but the own feed's group
 * commit and the replicas' per-feed writes run concurrently, LevelDB does not order concurrent
 * batches, and a credential's sightings row is shared by every feed, so a stale copy could land
 * last. Reading back costs the rows held (bounded by the limits), not the ledger's size.
 *
 * Fail closed: a row that does not decode (not the canonical CBOR of its table's record, a key of
 * no table or naming no feed, more rows than the cap) is ActorCounterStoreError, and the registry
 * takes nothing: the agent does not start, rather than forget its counters. Nothing stored is
 * altered by reading.
 */
import { decodeRecord, encodeCanonical, type Schema } from '../../codec/index.js'
import {
  LEDGER_SUBLEVELS,
  ledgerWriteError,
  type LedgerStore,
  type LedgerSublevel,
  type LedgerWrite
} from '../../ledger/index.js'
import { ActorCounterStoreError } from './actor-errors.js'
import { ACTOR_LIMITS } from './limits.js'

/** The last WebAuthn counter judged along one feed, for one actor and enrolment. */
export interface LastCounter {
  /** Its place in the feed's order: its seq, or above every seq for an entry appended here (the newest). */
  order: number
  seq: number
  counter: number
}

/** One WebAuthn signature seen: for the counter check across feeds. */
export interface Sighting {
  at: number
  counter: number
  feed: string
  seq: number
}

const U32 = 0xffff_ffff
const FEED = '^[a-z2-7]{52}$'
const VERSION = { kind: 'uint', min: 1, max: 1 } as const
const COUNTER_ROW = {
  v: VERSION,
  n: { kind: 'uint' },
  order: { kind: 'uint' },
  seq: { kind: 'uint' },
  counter: { kind: 'uint', max: U32 }
} as const satisfies Schema
const SIGHTINGS_ROW = {
  v: VERSION,
  n: { kind: 'uint' },
  seen: {
    kind: 'list',
    minItems: 1,
    maxItems: ACTOR_LIMITS.maxSightings,
    item: {
      kind: 'record',
      fields: {
        at: { kind: 'uint' },
        counter: { kind: 'uint', max: U32 },
        feed: { kind: 'string', max: 52, pattern: FEED },
        seq: { kind: 'uint' }
      }
    }
  }
} as const satisfies Schema
const TOLD_ROW = { v: VERSION, n: { kind: 'uint' } } as const satisfies Schema

/** Each table's key, after its letter and a newline: actor ids have no newline (the ontology's pattern). */
const KEYS = {
  c: /^[^\n]{1,128}\n(\d{1,16})\n[a-z2-7]{52}$/,
  s: /^(?:[0-9a-f]{2}){1,1024}$/,
  r: /^[^\n]{1,128}\n[a-z2-7]{52}$/
} as const

interface Row<V> {
  /** When the row was learnt, in the order of all rows: the oldest is forgotten first, also after a restart. */
  n: number
  value: V
}

type TableName = keyof typeof KEYS
interface Value {
  c: LastCounter
  s: Sighting[]
  r: true
}
type Tables = { [T in TableName]: Map<string, Row<Value[T]>> }

/** A stored row of table `name`, strictly decoded. */
function decodeRow(name: TableName, bytes: Uint8Array): Row<Value[TableName]> {
  const options = { maxBytes: ACTOR_LIMITS.maxCounterRowBytes }
  if (name === 'c') {
    const { n, order, seq, counter } = decodeRecord(bytes, COUNTER_ROW, options)
    return { n, value: { order, seq, counter } }
  }
  if (name === 's') {
    const { n, seen } = decodeRecord(bytes, SIGHTINGS_ROW, options)
    return { n, value: seen.map(({ at, counter, feed, seq }) => ({ at, counter, feed, seq })) }
  }
  return { n: decodeRecord(bytes, TOLD_ROW, options).n, value: true }
}

const NONE: readonly Sighting[] = []
/** Rows read from the store at a time on restore. */
const RESTORE_PAGE = 1024

/** The three tables of the clone check, bounded, and (once restored from a store) kept there write-ahead. */
export class CounterMemory {
  private tables: Tables = { c: new Map(), s: new Map(), r: new Map() }
  private next = 0
  private readonly max: number
  /** Where the rows are kept, once restore() read them; until then nothing is written. */
  private kept: { store: LedgerStore; sublevel: LedgerSublevel } | undefined
  /** Rows changed and not yet written, by stored key, with the change's number. */
  private readonly dirty = new Map<string, number>()
  private changes = 0
  /** The writes, one after another. */
  private writing: Promise<void> = Promise.resolve()

  /** `max`: rows per table (MEMBERSHIP_LIMITS.maxActorCounters). */
  constructor(max: number) {
    this.max = max
  }

  /** The last counter judged for `key` (actor, enrolment and feed). */
  last(key: string): LastCounter | undefined {
    return this.tables.c.get(key)?.value
  }

  setLast(key: string, value: LastCounter): void {
    this.put('c', key, value)
  }

  /** A credential's latest sightings, oldest first. */
  sightings(credentialId: string): readonly Sighting[] {
    return this.tables.s.get(credentialId)?.value ?? NONE
  }

  sight(credentialId: string, sighting: Sighting): void {
    const row = this.tables.s.get(credentialId)
    if (row === undefined) {
      this.put('s', credentialId, [sighting])
      return
    }
    row.value.push(sighting)
    if (row.value.length > ACTOR_LIMITS.maxSightings) row.value.shift()
    this.changed('s', credentialId)
  }

  /** Marks a clone of `actorId` in `feed` told; false when it was told before. */
  tell(actorId: string, feed: string): boolean {
    const key = `${actorId}\n${feed}`
    if (this.tables.r.has(key)) return false
    this.put('r', key, true)
    return true
  }

  /**
   * Reads the rows `store` keeps into this memory, and keeps every later change there. Called
   * once, before the first check. Throws ActorCounterStoreError at a row that does not decode,
   * having taken none.
   */
  async restore(store: LedgerStore): Promise<void> {
    const sublevel = store.sublevel(LEDGER_SUBLEVELS.actorCounters)
    const read: { [T in TableName]: Array<[string, Row<Value[T]>]> } = { c: [], s: [], r: [] }
    let next = 0
    const take = (stored: string, bytes: Uint8Array): void => {
      const name = stored.slice(0, 1) as TableName
      const key = stored.slice(2)
      if (!Object.hasOwn(KEYS, name) || stored[1] !== '\n' || !KEYS[name].test(key))
        throw new ActorCounterStoreError(stored, 'a key of no table')
      if (name === 'c' && !Number.isSafeInteger(Number(KEYS.c.exec(key)![1])))
        throw new ActorCounterStoreError(stored, 'an enrolment time past 2^53')
      let row: Row<Value[TableName]>
      try {
        row = decodeRow(name, bytes)
      } catch (err) {
        throw new ActorCounterStoreError(stored, (err as Error).message, err)
      }
      const rows = read[name] as Array<[string, Row<Value[TableName]>]>
      rows.push([key, row])
      if (rows.length > this.max) throw new ActorCounterStoreError(stored, `more than ${this.max} rows of its table`)
      next = Math.max(next, row.n + 1)
    }
    // Read in pages: one at a time, the reads cost more than the decoding.
    const rows = sublevel.iterator({ limit: 3 * this.max + 1 })
    try {
      for (let page = await rows.nextv(RESTORE_PAGE); page.length > 0; page = await rows.nextv(RESTORE_PAGE))
        for (const [stored, bytes] of page) take(stored, bytes)
    } finally {
      await rows.close()
    }
    const tables: Tables = { c: new Map(), s: new Map(), r: new Map() }
    for (const name of ['c', 's', 'r'] as const)
      for (const [key, row] of read[name].sort((a, b) => a[1].n - b[1].n))
        (tables[name] as Map<string, Row<Value[TableName]>>).set(key, row)
    this.tables = tables
    this.next = next
    this.kept = { store, sublevel }
  }

  /**
   * Writes the rows changed so far (synced), after any write already under way; resolves at once
   * when there is none, or nothing is kept. Throws LedgerWriteError; the rows then stay to be written.
   */
  async persist(): Promise<void> {
    if (this.dirty.size === 0) return
    const turn = this.writing.then(async () => await this.writeChanged())
    this.writing = turn.catch(() => undefined)
    await turn
  }

  private async writeChanged(): Promise<void> {
    const kept = this.kept
    if (kept === undefined || this.dirty.size === 0) return
    const taken = [...this.dirty]
    const writes: LedgerWrite[] = taken.map(([key]) => {
      const value = this.encoded(key)
      return value === undefined
        ? { type: 'del', sublevel: kept.sublevel, key }
        : { type: 'put', sublevel: kept.sublevel, key, value }
    })
    try {
      await kept.store.write(writes, { sync: true })
    } catch (err) {
      throw ledgerWriteError(err)
    }
    for (const [key, change] of taken) if (this.dirty.get(key) === change) this.dirty.delete(key)
  }

  /** The stored row of `stored` as memory holds it now; undefined when it was forgotten. */
  private encoded(stored: string): Uint8Array | undefined {
    const key = stored.slice(2)
    switch (stored[0] as TableName) {
      case 'c': {
        const row = this.tables.c.get(key)
        return row && encodeCanonical({ v: 1, n: row.n, ...row.value })
      }
      case 's': {
        const row = this.tables.s.get(key)
        return row && encodeCanonical({ v: 1, n: row.n, seen: row.value })
      }
      case 'r': {
        const row = this.tables.r.get(key)
        return row && encodeCanonical({ v: 1, n: row.n })
      }
    }
  }

  private put<T extends TableName>(name: T, key: string, value: Value[T]): void {
    const table = this.tables[name] as Map<string, Row<Value[T]>>
    const row = table.get(key)
    if (row !== undefined) row.value = value
    else {
      if (table.size >= this.max) {
        const oldest = table.keys().next().value!
        table.delete(oldest)
        this.changed(name, oldest)
      }
      table.set(key, { n: this.next++, value })
    }
    this.changed(name, key)
  }

  private changed(name: TableName, key: string): void {
    if (this.kept !== undefined) this.dirty.set(`${name}\n${key}`, ++this.changes)
  }
}
