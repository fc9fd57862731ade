/**
 * fleet actor enrol / revoke / list as separate processes. On SoftHSM2 tokens, with an owner whose
 * own keys are on a token of the same module (two PINs, two descriptors): the actor's key made on
 * the actor's token and named in the owner's feed, rotation, refusals (a key that is not
 * hardware-bound, a wrong PIN, no PIN source, a key another actor holds), revocation, and the list
 * on the owner's state and on an enrolled device's, whose running agent holds the ledger; and PIV
 * attestation as the owner judges what a token shows (SoftHSM2 has none: the tests play the card
 * and its vendor, see below). With FIDO2 security keys: headless Chromium's virtual authenticator on the page the CLI serves, and
 * the attestation policy's refusals.
 *
 * Commands that may ask for a PIN run under `setsid` (no controlling terminal): a prompt can never
 * wait for a person.
 */
import assert from 'node:assert/strict'
import { spawn, spawnSync, type ChildProcess } from 'node:child_process'
import crypto from 'node:crypto'
import { closeSync, existsSync, openSync, readFileSync, readdirSync, writeFileSync } from 'node:fs'
import path from 'node:path'
import { decode as cborDecode } from 'cborg'
import { allowGrant, gateRequest } from '../../src/agent/index.js'
import type { ActorRow } from '../../src/cli/commands/actor.js'
import { projectRoot } from '../../src/common/index.js'
import { answerOnPage, chromiumSuite, openAuthenticatorPage, type AuthenticatorPage } from '../helpers/browser.js'
import {
  FLEET,
  joinAndEnrol,
  runFleet as run,
  spawnFleet,
  startSwtpm as startSoftwareTpm,
  type SpawnedFleet
} from '../helpers/cli.js'
import { haveSwtpm, tempDir } from '../helpers/devices.js'
import { publicKeyPem, subjectOf, TestAttestationCa, type StatementOptions } from '../helpers/attestation-ca.js'
import {
  rawCertificate,
  rawKeyPair,
  skipWithoutSoftHsm,
  SO_PIN,
  SOFTHSM_MODULE,
  SoftHsm,
  withRawSession
} from '../helpers/softhsm.js'
import { SoftwareAuthenticator } from '../helpers/software-authenticator.js'
import { printed } from '../../simnet/printed.js'

const OWNER_PIN = '51627384'
const ALICE_PIN = '11112222'
const BOB_PIN = '33334444'
/** The AAGUID Chromium's virtual ctap2 authenticator reports. */
const CHROMIUM_AAGUID = '01020304-0506-0708-0102-030405060708'
const CHROMIUM_ROOT = path.join(projectRoot(import.meta.url), 'test/vectors/webauthn/chromium-virtual-attestation.pem')
const ENROLMENT_ID = 'actor-enrolment'

type Result = ReturnType<typeof run>

interface Listed {
  fleetId: string
  state: string
  ownerFeed: string
  ownerEntries: number
  actors: ActorRow[]
}

interface Row {
  type: string
  body: Record<string, string>
}

