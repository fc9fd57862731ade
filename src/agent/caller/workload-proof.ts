/**
 * A `service` entry's proof: what the agent measured of the program that asked (a `workload`
 * actor proof, src/ledger/actor-proof.ts). Nothing in it is the caller's word but an
 * interpreter's script, as for the caller's identity itself.
 */
import { encodeActorProof, encodeWorkloadEvidence } from '../../ledger/index.js'
import type { CallerIdentity } from './identify.js'

export function callerWorkloadProof(caller: CallerIdentity, at: number): Uint8Array {
  return encodeActorProof({
    kind: 'workload',
    at,
    sig: encodeWorkloadEvidence({
      uid: caller.uid,
      exe: caller.exe.slice(0, 4096),
      exeDigest: caller.exeDigest,
      script:
        caller.script === undefined
          ? undefined
          : { path: caller.script.path.slice(0, 4096), digest: caller.script.digest }
    })
  })
}
