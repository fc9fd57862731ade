/**
 * The enrolment ceremony, /fleet/enrol/2: trust on first use, confirmed by a person on both sides
 * and signed by the owner. One stream; the device speaks first.
 *
 *   device → owner  hello      EK public + certificate, AK, DSK + certify evidence, ML-DSA-65 public,
 *                              PeerId, hostname, role, commit = SHA-256(tag ‖ nD)
 *   owner → device  challenge  genesis statement, MakeCredential(EK, AK name), quote nonce, PCRs, nO
 *   device → owner  evidence   ActivateCredential result, quote over
 *                              SHA-256("fleet-enrol-v1" ‖ nonce ‖ devicePeerId ‖ ownerPeerId), event log, nD
 *   both            6-digit SAS = SHA-256(tag ‖ both PeerIds ‖ hello ‖ challenge ‖ nO ‖ nD) mod 10^6,
 *                   confirmed by a person
 *   device → owner  confirm    {ok}
 *   owner → device  record     owner-signed EnrolmentRecord + the boot policy
 *   device → owner  done
 *
 * Either side sends {t: 'abort', reason} and stops at the first failed check.
 *
 * Why the digits cannot be chosen (the numeric comparison of SAS-based key agreement): every byte
 * they depend on was fixed before the other side's nonce was seen. The device sends its whole
 * hello, committing to nD, before it sees nO; the owner sends its whole challenge, nO in it,
 * before it sees nD. The evidence is NOT in the digits: it is made after nO is known, and an
 * event log has bytes nothing vouches for (events of PCRs the quote does not cover), so a man in
 * the middle could vary them until the digits on both screens agreed. The evidence is bound to the
 * session instead by its quote (over both PeerIds) and by the Noise channel the digits confirm.
 * A man in the middle runs two ceremonies with two different PeerId pairs, and on each side one
 * of the nonces that make the digits was hidden from it when it had to fix its own: the two
 * screens agree with probability 10^-6.
 *
 * Version 1 hashed the evidence into the digits; it is not spoken any more (a /fleet/enrol/1
 * stream is refused at protocol negotiation).
 */
import { createHash } from 'node:crypto'
import { FleetError, sha256 } from '../../common/index.js'
import { type FramedStream, decodeMessage, encodeMessage, type WireMessage, type WireSchema } from '../../p2p/index.js'
import { ENROL_LIMITS } from './limits.js'

export const ENROL_PROTOCOL = '/fleet/enrol/2'

/** The owner refused the device (identity, hardware, or boot evidence did not check out). */
export class EnrolmentRefusedError extends FleetError {
  constructor(reason: string) {
    super(`enrolment refused: ${reason}`, { code: 'ERR_ENROLMENT_REFUSED' })
  }
}

/** The ceremony stopped: the other side aborted, or a person did not confirm the digits. */
export class CeremonyAbortedError extends FleetError {
  constructor(reason: string) {
    super(`enrolment aborted: ${reason}`, { code: 'ERR_ENROLMENT_ABORTED' })
  }
}

const BASE58 = '^[1-9A-HJ-NP-Za-km-z]{40,64}$'
/**
 * A device's name as the owner's terminal shows it: 1 to 255 characters, none of them a control
 * character (an escape sequence in it would rewrite the owner's screen while it confirms digits).
 */
