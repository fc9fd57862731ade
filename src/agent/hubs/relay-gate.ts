/**
 * Who may use a hub's relay: devices the hub has attested on a live connection (enrolled,
 * unrevoked, unquarantined, with a trusted boot), nobody else. A reservation asked for while the
 * asker's attestation is still under way waits for it, bounded; a link is carried only between
 * two attested devices; a device takes links only through a hub it has attested (enrolled as a hub). Counted, for
 * status and metrics.
 */
import type { RelayGate } from '../../p2p/index.js'

/** What the gate needs of the attestation service. */
export interface RelayAttestation {
  attested(peerId: string): boolean
  /** The role the peer's enrolment record gives it. */
  roleOf(peerId: string): string | undefined
  whenAttested(peerId: string, ms: number): Promise<boolean>
}

export interface RelayCounts {
  reservationsGranted: number
  reservationsRefused: number
  linksCarried: number
  linksRefused: number
}

/** The gate, asking `attestation()` (undefined until the service exists: everything refused). */
export function relayGate(
  attestation: () => RelayAttestation | undefined,
  waitMs: number
): { gate: RelayGate; counts: RelayCounts } {
  const counts: RelayCounts = { reservationsGranted: 0, reservationsRefused: 0, linksCarried: 0, linksRefused: 0 }
  const gate: RelayGate = {
    mayReserve: async (peerId) => {
      const granted = (await attestation()?.whenAttested(peerId, waitMs)) === true
      if (granted) counts.reservationsGranted++
      else counts.reservationsRefused++
      return granted
    },
    mayRelay: (source, destination) => {
      const service = attestation()
      const carried = service?.attested(source) === true && service.attested(destination)
      if (carried) counts.linksCarried++
      else counts.linksRefused++
      return carried
    },
    // Only a device enrolled as a hub relays: a member that is not one is no relay to trust.
    relayTrusted: (relay) => attestation()?.attested(relay) === true && attestation()?.roleOf(relay) === 'hub'
  }
  return { gate, counts }
}
