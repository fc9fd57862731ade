/**
 * owner.json in its two forms, read strictly: a TPM-held owner's (version 1, as every release
 * wrote it) and a token-held owner's (version 2, kind pkcs11). Captured files from
 * test/vectors/owner drive the tests; no TPM or token is needed to read them.
 */
import assert from 'node:assert/strict'
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import path from 'node:path'
import {
  ownerKeyHolder,
  parseOwnerState,
  readOwnerState,
  unlockOwner,
  writeOwnerState,
  type OwnerState
} from '../../../src/agent/index.js'
import { projectRoot } from '../../../src/common/index.js'
import { tempDir } from '../../helpers/devices.js'

const VECTORS = path.join(projectRoot(import.meta.url), 'test/vectors/owner')
const TPM_OWNER = readFileSync(path.join(VECTORS, 'owner-v1-tpm.json'), 'utf8')
const TOKEN_OWNER = readFileSync(path.join(VECTORS, 'owner-v2-pkcs11.json'), 'utf8')

type Json = Record<string, unknown>

/** A deep copy of a vector with `edit` applied. */
function edited(text: string, edit: (state: Json) => void): string {
  const state = JSON.parse(text) as Json
  edit(state)
  return JSON.stringify(state, null, 2)
}

function at(state: Json, ...names: string[]): Json {
  return names.reduce((value, name) => value[name] as Json, state)
}

/** Matches an OwnerStateError (exit code 2) about `field` whose reason matches `reason`. */
function refused(field: string | undefined, reason: RegExp) {
  return (err: Error & { field?: string; reason?: string; exitCode?: number }) =>
    err.name === 'OwnerStateError' && err.exitCode === 2 && err.field === field && reason.test(err.reason ?? '')
}

