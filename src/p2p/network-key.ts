/**
 * The fleet's optional private network: a pre-shared key (libp2p pnet, PSK v1) that every
 * connection must prove before anything else is said. Off by default. With it, a scan of the
 * agent's port sees 24 random bytes (the pnet nonce) and then nothing it can read: no multistream
 * header, no Noise, no libp2p at all. It adds nothing to who is trusted; attestation still decides.
 *
 * The file is the usual swarm key, exactly:
 *
 *   /key/swarm/psk/1.0.0/
 *   /base16/
 *   <64 lowercase hex digits>
 *
 * and, being a secret, readable by its owner (and group) only.
 */
import { constants } from 'node:fs'
import { open, writeFile } from 'node:fs/promises'
import { randomBytes } from 'node:crypto'
import { MalformedInputError } from '../common/index.js'
import { NETWORK_KEY_LIMITS } from './limits.js'

const HEADER = '/key/swarm/psk/1.0.0/\n/base16/\n'
const FORMAT = /^\/key\/swarm\/psk\/1\.0\.0\/\n\/base16\/\n([0-9a-f]{64})\n?$/

/** Thrown when a network key file is missing, too large, open to others, or not a PSK v1 key. Exit code 2. */
export class NetworkKeyError extends MalformedInputError {
  constructor(file: string, problem: string) {
    super(`network key ${file}: ${problem}`, { code: 'ERR_NETWORK_KEY' })
  }
}

/**
 * The key file's bytes as libp2p pnet takes them. The file is opened once (not through a
 * symbolic link) and checked on that handle: a regular file, at most NETWORK_KEY_LIMITS.maxFileBytes
 * (read no further), writable by its owner only and with no access for others, in the PSK v1 form.
 */
export async function readNetworkKey(file: string): Promise<Uint8Array> {
  let handle: Awaited<ReturnType<typeof open>>
  try {
    handle = await open(file, constants.O_RDONLY | constants.O_NOFOLLOW)
  } catch (err) {
    throw new NetworkKeyError(file, `cannot be read (${(err as NodeJS.ErrnoException).code ?? 'error'})`)
  }
  try {
    const info = await handle.stat()
    if (!info.isFile()) throw new NetworkKeyError(file, 'is not a file')
    if (info.size > NETWORK_KEY_LIMITS.maxFileBytes)
      throw new NetworkKeyError(file, `is larger than ${NETWORK_KEY_LIMITS.maxFileBytes} bytes`)
    if ((info.mode & 0o027) !== 0)
      throw new NetworkKeyError(
        file,
        `is open to others (mode ${(info.mode & 0o777).toString(8)}): chmod 600 it (or 640 for its group to read)`
      )
    const bytes = Buffer.alloc(NETWORK_KEY_LIMITS.maxFileBytes + 1)
    const { bytesRead } = await handle.read(bytes, 0, bytes.length, 0)
    const text = bytes.subarray(0, bytesRead).toString('latin1')
    if (bytesRead > NETWORK_KEY_LIMITS.maxFileBytes || !FORMAT.test(text))
      throw new NetworkKeyError(file, 'is not a PSK v1 swarm key (/key/swarm/psk/1.0.0/, /base16/, 64 hex digits)')
    return new Uint8Array(Buffer.from(text, 'latin1'))
  } catch (err) {
    if (err instanceof NetworkKeyError) throw err
    throw new NetworkKeyError(file, `cannot be read (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`)
  } finally {
    await handle.close()
  }
}

/** Writes a new random network key to `file` (mode 0600; an existing file is not replaced). */
export async function writeNetworkKey(file: string): Promise<void> {
  try {
    await writeFile(file, `${HEADER}${randomBytes(32).toString('hex')}\n`, { mode: 0o600, flag: 'wx' })
  } catch (err) {
    throw new NetworkKeyError(
      file,
      (err as NodeJS.ErrnoException).code === 'EEXIST' ? 'exists already: it is not replaced' : (err as Error).message
    )
  }
}
