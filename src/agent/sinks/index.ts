/**
 * Events out to a security operations centre: this device's verdicts, alerts and workload stops
 * (its own feed) and the owner's revocations (the owner's feed as held here), delivered to
 * configured sinks — webhooks (a JWS-signed batch per HTTPS POST) and syslog collectors (RFC
 * 5424 over UDP, TCP or a unix socket). The ledger is the queue: each sink keeps a durable
 * cursor per feed, moved only after the sink took a batch, so a sink (or the agent) that is down
 * loses nothing, delivery resumes where it stopped, in seq order per feed, at least once (each
 * event's id "<feed>/<seq>" lets a receiver drop what it has seen).
 *
 * What a sink is configured with (its schema and checks) is the config's: ops/sink-config.ts.
 *
 * @example
 * const sinks = new SinkService(
 *   { source: ledgerSinkSource(store, { … }), cursors: new CursorStore(store), signer, clock, random },
 *   { deviceId, sinks: [{ kind: 'webhook', name: 'soc', url: 'https://soc.example/fleet', caFile: '/etc/fleet/soc-ca.pem' }] }
 * )
 * await sinks.start()
 * // … (await sinks.status())[0].backlog …
 * await sinks.stop()
 */
export { SINK_LIMITS } from './limits.js'
export { SinkCursorError, SinkHttpStatusError, SinkTimeoutError, SinkTransportError } from './errors.js'
export { SEVERITY, severityOf, sinkEventOf, type SinkEvent } from './event.js'
export { CursorStore } from './cursor-store.js'
export { ledgerSinkSource, type SinkSource } from './source.js'
export { retryDelayMs, timerWait, type Wait } from './retry.js'
export type { Sink } from './sink.js'
export {
  WebhookSink,
  eventsHeader,
  nodeWebhookTransport,
  type WebhookRequest,
  type WebhookResponse,
  type WebhookTransport
} from './webhook.js'
export {
  SYSLOG_APP_NAME,
  SYSLOG_SD_ID,
  SyslogSink,
  escapeParamValue,
  streamSyslogTransport,
  syslogMessage,
  udpSyslogTransport,
  type SyslogFormat,
  type SyslogTransport
} from './syslog.js'
export {
  SinkService,
  type SinkComponents,
  type SinkServiceEvent,
  type SinkServiceInit,
  type SinkStatus
} from './service.js'
