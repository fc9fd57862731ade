import { Registry, Counter, Gauge, Histogram, collectDefaultMetrics } from 'prom-client'
import type { EsysTpm } from '../attest/index.js'
import type { Agent } from './agent.js'

/**
 * Prometheus metrics of a running agent, served on 127.0.0.1 only: peers and their verdicts,
 * ledger sizes, replication lag behind what peers announced, TPM latency, and the process's own.
 */
export async function startMetricsServer(
  runtime: Agent,
  tpm: EsysTpm | undefined,
  port: number
): Promise<{ port: number; close: () => Promise<void> }> {
  const registry = new Registry()
  collectDefaultMetrics({ register: registry, prefix: 'fleet_' })
  new Gauge({
    name: 'fleet_peers',
    help: 'peers seen, by last verdict',
    labelNames: ['verdict'],
    registers: [registry],
    collect() {
      this.reset()
      for (const peer of runtime.attestation.list())
        this.inc({ verdict: peer.trusted ? 'trusted' : (peer.kind ?? 'refused') })
    }
  })
  new Gauge({
    name: 'fleet_connections',
    help: 'open libp2p connections',
    registers: [registry],
    collect() {
      this.set(runtime.node.getConnections().length)
    }
  })
  // Counts since start, read from the services' own counters (which only grow) when scraped.
  new Counter({
    name: 'fleet_attestations_total',
    help: 'successful attestations of peers since start',
    registers: [registry],
    collect() {
      this.reset()
      this.inc(runtime.attestation.counts.trusted)
    }
  })
  new Counter({
    name: 'fleet_attestation_refusals_total',
    help: 'peers refused since start, by kind',
    labelNames: ['kind'],
    registers: [registry],
    collect() {
      this.reset()
      for (const [kind, count] of Object.entries(runtime.attestation.counts.refused)) this.inc({ kind }, count)
    }
  })
  new Counter({
    name: 'fleet_sync_pulls_total',
    help: 'pulls asked for since start (on attestation, announce or anti-entropy)',
    registers: [registry],
    collect() {
      this.reset()
      this.inc(runtime.replicator.counts.pullsAsked)
    }
  })
  new Gauge({
    name: 'fleet_own_feed_entries',
    help: "entries in this device's feed",
    registers: [registry],
    collect() {
      this.set(runtime.feed.ledger.size)
    }
  })
  new Gauge({
    name: 'fleet_own_feed_sealed',
    help: "entries of this device's feed covered by a signed checkpoint",
    registers: [registry],
    collect() {
      this.set(runtime.feed.ledger.sealedSize)
    }
  })
  new Gauge({
    name: 'fleet_own_checkpoint_cosigners',
    help: "cosignatures that verify on the own feed's newest checkpoint, by kind (fleet devices, external witnesses)",
    labelNames: ['kind'],
    registers: [registry],
    async collect() {
      this.reset()
      this.set({ kind: 'fleet' }, (await runtime.witnessedBy()).length)
      this.set({ kind: 'external' }, (await runtime.externallyWitnessedBy()).length)
    }
  })
  new Counter({
    name: 'fleet_external_witness_submissions_total',
    help: 'checkpoints submitted to external witnesses since start, by witness and outcome (cosigned, failed, split_view)',
    labelNames: ['witness', 'outcome'],
    registers: [registry],
    collect() {
      this.reset()
      for (const [witness, counts] of runtime.externalWitnessing.counts) {
        this.inc({ witness, outcome: 'cosigned' }, counts.cosigned)
        this.inc({ witness, outcome: 'failed' }, counts.failed)
        this.inc({ witness, outcome: 'split_view' }, counts.splitView)
      }
    }
  })
  new Gauge({
    name: 'fleet_feed_entries',
    help: 'entries held per feed (own and replicas)',
    labelNames: ['feed'],
    registers: [registry],
    async collect() {
      this.reset()
      for (const [feed, size] of await runtime.heads()) this.set({ feed }, size)
    }
  })
  new Gauge({
    name: 'fleet_sync_lag_entries',
    help: 'entries peers announced that this agent does not hold yet, summed over feeds',
    registers: [registry],
    async collect() {
      this.set(await runtime.syncLag())
    }
  })
  new Gauge({
    name: 'fleet_members',
    help: 'fleet members known, by state',
    labelNames: ['state'],
    registers: [registry],
    collect() {
      this.reset()
      for (const m of runtime.membership.list())
        this.inc({
          state: runtime.membership.isRevoked(m.deviceId)
            ? 'revoked'
            : runtime.membership.isQuarantined(m.deviceId)
              ? 'quarantined'
              : 'enrolled'
        })
    }
  })
  new Gauge({
    name: 'fleet_sink_backlog_entries',
    help: "entries past each sink's delivery cursors (an upper bound of the events waiting for it)",
    labelNames: ['sink'],
    registers: [registry],
    async collect() {
      this.reset()
      for (const sink of await runtime.sinks.status()) this.set({ sink: sink.name }, sink.backlog)
    }
  })
  new Counter({
    name: 'fleet_sink_delivered_total',
    help: 'events each sink took since start',
    labelNames: ['sink'],
    registers: [registry],
    async collect() {
      this.reset()
      for (const sink of await runtime.sinks.status()) this.inc({ sink: sink.name }, sink.delivered)
    }
  })
  new Counter({
    name: 'fleet_sink_failures_total',
    help: 'tries of a batch that a sink did not take, since start',
    labelNames: ['sink'],
    registers: [registry],
    async collect() {
      this.reset()
      for (const sink of await runtime.sinks.status()) this.inc({ sink: sink.name }, sink.failed)
    }
  })
  const tpmLatency = new Histogram({
    name: 'fleet_tpm_operation_seconds',
    help: 'TPM operation latency',
    labelNames: ['op', 'outcome'],
    buckets: [0.0005, 0.001, 0.002, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5],
    registers: [registry]
  })
  if (tpm !== undefined)
    tpm.observer = (op, ms, ok) => {
      tpmLatency.observe({ op, outcome: ok ? 'ok' : 'error' }, ms / 1000)
    }

  // node:http is imported here, not at the top: it brings Node's fetch implementation with it.
  const http = await import('node:http')
  const server = http.createServer((request, response) => {
    if (request.method !== 'GET' || request.url !== '/metrics') {
      response.writeHead(404).end()
      return
    }
    registry.metrics().then(
      (text) => {
        response.writeHead(200, { 'content-type': registry.contentType }).end(text)
      },
      (err: unknown) => {
        response.writeHead(500).end(String(err))
      }
    )
  })
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.listen(port, '127.0.0.1', () => resolve())
  })
  const address = server.address()
  return {
    port: typeof address === 'object' && address !== null ? address.port : port,
    close: async () => {
      if (tpm !== undefined) tpm.observer = undefined
      await new Promise<void>((resolve) => server.close(() => resolve()))
    }
  }
}
