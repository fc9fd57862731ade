/**
 * Domain-separation tags for every hybrid signature (hypercore's `caps`). A signature made for one
 * kind of message can never be taken for another: the signed bytes are
 * `"fleet-v1/" ‖ tag ‖ 0x00 ‖ message`. Do NOT change or reuse a tag: add new ones.
 */
export const DOMAIN = {
  checkpoint: 'checkpoint',
  cosignature: 'cosignature',
  enrolment: 'enrolment',
  statement: 'owner-statement',
  genesis: 'genesis',
  policy: 'boot-policy',
  release: 'release-approval',
  /** What an actor's own hardware key signs for one action (src/ledger/actor-proof.ts). */
  actorAction: 'actor-action',
  /** What an actor's security key signs to sign in to an agent's console (src/agent/console/key-sign-in.ts). */
  consoleSignIn: 'console-sign-in'
} as const

export type Domain = (typeof DOMAIN)[keyof typeof DOMAIN]

const PREFIX = Buffer.from('fleet-v1/', 'ascii')

export function domainSeparated(domain: Domain, message: Uint8Array): Uint8Array {
  return new Uint8Array(Buffer.concat([PREFIX, Buffer.from(domain, 'ascii'), Buffer.of(0), message]))
}
