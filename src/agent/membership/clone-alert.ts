/** The alert an agent records when an actor's security key signed with a counter that did not grow. */
import type { AppendInput } from '../../ledger/index.js'
import type { CloneReport } from './actors.js'

/** alert.cloned_authenticator in `deviceId`'s own feed: peers read it, the owner revokes the actor. */
export function clonedAuthenticatorAlert(clone: CloneReport, deviceId: string): AppendInput {
  return {
    type: 'alert.cloned_authenticator',
    actor: { id: `agent/${deviceId}`, role: 'agent' },
    attest: null,
    body: {
      actorId: clone.actorId,
      credentialId: clone.credentialId,
      feed: clone.feed,
      seq: clone.seq,
      counter: clone.counter,
      againstFeed: clone.against.feed,
      againstSeq: clone.against.seq,
      againstCounter: clone.against.counter
    }
  }
}
