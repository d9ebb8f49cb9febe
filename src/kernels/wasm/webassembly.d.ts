// The part of the WebAssembly JS API this backend uses. TypeScript declares it only in the DOM
// libraries, which this project does not load.
declare namespace WebAssembly {
  type Exports = Record<string, unknown>
  class Module {
    constructor (bytes: Uint8Array)
  }
  class Memory {
    constructor (descriptor: { initial: number, maximum?: number, shared?: boolean })
    readonly buffer: ArrayBufferLike
    grow (deltaPages: number): number
  }
  class Instance {
    constructor (module: Module, imports?: Record<string, Record<string, unknown>>)
    readonly exports: Exports
  }
  function compile (bytes: Uint8Array): Promise<Module>
  function validate (bytes: Uint8Array): boolean
}
