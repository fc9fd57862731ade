/**
 * `npm run demo`: a five-device fleet on software TPMs through the whole story — the owner's
 * enrolment ceremony with its 6-digit check, mutual attestation, typed actions in TPM + ML-DSA-65
 * signed feeds (each vouched for by a PKCS#11 token, a FIDO2 key in headless Chromium, or the
 * measured program of a service), replication without a master, then a tampered boot, a cloned identity and a
 * revoked device refused; as root, a second fleet at two sites behind NAT joined through a hub.
 * Everything runs on real parts (swtpm through tpm2-tss, libp2p with Noise, LevelDB). The first
 * fleet is left in .fleet-demo/ with the commands to inspect it.
 */
import { execFile, spawn } from 'node:child_process'
import { createHash } from 'node:crypto'
import { readFileSync, realpathSync } from 'node:fs'
import { mkdir, rm, writeFile } from 'node:fs/promises'
import path from 'node:path'
import { promisify } from 'node:util'
import { fileURLToPath } from 'node:url'
import { fingerprint } from '../src/attest/index.js'
import {
  unlockDevice,
  agentMeasurement,
  ownerFeedId,
  publishOwnerFeed,
  CloneDetectedError,
  EnrolmentRefusedError,
  CONTROL_SOCKET,
  defaultActorKeyLabel,
  startControlServer,
  type Agent
} from '../src/agent/index.js'
import { startWebAuthnEnrolment, webAuthnEnrolBody } from '../src/cli/actor-webauthn.js'
import { cryptoRandom, toHex } from '../src/common/index.js'
import { softwareP256Signer } from '../src/identity/index.js'
import { actorStatement, encodeActorProof } from '../src/ledger/index.js'
import { loadModule } from '../src/pkcs11/index.js'
import { SimFleet, type SimDevice } from '../simnet/index.js'
import { NetnsSites } from '../simnet/netns-sites.js'
import { pressApprove, serveControl } from '../test/helpers/actors.js'
import { findChromium, launchChromium, openAuthenticatorPage, type LaunchedChromium } from '../test/helpers/browser.js'

const run = promisify(execFile)
const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..')
const demoDir = path.join(root, '.fleet-demo')
const fleetCli = path.join(root, 'bin/fleet')
const short = (id: string): string => `${id.slice(0, 12)}…`

let step = 0
function say(title: string, detail = ''): void {
  step++
  process.stdout.write(`\n[${step}] ${title}\n${detail === '' ? '' : `${detail.replace(/^/gm, '    ')}\n`}`)
}

async function until(condition: () => Promise<boolean> | boolean, ms: number, what: string): Promise<number> {
  const started = Date.now()
  while (!(await condition())) {
    if (Date.now() - started > ms) throw new Error(`timed out waiting for ${what}`)
    await new Promise((resolve) => setTimeout(resolve, 20))
  }
  return Date.now() - started
}

function table(rows: string[][]): string {
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)))
  return rows.map((r) => r.map((cell, i) => cell.padEnd(widths[i]!)).join('  ')).join('\n')
}

let fleetIdHex = ''

/** Seals the owner's feed and hands it to one agent (it spreads agent to agent from there). */
async function handOwnerFeedTo(fleet: SimFleet, agent: Agent): Promise<void> {
  const { owner } = fleet
  await owner.feed.ledger.checkpoint()
  const fleetId = new Uint8Array(Buffer.from(owner.state.fleetId, 'hex'))
  await publishOwnerFeed(owner.node, owner.feed.store, ownerFeedId(fleetId), owner.feed.ledger.sealedSize, [
    agent.node.getMultiaddrs()[0]!
  ])
}

const SOFTHSM_MODULE = '/usr/lib/softhsm/libsofthsm2.so'
const DEMO_PIN = '1234-5678'
/** A local service: connects to the agent's control socket, sends one request, prints the answer. */
const SERVICE_SCRIPT = `
  const socket = require('node:net').createConnection(process.argv[1])
  let text = ''
  socket.on('data', (chunk) => { text += chunk })
  socket.on('end', () => process.stdout.write(text))
  socket.write(process.argv[2] + '\\n')`

