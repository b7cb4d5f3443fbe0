// ctpanel's shared page script: confirmation dialogs for destructive
// buttons, progress of a queued operation, and helpers the other scripts
// use (API calls with the session cookie, the events websocket).
// Every page works without it; it only adds feedback and live updates.
(function () {
  'use strict';

  const meta = document.querySelector('meta[name="csrf-token"]');
  const csrf = meta ? meta.content : '';

  // api calls the REST API with the session cookie; calls that change
  // something carry the session's CSRF token.
  async function api(path, opts) {
    opts = opts || {};
    const headers = { 'Accept': 'application/json' };
    if (opts.method && opts.method !== 'GET') {
      headers['X-CSRF-Token'] = csrf;
      headers['Content-Type'] = 'application/json';
    }
    const res = await fetch(path, {
      method: opts.method || 'GET', headers: headers, credentials: 'same-origin', cache: 'no-store',
      body: opts.body ? JSON.stringify(opts.body) : undefined, signal: opts.signal,
    });
    const data = await res.json().catch(function () { return {}; });
    if (!res.ok) {
      const err = new Error((data.error && data.error.message) || (res.status + ' ' + res.statusText));
      err.status = res.status;
      throw err;
    }
    return data;
  }

  function wsURL(path) {
    return (location.protocol === 'https:' ? 'wss:' : 'ws:') + '//' + location.host + path;
  }

  // socket keeps a websocket open, reconnecting with backoff; indicator
  // (optional) shows whether it is live.
  function socket(path, onMessage, indicator) {
    let ws = null, attempt = 0, stopped = false, timer = null;
    function mark(on) {
      if (!indicator) return;
      indicator.classList.toggle('on', on);
      indicator.classList.toggle('off', !on);
      indicator.title = on ? 'live updates are on' : 'live updates are off: reconnecting';
    }
    function open() {
      if (stopped) return;
      ws = new WebSocket(wsURL(path));
      ws.onopen = function () { attempt = 0; mark(true); };
      ws.onmessage = function (ev) {
        let msg;
        try { msg = JSON.parse(ev.data); } catch (e) { return; }
        onMessage(msg);
      };
      ws.onclose = function () {
        mark(false);
        ws = null;
        if (stopped) return;
        attempt++;
        timer = setTimeout(open, Math.min(15000, 500 * Math.pow(2, attempt)));
      };
    }
    open();
    return {
      close: function () { stopped = true; clearTimeout(timer); if (ws) ws.close(); },
      send: function (v) { if (ws && ws.readyState === WebSocket.OPEN) ws.send(JSON.stringify(v)); },
    };
  }

  // Lifecycle events of the containers this user may see.
  function events(onEvent, indicator) {
    return socket('/api/v1/events/ws', onEvent, indicator);
  }

  const labels = {
    start: 'Starting', stop: 'Stopping', shutdown: 'Shutting down', restart: 'Restarting', freeze: 'Freezing',
    unfreeze: 'Unfreezing', create: 'Creating', clone: 'Cloning', destroy: 'Destroying', reinstall: 'Reinstalling',
    configure: 'Applying settings', set_limits: 'Applying limits', password: 'Setting the password',
  };

  // Progress of the operation named by #op-progress: polled through
  // /wait until it finishes, then the page is told (ctpanel:opdone).
  async function followOperation(box) {
    const id = box.dataset.op;
    const text = box.querySelector('.op-text');
    let op = null;
    for (let i = 0; i < 200; i++) {
      try {
        op = await api('/api/v1/operations/' + encodeURIComponent(id) + (i === 0 ? '' : '/wait?timeout=20'));
      } catch (err) {
        text.textContent = 'Could not follow the operation: ' + err.message;
        box.classList.add('failed');
        return;
      }
      const what = (labels[op.action] || op.action) + ' ' + op.ctid;
      if (op.status === 'succeeded') {
        text.textContent = 'Done: ' + op.action.replace('_', ' ') + ' of ' + op.ctid + ' finished.';
        box.classList.add('done');
        break;
      }
      if (op.status === 'failed') {
        text.textContent = op.action.replace('_', ' ') + ' of ' + op.ctid + ' failed: ' + (op.error || 'no reason given');
        box.classList.add('failed');
        box.setAttribute('role', 'alert');
        break;
      }
      text.textContent = what + '… (' + op.status + ')';
    }
    // The operation is followed; a reload should not follow it again.
    const url = new URL(location.href);
    url.searchParams.delete('op');
    history.replaceState(null, '', url.pathname + url.search + url.hash);
    document.dispatchEvent(new CustomEvent('ctpanel:opdone', { detail: op }));
  }

  // Buttons with data-confirm ask first, in a dialog.
  const dialog = document.getElementById('confirm-dialog');
  document.addEventListener('click', function (ev) {
    const btn = ev.target.closest('button[data-confirm]');
    if (!btn || btn.dataset.confirmed === '1') return;
    if (!dialog || typeof dialog.showModal !== 'function') {
      if (!window.confirm(btn.dataset.confirm)) ev.preventDefault();
      return;
    }
    ev.preventDefault();
    document.getElementById('confirm-text').textContent = btn.dataset.confirm;
    dialog.returnValue = '';
    dialog.onclose = function () {
      if (dialog.returnValue !== 'ok') return;
      btn.dataset.confirmed = '1';
      btn.click();
      delete btn.dataset.confirmed;
    };
    dialog.showModal();
    document.getElementById('confirm-ok').focus();
  });

  // A submitted form's button is disabled so a double tap does not send
  // it twice.
  document.addEventListener('submit', function (ev) {
    const btn = ev.submitter;
    if (btn && ev.target.method.toLowerCase() === 'post') {
      setTimeout(function () { btn.disabled = true; }, 0);
    }
  });

  window.ctpanel = { api: api, socket: socket, events: events, csrf: csrf };

  const box = document.getElementById('op-progress');
  if (box) followOperation(box);
})();
