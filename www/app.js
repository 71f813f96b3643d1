/*
 * app.js - rdrelay's live status page.
 * Owns: the page's one CoAP-over-WebSockets connection back to its own
 * origin (ws[s]://<this host>/.well-known/coap, coap-ws.js), reconnecting by
 * itself with backoff and a banner while it is down; two observations, the
 * RD's endpoint lookup (/rd-lookup/ep) and resource lookup (/rd-lookup/res),
 * turned into the live table (one row per registration, updated in place so
 * focus stays put); and the "try it" panel (GET or Observe of a resource
 * through the proxy: Uri-Host = the endpoint's host name).
 * Talks to: rd-frontend through rdrelay-ws (no Uri-Host: the RD), registered
 * endpoints through the proxy. Everything shown comes from registrants and
 * is untrusted: it only ever goes into the page as text (textContent),
 * never as HTML.
 */
(function () {
  'use strict';
  const C = window.CoapWs;
  const $ = (id) => document.getElementById(id);

  const RECONNECT_MIN_MS = 500;
  const RECONNECT_MAX_MS = 5000;
  const PING_EVERY_MS = 20000; /* a dead connection shows within PING_EVERY_MS + timeout */
  const REOBSERVE_MS = 30000; /* observers live in rd-frontend's memory: renew them */
  const TRY_KEEP = 20; /* notifications kept in the try-it output */

  const CODE_NAMES = {
    '2.01': 'Created',
    '2.02': 'Deleted',
    '2.03': 'Valid',
    '2.04': 'Changed',
    '2.05': 'Content',
    '2.31': 'Continue',
    '4.00': 'Bad Request',
    '4.01': 'Unauthorized',
    '4.02': 'Bad Option',
    '4.03': 'Forbidden',
    '4.04': 'Not Found',
    '4.05': 'Method Not Allowed',
    '4.06': 'Not Acceptable',
    '4.08': 'Request Entity Incomplete',
    '4.12': 'Precondition Failed',
    '4.13': 'Request Entity Too Large',
    '4.15': 'Unsupported Content-Format',
    '5.00': 'Internal Server Error',
    '5.01': 'Not Implemented',
    '5.02': 'Bad Gateway',
    '5.03': 'Service Unavailable',
    '5.04': 'Gateway Timeout',
    '5.05': 'Proxying Not Supported',
    '5.08': 'Hop Limit Reached',
  };

  const st = {
    client: null,
    backoff: RECONNECT_MIN_MS,
    reconnectTimer: null,
    pingTimer: null,
    reobserveTimer: null,
    obsEp: null,
    obsRes: null,
    eps: [] /* parsed endpoint links */,
    res: [] /* parsed resource links */,
    rows: new Map() /* reg path -> {tr, sig} */,
    tryObs: null,
    downSince: null,
  };

  /* ---- link-format (RFC 6690), tolerant: quotes may hold , and ; ---- */

  function parseLinkFormat(text) {
    const links = [];
    let i = 0;
    const n = text.length;
    while (i < n) {
      while (i < n && (text[i] === ',' || /\s/.test(text[i]))) i++;
      if (i >= n) break;
      if (text[i] !== '<') break; /* malformed: stop, keep what we have */
      const close = text.indexOf('>', i);
      if (close < 0) break;
      const link = { target: text.slice(i + 1, close), attrs: {} };
      i = close + 1;
      while (i < n && text[i] === ';') {
        i++;
        let name = '';
        while (i < n && !'=;,'.includes(text[i])) name += text[i++];
        let value = true;
        if (text[i] === '=') {
          i++;
          if (text[i] === '"') {
            let v = '';
            i++;
            while (i < n && text[i] !== '"') {
              if (text[i] === '\\' && i + 1 < n) i++;
              v += text[i++];
            }
            i++;
            value = v;
          } else {
            let v = '';
            while (i < n && text[i] !== ';' && text[i] !== ',') v += text[i++];
            value = v;
          }
        }
        name = name.trim();
        if (name && !(name in link.attrs)) link.attrs[name] = value;
      }
      links.push(link);
    }
    return links;
  }

  /* ---- the endpoints' table ---- */

  /* The host name a client operator uses: host=, else a proxied base's authority. */
  function hostOf(ep) {
    if (typeof ep.attrs.host === 'string' && ep.attrs.host) return ep.attrs.host;
    const m = /^coap:\/\/([^/:[\]]+)$/.exec(ep.attrs.base || '');
    return ep.attrs.proxy && m ? m[1] : '';
  }

  /* Links of one endpoint: resource lookup targets under its base. */
  function resourcesOf(ep) {
    const base = String(ep.attrs.base || '');
    if (!base) return [];
    return st.res
      .filter((l) => l.target === base || l.target.startsWith(base + '/') || l.target.startsWith(base + '?'))
      .map((l) => ({ path: l.target.slice(base.length) || '/', attrs: l.attrs }));
  }

  function fmtDuration(s) {
    if (s < 0) return 'expiring';
    if (s < 60) return s + ' s';
    if (s < 3600) return Math.floor(s / 60) + ' min ' + (s % 60) + ' s';
    if (s < 86400) return Math.floor(s / 3600) + ' h ' + Math.floor((s % 3600) / 60) + ' min';
    return Math.floor(s / 86400) + ' d ' + Math.floor((s % 86400) / 3600) + ' h';
  }

  function fmtTime(iso) {
    const d = new Date(iso);
    if (isNaN(d)) return String(iso);
    const ago = Math.max(0, Math.round((Date.now() - d.getTime()) / 1000));
    return d.toLocaleTimeString() + ' (' + fmtDuration(ago) + ' ago)';
  }

  function el(tag, props, children) {
    const e = document.createElement(tag);
    if (props) for (const [k, v] of Object.entries(props)) {
      if (k === 'text') e.textContent = v;
      else if (k === 'class') e.className = v;
      else if (k.startsWith('data-') || k.startsWith('aria-')) e.setAttribute(k, v);
      else e[k] = v;
    }
    for (const c of children || []) if (c) e.appendChild(c);
    return e;
  }

  async function copyText(text, button) {
    let ok = false;
    try {
      if (navigator.clipboard && window.isSecureContext) {
        await navigator.clipboard.writeText(text);
        ok = true;
      }
    } catch (e) {
      ok = false;
    }
    if (!ok) {
      /* plain http at an event: no Clipboard API; select and copy */
      const ta = el('textarea', { value: text, readOnly: true, class: 'offscreen' });
      document.body.appendChild(ta);
      ta.select();
      try {
        ok = document.execCommand('copy');
      } catch (e) {
        ok = false;
      }
      ta.remove();
    }
    button.textContent = ok ? 'Copied' : 'Select and copy';
    setTimeout(() => (button.textContent = 'Copy'), 1500);
  }

  function reachCell(ep) {
    if (!ep.attrs.proxy) return el('span', { class: 'muted', text: 'direct (not proxied)' });
    const no = ep.attrs.reachable === 'no';
    const since = ep.attrs[no ? 'unreachable-since' : 'reachable-since'];
    return el('span', { class: no ? 'bad' : 'good', 'data-reach': no ? 'no' : 'yes' }, [
      el('strong', { text: no ? 'no' : 'yes' }),
      typeof since === 'string' ? el('span', { class: 'since', 'data-t': since, text: ' since ' + fmtTime(since) }) : null,
    ]);
  }

  function lifetimeLeft(ep) {
    const t = Date.parse(ep.attrs.expires || '');
    return isNaN(t) ? null : Math.floor((t - Date.now()) / 1000);
  }

  function buildRow(ep, resources) {
    const host = hostOf(ep);
    const tr = el('tr', { 'data-ep': ep.attrs.ep || '', 'data-path': ep.target });
    tr.appendChild(el('th', { scope: 'row', class: 'ep', text: ep.attrs.ep || '?' }));
    tr.appendChild(el('td', { class: 'd', text: ep.attrs.d || '' }));
    const hostTd = el('td', { class: 'host' });
    if (host) {
      const uri = 'coap://' + host + '/';
      const btn = el('button', { type: 'button', class: 'copy', text: 'Copy', 'aria-label': 'Copy ' + uri });
      btn.addEventListener('click', () => copyText(uri, btn));
      hostTd.appendChild(el('code', { text: uri }));
      hostTd.appendChild(btn);
      /* port-based hosting: the same endpoint on its own port of this
       * host, for clients that cannot send Uri-Host */
      if (/^[0-9]+$/.test(String(ep.attrs.port || ''))) {
        hostTd.appendChild(el('div', { class: 'port', text: 'no Uri-Host: coap://' + location.hostname + ':' + ep.attrs.port + '/' }));
      }
    } else {
      hostTd.appendChild(el('span', { class: 'muted', text: String(ep.attrs.base || '') }));
    }
    tr.appendChild(hostTd);
    const path = ep.attrs.transport ? ep.attrs.transport + (ep.attrs.relay && ep.attrs.relay !== ep.attrs.transport ? ' / ' + ep.attrs.relay : '') : '';
    tr.appendChild(el('td', { class: 'path', text: path || '—' }));
    tr.appendChild(el('td', { class: 'reach' }, [reachCell(ep)]));
    const left = lifetimeLeft(ep);
    tr.appendChild(el('td', { class: 'lt', text: left === null ? '—' : fmtDuration(left) }));
    const resTd = el('td', { class: 'res' });
    const ul = el('ul', { class: 'links' });
    for (const r of resources) {
      const li = el('li');
      const label = r.path + (typeof r.attrs.rt === 'string' ? ' (rt=' + r.attrs.rt + ')' : '');
      if (host) {
        const b = el('button', { type: 'button', class: 'linkbtn', text: label, 'aria-label': 'Try ' + r.path + ' of ' + ep.attrs.ep });
        b.addEventListener('click', () => pickTry(ep.target, r.path, true));
        li.appendChild(b);
      } else {
        li.appendChild(el('span', { text: label }));
      }
      ul.appendChild(li);
    }
    if (!resources.length) resTd.appendChild(el('span', { class: 'muted', text: 'none' }));
    else resTd.appendChild(ul);
    tr.appendChild(resTd);
    return tr;
  }

  /* Update the table in place: rows keyed by registration path, rebuilt
   * only when what they show changed; focus moves back if it was inside. */
  function render() {
    const body = $('eps-body');
    const seen = new Set();
    let prev = null;
    for (const ep of st.eps) {
      const resources = resourcesOf(ep);
      const sig = JSON.stringify([ep.attrs, resources]);
      let row = st.rows.get(ep.target);
      if (!row || row.sig !== sig) {
        const tr = buildRow(ep, resources);
        const focused = row && row.tr.contains(document.activeElement) ? document.activeElement : null;
        const focusLabel = focused ? focused.getAttribute('aria-label') : null;
        if (row) row.tr.replaceWith(tr);
        if (focusLabel) {
          const again = Array.from(tr.querySelectorAll('button')).find((b) => b.getAttribute('aria-label') === focusLabel);
          if (again) again.focus();
        }
        row = { tr, sig };
        st.rows.set(ep.target, row);
      }
      /* keep lookup order */
      const want = prev ? prev.nextSibling : body.firstChild;
      if (want !== row.tr) body.insertBefore(row.tr, want);
      prev = row.tr;
      seen.add(ep.target);
    }
    for (const [k, row] of st.rows)
      if (!seen.has(k)) {
        row.tr.remove();
        st.rows.delete(k);
      }
    tick();
    $('empty').hidden = st.eps.length > 0;
    $('count').textContent = '(' + st.eps.length + ')';
    renderTryChoices();
  }

  /* The parts that change with the clock alone, in place (a rebuilt row
   * would lose a button's "Copied" feedback). */
  function tick() {
    const byPath = new Map(st.eps.map((ep) => [ep.target, ep]));
    for (const [k, row] of st.rows) {
      const ep = byPath.get(k);
      if (!ep) continue;
      const left = lifetimeLeft(ep);
      const text = left === null ? '—' : fmtDuration(left);
      const lt = row.tr.querySelector('.lt');
      if (lt.textContent !== text) lt.textContent = text;
      const since = row.tr.querySelector('.since');
      if (since) since.textContent = ' since ' + fmtTime(since.dataset.t);
    }
  }

  /* ---- the connection ---- */

  function wsUrl() {
    return (location.protocol === 'https:' ? 'wss://' : 'ws://') + location.host + '/.well-known/coap';
  }

  function setConn(state, text) {
    const c = $('conn');
    c.dataset.state = state;
    c.textContent = text;
  }

  function showBanner(text) {
    const b = $('banner');
    b.textContent = text;
    b.hidden = false;
  }

  function startObserving() {
    const client = st.client;
    if (st.obsEp) st.obsEp.cancel();
    if (st.obsRes) st.obsRes.cancel();
    const ended = (what) => (why) => {
      if (why === 'cancelled' || client !== st.client || client.state !== 'open') return;
      /* the RD ended it (restart, error): ask again shortly */
      console.warn('observation of ' + what + ' ended: ' + why);
      setTimeout(() => client === st.client && client.state === 'open' && startObserving(), 1000);
    };
    /* each lookup's newest answer replaces what the table shows of it */
    const watch = (path, key) =>
      client.observe(
        { path },
        (r) => {
          if (r.code !== C.CODE.CONTENT) return;
          st[key] = parseLinkFormat(new TextDecoder().decode(r.payload));
          render();
        },
        ended(path),
      );
    st.obsEp = watch('/rd-lookup/ep', 'eps');
    st.obsRes = watch('/rd-lookup/res', 'res');
  }

  function connect() {
    st.reconnectTimer = null;
    setConn('connecting', 'connecting…');
    const client = new C.Client(wsUrl(), { timeoutMs: 10000 });
    st.client = client;
    client.onstate = (state, why) => {
      if (client !== st.client) return;
      if (state === 'open') {
        st.backoff = RECONNECT_MIN_MS;
        st.downSince = null;
        $('banner').hidden = true;
        setConn('open', 'live');
        startObserving();
        st.pingTimer = setInterval(() => client.ping().catch(() => client.close()), PING_EVERY_MS);
        st.reobserveTimer = setInterval(startObserving, REOBSERVE_MS);
      } else if (state === 'closed') {
        clearInterval(st.pingTimer);
        clearInterval(st.reobserveTimer);
        st.obsEp = st.obsRes = null;
        stopTry('connection lost');
        if (!st.downSince) st.downSince = new Date();
        const wait = st.backoff;
        st.backoff = Math.min(RECONNECT_MAX_MS, st.backoff * 2);
        setConn('closed', 'disconnected');
        showBanner(
          'Connection to rdrelay lost at ' + st.downSince.toLocaleTimeString() + ' (' + (why || 'closed') + '). ' +
            'The table below is not live; reconnecting by itself…',
        );
        st.reconnectTimer = setTimeout(connect, wait);
      }
    };
  }

  /* ---- try it ---- */

  function tryTargets() {
    return st.eps.filter((ep) => hostOf(ep));
  }

  function renderTryChoices() {
    const sel = $('try-ep');
    const keep = sel.value;
    const eps = tryTargets();
    const sig = JSON.stringify(eps.map((e) => [e.target, e.attrs.ep, e.attrs.d]));
    if (sel.dataset.sig !== sig) {
      sel.dataset.sig = sig;
      sel.replaceChildren(...eps.map((ep) => el('option', { value: ep.target, text: ep.attrs.ep + (ep.attrs.d ? ' (' + ep.attrs.d + ')' : '') + ' — ' + hostOf(ep) })));
      if (eps.some((e) => e.target === keep)) sel.value = keep;
    }
    renderTryResources();
  }

  function renderTryResources() {
    const ep = tryTargets().find((e) => e.target === $('try-ep').value);
    const sel = $('try-res');
    const keep = sel.value;
    const paths = ep ? resourcesOf(ep).map((r) => r.path) : [];
    const sig = JSON.stringify(paths);
    if (sel.dataset.sig !== sig) {
      sel.dataset.sig = sig;
      sel.replaceChildren(...paths.map((p) => el('option', { value: p, text: p })));
      if (paths.includes(keep)) sel.value = keep;
    }
    const usable = !!ep && paths.length > 0 && st.client && st.client.state === 'open';
    $('try-get').disabled = !usable;
    $('try-observe').disabled = !usable || !!st.tryObs;
  }

  function pickTry(epTarget, path, focus) {
    $('try-ep').value = epTarget;
    renderTryResources();
    $('try-res').value = path;
    if (focus) {
      $('try').scrollIntoView({ block: 'nearest' });
      $('try-get').focus();
    }
  }

  function splitTarget(path) {
    const q = path.indexOf('?');
    return q < 0 ? { path, query: [] } : { path: path.slice(0, q), query: path.slice(q + 1).split('&') };
  }

  /* One answer as it arrived: code, options, payload (text, or hex). */
  function showAnswer(r, label) {
    const code = C.codeString(r.code);
    const box = el('article', { class: 'answer', 'data-code': code, 'data-kind': label.split(' ')[0].toLowerCase() });
    box.appendChild(
      el('h3', {}, [
        el('span', { class: 'code code-' + code[0], text: code + ' ' + (CODE_NAMES[code] || '') }),
        el('span', { class: 'meta', text: ' ' + label + ' · ' + new Date().toLocaleTimeString() }),
      ]),
    );
    const opts = el('ul', { class: 'opts' });
    for (const o of r.options) opts.appendChild(el('li', { text: C.formatOption(o) }));
    if (r.options.length) box.appendChild(opts);
    const text = C.isText(r.payload);
    box.appendChild(
      el('pre', { class: 'payload', 'data-kind': text ? 'text' : 'hex', text: r.payload.length === 0 ? '(no payload)' : text ? new TextDecoder().decode(r.payload) : C.hexDump(r.payload) }),
    );
    const out = $('try-out');
    out.prepend(box);
    while (out.children.length > TRY_KEEP) out.lastChild.remove();
  }

  function showError(text) {
    const out = $('try-out');
    out.prepend(el('p', { class: 'error', text }));
    while (out.children.length > TRY_KEEP) out.lastChild.remove();
  }

  function currentTry() {
    const ep = tryTargets().find((e) => e.target === $('try-ep').value);
    const res = $('try-res').value;
    if (!ep || !res) return null;
    const t = splitTarget(res);
    return { req: { host: hostOf(ep), path: t.path, query: t.query }, label: (ep.attrs.ep || '') + ' ' + res };
  }

  function stopTry(why) {
    if (st.tryObs) {
      st.tryObs.cancel();
      st.tryObs = null;
      if (why) showError('Observation stopped: ' + why);
    }
    $('try-stop').disabled = true;
    renderTryResources();
  }

  async function doGet(ev) {
    ev.preventDefault();
    const t = currentTry();
    if (!t || !st.client) return;
    try {
      const r = await st.client.request(t.req);
      showAnswer(r, 'GET ' + t.label);
    } catch (e) {
      showError('GET ' + t.label + ': ' + e.message);
    }
  }

  function doObserve() {
    const t = currentTry();
    if (!t || !st.client || st.tryObs) return;
    let n = 0;
    st.tryObs = st.client.observe(
      t.req,
      (r) => showAnswer(r, (n++ === 0 ? 'Observe ' : 'notification ') + t.label),
      (why) => {
        if (why === 'cancelled') return;
        st.tryObs = null;
        $('try-stop').disabled = true;
        showError('Observation of ' + t.label + ' ended: ' + why);
        renderTryResources();
      },
    );
    $('try-stop').disabled = false;
    $('try-observe').disabled = true;
  }

  /* ---- start ---- */

  function start() {
    $('ws-url').textContent = wsUrl();
    $('try-form').addEventListener('submit', doGet);
    $('try-observe').addEventListener('click', doObserve);
    $('try-stop').addEventListener('click', () => stopTry(''));
    $('try-ep').addEventListener('change', renderTryResources);
    render();
    /* lifetimes and "ago" tick locally; rows change only when their text does */
    setInterval(tick, 1000);
    connect();
  }

  start();
})();
