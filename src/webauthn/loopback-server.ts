import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'

/** An HTTP server listening on 127.0.0.1 (the approval page's, the agent console's). */
export interface LoopbackServer {
  readonly server: Server
  /** The port it listens on (the one asked for, or the free one picked for 0). */
  readonly port: number
  /** Stops listening and closes every connection; idempotent. */
  close: () => Promise<void>
}

/**
 * Starts an HTTP server on 127.0.0.1:`port` (0: a free one) with bounded headers and timeouts.
 * Rejects with the listen error (EADDRINUSE, …) when it cannot listen.
 */
export async function startLoopbackServer(
  port: number,
  limits: { maxHeaderBytes: number; requestTimeoutMs: number; keepAliveTimeoutMs: number }
): Promise<LoopbackServer> {
  const server = createServer({
    maxHeaderSize: limits.maxHeaderBytes,
    requestTimeout: limits.requestTimeoutMs,
    headersTimeout: limits.requestTimeoutMs,
    keepAliveTimeout: limits.keepAliveTimeoutMs
  })
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.listen(port, '127.0.0.1', () => {
      server.off('error', reject)
      resolve()
    })
  })
  let closed: Promise<void> | undefined
  return {
    server,
    port: (server.address() as AddressInfo).port,
    close: async () => {
      closed ??= new Promise<void>((resolve) => {
        server.close(() => resolve())
        server.closeAllConnections()
      })
      await closed
    }
  }
}
