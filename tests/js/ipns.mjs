// Reference IPNS records from the npm `ipns` package (js-ipns) and keys from @libp2p/crypto, for
// cross-checking ours.
// usage:
//   node ipns.mjs make <ed25519|rsa|secp256k1> <value> <seq> <ttl-ns> <lifetime-ms|RFC3339 EOL> <outdir>
//                 [--key FILE] [--v2only]
//     Writes <outdir>/record (the marshalled record), <outdir>/key.pb (the libp2p PrivateKey
//     protobuf) and <outdir>/name (k51…/k2k4r8…/kzwfwjn5ji4…), and prints the name. With --key
//     the private key protobuf in FILE is used instead of a new one (and its type wins). A 5th
//     argument with a 'T' in it is an absolute EOL (createIPNSRecordWithExpiration).
//   node ipns.mjs validate <name> <recordfile>...
//     Runs the package's ipnsValidator (size, key from the name or pubKey, signature, V1/CBOR
//     match, EOL) on each file and prints {"value","sequence","ttl","validity"} as one JSON line
//     per file, or exits 1 with the first error on stderr.
//   node ipns.mjs name <keyfile>
//     Prints the name of a libp2p PrivateKey protobuf.
//   node ipns.mjs peerid <name>
//     Prints the name (any spelling @libp2p/peer-id reads) as a base58btc PeerID (12D3KooW…).
import './webcrypto.mjs'
import { generateKeyPair, privateKeyFromProtobuf, privateKeyToProtobuf } from '@libp2p/crypto/keys'
import { peerIdFromPrivateKey, peerIdFromString } from '@libp2p/peer-id'
import { createIPNSRecord, createIPNSRecordWithExpiration, marshalIPNSRecord, unmarshalIPNSRecord, multihashToIPNSRoutingKey } from 'ipns'
import { ipnsValidator } from 'ipns/validator'
import { base36 } from 'multiformats/bases/base36'
import fs from 'node:fs'
import path from 'node:path'

const types = { ed25519: 'Ed25519', rsa: 'RSA', secp256k1: 'secp256k1' }

function nameOf (privateKey) {
  return peerIdFromPrivateKey(privateKey).toCID().toString(base36)
}

async function make (args) {
  const flags = { v2only: false }
  const pos = []
  for (let i = 0; i < args.length; i++) {
    if (args[i] === '--key') flags.key = args[++i]
    else if (args[i] === '--v2only') flags.v2only = true
    else pos.push(args[i])
  }
  const [type, value, seq, ttl, life, outdir] = pos
  if (outdir == null) throw new Error('make needs 6 arguments')
  let key
  if (flags.key) key = privateKeyFromProtobuf(fs.readFileSync(flags.key))
  else if (types[type]) key = await generateKeyPair(types[type])
  else throw new Error(`unknown key type ${type}`)
  const options = { v1Compatible: !flags.v2only, ttlNs: BigInt(ttl) }
  const record = life.includes('T')
    ? await createIPNSRecordWithExpiration(key, value, BigInt(seq), life, options)
    : await createIPNSRecord(key, value, BigInt(seq), Number(life), options)
  fs.mkdirSync(outdir, { recursive: true })
  fs.writeFileSync(path.join(outdir, 'record'), marshalIPNSRecord(record))
  fs.writeFileSync(path.join(outdir, 'key.pb'), privateKeyToProtobuf(key))
  fs.writeFileSync(path.join(outdir, 'name'), nameOf(key))
  console.log(nameOf(key))
}

async function validate ([name, ...files]) {
  const peerId = peerIdFromString(name)
  for (const file of files) {
    const raw = fs.readFileSync(file)
    await ipnsValidator(multihashToIPNSRoutingKey(peerId.toMultihash()), raw)
    const r = unmarshalIPNSRecord(raw)
    console.log(JSON.stringify({ value: r.value, sequence: r.sequence.toString(), ttl: r.ttl.toString(), validity: r.validity }))
  }
}

const [cmd, ...rest] = process.argv.slice(2)
try {
  if (cmd === 'make') await make(rest)
  else if (cmd === 'validate') await validate(rest)
  else if (cmd === 'name') console.log(nameOf(privateKeyFromProtobuf(fs.readFileSync(rest[0]))))
  else if (cmd === 'peerid') console.log(peerIdFromString(rest[0]).toString())
  else throw new Error('usage: ipns.mjs make|validate|name|peerid …')
} catch (err) {
  console.error(`${err.name}: ${err.message}`)
  process.exit(1)
}