/** A SoftHSM2 token store in `dir` with one token, for this process (SOFTHSM2_CONF). */
async function softHsmToken(dir: string, label: string, pin: string): Promise<void> {
  await mkdir(path.join(dir, 'tokens'), { recursive: true })
  const conf = path.join(dir, 'softhsm2.conf')
  await writeFile(
    conf,
    `directories.tokendir = ${path.join(dir, 'tokens')}\nobjectstore.backend = file\nlog.level = ERROR\n`
  )
  process.env.SOFTHSM2_CONF = conf
  await run('softhsm2-util', ['--init-token', '--free', '--label', label, '--so-pin', '87654321', '--pin', pin])
}

/** The model Chromium's virtual FIDO2 authenticator reports, and the root its attestation chains to. */
const VIRTUAL_KEY_AAGUID = '01020304-0506-0708-0102-030405060708'
const VIRTUAL_KEY_ROOT = path.join(root, 'test/vectors/webauthn/chromium-virtual-attestation.pem')

/** A security key in headless Chromium: the DevTools virtual FIDO2 authenticator (a YubiKey or similar in production). */
interface SecurityKey {
  page: Awaited<ReturnType<typeof openAuthenticatorPage>>['page']
  close: () => Promise<void>
}

async function securityKey(): Promise<SecurityKey | undefined> {
  const executable = findChromium()
  if (executable === undefined) return undefined
  const chromium: LaunchedChromium = await launchChromium(executable)
  try {
    const { page } = await openAuthenticatorPage(chromium.browser)
    return { page, close: chromium.close }
  } catch (err) {
    await chromium.close()
    throw err
  }
}

/** The owner enrols `actorId`'s security key on the enrolment page, the actor touching it in the browser. */
async function enrolSecurityKey(
  key: SecurityKey,
  actorId: string
): Promise<{ body: Record<string, unknown>; words: string }> {
  const enrolment = await startWebAuthnEnrolment({
    actorId,
    port: 0,
    allow: { aaguids: [VIRTUAL_KEY_AAGUID], roots: [readFileSync(VIRTUAL_KEY_ROOT, 'utf8')] },
    challenge: cryptoRandom.bytes(32),
    excludeCredentialIds: [],
    waitSeconds: 30
  })
  try {
    if ((await pressApprove(key.page, enrolment.url)) !== 'done')
      throw new Error(`${actorId}'s security key was not enrolled`)
    const enrolled = await enrolment.credential
    return {
      words: `model ${enrolled.aaguid}, ${enrolled.fmt} attestation chained to the root the owner pinned`,
      body: webAuthnEnrolBody(actorId, 'operator', enrolled)
    }
  } finally {
    await enrolment.close()
  }
}

/** `fleet ledger append --webauthn` against a device's running agent: the actor touches the key on the agent's page. */
async function approveOnPage(
  key: SecurityKey,
  approvals: { url: string | undefined; pendingCount: number },
  args: string[]
): Promise<{ seq: number }> {
  const child = spawn(fleetCli, ['ledger', 'append', ...args, '--webauthn', '--json'], {
    stdio: ['ignore', 'pipe', 'pipe']
  })
  let stdout = ''
  let stderr = ''
  child.stdout.on('data', (chunk: Buffer) => {
    stdout += chunk.toString()
  })
  const asked = new Promise<void>((resolve) => {
    child.stderr.on('data', (chunk: Buffer) => {
      stderr += chunk.toString()
      if (stderr.includes('approve at ')) resolve()
    })
  })
  const exited = new Promise<number | null>((resolve) => child.once('close', resolve))
  await Promise.race([asked, exited])
  await until(() => approvals.pendingCount === 1 || child.exitCode !== null, 30_000, 'the action on the approval page')
  if (child.exitCode === null && (await pressApprove(key.page, approvals.url!)) !== 'done') child.kill()
  const status = await exited
  if (status !== 0) throw new Error(`fleet ledger append --webauthn failed: ${stderr.trim()}`)
  return JSON.parse(stdout) as { seq: number }
}

