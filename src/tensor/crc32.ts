/** CRC-32 (IEEE) on Node: zlib's, native. The browser build swaps in crc32.browser.ts (same export). */
export { crc32 } from 'node:zlib'
