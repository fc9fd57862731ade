/**
 * Prepared actions and the signer's check of them: the agent prepares the statement an actor
 * signs (checked as an entry first); the signer rebuilds it from what it asked for and refuses
 * any other — a lying agent must not get a blind signature. And proofs as the control socket
 * carries them.
 */
import assert from 'node:assert/strict'
import {
  APPROVALS_LIMITS,
  checkPreparedStatement,
  prepareAction,
  proofFromText,
  proofToText,
  type ExpectedAction
} from '../../../src/agent/index.js'
import { encodeCanonical } from '../../../src/codec/index.js'
import { toHex } from '../../../src/common/index.js'
import { DOMAIN, domainSeparated } from '../../../src/identity/index.js'
import { BASE_ONTOLOGY, actorStatement, encodeActorProof, ownerFeedId } from '../../../src/ledger/index.js'

const NOW = 1_795_000_000_000
const fleet = new Uint8Array(32).fill(0xf1)
const device = 'b'.repeat(52)
const place = { fleet, device, ontology: BASE_ONTOLOGY }
const dataAccess = {
  type: 'operator.data_access',
  actor: { id: 'dr.smith', role: 'operator' as const },
  body: { resource: 'patients/42', purpose: 'care' }
}
const expected: ExpectedAction = { fleet, device, ...dataAccess }

/** What a (lying) agent could answer: the statement of `action`, at `at`. */
const statementOf = (action: Partial<Parameters<typeof actorStatement>[0]>, at = NOW): Uint8Array =>
  actorStatement({ fleet, device, attest: null, ...dataAccess, ...action }, at)

