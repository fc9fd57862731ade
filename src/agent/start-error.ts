import { FleetError } from '../common/index.js'

/**
 * Thrown when a part of a running agent cannot start: a port in use (metricsPort, approvals.port,
 * a listen address), a socket path it may not take. Everything started before it is stopped
 * again first. Exit code 1.
 */
export class AgentStartError extends FleetError {
  constructor(message: string, cause: unknown) {
    super(message, { code: 'ERR_AGENT_START', cause })
  }
}

/** The error a failed start is reported with: a listening socket's failure in words, others as they are. */
export function startFailure(err: unknown): unknown {
  if (err instanceof FleetError) return err
  // libp2p reports listen addresses that failed as one message with each address and its error.
  const text = err instanceof Error ? err.message : String(err)
  const taken = [...text.matchAll(/(\/ip[46]\/[^\s:]+\/tcp\/\d+): Error: listen EADDRINUSE/g)].map((match) => match[1])
  if (taken.length > 0)
    return new AgentStartError(
      `listen address ${taken.join(', ')} is in use by another program: choose another (--listen, config listen) or stop that program; the agent did not start`,
      err
    )
  const e = err as NodeJS.ErrnoException & { port?: number; address?: string }
  const where = e.port === undefined ? (e.address ?? 'an address') : `${e.address ?? ''}:${e.port}`
  if (e.code === 'EADDRINUSE')
    return new AgentStartError(
      `${where} is in use by another program: choose another port (config metricsPort, approvals.port or listen) or stop that program; the agent did not start`,
      err
    )
  if (e.code === 'EACCES' || e.code === 'EPERM')
    return new AgentStartError(`${where}: permission denied; the agent did not start`, err)
  return err
}
