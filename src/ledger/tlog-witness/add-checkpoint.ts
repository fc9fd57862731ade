/**
 * The add-checkpoint call of c2sp.org/tlog-witness, as bytes: the request a log sends and what
 * the witness's answer means. No I/O here.
 *
 * Request body: `old <size>\n`, one consistency proof hash a line (base64, RFC 6962 §2.1.2 proof
 * from the old size to the checkpoint's: at most 63), an empty line, then the signed checkpoint.
 *
 * Answers: 200, one or more note signature lines (`— name base64\n`); 409 with Content-Type
 * `text/x.tlog.size` and the size of the witness's latest cosigned checkpoint of the origin (the
 * old size sent was not it); 422, the proof or the root does not hold against what the witness
 * holds; 400 a malformed request (the old size above the checkpoint's); 403 no valid signature by
 * a key the witness trusts for the origin; 404 an origin the witness does not know.
 */
import { MalformedWitnessResponseError } from './errors.js'
import { TLOG_WITNESS_LIMITS } from './limits.js'

const DASH = '\u2014 '
const DECIMAL = /^(0|[1-9]\d{0,15})$/

export interface AddCheckpointRequest {
  /** The size of the latest checkpoint the witness cosigned for this origin, as the log believes (0: none). */
  oldSize: number
  /** Consistency proof from oldSize to the checkpoint's size (empty when oldSize is 0 or equal to it). */
  proof: readonly Uint8Array[]
  /** The signed checkpoint note. */
  note: string
}

export function encodeAddCheckpoint(request: AddCheckpointRequest): string {
  if (!Number.isSafeInteger(request.oldSize) || request.oldSize < 0)
    throw new RangeError('the old size must be a non-negative integer')
  if (request.proof.length > TLOG_WITNESS_LIMITS.maxProofLines)
    throw new RangeError(`a proof of more than ${TLOG_WITNESS_LIMITS.maxProofLines} hashes`)
  const proof = request.proof.map((hash) => `${Buffer.from(hash).toString('base64')}\n`).join('')
  return `old ${request.oldSize}\n${proof}\n${request.note}`
}

/** The body of a 409: the witness's latest cosigned size for the origin. */
export function parseConflictSize(body: string, contentType: string | null): number {
  const type = (contentType ?? '').split(';')[0]!.trim().toLowerCase()
  if (type !== 'text/x.tlog.size')
    throw new MalformedWitnessResponseError(`409 with Content-Type "${type.slice(0, 40)}"`)
  if (!body.endsWith('\n') || !DECIMAL.test(body.slice(0, -1)))
    throw new MalformedWitnessResponseError('409 body is not a decimal size and a newline')
  const size = Number(body.slice(0, -1))
  if (!Number.isSafeInteger(size)) throw new MalformedWitnessResponseError('409 size is out of range')
  return size
}

/**
 * The note signature lines of a 200 body (without their newlines): one or more, each starting
 * with an em dash and a space and ending in a newline, at most TLOG_WITNESS_LIMITS.maxResponseLines.
 * They are not verified here (verifyCosignature does that).
 */
export function parseCosignatureLines(body: string): string[] {
  if (body.length === 0 || !body.endsWith('\n')) throw new MalformedWitnessResponseError('200 body is not lines')
  const lines = body.slice(0, -1).split('\n')
  if (lines.length > TLOG_WITNESS_LIMITS.maxResponseLines)
    throw new MalformedWitnessResponseError(`more than ${TLOG_WITNESS_LIMITS.maxResponseLines} lines`)
  for (const line of lines) {
    const space = line.indexOf(' ', DASH.length)
    if (!line.startsWith(DASH) || space <= DASH.length || space === line.length - 1)
      throw new MalformedWitnessResponseError('a line is not a note signature line')
  }
  return lines
}
