/**
 * Every bound of caller identification. A caller picks what the agent reads (its executable, its
 * command line, the script it names), so each read has a cap and the digest table has a size.
 */
export const CALLER_LIMITS = {
  /** The largest executable measured; a larger one is refused (Node 24's binary is 121 MiB). */
  maxExecutableBytes: 512 * 1024 * 1024,
  /** The largest script hashed for an interpreter; a larger one is recorded without a digest. */
  maxScriptBytes: 16 * 1024 * 1024,
  /** Digests kept, keyed by file identity; the least recently used goes first. */
  digestCacheEntries: 256,
  /** Bytes read per read() while hashing. */
  readChunkBytes: 1024 * 1024,
  /** The most of /proc/PID/cmdline read (only argv[1] is used). */
  maxCommandLineBytes: 64 * 1024
} as const

export type CallerLimits = { [K in keyof typeof CALLER_LIMITS]: number }
