/**
 * The syslog sink: RFC 5424 messages (golden lines: structured-data escaping, PRI from facility
 * and severity, the cut of a message too long for UDP), and delivery to a UDP and a TCP collector
 * on loopback that parse what they receive (RFC 5426 datagrams, RFC 6587 octet counting),
 * including a TCP collector that is down and comes back.
 */
import assert from 'node:assert/strict'
import dgram from 'node:dgram'
import net from 'node:net'
import {
  SEVERITY,
  escapeParamValue,
  severityOf,
  streamSyslogTransport,
  syslogMessage,
  type SinkEvent,
  type SyslogSinkConfig
} from '../../../src/agent/index.js'
import { FEED, expectedIds, sinkFeed, type SinkFeed } from '../../helpers/sink-feed.js'

const DEVICE = 'd'.repeat(52)
const event: SinkEvent = {
  id: `${DEVICE}/7`,
  feed: DEVICE,
  seq: 7,
  hash: 'ab'.repeat(32),
  type: 'workload.stop',
  actor: { id: `agent/${DEVICE}`, role: 'agent' },
  device: DEVICE,
  time: '2026-06-01T12:00:00.000Z',
  timeMs: Date.UTC(2026, 5, 1, 12),
  body: { exe: '/opt/x', exeDigest: { hex: 'cd'.repeat(32) }, pid: 42, reason: 'quorum "lost" [c:\\x]' }
}
const format = { facility: 16, hostname: 'host-1', procId: '4242', maxBytes: 65_536 }

/** An RFC 5424 message's parts (the header fields; SD and MSG as one rest). */
const SYSLOG_LINE =
  /^<(\d{1,3})>1 (\S+) (\S+) (\S+) (\S+) (\S+) (\[fleet@32473(?: [a-zA-Z]+="(?:[^"\\\]]|\\["\\\]])*")+\]) \uFEFF(.*)$/s

