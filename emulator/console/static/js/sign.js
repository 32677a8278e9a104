// Alibaba Cloud V3 request signatures (ACS3-HMAC-SHA256), as emulator/api/signature.py checks them:
//
//   canonical = METHOD \n path \n sorted-encoded-query \n ("name:value\n" per signed header)
//               \n "name1;name2" \n hex(sha256(body))
//   to_sign   = "ACS3-HMAC-SHA256\n" + hex(sha256(canonical))
//   Authorization: ACS3-HMAC-SHA256 Credential=<AK>,SignedHeaders=<names>,Signature=hex(HMAC-SHA256(secret, to_sign))
//
// WebCrypto does the hashing where the page is a secure context (127.0.0.1 and localhost are);
// elsewhere (the console opened over plain http on another address) a small SHA-256 below does it.

const ALGORITHM = "ACS3-HMAC-SHA256";
const encoder = new TextEncoder();

/** RFC 3986 encoding: every UTF-8 byte but A-Z a-z 0-9 - _ . ~ becomes %XX. */
export function percent(text) {
  return encodeURIComponent(String(text)).replace(
    /[!'()*]/g,
    (c) => "%" + c.charCodeAt(0).toString(16).toUpperCase(),
  );
}

/** The sorted, encoded k=v&... of a query object (also what goes on the wire). */
export function canonicalQuery(query) {
  return Object.keys(query)
    .sort()
    .map((k) => `${percent(k)}=${percent(query[k])}`)
    .join("&");
}

function hex(bytes) {
  return Array.from(new Uint8Array(bytes), (b) => b.toString(16).padStart(2, "0")).join("");
}

const subtle = globalThis.crypto && globalThis.crypto.subtle;

export async function sha256Hex(data) {
  const bytes = typeof data === "string" ? encoder.encode(data) : data;
  if (subtle) return hex(await subtle.digest("SHA-256", bytes));
  return hex(sha256(bytes));
}

export async function hmacSha256Hex(secret, text) {
  const key = encoder.encode(secret);
  const msg = encoder.encode(text);
  if (subtle) {
    const k = await subtle.importKey("raw", key, { name: "HMAC", hash: "SHA-256" }, false, ["sign"]);
    return hex(await subtle.sign("HMAC", k, msg));
  }
  return hex(hmac(key, msg));
}

function nonce() {
  const bytes = new Uint8Array(16);
  globalThis.crypto.getRandomValues(bytes);
  return hex(bytes);
}

function utcTimestamp(date) {
  return date.toISOString().replace(/\.\d{3}Z$/, "Z");
}

/**
 * Sign one request. Returns the headers to send: `headers` (names lowercased) plus x-acs-date (`now`,
 * default the clock), x-acs-signature-nonce (`nonce`, default 16 random bytes in hex),
 * x-acs-content-sha256 (all signed) and Authorization.
 * `path` is the path as sent (already percent-encoded, no query); `query` is an object of strings.
 */
export async function signV3({ method, path, query, headers, body, accessKeyId, secret, now, nonce: given }) {
  const out = {};
  for (const [k, v] of Object.entries(headers || {})) out[k.toLowerCase()] = String(v).trim();
  out["x-acs-date"] = utcTimestamp(now || new Date());
  out["x-acs-signature-nonce"] = given || nonce();
  const bodyHash = await sha256Hex(body ? encoder.encode(body) : new Uint8Array(0));
  out["x-acs-content-sha256"] = bodyHash;
  const signed = Object.keys(out).sort();
  const canonical = [
    method.toUpperCase(),
    path || "/",
    canonicalQuery(query || {}),
    signed.map((name) => `${name}:${out[name]}\n`).join(""),
    signed.join(";"),
    bodyHash,
  ].join("\n");
  const toSign = `${ALGORITHM}\n${await sha256Hex(canonical)}`;
  const signature = await hmacSha256Hex(secret, toSign);
  out.authorization = `${ALGORITHM} Credential=${accessKeyId},SignedHeaders=${signed.join(";")},Signature=${signature}`;
  return out;
}

// --- SHA-256 and HMAC (FIPS 180-4, RFC 2104) for pages without WebCrypto ----------------------------

const K = new Uint32Array([
  0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
  0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
  0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
  0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
  0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
  0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
  0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
  0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2,
]);

/** SHA-256 of a Uint8Array; returns 32 bytes. */
export function sha256(bytes) {
  const bitLen = bytes.length * 8;
  const padded = new Uint8Array(((bytes.length + 9 + 63) >> 6) << 6);
  padded.set(bytes);
  padded[bytes.length] = 0x80;
  const view = new DataView(padded.buffer);
  view.setUint32(padded.length - 8, Math.floor(bitLen / 2 ** 32));
  view.setUint32(padded.length - 4, bitLen >>> 0);
  const h = new Uint32Array([
    0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19,
  ]);
  const w = new Uint32Array(64);
  const rotr = (x, n) => (x >>> n) | (x << (32 - n));
  for (let off = 0; off < padded.length; off += 64) {
    for (let i = 0; i < 16; i++) w[i] = view.getUint32(off + i * 4);
    for (let i = 16; i < 64; i++) {
      const s0 = rotr(w[i - 15], 7) ^ rotr(w[i - 15], 18) ^ (w[i - 15] >>> 3);
      const s1 = rotr(w[i - 2], 17) ^ rotr(w[i - 2], 19) ^ (w[i - 2] >>> 10);
      w[i] = (w[i - 16] + s0 + w[i - 7] + s1) >>> 0;
    }
    let [a, b, c, d, e, f, g, hh] = h;
    for (let i = 0; i < 64; i++) {
      const S1 = rotr(e, 6) ^ rotr(e, 11) ^ rotr(e, 25);
      const ch = (e & f) ^ (~e & g);
      const t1 = (hh + S1 + ch + K[i] + w[i]) >>> 0;
      const S0 = rotr(a, 2) ^ rotr(a, 13) ^ rotr(a, 22);
      const maj = (a & b) ^ (a & c) ^ (b & c);
      const t2 = (S0 + maj) >>> 0;
      hh = g; g = f; f = e; e = (d + t1) >>> 0; d = c; c = b; b = a; a = (t1 + t2) >>> 0;
    }
    h[0] += a; h[1] += b; h[2] += c; h[3] += d; h[4] += e; h[5] += f; h[6] += g; h[7] += hh;
  }
  const out = new Uint8Array(32);
  const ov = new DataView(out.buffer);
  h.forEach((v, i) => ov.setUint32(i * 4, v));
  return out;
}

/** HMAC-SHA256 of msg under key (both Uint8Array); returns 32 bytes. */
export function hmac(key, msg) {
  let k = key.length > 64 ? sha256(key) : key;
  const block = new Uint8Array(64);
  block.set(k);
  const inner = new Uint8Array(64 + msg.length);
  const outer = new Uint8Array(64 + 32);
  for (let i = 0; i < 64; i++) {
    inner[i] = block[i] ^ 0x36;
    outer[i] = block[i] ^ 0x5c;
  }
  inner.set(msg, 64);
  outer.set(sha256(inner), 64);
  return sha256(outer);
}
