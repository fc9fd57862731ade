/**
 * Loads Jazzer.js's prebuilt libFuzzer addon on glibc < 2.38 / libstdc++ < GLIBCXX_3.4.32 (Debian 12).
 *
 * The prebuilt `fuzzer-linux-x64.node` of @jazzer.js/fuzzer 4.0.0 is linked against glibc 2.38 and
 * GCC 13's libstdc++, but uses only three symbols that are newer than Debian 12's libraries:
 *  - `__isoc23_strtol`, `__isoc23_strtoul` (GLIBC_2.38): the C23 variants of strtol/strtoul, which
 *    differ only in accepting a `0b` prefix. Rebound to `strtol`/`strtoul` (GLIBC_2.2.5);
 *  - `std::ios_base_library_init()` (GLIBCXX_3.4.32): GCC 13's hook that makes sure the standard
 *    streams are constructed. Rebound to `std::ios_base::Init::Init()` (GLIBCXX_3.4), which does
 *    exactly that on older libstdc++ and does not use its `this` argument.
 *
 * When the addon fails to load for exactly those version requirements, a copy with those three
 * symbol bindings rewritten is written beside it under node_modules/.cache and loaded instead; the
 * package's own file is never modified. Any other load failure is left as it is.
 */
import { createHash } from 'node:crypto'
import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs'
import path from 'node:path'

const ADDON = /[\\/]@jazzer\.js[\\/]fuzzer[\\/]prebuilds[\\/]fuzzer-linux-x64\.node$/
const MISSING = /GLIBC_2\.38|GLIBCXX_3\.4\.32/

const SHT_DYNSYM = 11
const SHT_GNU_VERNEED = 0x6ffffffe
const SHT_GNU_VERSYM = 0x6fffffff

/** The System V ELF hash of a version name, as stored in vna_hash. */
function elfHash(name: string): number {
  let h = 0
  for (const c of Buffer.from(name, 'latin1')) {
    h = ((h << 4) + c) >>> 0
    const g = h & 0xf0000000
    if (g !== 0) h ^= g >>> 24
    h = (h & ~g) >>> 0
  }
  return h
}

interface Section {
  type: number
  offset: number
  size: number
  link: number
  entsize: number
}

