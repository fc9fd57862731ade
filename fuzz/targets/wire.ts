/** Input: one selector byte choosing a protocol message schema, then the message's CBOR. */
import { decodeMessage, type WireSchema } from '../../src/p2p/messages.js'
import * as enrol from '../../src/agent/enrolment/ceremony.js'
import * as attest from '../../src/agent/attestation/protocol.js'
import * as sync from '../../src/agent/replication/messages.js'
import { bytes, typed } from '../common.js'

/** Every schema the enrolment, attestation and ledger-sync protocols decode with decodeMessage. */
export const WIRE_SCHEMAS: ReadonlyArray<{ protocol: string; type: string; schema: WireSchema; maxBytes: number }> = [
  { protocol: enrol.ENROL_PROTOCOL, type: 'hello', schema: enrol.HELLO, maxBytes: enrol.ENROL_LIMITS.maxFrameBytes },
  {
    protocol: enrol.ENROL_PROTOCOL,
    type: 'challenge',
    schema: enrol.CHALLENGE,
    maxBytes: enrol.ENROL_LIMITS.maxFrameBytes
  },
  {
    protocol: enrol.ENROL_PROTOCOL,
    type: 'evidence',
    schema: enrol.EVIDENCE,
    maxBytes: enrol.ENROL_LIMITS.maxFrameBytes
  },
  {
    protocol: enrol.ENROL_PROTOCOL,
    type: 'confirm',
    schema: enrol.CONFIRM,
    maxBytes: enrol.ENROL_LIMITS.maxFrameBytes
  },
  { protocol: enrol.ENROL_PROTOCOL, type: 'record', schema: enrol.RECORD, maxBytes: enrol.ENROL_LIMITS.maxFrameBytes },
  { protocol: enrol.ENROL_PROTOCOL, type: 'done', schema: enrol.DONE, maxBytes: enrol.ENROL_LIMITS.maxFrameBytes },
  {
    protocol: attest.ATTEST_PROTOCOL,
    type: 'challenge',
    schema: attest.CHALLENGE,
    maxBytes: attest.ATTEST_LIMITS.maxFrameBytes
  },
  {
    protocol: attest.ATTEST_PROTOCOL,
    type: 'response',
    schema: attest.RESPONSE,
    maxBytes: attest.ATTEST_LIMITS.maxFrameBytes
  },
  {
    protocol: attest.ATTEST_PROTOCOL,
    type: 'final',
    schema: attest.FINAL,
    maxBytes: attest.ATTEST_LIMITS.maxFrameBytes
  },
  {
    protocol: attest.ATTEST_PROTOCOL,
    type: 'verdict',
    schema: attest.VERDICT,
    maxBytes: attest.ATTEST_LIMITS.maxFrameBytes
  },
  {
    protocol: sync.LEDGER_SYNC_PROTOCOL,
    type: 'pull',
    schema: sync.PULL,
    maxBytes: sync.SYNC_PROTOCOL_LIMITS.maxFrameBytes
  },
  {
    protocol: sync.LEDGER_SYNC_PROTOCOL,
    type: 'announce',
    schema: sync.ANNOUNCE,
    maxBytes: sync.SYNC_PROTOCOL_LIMITS.maxFrameBytes
  },
  {
    protocol: sync.LEDGER_SYNC_PROTOCOL,
    type: 'members',
    schema: sync.MEMBERS,
    maxBytes: sync.SYNC_PROTOCOL_LIMITS.maxFrameBytes
  },
  {
    protocol: sync.LEDGER_SYNC_PROTOCOL,
    type: 'batch',
    schema: sync.BATCH,
    maxBytes: sync.SYNC_PROTOCOL_LIMITS.maxFrameBytes
  },
  {
    protocol: sync.LEDGER_SYNC_PROTOCOL,
    type: 'end',
    schema: sync.END,
    maxBytes: sync.SYNC_PROTOCOL_LIMITS.maxFrameBytes
  }
]

export function fuzz(data: Buffer): void {
  if (data.length === 0) return
  const { protocol, type, schema, maxBytes } = WIRE_SCHEMAS[data[0]! % WIRE_SCHEMAS.length]!
  typed(() => decodeMessage(protocol, bytes(data.subarray(1)), type, schema, maxBytes))
}
