// An independent client of ipfskit serve's trustless gateway: fetches a CAR, checks every block
// against its CID with js-multiformats, and exports the content with ipfs-unixfs-exporter from the
// CAR's blocks alone (a block the CAR lacks is an error), so the CAR must hold exactly what the
// path and range need. (@helia/verified-fetch, which the issue names, needs Node 20; Debian 12 has
// Node 18.)
//
//   node car_verify.mjs GATEWAY PATH EXPECTED_FILE [FROM:TO]
//     PATH: <cid>[/sub/path] of a file; EXPECTED_FILE: its bytes on disk; FROM:TO: entity-bytes.
// Prints one JSON line: {"ok":true,"blocks":N,"bytes":N,"roots":[...]} or {"ok":false,"error":...}.
import { readFileSync } from 'node:fs'
import { CarBlockIterator } from '@ipld/car'
import { exporter } from 'ipfs-unixfs-exporter'
import { sha256 } from 'multiformats/hashes/sha2'
import { identity } from 'multiformats/hashes/identity'
import { equals } from 'multiformats/bytes'

const [gateway, path, expectedFile, range] = process.argv.slice(2)
const fail = (error) => { console.log(JSON.stringify({ ok: false, error: String(error) })); process.exit(1) }

try {
  let url = `${gateway}/ipfs/${path}?format=car&dag-scope=entity`
  if (range) url += `&entity-bytes=${range}`
  const res = await fetch(url, { headers: { Accept: 'application/vnd.ipld.car; version=1; order=dfs; dups=n' } })
  if (res.status !== 200) fail(`HTTP ${res.status}`)
  if (!(res.headers.get('content-type') || '').startsWith('application/vnd.ipld.car')) fail(`content-type ${res.headers.get('content-type')}`)
  const body = new Uint8Array(await res.arrayBuffer())
  const it = await CarBlockIterator.fromBytes(body)
  const blocks = new Map()
  let bytes = 0
  for await (const { cid, bytes: data } of it) {
    const hasher = cid.multihash.code === sha256.code ? sha256 : cid.multihash.code === identity.code ? identity : null
    if (!hasher) fail(`unexpected hash ${cid.multihash.code}`)
    const digest = await hasher.digest(data)
    if (!equals(digest.bytes, cid.multihash.bytes)) fail(`block ${cid} does not match its CID`)
    if (blocks.has(cid.toString())) fail(`block ${cid} sent twice with dups=n`)
    blocks.set(cid.toString(), data)
    bytes += data.length
  }
  const roots = (await it.getRoots()).map(String)
  // interface-blockstore 7: get() yields the block's bytes.
  const blockstore = {
    get: async function * (cid) {
      const b = blocks.get(cid.toString())
      if (!b) throw new Error(`the CAR lacks block ${cid}`)
      yield b
    }
  }
  const entry = await exporter(path, blockstore)
  if (entry.type !== 'file' && entry.type !== 'raw') fail(`not a file: ${entry.type}`)
  const expected = readFileSync(expectedFile)
  let offset = 0
  let length = expected.length
  if (range) {
    const [from, to] = range.split(':')
    offset = Number(from)
    length = (to === '*' ? expected.length - 1 : Number(to)) - offset + 1
  }
  const parts = []
  for await (const chunk of entry.content({ offset, length })) parts.push(chunk)
  const got = Buffer.concat(parts)
  if (!got.equals(expected.subarray(offset, offset + length))) fail(`content differs (${got.length} bytes)`)
  console.log(JSON.stringify({ ok: true, blocks: blocks.size, bytes, roots }))
} catch (e) {
  fail(e.message || e)
}
