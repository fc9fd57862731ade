/** The part of hypercore's API the benches use (the package ships no type declarations). */
declare module 'hypercore' {
  import type { Duplex } from 'node:stream'
  export default class Hypercore {
    constructor (storage: string, key?: Buffer)
    readonly length: number
    readonly contiguousLength: number
    readonly key: Buffer
    ready (): Promise<void>
    append (blocks: Buffer | Buffer[]): Promise<{ length: number }>
    replicate (isInitiator: boolean): Duplex
    update (options?: { wait?: boolean }): Promise<boolean>
    download (range: { start: number, end: number }): { done (): Promise<void> }
    close (): Promise<void>
  }
}
