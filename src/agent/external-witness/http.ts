/**
 * One bounded HTTP POST to a witness: the deadline covers connecting, the status and the whole
 * body; the body is read up to a cap and never further; a redirect is a failure (a witness is
 * named by the owner's URL, not by wherever it points); the body must be UTF-8.
 */
import { AbortedError } from '../../common/index.js'
import { WitnessResponseTooLargeError, WitnessTimeoutError, WitnessUnreachableError } from './errors.js'

/** The fetch this module calls (globalThis.fetch, or a test's). */
export type Fetch = (input: string, init: RequestInit) => Promise<Response>

export interface WitnessAnswer {
  status: number
  contentType: string | null
  body: string
}

export async function postToWitness(
  fetchFn: Fetch,
  url: string,
  body: string,
  limits: { timeoutMs: number; maxBytes: number },
  options: { signal?: AbortSignal } = {}
): Promise<WitnessAnswer> {
  const deadline = AbortSignal.timeout(limits.timeoutMs)
  const signal = options.signal === undefined ? deadline : AbortSignal.any([options.signal, deadline])
  const failed = (err: unknown): never => {
    if (options.signal?.aborted === true) throw new AbortedError('the submission was stopped')
    if (deadline.aborted) throw new WitnessTimeoutError(url, limits.timeoutMs)
    if (err instanceof WitnessResponseTooLargeError) throw err
    throw new WitnessUnreachableError(url, (err as Error).message, err)
  }
  let response: Response
  try {
    response = await fetchFn(url, {
      method: 'POST',
      body,
      headers: { 'content-type': 'text/plain; charset=utf-8' },
      redirect: 'error',
      signal
    })
  } catch (err) {
    return failed(err)
  }
  try {
    const declared = Number(response.headers.get('content-length') ?? '0')
    if (declared > limits.maxBytes) throw new WitnessResponseTooLargeError(url, limits.maxBytes)
    const chunks: Uint8Array[] = []
    let length = 0
    if (response.body !== null) {
      const reader = response.body.getReader()
      try {
        for (;;) {
          const { done, value } = await reader.read()
          if (done) break
          length += value.length
          if (length > limits.maxBytes) throw new WitnessResponseTooLargeError(url, limits.maxBytes)
          chunks.push(value)
        }
      } finally {
        void reader.cancel().catch(() => undefined)
      }
    }
    let text: string
    try {
      text = new TextDecoder('utf-8', { fatal: true }).decode(Buffer.concat(chunks))
    } catch {
      throw new WitnessUnreachableError(url, 'the answer is not UTF-8')
    }
    return { status: response.status, contentType: response.headers.get('content-type'), body: text }
  } catch (err) {
    if (err instanceof WitnessUnreachableError) throw err
    return failed(err)
  }
}