describe('cli: fleet actor', function () {
  this.timeout(300_000)
  let dir: string
  let ownerTpm: string
  const swtpms: string[] = []
  const children: ChildProcess[] = []
  const tcti = (at: string): string => `swtpm:path=${path.join(at, 'tpm.sock')}`

  /** `fleet ARGS` with no controlling terminal; `fds[i]` is written to a file opened as fd 3 + i. */
  function fleet(args: string[], fds: string[] = []): Result {
    const opened = fds.map((text) => {
      const file = path.join(dir, `fd-${crypto.randomUUID()}`)
      writeFileSync(file, `${text}\n`, { mode: 0o600 })
      return openSync(file, 'r')
    })
    try {
      const result = spawnSync('setsid', ['-w', FLEET, ...args], {
        encoding: 'utf8',
        timeout: 60_000,
        stdio: ['ignore', 'pipe', 'pipe', ...opened]
      })
      return { status: result.status ?? -1, stdout: result.stdout, stderr: result.stderr }
    } finally {
      for (const fd of opened) closeSync(fd)
    }
  }

  const startSwtpm = (name: string): string => startSoftwareTpm(dir, name, swtpms)

  const rows = (state: string): Row[] =>
    run(['ledger', 'tail', '--state', state, '-n', '1000', '--json'])
      .stdout.trim()
      .split('\n')
      .filter((line) => line !== '')
      .map((line) => JSON.parse(line) as Row)
  const listed = (state: string): Listed => {
    const result = run(['actor', 'list', '--state', state, '--json'])
    assert.equal(result.status, 0, result.stderr)
    return JSON.parse(result.stdout) as Listed
  }

  before(async function () {
    if (!haveSwtpm()) {
      process.stderr.write('skipping "cli: fleet actor": no swtpm (scripts/bootstrap.sh installs it)\n')
      this.skip()
    }
    dir = await tempDir('fleet-cli-actor-')
    ownerTpm = startSwtpm('owner-tpm')
  })

  after(() => {
    for (const child of children) child.kill('SIGKILL')
    for (const at of swtpms) run(['swtpm', 'stop', '--dir', at])
  })

  describe('on PKCS#11 tokens (SoftHSM2), the owner on a token too', () => {
    let hsm: SoftHsm
    let owner: string
    /** Owner options with the owner's PIN on fd 3; the actor's goes on fd 4. */
    const asOwner = ['--pin-fd', '3', '--timeout', '1', '--json']
    const enrolArgs = (actorId: string, token: string, extra: string[] = []): string[] => [
      'actor',
      'enrol',
      '--state',
      owner,
      '--actor',
      actorId,
      '--role',
      'operator',
      '--pkcs11',
      SOFTHSM_MODULE,
      '--token',
      token,
      ...asOwner,
      ...extra
    ]
    const withActorPin = ['--actor-pin-fd', '4']

    /** The public point (SEC1) of the key labelled `label` on `token`, and its private key's flags (pkcs11js). */
    function tokenKey(
      token: string,
      pin: string,
      label: string
    ): { point: string; extractable: boolean; local: boolean } {
      return withRawSession(hsm, token, pin, (lib, session) => {
        const c = lib.constants
        const find = (cls: number): Buffer => {
          lib.C_FindObjectsInit(session, [
            { type: c.CKA_LABEL, value: label },
            { type: c.CKA_CLASS, value: cls }
          ])
          const found = lib.C_FindObjects(session)
          lib.C_FindObjectsFinal(session)
          assert.ok(found !== null, `no key labelled ${label} on ${token}`)
          return found
        }
        const [point] = lib.C_GetAttributeValue(session, find(c.CKO_PUBLIC_KEY), [{ type: c.CKA_EC_POINT }])
        const flags = lib.C_GetAttributeValue(session, find(c.CKO_PRIVATE_KEY), [
          { type: c.CKA_EXTRACTABLE },
          { type: c.CKA_LOCAL }
        ])
        // CKA_EC_POINT is the point in a DER OCTET STRING (04 41 …).
        const der = point!.value as Buffer
        return {
          point: der.subarray(2).toString('hex'),
          extractable: (flags[0]!.value as Buffer)[0] === 1,
          local: (flags[1]!.value as Buffer)[0] === 1
        }
      })
    }

    before(async function () {
      skipWithoutSoftHsm(this)
      hsm = await SoftHsm.create([
        { label: 'owner', pin: OWNER_PIN },
        { label: 'alice', pin: ALICE_PIN },
        { label: 'bob', pin: BOB_PIN }
      ])
      // Every fleet process started from here on finds this token store.
      hsm.use()
      owner = path.join(dir, 'owner')
      const args = ['owner', 'init', '--state', owner, '--tcti', tcti(ownerTpm), '--name', 'clinic', '--json']
      const init = fleet([...args, '--pkcs11', SOFTHSM_MODULE, '--token', 'owner', '--pin-fd', '3'], [OWNER_PIN])
      assert.equal(init.status, 0, init.stderr)
    })

    it("enrols an actor: the key is made on the actor's token, and the owner's feed names that very key", () => {
      assert.deepEqual(listed(owner).actors, [])
      const enrolled = fleet(enrolArgs('alice', 'alice', withActorPin), [OWNER_PIN, ALICE_PIN])
      assert.equal(enrolled.status, 0, enrolled.stderr)
      const result = JSON.parse(enrolled.stdout) as {
        actorId: string
        kind: string
        keyLabel: string
        madeNow: boolean
        publicKey: string
        token: { label: string; serial: string; manufacturer: string }
        reached: string[]
      }
      assert.deepEqual(
        [result.actorId, result.kind, result.keyLabel, result.madeNow],
        ['alice', 'pkcs11', 'fleet-actor/alice', true]
      )
      const onToken = tokenKey('alice', ALICE_PIN, 'fleet-actor/alice')
      assert.deepEqual([onToken.extractable, onToken.local], [false, true])
      const entry = rows(owner).at(-1)!
      assert.equal(entry.type, 'actor.enrol')
      assert.deepEqual(
        [entry.body.actorId, entry.body.role, entry.body.kind, entry.body.publicKey],
        ['alice', 'operator', 'pkcs11', onToken.point]
      )
      assert.equal(result.publicKey, onToken.point)
      // SoftHSM2 has no attestation: no evidence, the token in words, and the words say so.
      assert.equal(entry.body.evidence, undefined)
      assert.match(entry.body.hardware!, /never extractable; no attestation$/)
      assert.match(entry.body.hardware!, /^PKCS#11 token "alice" \(SoftHSM project SoftHSM v2, serial [0-9a-f]+\)/)
      assert.ok(entry.body.hardware!.includes(result.token.serial))
      assert.equal(run(['ledger', 'verify', '--state', owner]).status, 0)
    })

    it('enrolling an enrolled actor again needs --yes (exit 2, nothing asked or written); with it, rotation', () => {
      const before = rows(owner).length
      // No PIN is given: the refusal comes before any token is opened.
      const again = fleet(enrolArgs('alice', 'alice'))
      assert.equal(again.status, 2)
      assert.match(
        again.stderr,
        /actor alice is enrolled already \(pkcs11, since .*\): pass --yes to replace their key/
      )
      assert.equal(rows(owner).length, before)
      const rotated = fleet(enrolArgs('alice', 'alice', [...withActorPin, '--key-label', 'alice-2', '--yes']), [
        OWNER_PIN,
        ALICE_PIN
      ])
      assert.equal(rotated.status, 0, rotated.stderr)
      const [alice] = listed(owner).actors
      assert.equal(alice?.publicKey, tokenKey('alice', ALICE_PIN, 'alice-2').point)
      assert.notEqual(alice.publicKey, tokenKey('alice', ALICE_PIN, 'fleet-actor/alice').point)
      assert.equal(alice.enrolments, 2)
    })

    it('refuses a key that is not hardware-bound: one generated extractable (exit 1), nothing written', () => {
      withRawSession(hsm, 'bob', BOB_PIN, (lib, session) => {
        rawKeyPair(lib, session, 'bob-extractable', true, true)
      })
      const before = rows(owner).length
      const refused = fleet(enrolArgs('bob', 'bob', [...withActorPin, '--key-label', 'bob-extractable']), [
        OWNER_PIN,
        BOB_PIN
      ])
      assert.equal(refused.status, 1)
      assert.match(
        refused.stderr,
        /key "bob-extractable" on token "bob" is not hardware-bound: .*CKA_EXTRACTABLE is true/
      )
      assert.equal(rows(owner).length, before)
    })

    it("a wrong actor PIN is the token's refusal (exit 1); no PIN source and no terminal is exit 2", () => {
      const wrong = fleet(enrolArgs('bob', 'bob', withActorPin), [OWNER_PIN, '00000000'])
      assert.equal(wrong.status, 1)
      assert.match(wrong.stderr, /PKCS#11 token "bob" refused the PIN/)
      // The owner's PIN option is not the actor's: without an actor PIN source there is no terminal to ask on.
      const none = fleet(enrolArgs('bob', 'bob'), [OWNER_PIN])
      assert.equal(none.status, 2)
      assert.match(
        none.stderr,
        /no PIN from the terminal: .*give --actor-pin-fd N or --actor-pin-credential NAME, or run it on a terminal/
      )
      const both = fleet(enrolArgs('bob', 'bob', [...withActorPin, '--actor-pin-credential', 'bob-pin']))
      assert.equal(both.status, 2)
      assert.match(both.stderr, /give --actor-pin-fd or --actor-pin-credential, not both/)
      assert.equal(
        listed(owner).actors.some((actor) => actor.actorId === 'bob'),
        false
      )
    })

    it('one key, one actor: a key another actor holds is refused (exit 1); misplaced options are exit 2', () => {
      const taken = fleet(enrolArgs('bob', 'alice', [...withActorPin, '--key-label', 'alice-2']), [
        OWNER_PIN,
        ALICE_PIN
      ])
      assert.equal(taken.status, 1)
      assert.match(taken.stderr, /the key offered for actor bob is enrolled already as actor alice's/)
      for (const [extra, why] of [
        [['--allow-none'], /--allow-none goes with --webauthn/],
        [['--webauthn'], /exactly one of --pkcs11 MODULE and --webauthn/],
        [['--role', 'king'], /--role must be one of operator, auditor/]
      ] as const) {
        const result = fleet(enrolArgs('bob', 'bob', [...extra]))
        assert.equal(result.status, 2, result.stderr)
        assert.match(result.stderr, why)
      }
      assert.equal(fleet(enrolArgs('-bob', 'bob')).status, 2)
      // There is no option that takes a PIN.
      const flag = fleet(enrolArgs('bob', 'bob', ['--actor-pin', BOB_PIN]))
      assert.equal(flag.status, 2)
      assert.match(flag.stderr, /unknown option '--actor-pin'/)
    })

    it('a device lists the actors its agent received; while the agent runs, the list is read from a snapshot of its ledger, and the agent serves its gate socket', async () => {
      const device = startSwtpm('dev1')
      const state = path.join(dir, 'state1')
      const init = run(['init', '--state', state, '--tcti', tcti(device), '--json'])
      assert.equal(init.status, 0, init.stderr)
      const policy = path.join(dir, 'policy.json')
      const log = path.join(device, 'binary_bios_measurements')
      assert.equal(run(['policy', 'create', '--from-eventlog', log, '--out', policy]).status, 0)
      const fleetId = listed(owner).fleetId
      const deviceId = (JSON.parse(init.stdout) as { deviceId: string }).deviceId
      const { enrolled, joined } = await joinAndEnrol(
        { state, eventLog: log, fleetId, owner, policy, ca: path.join(dir, 'ca'), deviceId },
        (args) => fleet([...args, '--pin-fd', '3'], [OWNER_PIN])
      )
      assert.equal(enrolled.status, 0, enrolled.stderr)
      assert.equal(joined.code, 0, joined.stderr)
      const gateSocket = path.join(dir, 'run', 'gate.sock')
      const agent = spawn(
        FLEET,
        ['run', '--state', state, '--eventlog', log, '--listen', '/ip4/127.0.0.1/tcp/0', '--json'],
        { stdio: ['ignore', 'pipe', 'ignore'], env: { ...process.env, FLEET_GATE_SOCKET: gateSocket } }
      )
      children.push(agent)
      const started = await printed(agent, (output) => output.includes('\n'), 60_000)
      const address = (JSON.parse(started.split('\n')[0]!) as { addresses: string[] }).addresses.find((a) =>
        a.includes('/p2p/')
      )!
      const bob = fleet(enrolArgs('bob', 'bob', [...withActorPin, '--role', 'auditor', '--peer', address]), [
        OWNER_PIN,
        BOB_PIN
      ])
      assert.equal(bob.status, 0, bob.stderr)
      assert.equal((JSON.parse(bob.stdout) as { reached: string[] }).reached.length, 1)
      // Read while the agent runs: from a snapshot of its ledger, removed after.
      const busy = run(['actor', 'list', '--state', state, '--json'])
      assert.equal(busy.status, 0, busy.stderr)
      assert.match(busy.stderr, /an agent is running on .*: reading a snapshot of its ledger/)
      assert.deepEqual(
        (JSON.parse(busy.stdout) as { actors: Array<{ actorId: string }> }).actors.map((a) => a.actorId),
        ['alice', 'bob']
      )
      assert.deepEqual(
        readdirSync(state).filter((name) => name.startsWith('.ledger-snapshot-')),
        [],
        'no snapshot left behind'
      )
      // The gate socket its config names (FLEET_GATE_SOCKET) serves only the users granted it.
      await assert.rejects(gateRequest(gateSocket, { cmd: 'gate.check' }), { code: 'ERR_GATE_NOT_GRANTED' })
      await allowGrant(state, process.getuid!(), [])
      assert.deepEqual(await gateRequest(gateSocket, { cmd: 'gate.check' }), { ok: true, reasons: [] })
      agent.kill('SIGTERM')
      await new Promise((resolve) => agent.once('exit', resolve))
      assert.equal(existsSync(gateSocket), false, 'the gate socket goes with the agent')
      const held = listed(state)
      assert.equal(held.state, 'device')
      assert.equal(held.fleetId, fleetId)
      assert.deepEqual(
        held.actors.map((actor) => [actor.actorId, actor.role, actor.kind]),
        [
          ['alice', 'operator', 'pkcs11'],
          ['bob', 'auditor', 'pkcs11']
        ]
      )
      assert.deepEqual(held.actors, listed(owner).actors)
    })

    it('revokes an actor: the list shows when and why; revoking again or an unknown actor is exit 1', () => {
      const revoke = (actorId: string): Result =>
        fleet(
          ['actor', 'revoke', '--state', owner, '--actor', actorId, '--reason', 'card lost', ...asOwner],
          [OWNER_PIN]
        )
      const revoked = revoke('alice')
      assert.equal(revoked.status, 0, revoked.stderr)
      assert.equal(rows(owner).at(-1)?.type, 'actor.revoke')
      const before = rows(owner).length
      const again = revoke('alice')
      assert.equal(again.status, 1)
      assert.match(again.stderr, /actor alice is revoked already \(.*: card lost\)/)
      const unknown = revoke('carol')
      assert.equal(unknown.status, 1)
      assert.match(unknown.stderr, /actor carol was never enrolled in this fleet/)
      assert.equal(rows(owner).length, before)
      const text = run(['actor', 'list', '--state', owner])
      assert.equal(text.status, 0, text.stderr)
      assert.match(text.stdout, /alice {2}operator {2}pkcs11 {2}enrolled \S+ {2}REVOKED \S+: card lost/)
      assert.match(text.stdout, /bob {2}auditor {2}pkcs11 {2}enrolled \S+ {2}active/)
    })

    it('list --json: the fleet, the owner feed read, and each actor with its key, hardware and revocation', () => {
      const result = listed(owner)
      assert.deepEqual(Object.keys(result), ['fleetId', 'state', 'ownerFeed', 'ownerEntries', 'actors'])
      assert.equal(result.state, 'owner')
      assert.equal(result.ownerEntries, rows(owner).length)
      const [alice, bob] = result.actors
      assert.deepEqual(Object.keys(alice!), [
        'actorId',
        'role',
        'kind',
        'hardware',
        'publicKey',
        'credentialId',
        'rpId',
        'evidence',
        'enrolledAt',
        'enrolments',
        'revoked'
      ])
      assert.equal(alice!.revoked?.reason, 'card lost')
      assert.ok(Date.parse(alice!.revoked.at) >= Date.parse(alice!.enrolledAt))
      assert.deepEqual([bob!.revoked, bob!.credentialId, bob!.rpId, bob!.evidence], [null, null, null, false])
      assert.match(bob!.publicKey, /^04[0-9a-f]{128}$/)
      // A revoked actor is enrolled again without --yes.
      const back = fleet(enrolArgs('alice', 'alice', [...withActorPin, '--key-label', 'alice-2']), [
        OWNER_PIN,
        ALICE_PIN
      ])
      assert.equal(back.status, 0, back.stderr)
      assert.equal(listed(owner).actors[0]!.revoked, null)
    })

    /**
     * PIV attestation, with SoftHSM2 standing in for the card. SoftHSM2 has no attestation, so each
     * test makes the key on a token of its own as a card would (hardware-bound, with raw PKCS#11),
     * plays the vendor with openssl (TestAttestationCa: a root, the card's attestation certificate,
     * statements over a key with Yubico's extensions) and stores the certificates on the token as
     * certificate objects under ykcs11's labels. What is tested is the owner's judgement of what a
     * token shows, against forgeries an attacker holding the token could store on it; not a real
     * card's attestation.
     */
    describe('PIV attestation (SoftHSM2 standing in for the card, openssl for its vendor)', () => {
      const PIV_PIN = '55556666'
      const KEY = 'piv-9c'
      const STATEMENT = 'X.509 Certificate for PIV Attestation 9c'
      const CARD = 'X.509 Certificate for PIV Attestation'
      let vendor: TestAttestationCa
      let other: TestAttestationCa

      /** A token of its own holding a hardware-bound P-256 key labelled KEY; its public point (hex). */
      function card(token: string): string {
        hsm.util(['--init-token', '--free', '--label', token, '--so-pin', SO_PIN, '--pin', PIV_PIN])
        withRawSession(hsm, token, PIV_PIN, (lib, session) => {
          rawKeyPair(lib, session, KEY, true, false)
        })
        return tokenKey(token, PIV_PIN, KEY).point
      }
      /** Stores certificate objects on `token`, as the card (or an attacker holding it) would. */
      function store(token: string, objects: Array<{ label: string; der: Uint8Array }>): void {
        withRawSession(hsm, token, PIV_PIN, (lib, session) => {
          for (const { label, der } of objects) {
            const subject = der[0] === 0x30 ? subjectOf(der) : Buffer.from('3000', 'hex')
            rawCertificate(lib, session, { label, value: der, subject })
          }
        })
      }
      /** A card (as card() makes) whose token holds `ca`'s statement over its key and `ca`'s attestation certificate. */
      function attested(
        token: string,
        ca: TestAttestationCa,
        options: StatementOptions = {}
      ): { point: string; statement: Uint8Array } {
        const point = card(token)
        const statement = ca.statement(publicKeyPem(point), options)
        store(token, [
          { label: STATEMENT, der: statement },
          { label: CARD, der: ca.attestation }
        ])
        return { point, statement }
      }
      const enrol = (actorId: string, token: string, extra: string[] = []): Result =>
        fleet(enrolArgs(actorId, token, [...withActorPin, '--key-label', KEY, ...extra]), [OWNER_PIN, PIV_PIN])
      const rootOf = (ca: TestAttestationCa): string[] => ['--attestation-root', ca.rootFile]
      /** An enrolment refused: exit 1 naming why, no stack trace, nothing appended to the owner's feed. */
      function refused(actorId: string, token: string, extra: string[], why: RegExp): void {
        const before = rows(owner).length
        const result = enrol(actorId, token, extra)
        assert.equal(result.status, 1, result.stderr)
        assert.match(result.stderr, why)
        assert.doesNotMatch(result.stderr, /\n\s+at /)
        assert.equal(result.stdout, '')
        assert.equal(rows(owner).length, before)
        assert.equal(
          listed(owner).actors.some((actor) => actor.actorId === actorId),
          false
        )
      }
      interface Enrolled {
        hardware: string
        attestation: {
          verified: boolean
          label: string
          issuer: string
          root: string | null
          certificates: number
          yubico: Record<string, unknown> | null
        } | null
      }

      before(async () => {
        vendor = await TestAttestationCa.create('Test PIV Root CA', 'Test PIV Attestation')
        other = await TestAttestationCa.create('Other Vendor Root CA', 'Other Vendor Attestation')
      })

      it('a statement over the key chained to the named root: enrolled, the chain is the evidence, verified', () => {
        const { point, statement } = attested('piv-good', vendor)
        // The slot's own certificate over the same key, from a CA not on the token: passed over.
        const slot = other.statement(publicKeyPem(point), { yubico: false })
        store('piv-good', [{ label: 'X.509 Certificate for Digital Signature', der: slot }])
        const enrolled = enrol('gina', 'piv-good', rootOf(vendor))
        assert.equal(enrolled.status, 0, enrolled.stderr)
        const result = JSON.parse(enrolled.stdout) as Enrolled
        assert.deepEqual(result.attestation, {
          verified: true,
          label: STATEMENT,
          issuer: 'Test PIV Attestation',
          root: 'Test PIV Root CA',
          certificates: 2,
          yubico: { firmware: '5.4.3', serial: 12345678, pinPolicy: 'once', touchPolicy: 'always' }
        })
        const entry = rows(owner).at(-1)!
        assert.deepEqual([entry.type, entry.body.actorId, entry.body.publicKey], ['actor.enrol', 'gina', point])
        assert.equal(entry.body.evidence, Buffer.concat([statement, vendor.attestation]).toString('hex'))
        assert.match(
          entry.body.hardware!,
          /^PKCS#11 token "piv-good" .*; PIV attestation by "Test PIV Attestation", chain verified to named root "Test PIV Root CA" \(YubiKey firmware 5\.4\.3, serial 12345678, PIN once, touch always\)$/
        )
        const gina = listed(owner).actors.find((actor) => actor.actorId === 'gina')
        assert.equal(gina?.evidence, true)
        assert.match(
          run(['actor', 'list', '--state', owner]).stdout,
          /gina {2}operator.*\n.*\n {6}attestation evidence recorded/
        )
        assert.equal(run(['ledger', 'verify', '--state', owner]).status, 0)
      })

      it('without a named root, a statement found is recorded and its words say unverified', () => {
        attested('piv-unverified', vendor)
        const enrolled = enrol('hank', 'piv-unverified')
        assert.equal(enrolled.status, 0, enrolled.stderr)
        assert.equal((JSON.parse(enrolled.stdout) as Enrolled).attestation?.verified, false)
        const entry = rows(owner).at(-1)!
        assert.match(
          entry.body.hardware!,
          /; PIV attestation by "Test PIV Attestation", unverified \(no attestation root named\)/
        )
        assert.ok(entry.body.evidence !== undefined)
      })

      it("refuses a genuine statement over another key (an attacker's software key) labelled for the slot", () => {
        card('piv-other-key')
        const { publicKey } = crypto.generateKeyPairSync('ec', { namedCurve: 'P-256' })
        store('piv-other-key', [
          { label: STATEMENT, der: vendor.statement(publicKey.export({ type: 'spki', format: 'pem' }).toString()) },
          { label: CARD, der: vendor.attestation }
        ])
        refused(
          'ivan',
          'piv-other-key',
          rootOf(vendor),
          /no attestation of key "piv-9c" on PKCS#11 token "piv-other-key": none of its 2 certificates is over that key/
        )
      })

      it('refuses a chain that reaches a root not named (another vendor)', () => {
        attested('piv-unrelated', other)
        refused(
          'judy',
          'piv-unrelated',
          rootOf(vendor),
          /does not chain to a named root: no named root or certificate of the token issued certificate "X\.509 Certificate for PIV Attestation" \(Other Vendor Attestation\) \(issuer Other Vendor Root CA\)/
        )
      })

      it('refuses an expired statement', () => {
        attested('piv-expired', vendor, { days: -1 })
        refused(
          'kim',
          'piv-expired',
          rootOf(vendor),
          /certificate "X\.509 Certificate for PIV Attestation 9c" \(YubiKey PIV Attestation 9c\) expired on \d{4}-/
        )
      })

      it("refuses an attacker's self-signed attestation certificate under the card's label and name", async () => {
        const forger = await TestAttestationCa.create('Test PIV Root CA', 'Test PIV Attestation', {
          selfSignedCard: true
        })
        attested('piv-forged', forger)
        refused(
          'leo',
          'piv-forged',
          rootOf(vendor),
          /certificate "X\.509 Certificate for PIV Attestation" \(Test PIV Attestation\) is self-signed, not issued by a named root/
        )
      })

      it('no attestation on the token: refused with a root named; without, enrolled saying so', () => {
        card('piv-none')
        refused(
          'mia',
          'piv-none',
          rootOf(vendor),
          /no attestation of key "piv-9c" on PKCS#11 token "piv-none": the token holds no certificates, and an attestation root is named/
        )
        const enrolled = enrol('mia', 'piv-none')
        assert.equal(enrolled.status, 0, enrolled.stderr)
        assert.equal((JSON.parse(enrolled.stdout) as Enrolled).attestation, null)
        const entry = rows(owner).at(-1)!
        assert.match(entry.body.hardware!, /never extractable; no attestation$/)
        assert.equal(entry.body.evidence, undefined)
        assert.equal(listed(owner).actors.find((actor) => actor.actorId === 'mia')?.evidence, false)
        assert.match(
          run(['actor', 'list', '--state', owner]).stdout,
          /mia {2}operator.*\n.*\n {6}no attestation evidence/
        )
      })

      it('garbage in a certificate object is a typed refusal, with or without a root named', () => {
        card('piv-garbage')
        store('piv-garbage', [{ label: STATEMENT, der: Buffer.from('not a certificate, '.repeat(16)) }])
        for (const extra of [rootOf(vendor), []]) {
          refused(
            'nina',
            'piv-garbage',
            extra,
            /certificate object "X\.509 Certificate for PIV Attestation 9c" on PKCS#11 token "piv-garbage" is not a readable X\.509 certificate: its CKA_VALUE is not DER of a certificate/
          )
        }
        // A root that is not a certificate is bad input (exit 2), refused before the token is opened.
        const notRoot = path.join(dir, 'not-a-certificate.pem')
        writeFileSync(notRoot, '-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n')
        const bad = fleet(enrolArgs('nina', 'piv-garbage', ['--key-label', KEY, '--attestation-root', notRoot]))
        assert.equal(bad.status, 2, bad.stderr)
        assert.match(bad.stderr, /not-a-certificate\.pem: PEM certificate 1 cannot be read/)
      })
    })
  })

  describe('with FIDO2 security keys (Chromium virtual authenticator)', () => {
    const chromium = chromiumSuite()
    let owner: string
    let on: AuthenticatorPage

    /** Starts `fleet actor enrol --webauthn` for `actorId`; resolves once it printed its page's address. */
    async function startEnrol(actorId: string, extra: string[]): Promise<{ url: string; done: SpawnedFleet['done'] }> {
      const args = ['actor', 'enrol', '--state', owner, '--actor', actorId, '--role', 'auditor', '--webauthn']
      const { child, done } = spawnFleet([...args, '--timeout', '1', '--json', ...extra])
      children.push(child)
      const shown = await printed(child, (output) => /\/enrol\b/.test(output), 30_000, 'stderr')
      const url = /http:\/\/localhost:\d+\/enrol/.exec(shown)?.[0]
      assert.ok(url !== undefined, shown)
      return { url, done }
    }

    before(async () => {
      owner = path.join(dir, 'owner-tpm-held')
      const init = run(['owner', 'init', '--state', owner, '--tcti', tcti(ownerTpm), '--name', 'clinic'])
      assert.equal(init.status, 0, init.stderr)
      on = await openAuthenticatorPage(chromium().browser)
    })
    beforeEach(async () => {
      await on.replaceAuthenticator()
    })

    it("enrols a key on the page (--allow-none): credential, RP ID, attestation in the owner's feed", async () => {
      const enrolment = await startEnrol('carol', ['--allow-none'])
      assert.deepEqual(await answerOnPage(on.page, enrolment.url, ENROLMENT_ID), { outcome: 'done', text: 'Enrolled.' })
      const ended = await enrolment.done
      assert.equal(ended.code, 0, ended.stderr)
      // stdout is the one JSON result; the page's address went to stderr.
      const result = JSON.parse(ended.stdout) as { kind: string; aaguid: string; fmt: string; trusted: boolean }
      assert.deepEqual(
        [result.kind, result.aaguid, result.fmt, result.trusted],
        ['webauthn', CHROMIUM_AAGUID, 'packed', false]
      )
      const {
        credentials: [exported]
      } = await on.cdp.send('WebAuthn.getCredentials', { authenticatorId: on.authenticatorId })
      const entry = rows(owner).at(-1)!
      assert.equal(entry.type, 'actor.enrol')
      assert.deepEqual(
        [entry.body.actorId, entry.body.role, entry.body.kind, entry.body.rpId, entry.body.credentialId],
        ['carol', 'auditor', 'webauthn', 'localhost', Buffer.from(exported!.credentialId, 'base64').toString('hex')]
      )
      // The COSE key recorded is the authenticator's own.
      const sameKey = SoftwareAuthenticator.fromExported(exported!)
      assert.equal(entry.body.publicKey, Buffer.from(sameKey.publicKey).toString('hex'))
      const evidence = cborDecode(Buffer.from(entry.body.evidence!, 'hex'), { useMaps: true }) as Map<string, unknown>
      assert.equal(evidence.get('fmt'), 'packed')
      assert.match(
        entry.body.hardware!,
        new RegExp(`AAGUID ${CHROMIUM_AAGUID} \\(claimed\\), attestation format packed`)
      )
      const [carol] = listed(owner).actors
      assert.deepEqual(
        [carol?.actorId, carol?.kind, carol?.rpId, carol?.evidence],
        ['carol', 'webauthn', 'localhost', true]
      )
    })

    it("refuses attestation 'none' without --allow-none (exit 1): the answer is refused, nothing written", async () => {
      const before = rows(owner).length
      const enrolment = await startEnrol('dave', [])
      await on.page.goto(enrolment.url)
      const options = JSON.parse(
        (await on.page.getAttribute(`button[data-id="${ENROLMENT_ID}"]`, 'data-options')) ?? '{}'
      ) as { challenge: string }
      const credential = new SoftwareAuthenticator().register({
        fmt: 'none',
        challenge: new Uint8Array(Buffer.from(options.challenge, 'base64url')),
        origin: new URL(enrolment.url).origin,
        rpId: 'localhost'
      })
      const answer = await on.page.evaluate(
        async (body) => {
          const headers = { 'content-type': 'application/json' }
          const response = await fetch('/api/enrol', { method: 'POST', headers, body })
          return { status: response.status, code: ((await response.json()) as { code: string }).code }
        },
        JSON.stringify({ id: ENROLMENT_ID, credential })
      )
      assert.equal(answer.code, 'ERR_WEBAUTHN_ATTESTATION_NOT_ALLOWED')
      const ended = await enrolment.done
      assert.equal(ended.code, 1)
      assert.match(ended.stderr, /no attestation is not allowed: the authenticator's model is unproven/)
      assert.equal(ended.stdout, '')
      assert.equal(rows(owner).length, before)
    })

    it('without --allow-none a chain to no named root: exit 1; to --attestation-root: trusted', async () => {
      const untrusted = await startEnrol('erin', [])
      assert.equal((await answerOnPage(on.page, untrusted.url, ENROLMENT_ID)).outcome, 'refused')
      const refused = await untrusted.done
      assert.equal(refused.code, 1)
      assert.match(refused.stderr, new RegExp(`the packed attestation of ${CHROMIUM_AAGUID} .* is not trusted`))
      await on.replaceAuthenticator()
      const rooted = await startEnrol('erin', ['--attestation-root', CHROMIUM_ROOT, '--aaguid', CHROMIUM_AAGUID])
      assert.equal((await answerOnPage(on.page, rooted.url, ENROLMENT_ID)).outcome, 'done')
      const ended = await rooted.done
      assert.equal(ended.code, 0, ended.stderr)
      assert.equal((JSON.parse(ended.stdout) as { trusted: boolean }).trusted, true)
      const erin = listed(owner).actors.find((actor) => actor.actorId === 'erin')
      assert.match(erin!.hardware, /attestation format packed \(its chain verified to a named root\)/)
    })

    it('no key in time: exit 1 naming the page; an allowlist without the model refuses the key', async () => {
      const waited = await startEnrol('frank', ['--enrol-timeout', '1'])
      const ended = await waited.done
      assert.equal(ended.code, 1)
      assert.match(ended.stderr, new RegExp(`no security key was enrolled for actor frank at ${waited.url} within 1 s`))
      const other = await startEnrol('frank', ['--allow-none', '--aaguid', 'ee882879-721c-4913-9775-3dfcce97072a'])
      assert.equal((await answerOnPage(on.page, other.url, ENROLMENT_ID)).outcome, 'refused')
      const refused = await other.done
      assert.equal(refused.code, 1)
      assert.match(refused.stderr, new RegExp(`model ${CHROMIUM_AAGUID} is not allowed`))
      assert.equal(
        listed(owner).actors.some((actor) => actor.actorId === 'frank'),
        false
      )
      // The root is read as a file of PEM certificates.
      const notPem = path.join(dir, 'not-a-root.pem')
      writeFileSync(notPem, readFileSync(CHROMIUM_ROOT, 'utf8').replace(/BEGIN CERTIFICATE/, 'BEGIN NOTHING'))
      const bad = run(
        ['actor', 'enrol', '--state', owner, '--actor', 'frank', '--role', 'auditor', '--webauthn'].concat([
          '--attestation-root',
          notPem
        ])
      )
      assert.equal(bad.status, 2)
      assert.match(bad.stderr, /holds no PEM certificate/)
    })
  })
})
