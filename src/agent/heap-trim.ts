import { loadNative } from '../attest/tpm/native.js'

/** When `fleet run` first returns freed malloc memory to the kernel, and how often after that. */
export const HEAP_TRIM = { firstMs: 5_000, everyMs: 10_000 } as const

/**
 * Returns the memory this process freed through malloc to the kernel (glibc's malloc_trim, through
 * the native binding): soon after start, whose module loading and key release free the most, then
 * every `everyMs`. glibc keeps freed memory in the arena of the thread that allocated it, for
 * reuse; V8's compiler threads and libuv's pool (crypto, LevelDB, TPM calls) each have one, and
 * none shrinks by itself while live allocations sit above the freed ones. An idle agent with 11
 * peers held about 10 MB of it (npm run bench -- memory). Returns a stop function. Does nothing
 * where the binding has no trimHeap (another C library, an older build).
 */
export function startHeapTrim (options: { firstMs?: number, everyMs?: number } = {}): () => void {
  const trim = loadNative().trimHeap
  if (trim === undefined) return () => {}
  let timer = setTimeout(function tick () {
    trim()
    timer = setTimeout(tick, options.everyMs ?? HEAP_TRIM.everyMs)
    timer.unref()
  }, options.firstMs ?? HEAP_TRIM.firstMs)
  timer.unref()
  return () => { clearTimeout(timer) }
}