/** Returns a copy of the ELF image with the three symbols above rebound; throws if the layout is not the expected one. */
export function rebindForOldLibc(image: Buffer): Buffer {
  const elf = Buffer.from(image)
  if (elf.readUInt32BE(0) !== 0x7f454c46 || elf[4] !== 2 || elf[5] !== 1)
    throw new Error('not a little-endian ELF64 file')
  const shoff = Number(elf.readBigUInt64LE(0x28))
  const shentsize = elf.readUInt16LE(0x3a)
  const shnum = elf.readUInt16LE(0x3c)
  const sections: Section[] = []
  for (let i = 0; i < shnum; i++) {
    const at = shoff + i * shentsize
    sections.push({
      type: elf.readUInt32LE(at + 4),
      offset: Number(elf.readBigUInt64LE(at + 0x18)),
      size: Number(elf.readBigUInt64LE(at + 0x20)),
      link: elf.readUInt32LE(at + 0x28),
      entsize: Number(elf.readBigUInt64LE(at + 0x38))
    })
  }
  const dynsym = sections.find((s) => s.type === SHT_DYNSYM)
  const verneed = sections.find((s) => s.type === SHT_GNU_VERNEED)
  const versym = sections.find((s) => s.type === SHT_GNU_VERSYM)
  if (dynsym === undefined || verneed === undefined || versym === undefined)
    throw new Error('no dynamic symbol versioning sections')
  const dynstr = sections[dynsym.link]!
  const str = (off: number): string => {
    const start = dynstr.offset + off
    return elf.toString('latin1', start, elf.indexOf(0, start))
  }
  const findStr = (name: string): number => {
    const at = elf.indexOf(Buffer.from(`\0${name}\0`, 'latin1'), dynstr.offset)
    if (at < 0 || at >= dynstr.offset + dynstr.size) throw new Error(`"${name}" not in .dynstr`)
    return at + 1 - dynstr.offset
  }

  // Version needs: rename each too-new version to an old one the same library has.
  const versionRenames: Record<string, string> = { 'GLIBC_2.38': 'GLIBC_2.2.5', 'GLIBCXX_3.4.32': 'GLIBCXX_3.4' }
  const renamedIndices = new Set<number>()
  let need = verneed.offset
  for (;;) {
    const cnt = elf.readUInt16LE(need + 2)
    let aux = need + elf.readUInt32LE(need + 8)
    for (let i = 0; i < cnt; i++) {
      const target = versionRenames[str(elf.readUInt32LE(aux + 8))]
      if (target !== undefined) {
        elf.writeUInt32LE(elfHash(target), aux)
        elf.writeUInt32LE(findStr(target), aux + 8)
        renamedIndices.add(elf.readUInt16LE(aux + 6))
      }
      const next = elf.readUInt32LE(aux + 12)
      if (next === 0) break
      aux += next
    }
    const next = elf.readUInt32LE(need + 12)
    if (next === 0) break
    need += next
  }

  // Symbols: point each one that used a renamed version at an equivalent older symbol.
  const symbolRenames: Record<string, string> = {
    __isoc23_strtol: 'strtol',
    __isoc23_strtoul: 'strtoul',
    _ZSt21ios_base_library_initv: '_ZNSt8ios_base4InitC1Ev'
  }
  const count = dynsym.size / dynsym.entsize
  for (let i = 0; i < count; i++) {
    const sym = dynsym.offset + i * dynsym.entsize
    if (!renamedIndices.has(elf.readUInt16LE(versym.offset + 2 * i) & 0x7fff)) continue
    const nameOff = elf.readUInt32LE(sym)
    const name = str(nameOff)
    const target = symbolRenames[name]
    if (target === undefined) throw new Error(`unexpected symbol ${name} needs a too-new library version`)
    if (name.endsWith(target)) {
      elf.writeUInt32LE(nameOff + name.length - target.length, sym)
    } else {
      if (target.length > name.length) throw new Error(`no room to rename ${name}`)
      // The old name is unique to this symbol (no other name is a suffix of it), so it is rewritten in place.
      for (let j = 0; j < count; j++) {
        const other = elf.readUInt32LE(dynsym.offset + j * dynsym.entsize)
        if (j !== i && other > nameOff && other <= nameOff + name.length) throw new Error(`${name} shares its string`)
      }
      elf.write(`${target}\0`, dynstr.offset + nameOff, 'latin1')
    }
  }
  return elf
}

/** Makes `process.dlopen` fall back to the rebound copy of Jazzer.js's addon when the original needs newer libraries. */
export function installJazzerAddonFallback(): void {
  const original = process.dlopen.bind(process)
  process.dlopen = ((module: { exports: unknown }, filename: string, flags?: number) => {
    try {
      return flags === undefined ? original(module, filename) : original(module, filename, flags)
    } catch (err) {
      if (!ADDON.test(filename) || !MISSING.test(String((err as Error).message))) throw err
      const image = readFileSync(filename)
      const digest = createHash('sha256').update(image).digest('hex').slice(0, 16)
      const dir = path.join(
        filename.slice(0, filename.lastIndexOf(`${path.sep}@jazzer.js${path.sep}`)),
        '.cache',
        'fleet-fuzz'
      )
      const copy = path.join(dir, `fuzzer-linux-x64-${digest}.node`)
      if (!existsSync(copy)) {
        mkdirSync(dir, { recursive: true })
        const tmp = `${copy}.${process.pid}.tmp`
        writeFileSync(tmp, rebindForOldLibc(image))
        renameSync(tmp, copy)
      }
      return flags === undefined ? original(module, copy) : original(module, copy, flags)
    }
  }) as typeof process.dlopen
}
