// Node 18 (Debian 12's nodejs) has WebCrypto only as require('node:crypto').webcrypto; the
// libp2p/noble code reads globalThis.crypto when it loads. Import this module first.
import { webcrypto } from 'node:crypto'

if (!globalThis.crypto) globalThis.crypto = webcrypto