describe('syslog sink', () => {
  it('escapes ", \\ and ] in structured-data values, and nothing else', () => {
    assert.equal(escapeParamValue('a"b\\c]d[e='), 'a\\"b\\\\c\\]d[e=')
  })

  it('formats a workload stop as this golden line', () => {
    const line = syslogMessage(event, format)
    const golden =
      `<133>1 2026-06-01T12:00:00.000Z host-1 fleet-agent 4242 workload.stop ` +
      `[fleet@32473 id="${DEVICE}/7" feed="${DEVICE}" seq="7" device="${DEVICE}" actor="agent/${DEVICE}" ` +
      `hash="${'ab'.repeat(32)}" reason="quorum \\"lost\\" [c:\\\\x\\]"] \uFEFF${JSON.stringify(event)}`
    assert.equal(line, golden)
    // local0 (16) × 8 + notice (5) = 133; the parts parse back.
    const parts = SYSLOG_LINE.exec(line)
    assert.ok(parts !== null)
    assert.deepEqual(JSON.parse(parts[8]!), event)
  })

  it('maps each event to its severity', () => {
    const of = (type: string, body?: { trusted: boolean }): number => severityOf({ type, body })
    assert.equal(of('alert.tamper'), SEVERITY.alert)
    assert.equal(of('alert.clone_suspected'), SEVERITY.alert)
    assert.equal(of('alert.equivocation'), SEVERITY.alert)
    assert.equal(of('alert.cloned_authenticator'), SEVERITY.alert)
    assert.equal(of('alert.revocation'), SEVERITY.critical)
    assert.equal(of('attest.verdict', { trusted: false }), SEVERITY.warning)
    assert.equal(of('attest.verdict', { trusted: true }), SEVERITY.informational)
    assert.equal(of('device.revoke'), SEVERITY.notice)
    assert.equal(of('workload.stop'), SEVERITY.notice)
    const tamper = syslogMessage(
      { ...event, type: 'alert.tamper', body: { subject: DEVICE, pcr: 7, detail: 'x' } },
      {
        ...format,
        facility: 4
      }
    )
    // auth (4) × 8 + alert (1) = 33; the subject is a structured-data parameter.
    assert.ok(tamper.startsWith('<33>1 '))
    assert.match(tamper, new RegExp(`subject="${DEVICE}"`))
  })

  it('cuts a message longer than the transport takes at a character boundary, marked with …', () => {
    const long = { ...event, body: { ...(event.body as object), reason: 'é'.repeat(3000) } }
    const line = syslogMessage(long, { ...format, maxBytes: 2048 })
    assert.ok(Buffer.byteLength(line) <= 2048)
    assert.ok(line.endsWith('…'))
    assert.doesNotMatch(line, /\uFFFD/)
    assert.match(line, new RegExp(`id="${DEVICE}/7"`))
    // Header fields lose what RFC 5424 does not allow in them (spaces, non-ASCII), never the line's shape.
    const odd = syslogMessage(event, { ...format, hostname: 'host 1\u00e9' })
    assert.match(odd, /^<133>1 \S+ host1 fleet-agent /)
  })

  it('keeps control characters out of structured-data values, and bounds them: an entry cannot forge a line', () => {
    const forged = '\n<9>1 2026-06-01T12:00:00.000Z host-1 fleet-agent 1 alert.tamper - forged\r\u0085\u2028'
    const hostile = { ...event, body: { ...(event.body as object), reason: `x${forged}${'"'.repeat(600)}` } }
    for (const maxBytes of [2048, 65_536]) {
      const line = syslogMessage(hostile, { ...format, maxBytes })
      const sd = SYSLOG_LINE.exec(line)
      assert.ok(sd !== null, `not RFC 5424: ${line.slice(0, 300)}`)
      // The structured data is whole (it never reaches the cut) and holds no line breaks.
      assert.doesNotMatch(sd[7]!, /[\p{Cc}\u2028\u2029]/u)
      assert.ok(Buffer.byteLength(sd[7]!) < 1024, `${Buffer.byteLength(sd[7]!)} bytes of structured data`)
      // The message JSON still carries the value whole, escaped.
      assert.doesNotMatch(line, /[\n\r]/)
    }
  })

  it('sends NILVALUE for a time RFC 5424 cannot state (a year past 9999, or before 0)', () => {
    for (const time of ['+275760-09-13T00:00:00.000Z', '-000001-01-01T00:00:00.000Z', null]) {
      const line = syslogMessage({ ...event, time }, format)
      assert.match(line, /^<133>1 - host-1 fleet-agent /, String(time))
      assert.ok(SYSLOG_LINE.exec(line) !== null)
    }
  })

  it('gives up a TCP write the collector never reads: a timeout, and at once when stopped', async function () {
    this.timeout(60_000)
    const held: net.Socket[] = []
    // A collector that accepts and never reads: the kernel's buffers fill and the write waits.
    const collector = net.createServer((socket) => {
      socket.pause()
      held.push(socket)
    })
    await new Promise<void>((resolve) => collector.listen(0, '127.0.0.1', resolve))
    const address = `127.0.0.1:${(collector.address() as net.AddressInfo).port}`
    const messages = Array.from({ length: 100 }, (_, i) => `${i} ${'x'.repeat(60_000)}`)
    const flood = [...messages, ...messages, ...messages, ...messages]
    try {
      const timed = streamSyslogTransport('tcp', address, { timeoutMs: 500 })
      const started = Date.now()
      await assert.rejects(timed.send(flood), { name: 'SinkTimeoutError' })
      assert.ok(Date.now() - started < 10_000)
      await timed.close()
      const stopping = new AbortController()
      const stopped = streamSyslogTransport('tcp', address)
      const sending = stopped.send(flood, { signal: stopping.signal })
      setTimeout(() => stopping.abort(), 300)
      await assert.rejects(sending)
      await stopped.close()
    } finally {
      for (const socket of held) socket.destroy()
      collector.close()
    }
  })

  describe('delivery on loopback', function () {
    this.timeout(60_000)
    let feed: SinkFeed
    beforeEach(async () => {
      feed = await sinkFeed()
    })
    afterEach(async () => {
      await feed.close()
    })

    const parse = (line: string): { pri: number; type: string; id: string } => {
      const parts = SYSLOG_LINE.exec(line)
      assert.ok(parts !== null, `not RFC 5424: ${line.slice(0, 200)}`)
      const parsed = JSON.parse(parts[8]!) as SinkEvent
      return { pri: Number(parts[1]), type: parts[6]!, id: parsed.id }
    }

    it('sends each event as one datagram to a UDP collector', async () => {
      const collector = dgram.createSocket('udp4')
      const lines: string[] = []
      collector.on('message', (message) => lines.push(message.toString('utf8')))
      await new Promise<void>((resolve) => collector.bind(0, '127.0.0.1', resolve))
      try {
        await feed.append(30)
        const config: SyslogSinkConfig = {
          kind: 'syslog',
          name: 'udp',
          transport: 'udp',
          address: `127.0.0.1:${collector.address().port}`,
          hostname: 'host-1'
        }
        const { service, recorder } = feed.service([config])
        const idle = recorder.next((e) => e.type === 'idle')
        await service.start()
        await idle
        await service.stop()
        // Datagrams on loopback arrive; wait for the last one's arrival, not for time.
        while (lines.length < expectedIds(30).length) await new Promise((resolve) => collector.once('message', resolve))
        const parsed = lines.map(parse)
        assert.deepEqual(
          parsed.map((p) => p.id),
          expectedIds(30)
        )
        // A trusted verdict is information, an untrusted one a warning, a stop a notice (local0).
        assert.equal(parsed[0]!.pri, 16 * 8 + 6)
        assert.equal(parsed[0]!.type, 'attest.verdict')
        assert.equal(parsed.find((p) => p.id === `${FEED}/3`)!.pri, 16 * 8 + 4)
        assert.equal(parsed.find((p) => p.type === 'workload.stop')!.pri, 16 * 8 + 5)
      } finally {
        collector.close()
      }
    })

    it('frames messages by octet counting over TCP, and keeps them while the collector is down', async () => {
      const received: string[] = []
      let arrived: (() => void) | undefined
      const collector = net.createServer((socket) => {
        let buffer = Buffer.alloc(0)
        socket.on('data', (chunk: Buffer) => {
          buffer = Buffer.concat([buffer, chunk])
          for (;;) {
            const space = buffer.indexOf(0x20)
            if (space < 0) break
            const length = Number(buffer.subarray(0, space).toString('ascii'))
            assert.ok(Number.isSafeInteger(length) && length > 0, 'an octet count')
            if (buffer.length < space + 1 + length) break
            received.push(buffer.subarray(space + 1, space + 1 + length).toString('utf8'))
            buffer = buffer.subarray(space + 1 + length)
          }
          arrived?.()
        })
      })
      // A port that refuses connections until the collector listens on it.
      await new Promise<void>((resolve) => collector.listen(0, '127.0.0.1', resolve))
      const port = (collector.address() as net.AddressInfo).port
      await new Promise<void>((resolve) => collector.close(() => resolve()))
      await feed.append(45)
      const config: SyslogSinkConfig = { kind: 'syslog', name: 'tcp', transport: 'tcp', address: `127.0.0.1:${port}` }
      const { service, recorder } = feed.service([config])
      const failed = recorder.next((e) => e.type === 'failed')
      await service.start()
      const failure = await failed
      assert.equal(failure.type === 'failed' && failure.code, 'ERR_SINK_TRANSPORT')
      assert.match(failure.type === 'failed' ? failure.error : '', /ECONNREFUSED/)
      const down = (await service.status())[0]!
      assert.equal(down.backlog, 45)
      assert.equal(down.delivered, 0)
      await new Promise<void>((resolve) => collector.listen(port, '127.0.0.1', resolve))
      try {
        const idle = recorder.next((e) => e.type === 'idle')
        feed.timers.fireAll()
        await idle
        while (received.length < expectedIds(45).length) await new Promise<void>((resolve) => (arrived = resolve))
        assert.deepEqual(
          received.map((line) => parse(line).id),
          expectedIds(45)
        )
        const up = (await service.status())[0]!
        assert.equal(up.backlog, 0)
        assert.equal(up.delivered, 30)
        await service.stop()
      } finally {
        collector.close()
      }
    })
  })
})
