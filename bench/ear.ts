/**
 * ear: signed attestation results (EAR JWTs) issued per second by one agent about one peer from
 * its current verdict, on swtpm. Two rates: without a nonce (the result is signed in the TPM once
 * per verdict and freshness window, then served from the issuer's cache) and with a fresh nonce
 * per request (one TPM2_Sign each, serialised on the device's one TPM context). Goal: ≥ 1,000/s.
 */
import { randomBytes } from 'node:crypto'
import { SimFleet, type SimDevice } from '../simnet/fleet.js'
import { type Bench, nowMs, round } from './types.js'

const CACHED_REQUESTS = 50_000
const NONCE_REQUESTS = 1_000
const GOAL_PER_S = 1000

export const earBench: Bench = {
  name: 'ear',
  description: `EAR tokens issued per second about one attested peer on swtpm: without a nonce (cached per verdict, ${CACHED_REQUESTS} requests) and with one (a TPM signature each, ${NONCE_REQUESTS} requests)`,
  async run(report) {
    const fleet = await SimFleet.create()
    try {
      const [dev1, dev2] = (await fleet.addEnrolled(2)) as [SimDevice, SimDevice]
      const agent1 = await fleet.start(dev1)
      const agent2 = await fleet.start(dev2)
      await agent1.node.dial(agent2.node.getMultiaddrs()[0]!)
      const device = dev2.state.deviceId
      const started = Date.now()
      while (agent1.attestation.verdictOn(device)?.trusted !== true) {
        if (Date.now() - started > 30_000) throw new Error('dev1 did not attest dev2')
        await new Promise((resolve) => setTimeout(resolve, 20))
      }
      const nonces = Array.from({ length: NONCE_REQUESTS }, () => randomBytes(32).toString('base64url'))
      await agent1.ear.issue({ device, nonce: nonces[0] }) // the TPM's first ECDSA operation may answer "retry"
      for (const [metric, requests, one] of [
        ['cached', CACHED_REQUESTS, () => agent1.ear.issue({ device, audience: 'https://rp.example' })],
        ['nonce', NONCE_REQUESTS, (i: number) => agent1.ear.issue({ device, nonce: nonces[i] })]
      ] as const) {
        const t0 = nowMs()
        // 64 requests in flight at a time, as a busy local API would see them.
        for (let i = 0; i < requests; i += 64)
          await Promise.all(
            Array.from({ length: Math.min(64, requests - i) }, (_, j) =>
              (one as (n: number) => Promise<unknown>)(i + j)
            )
          )
        const perSecond = requests / ((nowMs() - t0) / 1000)
        report({
          bench: 'ear',
          metric,
          value: round(perSecond, 0),
          unit: 'tokens/s',
          peer: 'goal',
          peerValue: GOAL_PER_S,
          ratio: round(perSecond / GOAL_PER_S, 2),
          requests,
          measures:
            metric === 'cached'
              ? 'results without a nonce: one TPM2_Sign per verdict and freshness window, then the cached token'
              : 'results with a fresh nonce: one TPM2_Sign (swtpm) per token'
        })
      }
    } finally {
      await fleet.close()
    }
  }
}
