export { type PieceStore, MemoryStore, FileWeights, StoreWeights, hasItem, storeSource } from './store.ts'
export { FsStore } from './fs-store.ts'
export { WeightsFetcher, recordHolders, serverItems, clientItems, type WeightsHolder, type FetchOptions, type FetchReport } from './fetch.ts'
