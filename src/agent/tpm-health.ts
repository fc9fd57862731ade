/** Whether a running agent's TPM answers: what `fleet status` shows of it. */
import type { Tpm } from '../attest/index.js'

export interface TpmHealth {
  tcti: string
  answering: boolean
  /** How long the answer (or the wait for it) took. */
  ms: number
  error?: string
}

/**
 * One clock read, given `ms` (then the TPM is reported as not answering). A TPM that hangs
 * mid-command may not heed the abort: the wait ends anyway.
 */
export async function tpmHealth(tpm: Pick<Tpm, 'tcti' | 'readClock'>, ms = 5_000): Promise<TpmHealth> {
  const started = Date.now()
  const abort = new AbortController()
  let timer: NodeJS.Timeout | undefined
  const timeout = new Promise<'timeout'>((resolve) => {
    timer = setTimeout(() => {
      abort.abort()
      resolve('timeout')
    }, ms)
  })
  try {
    const answer = await Promise.race([tpm.readClock({ signal: abort.signal }), timeout])
    if (answer === 'timeout')
      return { tcti: tpm.tcti, answering: false, ms: Date.now() - started, error: `no answer within ${ms} ms` }
    return { tcti: tpm.tcti, answering: true, ms: Date.now() - started }
  } catch (err) {
    return { tcti: tpm.tcti, answering: false, ms: Date.now() - started, error: (err as Error).message }
  } finally {
    clearTimeout(timer)
  }
}
