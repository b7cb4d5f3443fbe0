// ctpanel's terminal page: a container's console or a root shell in
// xterm.js over the panel's websocket. It fits the window, reconnects on its
// own (to the same shell session, whose recent output the server replays)
// and shows the connection state.
//
// Signed in to the panel, the session cookie mints the one-time websocket
// tickets; otherwise an API token from the URL fragment (#token=..., never
// sent to the server) or this tab's sessionStorage does.
(function () {
  'use strict';

  const body = document.body;
  const ref = body.dataset.ref;
  const kind = body.dataset.kind; // "console" or "shell"
  const params = new URLSearchParams(location.search);
  const readOnly = params.get('read_only') === '1' || params.get('read_only') === 'true';
  const tokenKey = 'ctpanel.token';
  const sessionKey = 'ctpanel.' + kind + '.' + ref;

  let token = null;
  const fragment = new URLSearchParams(location.hash.slice(1));
  if (fragment.get('token')) {
    token = fragment.get('token');
    sessionStorage.setItem(tokenKey, token);
    // Out of the address bar and the history.
    history.replaceState(null, '', location.pathname + location.search);
  } else {
    token = sessionStorage.getItem(tokenKey);
  }
  // A shell session survives a reload of this tab; ?session= watches one.
  let sessionID = params.get('session') || (kind === 'shell' ? sessionStorage.getItem(sessionKey) : null);

  const badge = document.getElementById('state');
  const detail = document.getElementById('detail');
  const term = new Terminal({
    cursorBlink: !readOnly,
    disableStdin: readOnly,
    scrollback: 5000,
    fontFamily: 'DejaVu Sans Mono, Menlo, Consolas, monospace',
    fontSize: 14,
  });
  const fit = new FitAddon.FitAddon();
  term.loadAddon(fit);
  term.open(document.getElementById('terminal'));

  const encoder = new TextEncoder();
  let ws = null;
  let state = 'connecting';
  let attempt = 0;
  let retryTimer = null;
  let ended = false;
  let lastMessage = null; // the last error or end message of this socket

  function setState(s, text) {
    state = s;
    badge.textContent = s;
    badge.className = 'badge ' + s + (readOnly ? ' readonly' : '');
    detail.textContent = text || '';
    detail.title = text || '';
  }

  // Test hook: the terminal and the text on its screen.
  window.ctpanelConsole = {
    term: term,
    get state() { return state; },
    get session() { return sessionID; },
    text: function () {
      const b = term.buffer.active;
      const lines = [];
      for (let i = 0; i < b.length; i++) {
        const line = b.getLine(i);
        if (line) lines.push(line.translateToString(true));
      }
      return lines.join('\n');
    },
  };

  function fitNow() {
    try { fit.fit(); } catch (e) { /* not laid out yet */ }
  }

  function sendSize() {
    if (!ws || ws.readyState !== WebSocket.OPEN || readOnly) return;
    ws.send(JSON.stringify({ type: 'resize', cols: term.cols, rows: term.rows }));
  }

  function forgetSession(note) {
    sessionID = null;
    sessionStorage.removeItem(sessionKey);
    if (note) term.write('\r\n\x1b[33m[' + note + ']\x1b[0m\r\n');
  }

  // sessionCSRF is the signed-in panel session's CSRF token.
  let csrfToken = null;
  async function sessionCSRF() {
    if (csrfToken) return csrfToken;
    const res = await fetch('/session.json', { credentials: 'same-origin', cache: 'no-store', redirect: 'manual' });
    const data = res.ok ? await res.json().catch(function () { return {}; }) : {};
    if (!data.csrf_token) {
      const err = new Error('not signed in: sign in to the panel (or open this page with #token=<API token>)');
      err.status = 401;
      throw err;
    }
    csrfToken = data.csrf_token;
    return csrfToken;
  }

  async function mintTicket() {
    const req = {};
    if (kind === 'shell' && sessionID) req.session = sessionID;
    if (readOnly) req.read_only = true;
    // With an API token it is sent; without one the panel's session
    // cookie signs the call in, with the session's CSRF token.
    const headers = { 'Content-Type': 'application/json' };
    if (token) {
      headers['Authorization'] = 'Bearer ' + token;
    } else {
      headers['X-CSRF-Token'] = await sessionCSRF();
    }
    const res = await fetch('/api/v1/containers/' + encodeURIComponent(ref) + '/' + kind + '/ticket', {
      method: 'POST',
      credentials: 'same-origin',
      headers: headers,
      body: JSON.stringify(req),
      cache: 'no-store',
    });
    const data = await res.json().catch(function () { return {}; });
    if (!res.ok) {
      const err = new Error((data.error && data.error.message) || res.status + ' ' + res.statusText);
      err.status = res.status;
      throw err;
    }
    return data;
  }

  function retry(reason, minDelay, maxDelay) {
    clearTimeout(retryTimer);
    attempt++;
    const delay = Math.min(maxDelay || 10000, Math.max(minDelay || 0, 500 * Math.pow(2, attempt - 1)));
    const jittered = delay * (0.8 + 0.4 * Math.random());
    setState('reconnecting', reason + ' · retrying in ' + Math.ceil(jittered / 1000) + ' s');
    retryTimer = setTimeout(connect, jittered);
  }

  async function connect() {
    clearTimeout(retryTimer);
    if (ws) return;
    ended = false;
    setState('connecting');
    fitNow();
    let ticket;
    try {
      ticket = await mintTicket();
    } catch (err) {
      if (err.status === 404 && kind === 'shell' && sessionID && !params.get('session')) {
        forgetSession('the previous shell session has ended; starting a new shell');
        return connect();
      }
      if (err.status === 401 || err.status === 403 || err.status === 404 || err.status === 422) {
        setState('error', err.message);
        return;
      }
      retry(err.message || 'cannot reach the panel');
      return;
    }
    const proto = location.protocol === 'https:' ? 'wss:' : 'ws:';
    const sock = new WebSocket(proto + '//' + location.host + ticket.url + '&cols=' + term.cols + '&rows=' + term.rows);
    sock.binaryType = 'arraybuffer';
    ws = sock;
    lastMessage = null;
    sock.onmessage = function (ev) {
      if (ws !== sock) return;
      if (typeof ev.data !== 'string') {
        term.write(new Uint8Array(ev.data));
        return;
      }
      let m;
      try { m = JSON.parse(ev.data); } catch (e) { return; }
      onMessage(m);
    };
    sock.onclose = function (ev) {
      if (ws !== sock) return;
      ws = null;
      onClose(ev);
    };
  }

  function onMessage(m) {
    switch (m.type) {
      case 'status':
        if (m.state === 'attached') {
          attempt = 0;
          if (kind === 'shell' && m.session && !params.get('session')) {
            sessionID = m.session;
            sessionStorage.setItem(sessionKey, m.session);
          }
          // The replay that follows redraws what the session showed.
          term.reset();
          setState('attached', kind + ' of container ' + m.ctid);
          sendSize();
        } else if (m.state === 'frozen') {
          setState('frozen', m.message);
        } else if (m.state === 'running') {
          setState('attached', m.message);
        }
        break;
      case 'error':
        lastMessage = m.message;
        detail.textContent = m.message;
        break;
      case 'end':
        lastMessage = m.message;
        break;
    }
  }

  function onClose(ev) {
    const why = lastMessage || ev.reason || 'connection lost';
    switch (ev.code) {
      case 1000: // the session ended: exit or idle
        ended = true;
        if (kind === 'shell' && !params.get('session')) forgetSession();
        setState('ended', why);
        term.write('\r\n\x1b[33m[' + why + ' · press Enter to start again]\x1b[0m\r\n');
        return;
      case 4404: // the shell session is gone
        if (kind === 'shell' && !params.get('session')) {
          forgetSession(why + '; starting a new shell');
          connect();
          return;
        }
        setState('ended', why);
        return;
      case 4409: // stopped or frozen: the console comes back with the container
        retry(why, 3000, 30000);
        return;
      case 4400:
      case 4429:
        setState('error', why);
        return;
      default: // dropped connection, panel restart, too slow: attach again
        retry(why);
    }
  }

  term.onData(function (data) {
    if (ended) {
      if (data === '\r') connect();
      return;
    }
    if (ws && ws.readyState === WebSocket.OPEN && !readOnly) ws.send(encoder.encode(data));
  });
  term.onBinary(function (data) {
    if (!ws || ws.readyState !== WebSocket.OPEN || readOnly) return;
    const bytes = new Uint8Array(data.length);
    for (let i = 0; i < data.length; i++) bytes[i] = data.charCodeAt(i) & 0xff;
    ws.send(bytes);
  });
  term.onResize(sendSize);

  let pendingFit = 0;
  new ResizeObserver(function () {
    cancelAnimationFrame(pendingFit);
    pendingFit = requestAnimationFrame(fitNow);
  }).observe(document.getElementById('terminal'));
  window.addEventListener('online', function () {
    if (!ws && !ended && state !== 'error') connect();
  });

  fitNow();
  term.focus();
  connect();
})();
