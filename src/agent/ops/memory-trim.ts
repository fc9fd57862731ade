import { nativeMemory } from '../../attest/index.js'

/** When `fleet run` first hands unused memory back to the kernel, and how often after that. */
export const MEMORY_TRIM = { firstMs: 5_000, everyMs: 10_000 } as const

/**
 * Hands memory the process holds but does not use back to the kernel, through the native binding:
 * soon after start, whose module loading and key release leave the most behind, then every
 * `everyMs`. Returns a stop function. Off with the agent's `trimMemory: false`.
 *   - Freed malloc memory (glibc's malloc_trim). glibc keeps it in the arena of the thread that
 *     freed it, for reuse; V8's compiler threads and libuv's pool (crypto, LevelDB, TPM calls) each
 *     have one, and none shrinks by itself while live allocations sit above the freed ones. An idle
 *     agent with 11 peers held about 10 MB of it.
 *   - Pages of Node's own executable (its code and read-only data) that were touched once, at
 *     start or by a burst of work, and stay mapped: about 52 MB of them after start. Idle, the
 *     agent's pages mapped from files go from 57 to 16.5 MB with this. They are unmapped and
 *     stay in the page cache, shared with other processes; a page used again is mapped back on
 *     first touch (a minor fault, no disk read while the kernel keeps it cached). Each pass reads
 *     /proc/self/smaps: a few milliseconds.
 */
export function startMemoryTrim (options: { firstMs?: number, everyMs?: number } = {}): () => void {
  const { trimHeap, releaseExecutablePages } = nativeMemory()
  let timer = setTimeout(function tick () {
    trimHeap()
    releaseExecutablePages()
    timer = setTimeout(tick, options.everyMs ?? MEMORY_TRIM.everyMs)
    timer.unref()
  }, options.firstMs ?? MEMORY_TRIM.firstMs)
  timer.unref()
  return () => { clearTimeout(timer) }
}