async function main(): Promise<void> {
  await stopLeftovers()
  await rm(demoDir, { recursive: true, force: true })
  const fleet = await SimFleet.create({ root: demoDir, name: 'clinic-west' })
  fleetIdHex = fleet.owner.state.fleetId
  const agents: Agent[] = []
  try {
    say(
      'The owner founds the fleet',
      `owner key in the owner machine's TPM (P-256) + ML-DSA-65 sealed to its boot\nfleetId ${fleet.owner.state.fleetId}`
    )

    const devices: SimDevice[] = []
    const rows = [['device', 'deviceId (fingerprint)', 'owner sees', 'device sees']]
    for (let i = 0; i < 5; i++) {
      const device = await fleet.addDevice('good')
      const shown: Record<string, string> = {}
      await fleet.enrol(device, {
        onSas: (side, sas) => {
          shown[side] = `${sas.slice(0, 3)} ${sas.slice(3)}`
        }
      })
      devices.push(device)
      rows.push([device.name, fingerprint(device.state.deviceId), shown.owner ?? '', shown.device ?? ''])
    }
    say(
      'Five devices booted (simulated UEFI Secure Boot), made their keys in their own TPMs, and were enrolled',
      [
        'ceremony per device: EK certificate checked, MakeCredential/ActivateCredential, quote + event log judged by the boot policy,',
        'then the same 6 digits on both screens (commit-then-reveal over the whole transcript) before the owner signs:',
        table(rows)
      ].join('\n')
    )

    for (const device of devices) agents.push(await fleet.start(device, { syncIntervalMs: 1_000 }))
    for (let i = 0; i < agents.length; i++)
      for (let j = i + 1; j < agents.length; j++) await agents[i]!.node.dial(agents[j]!.node.getMultiaddrs()[0]!)
    const ids = agents.map((a) => a.node.peerId.toString())
    const meshMs = await until(
      () => agents.every((a, i) => ids.every((id, j) => i === j || a.attestation.attested(id))),
      60_000,
      'mutual attestation'
    )
    say(
      'Agents connected over Noise and attested each other (quotes bound to nonce + both PeerIds, event logs replayed, policy applied)',
      `${agents.length * (agents.length - 1)} verdicts, all trusted, in ${meshMs} ms; each verdict is an attest.verdict entry in the verifier's feed`
    )

    // The people and programs that act: dr.smith's key made on a PKCS#11 token (SoftHSM2 here; a
    // YubiKey, Nitrokey or HSM in production), and the triage service's program, as measured.
    await softHsmToken(path.join(demoDir, 'softhsm'), 'dr.smith', DEMO_PIN)
    const module = loadModule(SOFTHSM_MODULE)
    const session = await module.openToken({ token: 'dr.smith', pin: DEMO_PIN })
    const smithKey = await session.generateP256(defaultActorKeyLabel('dr.smith'))
    const tokenWords = `${session.token.manufacturer} ${session.token.model} token "${session.token.label}" serial ${session.token.serial}`
    const node = realpathSync(process.execPath)
    const nodeDigest = new Uint8Array(createHash('sha256').update(readFileSync(node)).digest())
    const fleetId = new Uint8Array(Buffer.from(fleet.owner.state.fleetId, 'hex'))
    const ownerActor = { id: 'owner/clinic-west', role: 'owner' }
    await fleet.owner.feed.ledger.append({
      type: 'actor.enrol',
      actor: ownerActor,
      attest: null,
      body: {
        actorId: 'dr.smith',
        role: 'operator',
        kind: 'pkcs11',
        publicKey: smithKey.publicKey,
        hardware: tokenWords
      }
    })
    await fleet.owner.feed.ledger.append({
      type: 'workload.allow',
      actor: ownerActor,
      attest: null,
      body: {
        service: 'triage-service',
        uid: process.getuid?.() ?? 0,
        exeDigest: nodeDigest,
        exe: node,
        description: 'triage model server (here: this Node)'
      }
    })
    // nurse.lee's FIDO2 security key (Chromium's virtual authenticator here), enrolled on the
    // owner's page: its attestation must chain to the root the owner pinned for that model.
    const nurseKey = await securityKey()
    let nurse: Awaited<ReturnType<typeof enrolSecurityKey>> | undefined
    try {
      if (nurseKey !== undefined) {
        nurse = await enrolSecurityKey(nurseKey, 'nurse.lee')
        await fleet.owner.feed.ledger.append({ type: 'actor.enrol', actor: ownerActor, attest: null, body: nurse.body })
      }
    } catch (err) {
      await nurseKey?.close()
      throw err
    }
    await handOwnerFeedTo(fleet, agents[0]!)
    await until(
      () =>
        agents.every(
          (a) =>
            a.membership.actors.workloads.list().length > 0 &&
            (nurse === undefined || a.membership.actors.get('nurse.lee') !== undefined)
        ),
      30_000,
      "the owner's actor statements"
    )
    const smithAction = {
      fleet: fleetId,
      device: devices[0]!.state.deviceId,
      type: 'operator.data_access',
      actor: { id: 'dr.smith', role: 'operator' },
      attest: null,
      body: { resource: 'patient/4711', purpose: 'treatment', records: 3 }
    }
    const at = Date.now()
    const smithProof = encodeActorProof({
      kind: 'pkcs11',
      at,
      sig: await smithKey.sign(actorStatement(smithAction, at))
    })
    await agents[0]!.feed.ledger.append({ ...smithAction, proof: smithProof })
    await module.close()
    // The triage service calls dev2's control socket from a program of its own: the agent names it
    // by the kernel's word (uid, executable, SHA-256) and appends only because the owner allowed it.
    const control = await startControlServer(agents[1]!, devices[1]!.dir, devices[1]!.state.deviceId)
    const hash = (text: string): string => createHash('sha256').update(text).digest('hex')
    const serviceRequest = {
      cmd: 'append',
      type: 'service.model_inference',
      actor: { id: 'triage-service', role: 'service' },
      body: { model: 'triage-v3', inputHash: hash('input'), outputHash: hash('output') }
    }
    const service = await run(node, [
      '-e',
      SERVICE_SCRIPT,
      path.join(devices[1]!.dir, CONTROL_SOCKET),
      JSON.stringify(serviceRequest)
    ])
    await control.close()
    const serviceAnswer = JSON.parse(service.stdout) as { ok: boolean; error?: string }
    if (!serviceAnswer.ok) throw new Error(`the triage service was refused: ${serviceAnswer.error}`)
    // nurse.lee acts on dev4 with `fleet ledger append --webauthn`: the agent shows the action on
    // its approval page, she touches her key, the agent appends the action with her assertion.
    let nurseRow: string[]
    if (nurseKey !== undefined && nurse !== undefined) {
      const served = await serveControl(devices[3]!, agents[3]!, {})
      try {
        await approveOnPage(nurseKey, served.approvals!, [
          '--state',
          devices[3]!.dir,
          '--type',
          'operator.data_access',
          '--actor',
          'nurse.lee',
          '--body',
          JSON.stringify({ resource: 'patient/4711/medication', purpose: 'treatment' })
        ])
      } finally {
        await served.close()
        await nurseKey.close()
      }
      nurseRow = [
        'dev4',
        'operator.data_access',
        'nurse.lee',
        `her FIDO2 key (${nurse.words}), touched on dev4's approval page`
      ]
    } else nurseRow = ['dev4', '(skipped)', 'nurse.lee', 'no Chromium for the FIDO2 key (apt-get install chromium)']
    // dev3: an action "by dr.smith" signed by a key that is not his.
    const forgedAction = {
      ...smithAction,
      device: devices[2]!.state.deviceId,
      body: { resource: 'ward/7/roster', purpose: 'audit' }
    }
    const impostorKey = softwareP256Signer()
    const forged = encodeActorProof({
      kind: 'pkcs11',
      at,
      sig: await impostorKey.sign(actorStatement(forgedAction, at))
    })
    let refusal = ''
    try {
      await agents[2]!.feed.ledger.append({ ...forgedAction, proof: forged })
      throw new Error('a forged actor signature was appended')
    } catch (err) {
      if ((err as { code?: string }).code !== 'ERR_ACTOR_SIGNATURE') throw err
      refusal = (err as Error).message
    }
    for (const agent of agents) await agent.feed.ledger.checkpoint()
    say(
      'Typed actions, each vouched for by hardware (checked against the ontology, bound to actor and attested device)',
      table([
        ['device', 'action', 'actor', 'vouched for by'],
        ['dev1', 'operator.data_access', 'dr.smith', `his key on ${tokenWords} (made there, never extractable)`],
        [
          'dev2',
          'service.model_inference',
          'triage-service',
          `its program as dev2's agent measured it: sha256 ${short(toHex(nodeDigest))}, allowed by the owner`
        ],
        ['dev3', 'operator.data_access', '"dr.smith"', `refused: ${refusal.slice(refusal.indexOf('the signature'))}`],
        nurseRow
      ]) + '\nsealed by checkpoints signed with each TPM-held DSK and ML-DSA-65; every peer checks the same'
    )

    const feeds = devices.map((d) => d.state.deviceId)
    const converged = async (): Promise<boolean> => {
      for (const agent of agents) {
        const heads = await agent.heads()
        for (let i = 0; i < feeds.length; i++)
          if ((heads.get(feeds[i]!) ?? 0) < agents[i]!.feed.ledger.sealedSize) return false
      }
      return true
    }
    const syncMs = await until(converged, 60_000, 'replication')
    const heads = [['holder', ...devices.map((d) => `${d.name} feed`)]]
    for (let i = 0; i < agents.length; i++) {
      const h = await agents[i]!.heads()
      heads.push([devices[i]!.name, ...feeds.map((f) => String(h.get(f) ?? 0))])
    }
    say(
      `Replicated peer to peer, no master: every agent holds and has verified every feed (${syncMs} ms)`,
      table(heads)
    )

    const tampered = await fleet.addDevice('tampered-kernel')
    try {
      await fleet.enrol(tampered)
      throw new Error('a tampered device was enrolled')
    } catch (err) {
      if (!(err instanceof EnrolmentRefusedError)) throw err
      say(`A device with a tampered kernel asks to join: refused (${tampered.name})`, err.message.replace(/; /g, '\n'))
    }

    const cloneTarget = devices[2]!
    const copyMachine = await fleet.addDevice('good')
    try {
      await unlockDevice(
        copyMachine.tpm,
        cloneTarget.state,
        await agentMeasurement({ bootPcrs: [0, 1, 2, 3, 4, 7], agentPcr: 23 })
      )
      throw new Error('a copied state directory unlocked')
    } catch (err) {
      if (!(err instanceof CloneDetectedError)) throw err
    }
    const impostor = await fleet.start(copyMachine, { enrolment: cloneTarget.enrolment! })
    await impostor.node.dial(agents[0]!.node.getMultiaddrs()[0]!).catch(() => undefined)
    await until(
      () =>
        agents[0]!.attestation
          .list()
          .some((p) => p.peerId === impostor.node.peerId.toString() && p.kind === 'stranger'),
      20_000,
      'the refusal of the copy'
    )
    await impostor.stop()
    say(
      `${cloneTarget.name}'s state directory copied to another machine: nothing unseals there`,
      [
        'fleet run on the copy: CloneDetectedError (the TPM is another device); the sealed keys stay sealed',
        `presenting ${cloneTarget.name}'s enrolment from the copy (under another Noise key): refused by dev1 before any TPM work, recorded once as alert.clone_suspected, kept out at the gate`
      ].join('\n')
    )

    const revoked = devices[4]!
    // The owner cuts the device's feed at what dev1 holds of it: every agent keeps exactly those entries.
    const keep = (await agents[0]!.heads()).get(revoked.state.deviceId) ?? 0
    await fleet.owner.feed.ledger.append({
      type: 'device.revoke',
      actor: { id: 'owner/clinic-west', role: 'owner' },
      attest: null,
      body: { deviceId: revoked.state.deviceId, reason: 'laptop reported stolen', keep }
    })
    await handOwnerFeedTo(fleet, agents[0]!)
    const revokeMs = await until(
      () => agents.slice(0, 4).every((a) => a.membership.isRevoked(revoked.state.deviceId)),
      30_000,
      'the revocation'
    )
    await until(
      () => agents.slice(0, 4).every((a) => a.node.getConnections(agents[4]!.node.peerId).length === 0),
      30_000,
      'hang-ups'
    )
    await until(
      async () => {
        for (const a of agents.slice(0, 4)) if ((await a.heads()).get(revoked.state.deviceId) !== keep) return false
        return true
      },
      30_000,
      'the cut everywhere'
    )
    say(
      `The owner revokes ${revoked.name} ("laptop reported stolen"), handing it to one agent only`,
      [
        `the owner-signed device.revoke spread agent to agent; all four others hung up on ${revoked.name}`,
        ` and refuse it (${revokeMs} ms);\nits feed is cut at ${keep} entries: every agent holds exactly those`
      ].join('')
    )

    const summary = [['device', 'deviceId', 'trusted by', 'own feed', 'feeds held', 'status']]
    for (let i = 0; i < agents.length; i++) {
      const id = ids[i]!
      const trustedBy = agents.filter(
        (a, j) => j !== i && a.attestation.list().some((p) => p.peerId === id && p.trusted)
      ).length
      const held = (await agents[i]!.heads()).size
      summary.push([
        devices[i]!.name,
        short(devices[i]!.state.deviceId),
        `${trustedBy}/4`,
        String(agents[i]!.feed.ledger.size),
        String(held),
        i === 4 ? 'REVOKED' : 'enrolled'
      ])
    }
    for (let i = 0; i < agents.length; i++) {
      await writeFile(
        path.join(devices[i]!.dir, 'peers.json'),
        `${JSON.stringify({ updatedAt: new Date().toISOString(), peers: agents[i]!.attestation.list() }, null, 2)}\n`
      )
    }
    for (const agent of agents.splice(0)) await agent.stop()
    const verified = await run(fleetCli, [
      'ledger',
      'verify',
      '--state',
      path.join(demoDir, 'dev1'),
      '--fleet',
      fleet.owner.state.fleetId
    ])
    say('Fleet summary', `${table(summary)}\n\n${verified.stdout.trim()}`)
  } finally {
    for (const agent of agents) await agent.stop().catch(() => undefined)
    await fleet.close({ keep: true })
  }
  await twoSites()
  process.stdout.write(`
Left in ${demoDir} (the software TPMs are stopped; nothing there is secret):
  ./bin/fleet peers --state .fleet-demo/dev1                      # dev1's last verdicts, incl. the clone (its agent has stopped: exit 1)
  ./bin/fleet ledger tail --state .fleet-demo/dev1                # its feed: verdicts, alert.clone_suspected, actions
  ./bin/fleet ledger verify --state .fleet-demo/dev2 --fleet ${fleetIdHex}
  ./bin/fleet ledger export --state .fleet-demo/dev1 --out /tmp/dev1.jsonl && ./bin/fleet ledger verify --export /tmp/dev1.jsonl --fleet ${fleetIdHex}
  ./bin/fleet ledger tail --state .fleet-demo/owner               # the owner's feed: enrolments, the revocation
  ./bin/fleet actor list --state .fleet-demo/dev2                 # who may act, on what hardware (and workload list)
`)
}