export const HOSTNAME_PATTERN = '^[^\\u0000-\\u001f\\u007f-\\u009f]{1,255}$'
export const HELLO = {
  deviceId: { kind: 'string', max: 52, pattern: '^[a-z2-7]{52}$' },
  ekPub: { kind: 'bytes', max: 1024 },
  ekCert: { kind: 'bytes', max: 8192, nullable: true },
  akPub: { kind: 'bytes', max: 1024 },
  dskPub: { kind: 'bytes', max: 1024 },
  certifyAttest: { kind: 'bytes', max: 1024 },
  certifySignature: { kind: 'bytes', max: 1024 },
  pqPub: { kind: 'bytes', size: 1952, max: 1952 },
  peerId: { kind: 'string', max: 64, pattern: BASE58 },
  hostname: { kind: 'string', max: 255, pattern: HOSTNAME_PATTERN },
  role: { kind: 'string', max: 16 },
  commit: { kind: 'bytes', size: 32, max: 32 }
} as const satisfies WireSchema
export const CHALLENGE = {
  genesis: { kind: 'bytes', max: 8192 },
  genesisP256: { kind: 'bytes', max: 128 },
  genesisMldsa65: { kind: 'bytes', max: 4096 },
  credentialBlob: { kind: 'bytes', max: 1024 },
  encryptedSecret: { kind: 'bytes', max: 1024 },
  quoteNonce: { kind: 'bytes', size: 32, max: 32 },
  bank: { kind: 'string', max: 8, pattern: '^sha(1|256|384|512)$' },
  pcrs: { kind: 'bytes', max: 24 },
  nO: { kind: 'bytes', size: 32, max: 32 }
} as const satisfies WireSchema
export const EVIDENCE = {
  activated: { kind: 'bytes', max: 64 },
  quoteAttest: { kind: 'bytes', max: 2048 },
  quoteSignature: { kind: 'bytes', max: 1024 },
  eventLog: { kind: 'bytes', max: ENROL_LIMITS.maxEventLogBytes },
  nD: { kind: 'bytes', size: 32, max: 32 }
} as const satisfies WireSchema
export const CONFIRM = { ok: { kind: 'bool' } } as const satisfies WireSchema
export const RECORD = {
  record: { kind: 'bytes', max: 8192 },
  p256: { kind: 'bytes', max: 128 },
  mldsa65: { kind: 'bytes', max: 4096 },
  policy: { kind: 'bytes', max: 64 * 1024 }
} as const satisfies WireSchema
export const DONE = { ok: { kind: 'bool' } } as const satisfies WireSchema

/** The quote's qualifyingData during enrolment: bound to this ceremony's nonce and both Noise identities. */
export function enrolmentQuoteData(nonce: Uint8Array, devicePeerId: string, ownerPeerId: string): Uint8Array {
  return sha256('fleet-enrol-v1', nonce, devicePeerId, ownerPeerId)
}

/**
 * What the digits are made from: both PeerIds (each authenticated by Noise), then the hello and the
 * challenge, each added as it is sent or received. Nothing said after the challenge is added
 * (see the module comment).
 */
export class Transcript {
  private readonly hash = createHash('sha256')
  private frames = 0
  constructor(ownerPeerId: string, devicePeerId: string) {
    this.hash
      .update('fleet-enrol-transcript-v2')
      .update(lengthPrefixed(Buffer.from(ownerPeerId)))
      .update(lengthPrefixed(Buffer.from(devicePeerId)))
  }

  /** The hello, then the challenge: the only frames the digits depend on. */
  add(frame: Uint8Array): void {
    if (++this.frames > 2) throw new Error('only the hello and the challenge are part of the transcript')
    this.hash.update(lengthPrefixed(frame))
  }

  sas(nO: Uint8Array, nD: Uint8Array): string {
    if (this.frames !== 2) throw new Error('the digits need the hello and the challenge')
    return sasDigits(this.hash.copy().digest(), nO, nD)
  }
}

/** The six digits: SHA-256(tag ‖ transcript hash ‖ nO ‖ nD), its first 32 bits mod 10^6. */
export function sasDigits(transcript: Uint8Array, nO: Uint8Array, nD: Uint8Array): string {
  const digest = createHash('sha256').update('fleet-sas-v2').update(transcript).update(nO).update(nD).digest()
  return (digest.readUInt32BE(0) % 1_000_000).toString().padStart(6, '0')
}

function lengthPrefixed(bytes: Uint8Array): Buffer {
  const head = Buffer.alloc(4)
  head.writeUInt32BE(bytes.length)
  return Buffer.concat([head, bytes])
}

export const commitment = (nD: Uint8Array): Uint8Array => sha256('fleet-sas-commit-v2', nD)

export async function receive<S extends WireSchema>(
  framed: FramedStream,
  type: string,
  schema: S,
  options: { timeoutMs?: number } = {}
): Promise<{ bytes: Uint8Array; message: WireMessage<S> }> {
  const bytes = await framed.read(options)
  const message = decodeMessage(ENROL_PROTOCOL, bytes, type, schema, ENROL_LIMITS.maxFrameBytes)
  if (message.t === 'abort')
    throw new CeremonyAbortedError(`the other side stopped: ${(message as { reason: string }).reason}`)
  return { bytes, message: message as WireMessage<S> }
}

export async function abortWith(framed: FramedStream, err: unknown): Promise<never> {
  if (!(err instanceof CeremonyAbortedError && err.message.includes('the other side stopped'))) {
    const reason = err instanceof Error ? err.message : String(err)
    await framed.write(encodeMessage('abort', { reason: reason.slice(0, 1024) })).catch(() => undefined)
  }
  await framed.close()
  throw err
}

export { ENROL_LIMITS }
