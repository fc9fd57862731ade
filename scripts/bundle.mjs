/**
 * Bundles the `fleet` command (dist/src/cli/main.js and the libraries it imports) into one
 * minified ES module, dist/src/cli/fleet.mjs, which bin/fleet runs. Why:
 *   - memory: Node keeps the source of every loaded module in its heap, and each of the ~700
 *     modules costs its own bookkeeping; from one minified file the CLI loads with 7.6 MB of heap
 *     instead of 16.8 MB, and the agent (`fleet run`) idles at about 10 MB less resident memory
 *     (npm run bench -- memory);
 *   - measurement: the agent measures dist/src into its PCR, so the JavaScript libraries it runs
 *     (libp2p, Noise, Yamux, noble, cborg, pino, …) are now measured with it.
 *   - no WebAssembly: Noise's default crypto compiles a WebAssembly ChaCha20-Poly1305 and SHA-256
 *     when its module loads, even when the node is given its own crypto (the agent gives it
 *     src/p2p/noise-crypto.ts, all node:crypto). In the bundle that module is replaced by the
 *     agent's, so it is never loaded. The private network's XSalsa20 (libp2p pnet's xsalsa20)
 *     would compile its own WebAssembly at load; in the bundle it takes its JavaScript path.
 * LevelDB's binding (level, classic-level) and the PKCS#11 binding (pkcs11js) stay in node_modules:
 * they find their native libraries relative to their own files. The bundle sits beside main.js,
 * three levels below the project root, where the modules that resolve paths from their own
 * location look from: the agent's measured files (src/agent/device/identity.ts) and the native
 * binding (src/attest/tpm/native.ts).
 */
import { readFile } from 'node:fs/promises'
import fs from 'node:fs'
import path from 'node:path'
import { build } from 'esbuild'

const ROOT = path.resolve(import.meta.dirname, '..')
// esbuild reports importers by their real path: node_modules may be a link to another checkout's.
const NOISE_DIST = fs.realpathSync(path.join(ROOT, 'node_modules/@chainsafe/libp2p-noise/dist/src'))
const FLEET_NOISE_CRYPTO = path.join(ROOT, 'dist/src/p2p/noise-crypto.js')

/** Noise's `import { defaultCrypto } from './crypto/index.js'` gets the agent's crypto instead. */
const noiseCrypto = {
  name: 'fleet-noise-crypto',
  setup(bundle) {
    bundle.onResolve({ filter: /^\.\/crypto\/index\.js$/ }, (args) => {
      if (path.dirname(args.importer) !== NOISE_DIST) return undefined
      return { path: 'noise-default-crypto', namespace: 'fleet' }
    })
    bundle.onLoad({ filter: /^noise-default-crypto$/, namespace: 'fleet' }, () => ({
      contents: `export { fleetNoiseCrypto as defaultCrypto } from ${JSON.stringify(FLEET_NOISE_CRYPTO)}`,
      resolveDir: ROOT,
      loader: 'js'
    }))
  }
}

const XSALSA20 = fs.realpathSync(path.join(ROOT, 'node_modules/xsalsa20/index.js'))
const XSALSA20_WASM = 'var xsalsa20 = typeof WebAssembly !== "undefined" && require(\'./xsalsa20\')()'

/** xsalsa20 (libp2p pnet's cipher) takes its JavaScript implementation, never its WebAssembly one. */
const xsalsa20Js = {
  name: 'fleet-xsalsa20-js',
  setup(bundle) {
    bundle.onLoad({ filter: /xsalsa20[\\/]index\.js$/ }, async (args) => {
      if (args.path !== XSALSA20) return undefined
      const source = await readFile(args.path, 'utf8')
      if (!source.includes(XSALSA20_WASM)) throw new Error(`${args.path} no longer picks its WebAssembly as expected`)
      return { contents: source.replace(XSALSA20_WASM, 'var xsalsa20 = false'), loader: 'js' }
    })
  }
}

// `node scripts/bundle.mjs [ENTRY OUTFILE]`: the memory bench bundles its plain libp2p peer alike.
const [entry = 'dist/src/cli/main.js', outfile = 'dist/src/cli/fleet.mjs'] = process.argv.slice(2)
await build({
  entryPoints: [entry],
  outfile,
  bundle: true,
  minify: true,
  // Error classes name themselves after their class (FleetError: this.name = new.target.name).
  keepNames: true,
  platform: 'node',
  format: 'esm',
  target: 'node24',
  external: ['level', 'classic-level', 'pkcs11js'],
  // CommonJS libraries in the bundle call require() for Node's built-in modules.
  banner: {
    js: "import { createRequire as __fleetRequire } from 'node:module'; const require = __fleetRequire(import.meta.url);"
  },
  plugins: [noiseCrypto, xsalsa20Js],
  logLevel: 'error'
})
// Noise moved its default crypto (the import above was not replaced), another copy of Noise came
// in, or a library brought its own WebAssembly: the bundle would load it again.
if ((await readFile(outfile, 'utf8')).includes('WebAssembly')) {
  console.error(
    `bundle: ${outfile} refers to WebAssembly (Noise's default crypto is replaced when ${NOISE_DIST}/noise.js imports ./crypto/index.js); find which library brings it before shipping it`
  )
  process.exit(1)
}