describe('agent/owner: owner.json, read strictly in both forms', () => {
  let dir: string

  before(async () => {
    dir = await tempDir('fleet-owner-state-')
  })

  async function read(text: string): Promise<OwnerState> {
    const at = path.join(dir, `case-${Math.random().toString(36).slice(2)}`)
    mkdirSync(at)
    writeFileSync(path.join(at, 'owner.json'), text)
    return await readOwnerState(at)
  }

  it("reads a TPM-held owner's file as every release wrote it, and writes it back byte for byte", async () => {
    const state = await read(TPM_OWNER)
    assert.equal(ownerKeyHolder(state), 'tpm')
    assert.equal(state.name, 'vector-fleet')
    const out = path.join(dir, 'rewritten-v1')
    await writeOwnerState(out, state)
    assert.equal(readFileSync(path.join(out, 'owner.json'), 'utf8'), TPM_OWNER)
  })

  it("reads a token-held owner's file (version 2, kind pkcs11) and writes it back byte for byte", async () => {
    const state = await read(TOKEN_OWNER)
    assert.equal(ownerKeyHolder(state), 'pkcs11')
    assert.ok(state.version === 2)
    assert.equal(state.pkcs11.module, '/usr/lib/softhsm/libsofthsm2.so')
    assert.deepEqual(Object.keys(state.pkcs11.token), ['label', 'serial'])
    const out = path.join(dir, 'rewritten-v2')
    await writeOwnerState(out, state)
    assert.equal(readFileSync(path.join(out, 'owner.json'), 'utf8'), TOKEN_OWNER)
  })

  it('refuses a field missing, unknown, of the wrong type or size, naming it (exit code 2)', () => {
    const cases: Array<[string, string, string | undefined, RegExp]> = [
      [
        edited(TPM_OWNER, (s) => {
          s.version = 3
        }),
        'version 3',
        'version',
        /not a known version/
      ],
      [
        edited(TPM_OWNER, (s) => {
          s.kind = 'tpm'
        }),
        'v1 with a kind',
        'owner state',
        /unknown field "kind"/
      ],
      [edited(TPM_OWNER, (s) => void delete s.tcti), 'v1 without tcti', 'owner state', /missing field "tcti"/],
      [
        edited(TPM_OWNER, (s) => {
          s.tcti = 7
        }),
        'a number for tcti',
        'tcti',
        /text/
      ],
      [
        edited(TPM_OWNER, (s) => {
          at(s, 'mldsa', 'sealed', 'expected')['0'] = 'zz'
        }),
        'a PCR value that is not hex',
        'mldsa.sealed.expected',
        /64-hex-digit/
      ],
      [
        edited(TPM_OWNER, (s) => {
          at(s, 'mldsa', 'sealed').authority = {}
        }),
        'a TPM owner sealed to an authority',
        'mldsa.sealed',
        /unknown field "authority"/
      ],
      [
        edited(TPM_OWNER, (s) => {
          at(s, 'mldsa').publicKey = 'AAAA'
        }),
        'an ML-DSA key of 3 bytes',
        'mldsa.publicKey',
        /3 bytes, not 1952/
      ],
      [
        edited(TOKEN_OWNER, (s) => {
          s.kind = 'tpm'
        }),
        'v2 of another kind',
        'kind',
        /only kind/
      ],
      [
        edited(TOKEN_OWNER, (s) => {
          at(s, 'pkcs11').module = 'libsofthsm2.so'
        }),
        'a relative module path',
        'pkcs11.module',
        /absolute/
      ],
      [
        edited(TOKEN_OWNER, (s) => {
          at(s, 'pkcs11').module = '/usr/lib/x\n.so'
        }),
        'a module path with a newline',
        'pkcs11.module',
        /control characters/
      ],
      [
        edited(TOKEN_OWNER, (s) => {
          at(s, 'pkcs11', 'token').label = 'x'.repeat(33)
        }),
        'a token label of 33 bytes',
        'pkcs11.token.label',
        /1 to 32 bytes/
      ],
      [
        edited(TOKEN_OWNER, (s) => {
          at(s, 'pkcs11', 'token').extractable = true
        }),
        'an unknown token field',
        'pkcs11.token',
        /unknown field "extractable"/
      ],
      [
        edited(TOKEN_OWNER, (s) => {
          at(s, 'pkcs11', 'p256').publicKey = Buffer.alloc(64, 4).toString('base64')
        }),
        'a 64-byte point',
        'pkcs11.p256.publicKey',
        /64 bytes, not 65/
      ],
      [
        edited(TOKEN_OWNER, (s) => {
          const sealed = Buffer.from(at(s, 'pkcs11', 'mldsa').sealed as string, 'base64')
          sealed[0] = 2
          at(s, 'pkcs11', 'mldsa').sealed = sealed.toString('base64')
        }),
        'a sealed seed of version 2',
        'pkcs11.mldsa.sealed',
        /unknown version 2/
      ],
      ['[]', 'an array', 'owner state', /not an object/]
    ]
    for (const [text, what, field, reason] of cases) {
      assert.throws(() => parseOwnerState('owner.json', text), refused(field, reason), what)
    }
    assert.throws(() => parseOwnerState('owner.json', '{"version":'), refused(undefined, /not JSON/))
  })

  it("refuses recorded keys or a name that are not the genesis statement's, and a doctored fleetId", async () => {
    const otherPoint = Buffer.concat([Buffer.of(4), Buffer.alloc(64, 7)]).toString('base64')
    await assert.rejects(
      read(
        edited(TOKEN_OWNER, (s) => {
          at(s, 'pkcs11', 'p256').publicKey = otherPoint
        })
      ),
      refused('pkcs11.p256.publicKey', /not the owner's P-256 key named in the genesis statement/)
    )
    const tpmMldsa = at(JSON.parse(TPM_OWNER) as Json, 'mldsa').publicKey
    await assert.rejects(
      read(
        edited(TOKEN_OWNER, (s) => {
          at(s, 'pkcs11', 'mldsa').publicKey = tpmMldsa
        })
      ),
      refused('pkcs11.mldsa.publicKey', /not the owner's ML-DSA-65 key/)
    )
    const otherTpmOwner = edited(TPM_OWNER, (s) => {
      const blob = Buffer.from(at(s, 'signingKey').public as string, 'base64')
      blob[blob.length - 1]! ^= 1
      at(s, 'signingKey').public = blob.toString('base64')
    })
    await assert.rejects(read(otherTpmOwner), refused('signingKey.public', /not the owner's P-256 key/))
    await assert.rejects(
      read(
        edited(TOKEN_OWNER, (s) => {
          s.name = 'renamed'
        })
      ),
      refused('name', /genesis/)
    )
    await assert.rejects(
      read(
        edited(TOKEN_OWNER, (s) => {
          s.fleetId = 'ab'.repeat(32)
        })
      ),
      {
        name: 'GenesisError'
      }
    )
  })

  it('refuses a missing file and one over 256 KiB without parsing it', async () => {
    await assert.rejects(readOwnerState(path.join(dir, 'nowhere')), refused(undefined, /not found/))
    await assert.rejects(read(`${TOKEN_OWNER.slice(0, -2)}${' '.repeat(256 * 1024)}}\n`), refused(undefined, /larger/))
  })

  it('unlocks nothing without what the keys need: a TPM, or a PIN source for a token', async () => {
    await assert.rejects(unlockOwner(await read(TPM_OWNER), {}), { name: 'OwnerAccessMissingError' })
    await assert.rejects(unlockOwner(await read(TOKEN_OWNER), {}), { name: 'OwnerAccessMissingError' })
  })
})
