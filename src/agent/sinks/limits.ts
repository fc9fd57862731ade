/** Every bound of event delivery to sinks (webhook, syslog). */
export const SINK_LIMITS = {
  /** Entries read from a feed at a time past a cursor: memory stays bounded whatever the backlog. */
  pageEntries: 256,
  /** Events in one webhook POST (one TPM signature per POST) unless the config asks otherwise (ops/sink-config.ts bounds it). */
  webhookBatchEvents: 100,
  /** A webhook body (the JWS) past this is split: the batch is cut before the event that would cross it. */
  maxWebhookBodyBytes: 1024 * 1024,
  /** Bytes of a webhook's response read (and thrown away) before the connection is dropped. */
  maxResponseBytes: 64 * 1024,
  /** Characters of a response kept for the sink's last error. */
  maxErrorDetailChars: 200,
  /** One webhook POST or syslog connect-and-write, from the first byte to the answer. */
  requestTimeoutMs: 15_000,
  /** Syslog lines sent per write (one cursor write per batch). */
  syslogBatchEvents: 100,
  /**
   * A syslog message over UDP (RFC 5426 asks receivers to take 2048 octets at least; IPv4 UDP
   * carries 65,507 at most): longer messages lose the end of their MSG, marked with "…".
   */
  maxUdpMessageBytes: 2048,
  /** Characters of one SD-PARAM value (a reason): the structured data fits the shortest message whole. */
  maxParamChars: 128,
  /** A syslog message over TCP or a unix socket (octet-counted, RFC 6587). */
  maxStreamMessageBytes: 64 * 1024,
  /**
   * Retry: the first delay after a failure, doubling per consecutive failure up to the cap, each
   * with jitter. The cap bounds how long a collector back from an outage waits for an agent's
   * backlog (7.5 to 15 s with equal jitter); a fleet's agents then try once per 11 s on average.
   */
  retryBaseMs: 1_000,
  retryCapMs: 15_000,
  /** How often each sink looks for new entries when it has delivered everything (the agent also wakes it). */
  pollMs: 1_000
} as const
