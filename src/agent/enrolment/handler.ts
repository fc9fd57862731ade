import type { Connection, Stream } from '@libp2p/interface'
import type { Multiaddr } from '@multiformats/multiaddr'
import { type FleetNode, FramedStream } from '../../p2p/index.js'
import { ENROL_PROTOCOL, ENROL_LIMITS } from './ceremony.js'
import { runDeviceCeremony, type DeviceCeremonyInput } from './device-ceremony.js'
import { runOwnerCeremony, type OwnerCeremonyInput, type EnrolledDevice } from './owner-ceremony.js'
import type { DeviceEnrolment, EnrolmentRecord, SignedEnrolment } from './record.js'

const framed = (stream: Stream): FramedStream =>
  new FramedStream(stream, { maxBytes: ENROL_LIMITS.maxFrameBytes, timeoutMs: ENROL_LIMITS.stepTimeoutMs })

/**
 * The device opens its enrolment window: it serves /fleet/enrol/2 to one ceremony at a time until
 * one succeeds (resolves) or `signal` closes the window. A failed ceremony is reported through
 * `onFailure` and the window stays open for the next attempt.
 */
export async function acceptEnrolment(
  node: FleetNode,
  input: Omit<DeviceCeremonyInput, 'ownerPeerId'>,
  options: { signal?: AbortSignal; onFailure?: (err: Error, ownerPeerId: string) => void } = {}
): Promise<DeviceEnrolment> {
  let resolve!: (enrolment: DeviceEnrolment) => void
  let reject!: (err: Error) => void
  const promise = new Promise<DeviceEnrolment>((res, rej) => {
    resolve = res
    reject = rej
  })
  let busy = false
  const onAbort = (): void =>
    reject(
      options.signal?.reason instanceof Error ? options.signal.reason : new Error('the enrolment window was closed')
    )
  options.signal?.addEventListener('abort', onAbort, { once: true })
  await node.handle(
    ENROL_PROTOCOL,
    async (stream: Stream, connection: Connection) => {
      if (busy) {
        stream.abort(new Error('another enrolment is in progress'))
        return
      }
      busy = true
      const ownerPeerId = connection.remotePeer.toString()
      try {
        resolve(await runDeviceCeremony(framed(stream), { ...input, ownerPeerId }))
      } catch (err) {
        options.onFailure?.(err as Error, ownerPeerId)
      } finally {
        busy = false
      }
    },
    { maxInboundStreams: 1 }
  )
  try {
    return await promise
  } finally {
    options.signal?.removeEventListener('abort', onAbort)
    await node.unhandle(ENROL_PROTOCOL)
  }
}

/** The owner's side: dials the device's enrolment protocol and runs the ceremony. */
export async function enrolPeer(
  node: FleetNode,
  peer: Multiaddr,
  input: Omit<OwnerCeremonyInput, 'devicePeerId' | 'ownerPeerId'>,
  options: { signal?: AbortSignal } = {}
): Promise<{ signed: SignedEnrolment; record: EnrolmentRecord; device: EnrolledDevice }> {
  const connection = await node.dial(peer, options)
  const stream = await connection.newStream(ENROL_PROTOCOL, options)
  return await runOwnerCeremony(framed(stream), {
    ...input,
    devicePeerId: connection.remotePeer.toString(),
    ownerPeerId: node.peerId.toString()
  })
}