/**
 * Two sites behind NAT joined through a hub (root only: network namespaces and nftables): simnet's
 * multi-site scenario, a fleet of its own, every agent a `fleet run` process in its own namespace.
 */
async function twoSites(): Promise<void> {
  const title = 'Two sites behind NAT, joined through an attested hub'
  const missing = await NetnsSites.available()
  if (missing !== undefined) {
    say(title, `skipped: it needs network namespaces and nftables as root (${missing})`)
    return
  }
  const simnet = path.join(root, 'dist/simnet/cli.js')
  const result = await run(process.execPath, [simnet, '--scenario', 'multi-site', '--json'], {
    maxBuffer: 16 * 1024 * 1024
  }).catch((err: { stdout?: string; stderr?: string }) => ({ stdout: err.stdout ?? '', stderr: err.stderr ?? '' }))
  const summary = JSON.parse(result.stdout.trim().split('\n').pop() || '{}') as {
    passed?: boolean
    attestedMs?: number
    checks?: Array<{ name: string; passed: boolean; ms: number; detail?: string }>
  }
  const lines = (summary.checks ?? []).map(
    (c) => `${c.passed ? 'ok  ' : 'FAIL'} ${c.name}${c.detail === undefined ? '' : `: ${c.detail}`}`
  )
  say(
    title,
    [
      'a hub on the WAN and four agents at two sites, each site a LAN of its own behind a NAT router:',
      'same-site peers link directly, the sites reach each other only through the hub, end to end',
      `encrypted and attested (${summary.attestedMs ?? '?'} ms from the agents' start to every pair attested)`,
      '',
      ...lines
    ].join('\n')
  )
  if (summary.passed !== true) throw new Error('the two-site act failed')
}

/** A previous run may have left software TPMs running. */
async function stopLeftovers(): Promise<void> {
  await run('pkill', ['-f', `swtpm socket.*${demoDir}`]).catch(() => undefined)
}

main().catch((err: unknown) => {
  process.stderr.write(`demo failed: ${err instanceof Error ? err.message : String(err)}\n`)
  process.exitCode = 1
  // A TPM command that never answered stays on a worker thread and would keep the process alive:
  // the demo has said why it failed and stopped what it started, so it ends, never hangs.
  setTimeout(() => process.exit(1), 5_000).unref()
})
