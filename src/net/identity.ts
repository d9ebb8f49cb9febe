/**
 * A peer's identity: its Ed25519 key, which is its libp2p peer id and its account in the credit
 * ledger. Kept in a file (a node's data directory) so that a restarted node is the same peer; the
 * file holds libp2p's protobuf encoding of the private key and is readable by its owner only.
 * Signatures of other peers are checked against the public key their peer id embeds.
 */
import { mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs'
import { dirname } from 'node:path'
import { generateKeyPair, privateKeyFromProtobuf, privateKeyToProtobuf } from '@libp2p/crypto/keys'
import type { PrivateKey, PublicKey } from '@libp2p/interface'
import { peerIdFromPrivateKey, peerIdFromString } from '@libp2p/peer-id'
import { GridError } from '../util/errors.ts'

/** The key in `file`, or a new Ed25519 key written there (atomically, mode 0600) if there is none. */
export async function loadOrCreateKey (file: string): Promise<PrivateKey> {
  let bytes: Uint8Array | undefined
  try {
    bytes = readFileSync(file)
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw new GridError('INVALID_CONFIG', `cannot read the key ${file}: ${(err as Error).message}`, { cause: err })
  }
  if (bytes !== undefined) {
    try {
      return privateKeyFromProtobuf(bytes)
    } catch (err) {
      throw new GridError('INVALID_CONFIG', `${file} is not a peer key: ${(err as Error).message}`, { cause: err })
    }
  }
  const key = await generateKeyPair('Ed25519')
  mkdirSync(dirname(file), { recursive: true, mode: 0o700 })
  const tmp = `${file}.${process.pid}.tmp`
  writeFileSync(tmp, privateKeyToProtobuf(key), { mode: 0o600 })
  renameSync(tmp, file)
  return key
}

/** A new Ed25519 peer key. */
export async function newKey (): Promise<PrivateKey> {
  return await generateKeyPair('Ed25519')
}

/** A key's bytes (libp2p's protobuf encoding: what a key file holds), and back. */
export function keyToBytes (key: PrivateKey): Uint8Array {
  return privateKeyToProtobuf(key)
}

export function keyFromBytes (bytes: Uint8Array): PrivateKey {
  try {
    return privateKeyFromProtobuf(bytes)
  } catch (err) {
    throw new GridError('INVALID_CONFIG', `not a peer key: ${(err as Error).message}`, { cause: err })
  }
}

/** The peer id (base58) of a key. */
export function peerIdOf (key: PrivateKey): string {
  return peerIdFromPrivateKey(key).toString()
}

const keys = new Map<string, PublicKey | null>()

function publicKeyOf (peer: string): PublicKey | null {
  let key = keys.get(peer)
  if (key !== undefined) return key
  try {
    key = peerIdFromString(peer).publicKey ?? null
  } catch {
    key = null
  }
  if (keys.size >= 4096) keys.delete(keys.keys().next().value!)
  keys.set(peer, key)
  return key
}

/** Whether `peer` is a peer id that embeds its public key (an Ed25519 id). */
export function isPeerId (peer: string): boolean {
  return /^[1-9A-HJ-NP-Za-km-z]{40,100}$/.test(peer) && publicKeyOf(peer) !== null
}

/** Whether `sig` is `peer`'s signature over `bytes`; false for anything malformed. */
export async function verifySignature (peer: string, bytes: Uint8Array, sig: Uint8Array): Promise<boolean> {
  const key = publicKeyOf(peer)
  if (key === null) return false
  try {
    return await key.verify(bytes, sig)
  } catch {
    return false
  }
}

/** Something that signs as a peer: a NetNode, or a bare key (offline tools). */
export interface Signer {
  readonly peerId: string
  sign (bytes: Uint8Array): Promise<Uint8Array>
}

export function keySigner (key: PrivateKey): Signer {
  return { peerId: peerIdOf(key), sign: async bytes => await key.sign(bytes) }
}