describe('agent/approvals: prepared actions and the check of their statements', () => {
  describe('prepareAction', () => {
    it('gives the statement the ledger checks the proof against (actorStatement at the given time)', () => {
      const prepared = prepareAction(place, dataAccess, NOW)
      assert.equal(prepared.at, NOW)
      assert.deepEqual(prepared.statement, statementOf({}))
      assert.deepEqual(prepared.body, dataAccess.body)
    })

    it("refuses, before anyone signs, what the ledger would refuse: the ledger's own typed errors", () => {
      const refusals: Array<[Record<string, unknown>, string]> = [
        [{ type: 'operator.launch_rockets' }, 'UnknownActionError'],
        [{ actor: { id: 'dr.smith', role: 'agent' } }, 'ActorRoleError'],
        [{ body: { resource: 'patients/42' } }, 'BodySchemaError'],
        [{ body: { resource: 'patients/42', purpose: 'care', extra: 1 } }, 'BodySchemaError'],
        [{ actor: { id: '', role: 'operator' } }, 'MalformedEntryError']
      ]
      for (const [change, name] of refusals)
        assert.throws(
          () => prepareAction(place, { ...dataAccess, ...change } as typeof dataAccess, NOW),
          { name },
          name
        )
      // An owner's action is valid in the owner's feed only.
      const revoke = {
        type: 'device.revoke',
        actor: { id: 'owner', role: 'owner' as const },
        body: { deviceId: 'c'.repeat(52), reason: 'stolen' }
      }
      assert.throws(() => prepareAction(place, revoke, NOW), { name: 'FeedRoleError' })
      const inOwnerFeed = prepareAction({ ...place, device: ownerFeedId(fleet) }, revoke, NOW)
      assert.equal(inOwnerFeed.at, NOW)
    })
  })

  describe('checkPreparedStatement (the signer side)', () => {
    it('accepts the statement of exactly the action asked for, and gives its time', () => {
      assert.deepEqual(checkPreparedStatement(statementOf({}), expected, NOW), { at: NOW })
      assert.deepEqual(checkPreparedStatement(statementOf({}, NOW - 5_000), expected, NOW), { at: NOW - 5_000 })
    })

    it('a lying agent: a statement with another body is refused, naming the field', () => {
      const lie = statementOf({ body: { resource: 'patients/43', purpose: 'care' } })
      assert.throws(
        () => checkPreparedStatement(lie, expected, NOW),
        (err: unknown) => {
          const mismatch = err as { name: string; code: string; field: string; expected: string; received: string }
          return (
            mismatch.name === 'StatementMismatchError' &&
            mismatch.code === 'ERR_STATEMENT_MISMATCH' &&
            mismatch.field === 'body.resource' &&
            mismatch.expected === '"patients/42"' &&
            mismatch.received === '"patients/43"'
          )
        }
      )
    })

    it('refuses another action, actor, role, device, fleet, attestation, or a field added or left out', () => {
      const lies: Array<[Uint8Array, string]> = [
        [statementOf({ type: 'operator.data_export' }), 'type'],
        [statementOf({ actor: { id: 'dr.jones', role: 'operator' } }), 'actor'],
        [statementOf({ actor: { id: 'dr.smith', role: 'auditor' } }), 'actor'],
        [statementOf({ device: 'c'.repeat(52) }), 'device'],
        [statementOf({ fleet: new Uint8Array(32).fill(0xf2) }), 'fleet'],
        [statementOf({ attest: new Uint8Array(32) }), 'attest'],
        [statementOf({ body: { ...dataAccess.body, note: 'also this' } }), 'body.note'],
        [statementOf({ body: { resource: 'patients/42' } }), 'body.purpose']
      ]
      for (const [lie, field] of lies)
        assert.throws(
          () => checkPreparedStatement(lie, expected, NOW),
          { name: 'StatementMismatchError', field },
          field
        )
      // A statement with a field no version-1 statement has.
      const extra = encodeCanonical({
        v: 1,
        fleet,
        device,
        ...dataAccess,
        attest: null,
        at: NOW,
        extra: true
      })
      assert.throws(() => checkPreparedStatement(domainSeparated(DOMAIN.actorAction, extra), expected, NOW), {
        name: 'StatementMismatchError',
        field: 'extra'
      })
    })

    it('takes a hex string of the body as the bytes the agent made of it, and nothing else for it', () => {
      const bytes = Uint8Array.of(0xde, 0xad, 0xbe, 0xef)
      const asked = { ...expected, body: { resource: 'patients/42', purpose: 'care', digest: 'DEADBEEF' } }
      const honest = statementOf({ body: { resource: 'patients/42', purpose: 'care', digest: bytes } })
      assert.deepEqual(checkPreparedStatement(honest, asked, NOW), { at: NOW })
      const otherBytes = statementOf({ body: { resource: 'patients/42', purpose: 'care', digest: bytes.slice(0, 3) } })
      assert.throws(() => checkPreparedStatement(otherBytes, asked, NOW), {
        name: 'StatementMismatchError',
        field: 'body.digest',
        received: `"0x${toHex(bytes.slice(0, 3))}"`
      })
      // A text field is not bytes because its text happens to be hex.
      const asText = { ...expected, body: { resource: 'abcd', purpose: 'care' } }
      const madeBytes = statementOf({ body: { resource: Uint8Array.of(0xab, 0xcd), purpose: 'care' } })
      assert.deepEqual(checkPreparedStatement(madeBytes, asText, NOW), { at: NOW })
      assert.throws(
        () => checkPreparedStatement(madeBytes, { ...asText, body: { resource: 'abce', purpose: 'care' } }, NOW),
        { name: 'StatementMismatchError', field: 'body.resource' }
      )
    })

    it('refuses what is not an action statement: another domain, bytes that do not decode, no time', () => {
      const body = statementOf({}).subarray(domainSeparated(DOMAIN.actorAction, new Uint8Array(0)).length)
      const malformed: Uint8Array[] = [
        domainSeparated(DOMAIN.checkpoint, body),
        domainSeparated(DOMAIN.actorAction, Uint8Array.of(0xff)),
        domainSeparated(DOMAIN.actorAction, encodeCanonical([1, 2])),
        domainSeparated(DOMAIN.actorAction, encodeCanonical({ v: 1, at: 'yesterday' })),
        new Uint8Array(0)
      ]
      for (const bytes of malformed)
        assert.throws(() => checkPreparedStatement(bytes, expected, NOW), {
          name: 'MalformedStatementError',
          code: 'ERR_STATEMENT_MALFORMED'
        })
    })

    it('refuses a statement dated further from now than APPROVALS_LIMITS.maxPreparedSkewMs, either way', () => {
      const skew = APPROVALS_LIMITS.maxPreparedSkewMs
      for (const at of [NOW + skew + 1, NOW - skew - 1])
        assert.throws(() => checkPreparedStatement(statementOf({}, at), expected, NOW), {
          name: 'StatementTimeError',
          at,
          now: NOW
        })
      assert.deepEqual(checkPreparedStatement(statementOf({}, NOW + skew), expected, NOW), { at: NOW + skew })
    })
  })

  describe('proofs as text', () => {
    const proof = encodeActorProof({ kind: 'pkcs11', at: NOW, sig: new Uint8Array(64).fill(3) })

    it('round-trips a proof through canonical base64', () => {
      assert.deepEqual(proofFromText(proofToText(proof)), proof)
    })

    it('refuses text that is not canonical base64 within its bound, and a proof that does not decode', () => {
      const text = proofToText(proof)
      assert.match(text, /=$/)
      const refused: unknown[] = [
        7,
        '',
        `${text}\n`,
        text.replace(/=+$/, ''),
        'AB==',
        'A'.repeat(APPROVALS_LIMITS.maxProofText + 4)
      ]
      for (const value of refused)
        assert.throws(() => proofFromText(value), { name: 'ProofTextError', code: 'ERR_PROOF_TEXT' }, String(value))
      assert.throws(() => proofFromText(Buffer.from(encodeCanonical({ v: 2 })).toString('base64')), {
        name: 'MalformedActorProofError'
      })
    })
  })
})
