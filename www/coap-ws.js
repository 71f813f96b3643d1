/*
 * coap-ws.js - a small CoAP over WebSockets client (RFC 8323 §4) in plain
 * JavaScript, for the status page (www/app.js) and its node unit test.
 * Owns: the message codec (RFC 8323 §3.2 framing with the Length nibble 0,
 * as §4.2 demands: one CoAP message per binary frame, no Length field, no
 * message id, no type), option encoding (delta, extended nibbles, sorted),
 * Block2 values, and one client per WebSocket: CSM first, Ping answered with
 * Pong, requests matched to responses by token, Observe notifications
 * delivered until cancelled, Block2 bodies fetched block by block.
 * Talks to: a WebSocket (the browser's, or any object with the same API
 * passed in, e.g. a test double), nothing else. No dependencies, no build.
 */
(function (root, factory) {
  'use strict';
  const api = factory();
  if (typeof module === 'object' && module.exports) module.exports = api;
  else root.CoapWs = api;
})(typeof self !== 'undefined' ? self : this, function () {
  'use strict';

  /* Codes as class * 32 + detail. */
  const code = (cls, detail) => (cls << 5) | detail;
  const CODE = {
    EMPTY: 0,
    GET: 1,
    POST: 2,
    PUT: 3,
    DELETE: 4,
    FETCH: 5,
    CONTENT: code(2, 5),
    CSM: code(7, 1),
    PING: code(7, 2),
    PONG: code(7, 3),
    RELEASE: code(7, 4),
    ABORT: code(7, 5),
  };

  /* Option numbers (RFC 7252 §12.2, 7641, 7959, 8768, 8613, EDHOC). */
  const OPT = {
    IF_MATCH: 1,
    URI_HOST: 3,
    ETAG: 4,
    IF_NONE_MATCH: 5,
    OBSERVE: 6,
    URI_PORT: 7,
    LOCATION_PATH: 8,
    OSCORE: 9,
    URI_PATH: 11,
    CONTENT_FORMAT: 12,
    MAX_AGE: 14,
    URI_QUERY: 15,
    HOP_LIMIT: 16,
    ACCEPT: 17,
    LOCATION_QUERY: 20,
    EDHOC: 21,
    BLOCK2: 23,
    BLOCK1: 27,
    SIZE2: 28,
    PROXY_URI: 35,
    PROXY_SCHEME: 39,
    SIZE1: 60,
  };
  /* Signalling options (RFC 8323 §5.3-5.6), valid only in 7.xx messages. */
  const SIG_OPT = {
    MAX_MESSAGE_SIZE: 2,
    BLOCK_WISE_TRANSFER: 4,
    CUSTODY: 2,
    ALT_ADDRESS: 2,
    HOLD_OFF: 4,
    BAD_CSM_OPTION: 2,
  };

  const OPT_NAMES = {
    1: 'If-Match',
    3: 'Uri-Host',
    4: 'ETag',
    5: 'If-None-Match',
    6: 'Observe',
    7: 'Uri-Port',
    8: 'Location-Path',
    9: 'OSCORE',
    11: 'Uri-Path',
    12: 'Content-Format',
    14: 'Max-Age',
    15: 'Uri-Query',
    16: 'Hop-Limit',
    17: 'Accept',
    20: 'Location-Query',
    21: 'EDHOC',
    23: 'Block2',
    27: 'Block1',
    28: 'Size2',
    35: 'Proxy-Uri',
    39: 'Proxy-Scheme',
    60: 'Size1',
  };

  /* Options whose value is a string (UTF-8) and whose value is a uint. */
  const STRING_OPTS = new Set([3, 8, 11, 15, 20, 35, 39]);
  const UINT_OPTS = new Set([6, 7, 12, 14, 16, 17, 23, 27, 28, 60]);

  const CONTENT_FORMATS = {
    0: 'text/plain;charset=utf-8',
    40: 'application/link-format',
    41: 'application/xml',
    42: 'application/octet-stream',
    47: 'application/exi',
    50: 'application/json',
    60: 'application/cbor',
    110: 'application/senml+json',
    112: 'application/senml+cbor',
  };

  const te = new TextEncoder();
  const td = new TextDecoder('utf-8', { fatal: false });

  function codeString(c) {
    return (c >> 5) + '.' + String(c & 31).padStart(2, '0');
  }

  /* Minimal big-endian unsigned integer (0 is the empty string). */
  function encodeUint(n) {
    if (!Number.isInteger(n) || n < 0 || n > 0xffffffff) throw new RangeError('uint option out of range: ' + n);
    const out = [];
    while (n > 0) {
      out.unshift(n & 0xff);
      n = Math.floor(n / 256);
    }
    return Uint8Array.from(out);
  }

  function decodeUint(bytes) {
    let n = 0;
    for (const b of bytes) n = n * 256 + b;
    return n;
  }

  function toBytes(v) {
    if (v instanceof Uint8Array) return v;
    if (typeof v === 'string') return te.encode(v);
    if (typeof v === 'number') return encodeUint(v);
    if (v == null) return new Uint8Array(0);
    if (ArrayBuffer.isView(v)) return new Uint8Array(v.buffer, v.byteOffset, v.byteLength);
    if (v instanceof ArrayBuffer) return new Uint8Array(v);
    throw new TypeError('cannot encode option or payload value');
  }

  function opt(number, value) {
    return { number, value: toBytes(value) };
  }

  /* Block option value (RFC 7959 §2.2): NUM << 4 | M << 3 | SZX. */
  function encodeBlock(num, more, szx) {
    if (szx < 0 || szx > 7) throw new RangeError('bad SZX');
    return encodeUint(num * 16 + (more ? 8 : 0) + szx);
  }

  function decodeBlock(bytes) {
    const v = decodeUint(bytes);
    const szx = v & 7;
    return { num: Math.floor(v / 16), more: (v & 8) !== 0, szx, size: szx === 7 ? 1024 : 16 << szx };
  }

  /* Option header nibble and extension bytes for a delta or a length. */
  function nibble(n) {
    if (n < 13) return [n, []];
    if (n < 269) return [13, [n - 13]];
    if (n < 65805) return [14, [(n - 269) >> 8, (n - 269) & 0xff]];
    throw new RangeError('option delta or length too large');
  }

  /* Byte arrays (or plain arrays of bytes) joined into one Uint8Array. */
  function concat(chunks) {
    let n = 0;
    for (const c of chunks) n += c.length;
    const out = new Uint8Array(n);
    let off = 0;
    for (const c of chunks) {
      out.set(c, off);
      off += c.length;
    }
    return out;
  }

  /*
   * encode({code, token, options, payload}) -> Uint8Array: one RFC 8323
   * message for one WebSocket binary frame (§4.2: Len nibble 0, no
   * Length field). Options are sorted by number, repeats kept in order.
   */
  function encode(msg) {
    const token = toBytes(msg.token);
    if (token.length > 8) throw new RangeError('token longer than 8 bytes');
    const c = msg.code | 0;
    if (c < 0 || c > 255) throw new RangeError('bad code');
    const opts = (msg.options || []).map((o, i) => ({ number: o.number, value: toBytes(o.value), i }));
    opts.sort((a, b) => a.number - b.number || a.i - b.i);
    const parts = [[token.length & 0x0f, c], token];
    let prev = 0;
    for (const o of opts) {
      if (!Number.isInteger(o.number) || o.number < 0 || o.number > 65535) throw new RangeError('bad option number');
      const [dn, dx] = nibble(o.number - prev);
      const [ln, lx] = nibble(o.value.length);
      parts.push([(dn << 4) | ln, ...dx, ...lx], o.value);
      prev = o.number;
    }
    const payload = toBytes(msg.payload);
    if (payload.length) parts.push([0xff], payload);
    return concat(parts);
  }

  /*
   * decode(bytes) -> {code, token, options: [{number, value}], payload}.
   * Throws on anything malformed (a Length nibble other than 0, a token
   * over 8 bytes, a reserved nibble 15, an option running past the end, a
   * payload marker with no payload).
   */
  function decode(data) {
    const b = toBytes(data);
    if (b.length < 2) throw new Error('message shorter than 2 bytes');
    if (b[0] >> 4 !== 0) throw new Error('Length nibble set (RFC 8323 §4.2 says 0 over WebSockets)');
    const tkl = b[0] & 0x0f;
    if (tkl > 8) throw new Error('token length ' + tkl + ' is reserved');
    if (2 + tkl > b.length) throw new Error('token runs past the end');
    const msg = { code: b[1], token: b.slice(2, 2 + tkl), options: [], payload: new Uint8Array(0) };
    let i = 2 + tkl;
    let number = 0;
    const ext = (n) => {
      if (n < 13) return n;
      if (n === 13) {
        if (i + 1 > b.length) throw new Error('option header runs past the end');
        return b[i++] + 13;
      }
      if (n === 14) {
        if (i + 2 > b.length) throw new Error('option header runs past the end');
        const v = ((b[i] << 8) | b[i + 1]) + 269;
        i += 2;
        return v;
      }
      throw new Error('reserved option nibble 15');
    };
    while (i < b.length) {
      if (b[i] === 0xff) {
        if (i + 1 >= b.length) throw new Error('payload marker without payload');
        msg.payload = b.slice(i + 1);
        return msg;
      }
      const h = b[i++];
      number += ext(h >> 4);
      const len = ext(h & 0x0f);
      if (i + len > b.length) throw new Error('option value runs past the end');
      msg.options.push({ number, value: b.slice(i, i + len) });
      i += len;
    }
    return msg;
  }

  /* Helpers to read a decoded message. */
  function getOpt(msg, number) {
    const o = msg.options.find((x) => x.number === number);
    return o ? o.value : undefined;
  }
  function getOpts(msg, number) {
    return msg.options.filter((x) => x.number === number).map((x) => x.value);
  }
  function getUint(msg, number) {
    const v = getOpt(msg, number);
    return v === undefined ? undefined : decodeUint(v);
  }

  function toHex(bytes) {
    return Array.from(bytes, (x) => x.toString(16).padStart(2, '0')).join('');
  }

  /* A payload shown as text when it is UTF-8 without control characters. */
  function isText(bytes) {
    let s;
    try {
      s = new TextDecoder('utf-8', { fatal: true }).decode(bytes);
    } catch (e) {
      return false;
    }
    return !/[\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f]/.test(s);
  }

  /* A binary payload as hex, 16 bytes a line. */
  function hexDump(b) {
    const lines = [];
    for (let i = 0; i < b.length; i += 16) lines.push(toHex(b.slice(i, i + 16)).replace(/(..)(?!$)/g, '$1 '));
    return lines.join('\n') + '\n(' + b.length + ' bytes, binary: shown as hex)';
  }

  /* Readable "Name: value" for one option of a decoded message. */
  function formatOption(o, signalling) {
    if (signalling) return 'option ' + o.number + ': ' + (o.value.length ? decodeUint(o.value) : '(empty)');
    const name = OPT_NAMES[o.number] || 'option ' + o.number;
    let val;
    if (o.number === OPT.BLOCK1 || o.number === OPT.BLOCK2) {
      const bl = decodeBlock(o.value);
      val = bl.num + '/' + (bl.more ? 1 : 0) + '/' + bl.size;
    } else if (o.number === OPT.CONTENT_FORMAT || o.number === OPT.ACCEPT) {
      const cf = decodeUint(o.value);
      val = cf + (CONTENT_FORMATS[cf] ? ' (' + CONTENT_FORMATS[cf] + ')' : '');
    } else if (UINT_OPTS.has(o.number)) {
      val = String(decodeUint(o.value));
    } else if (STRING_OPTS.has(o.number)) {
      val = td.decode(o.value);
    } else {
      val = o.value.length ? '0x' + toHex(o.value) : '(empty)';
    }
    return name + ': ' + val;
  }

  /* Request options from {host, path, query, observe, accept, block2}. */
  function requestOptions(req) {
    const options = [];
    if (req.host) options.push(opt(OPT.URI_HOST, req.host));
    if (req.observe !== undefined) options.push(opt(OPT.OBSERVE, req.observe));
    for (const seg of String(req.path || '/')
      .split('/')
      .filter((s) => s !== ''))
      options.push(opt(OPT.URI_PATH, decodeURIComponent(seg)));
    if (req.accept !== undefined) options.push(opt(OPT.ACCEPT, req.accept));
    let q = req.query || [];
    if (typeof q === 'string') q = q === '' ? [] : q.split('&');
    for (const item of q) options.push(opt(OPT.URI_QUERY, item));
    if (req.block2) options.push(opt(OPT.BLOCK2, encodeBlock(req.block2.num, false, req.block2.szx)));
    if (req.options) for (const o of req.options) options.push(opt(o.number, o.value));
    return options;
  }

  /*
   * Client: one WebSocket, CSM first, requests by token.
   *   const c = new Client(url, {WebSocket, timeoutMs});
   *   c.onstate = (state, detail) => ...   // 'connecting' 'open' 'closed'
   *   await c.ready();
   *   const r = await c.request({path: '/rd-lookup/ep'});      // Block2 followed
   *   const h = c.observe({path: '/rd-lookup/ep'}, (r) => ...); h.cancel();
   * A response or notification is {code, codeText, options, payload, ...}
   * with the whole body (Block2 reassembled).
   */
  class Client {
    constructor(url, opts) {
      opts = opts || {};
      this.url = url;
      this.timeoutMs = opts.timeoutMs || 30000;
      this.maxMessageSize = opts.maxMessageSize || 8192;
      this.szx = opts.szx === undefined ? 6 : opts.szx; /* 1024-byte blocks asked for */
      const WS = opts.WebSocket || (typeof WebSocket !== 'undefined' ? WebSocket : null);
      if (!WS) throw new Error('no WebSocket implementation');
      this.pending = new Map(); /* token hex -> {fail, timer, onMessage} */
      this.pongs = new Map(); /* token hex -> {resolve, fail, timer}: our Pings */
      this.nextToken = (Math.random() * 0xffffffff) >>> 0;
      this.peerCsm = null;
      this.state = 'connecting';
      this.onstate = null;
      this.onsignal = null;
      this.ws = new WS(url, 'coap');
      this.ws.binaryType = 'arraybuffer';
      this._ready = new Promise((resolve, reject) => {
        this._resolveReady = resolve;
        this._rejectReady = reject;
      });
      this._ready.catch(() => {}); /* a failure is reported through onstate too */
      this.ws.onopen = () => {
        /* RFC 8323 §5.3: CSM is the first message on a connection */
        this._send({
          code: CODE.CSM,
          options: [opt(SIG_OPT.MAX_MESSAGE_SIZE, this.maxMessageSize), opt(SIG_OPT.BLOCK_WISE_TRANSFER, new Uint8Array(0))],
        });
        this._setState('open');
        this._resolveReady();
      };
      this.ws.onmessage = (ev) => this._onFrame(ev.data);
      this.ws.onerror = () => {}; /* onclose follows and says why */
      this.ws.onclose = (ev) => this._closed(ev && ev.code ? 'WebSocket closed (' + ev.code + (ev.reason ? ' ' + ev.reason : '') + ')' : 'WebSocket closed');
    }

    ready() {
      return this._ready;
    }

    _setState(s, detail) {
      this.state = s;
      if (this.onstate) this.onstate(s, detail);
    }

    _closed(why) {
      if (this.state === 'closed') return;
      this._rejectReady(new Error(why));
      this._setState('closed', why);
      for (const map of [this.pending, this.pongs]) {
        for (const [, p] of map) {
          clearTimeout(p.timer);
          p.fail(new Error(why));
        }
        map.clear();
      }
    }

    close() {
      try {
        this.ws.close(1000, 'done');
      } catch (e) {
        /* already closed */
      }
      this._closed('closed by the page');
    }

    _send(msg) {
      this.ws.send(encode(msg));
    }

    _token() {
      this.nextToken = (this.nextToken + 1) >>> 0;
      return encodeUint(this.nextToken || 1);
    }

    _onFrame(data) {
      if (typeof data === 'string') {
        this._abort('text frame received');
        return;
      }
      let msg;
      try {
        msg = decode(data);
      } catch (e) {
        this._abort('bad message: ' + e.message);
        return;
      }
      if (msg.code >> 5 === 7) {
        this._onSignal(msg);
        return;
      }
      const p = this.pending.get(toHex(msg.token));
      if (p) p.onMessage(msg);
      /* anything else (a late answer to a cancelled request) is dropped */
    }

    _onSignal(msg) {
      if (msg.code === CODE.CSM) {
        this.peerCsm = { maxMessageSize: getUint(msg, SIG_OPT.MAX_MESSAGE_SIZE) || 1152, bert: getOpt(msg, SIG_OPT.BLOCK_WISE_TRANSFER) !== undefined };
      } else if (msg.code === CODE.PONG) {
        const w = this.pongs.get(toHex(msg.token));
        if (w) {
          clearTimeout(w.timer);
          this.pongs.delete(toHex(msg.token));
          w.resolve();
        }
      } else if (msg.code === CODE.PING) {
        this._send({ code: CODE.PONG, token: msg.token }); /* §5.4: echo the token */
      } else if (msg.code === CODE.RELEASE || msg.code === CODE.ABORT) {
        const why = (msg.code === CODE.ABORT ? 'Abort' : 'Release') + (msg.payload.length ? ': ' + td.decode(msg.payload) : '');
        try {
          this.ws.close(1000, '');
        } catch (e) {
          /* already closing */
        }
        this._closed(why);
        return;
      }
      if (this.onsignal) this.onsignal(msg);
    }

    _abort(why) {
      try {
        this._send({ code: CODE.ABORT, payload: why });
        this.ws.close(1002, why.slice(0, 100));
      } catch (e) {
        /* closing anyway */
      }
      this._closed(why);
    }

    /* Ping (7.02); resolves when the Pong with its token arrives. */
    ping() {
      if (this.state !== 'open') return Promise.reject(new Error('not connected'));
      const token = this._token();
      const key = toHex(token);
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => {
          this.pongs.delete(key);
          reject(new Error('no Pong within ' + this.timeoutMs + ' ms'));
        }, this.timeoutMs);
        this.pongs.set(key, { timer, resolve, fail: reject });
        this._send({ code: CODE.PING, token });
      });
    }

    /* One exchange: resolves with the first response to this token. */
    _exchange(req, onMessage) {
      if (this.state !== 'open') return Promise.reject(new Error('not connected'));
      const token = this._token();
      const key = toHex(token);
      return new Promise((resolve, reject) => {
        const entry = {
          fail: reject,
          timer: setTimeout(() => {
            this.pending.delete(key);
            reject(new Error('no answer within ' + this.timeoutMs + ' ms'));
          }, this.timeoutMs),
          onMessage: (m) => {
            clearTimeout(entry.timer);
            if (onMessage) {
              onMessage(m, key);
            } else {
              this.pending.delete(key);
              resolve(m);
            }
          },
        };
        this.pending.set(key, entry);
        try {
          this._send({ code: req.method || CODE.GET, token, options: requestOptions(req), payload: req.payload });
        } catch (e) {
          clearTimeout(entry.timer);
          this.pending.delete(key);
          reject(e);
        }
      });
    }

    /* The rest of a Block2 body (RFC 7959 §2.4), after first. */
    async _rest(req, first) {
      let m = first;
      const chunks = [m.payload];
      let bl = getOpt(m, OPT.BLOCK2) && decodeBlock(getOpt(m, OPT.BLOCK2));
      let blocks = 1;
      while (bl && bl.more) {
        if (++blocks > 4096) throw new Error('Block2 body too long');
        /* a later block in the peer's block size: NUM counts in that size */
        const next = { ...req, observe: undefined, block2: { num: bl.num + 1, szx: bl.szx } };
        if (bl.szx === 7) next.block2 = { num: bl.num + Math.max(1, m.payload.length / 1024), szx: 7 };
        m = await this._exchange(next);
        if (m.code >> 5 !== 2) return m;
        chunks.push(m.payload);
        bl = getOpt(m, OPT.BLOCK2) && decodeBlock(getOpt(m, OPT.BLOCK2));
      }
      const whole = { ...first, payload: concat(chunks) };
      return whole;
    }

    _describe(m) {
      m.codeText = codeString(m.code);
      return m;
    }

    /* GET (or req.method) with Block2 followed; resolves with the answer. */
    async request(req) {
      const m = await this._exchange(req);
      return this._describe(m.code >> 5 === 2 ? await this._rest(req, m) : m);
    }

    /*
     * Observe (RFC 7641 over a reliable transport, RFC 8323 §2: no
     * reordering, every notification is the newest): onNotify gets each
     * response, body reassembled; onEnd(reason) when the observation ends
     * (an answer without Observe, the connection lost). Returns {cancel}.
     */
    observe(req, onNotify, onEnd) {
      const oreq = { ...req, observe: 0 };
      let key = null;
      let ended = false;
      let chain = Promise.resolve();
      const end = (why) => {
        if (ended) return;
        ended = true;
        if (key) this.pending.delete(key);
        if (onEnd) onEnd(why);
      };
      this._exchange(oreq, (m, k) => {
        key = k;
        const still = getOpt(m, OPT.OBSERVE) !== undefined && m.code >> 5 === 2;
        /* one notification at a time, in order, each reassembled */
        chain = chain
          .then(() => (m.code >> 5 === 2 ? this._rest(req, m) : m))
          .then((whole) => {
            if (!ended) onNotify(this._describe(whole));
          })
          .catch((e) => end(e.message));
        if (!still) chain.then(() => end('observation ended by the server (' + codeString(m.code) + ')'));
      }).catch((e) => end(e.message));
      return {
        cancel: () => {
          if (ended) return;
          const k = key;
          end('cancelled');
          /* RFC 7641 §3.6 over RFC 8323: a GET with Observe 1, same token */
          if (k && this.state === 'open') {
            const token = Uint8Array.from(k.match(/../g).map((h) => parseInt(h, 16)));
            this._send({ code: CODE.GET, token, options: requestOptions({ ...req, observe: 1 }) });
          }
        },
      };
    }
  }

  return {
    CODE,
    OPT,
    SIG_OPT,
    OPT_NAMES,
    CONTENT_FORMATS,
    encode,
    decode,
    encodeUint,
    decodeUint,
    encodeBlock,
    decodeBlock,
    getOpt,
    getOpts,
    getUint,
    codeString,
    formatOption,
    requestOptions,
    toHex,
    hexDump,
    isText,
    Client,
  };
});
