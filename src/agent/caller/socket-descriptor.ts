/**
 * The file descriptor under an accepted node:net connection, to ask the kernel who is at the other
 * end. Node does not document it: a connection's `_handle` is its libuv wrap, a `Pipe` for a Unix
 * socket (`TCP` for TCP), whose `fd` getter returns the descriptor, or a negative number when the
 * handle is closed or has none (uv_fileno fails; on Windows it is always -1). Anything else than a
 * non-negative integer from a Pipe is refused: identification fails closed.
 */
import type { Socket } from 'node:net'
import { CallerSocketError } from './errors.js'

interface LibuvHandle {
  readonly fd?: unknown
}

export function unixSocketDescriptor(socket: Socket): number {
  if (socket.destroyed) throw new CallerSocketError('the connection is closed')
  const handle = (socket as unknown as { _handle?: LibuvHandle | null })._handle
  if (handle === undefined || handle === null) throw new CallerSocketError('the connection has no handle')
  if (handle.constructor.name !== 'Pipe') throw new CallerSocketError('the connection is not on a Unix socket')
  const fd = handle.fd
  if (typeof fd !== 'number' || !Number.isInteger(fd) || fd < 0)
    throw new CallerSocketError('the connection has no file descriptor')
  return fd
}
