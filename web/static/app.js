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

  // The task logs (the overview's table, the foot of every other staff
  // page) follow the farm: redrawn when an operation ends, and every 5 s
  // while one they show is still pending or running.
  (function () {
    const foot = document.querySelector('#task-log-footer ul');
    const table = document.querySelector('#task-log tbody');
    if (!foot && !table) return;
    const n = table ? 12 : 5;
    function status(s) {
      const b = document.createElement('span');
      b.className = 'status status-' + s;
      b.dataset.status = s;
      b.textContent = s;
      return b;
    }
    function link(ctid) {
      const a = document.createElement('a');
      a.href = '/containers/' + ctid;
      a.textContent = String(ctid);
      return a;
    }
    function cell(tr, label, content) {
      const td = document.createElement('td');
      td.dataset.label = label;
      if (typeof content === 'string') td.textContent = content; else td.appendChild(content);
      tr.appendChild(td);
      return td;
    }
    let timer = null, busy = false;
    async function refresh() {
      clearTimeout(timer);
      if (busy) return;
      busy = true;
      let data;
      try { data = await api('/tasks.json?n=' + n); } catch (e) { busy = false; return; } finally { busy = false; }
      let open = false;
      if (foot) {
        foot.textContent = '';
        data.tasks.forEach(function (t) {
          const li = document.createElement('li');
          li.dataset.status = t.status;
          li.append(t.when + ' · ', link(t.ctid), ' ' + t.action + (t.requested_by ? ' · ' + t.requested_by : '') + (t.took ? ' · ' + t.took : '') + ' · ', status(t.status));
          foot.appendChild(li);
        });
      }
      if (table) {
        table.textContent = '';
        data.tasks.forEach(function (t) {
          const tr = document.createElement('tr');
          tr.dataset.status = t.status;
          cell(tr, 'when', t.when);
          cell(tr, 'CTID', link(t.ctid));
          cell(tr, 'what', t.action);
          cell(tr, 'who', t.requested_by || 'panel');
          cell(tr, 'took', t.took || '-');
          const res = cell(tr, 'result', status(t.status));
          if (t.error) { const e = document.createElement('span'); e.className = 'muted small'; e.textContent = ' ' + t.error; res.appendChild(e); }
          table.appendChild(tr);
        });
      }
      data.tasks.forEach(function (t) { open = open || t.status === 'pending' || t.status === 'running'; });
      document.documentElement.dataset.tasklog = String(data.tasks.length);
      if (open) timer = setTimeout(refresh, 5000);
    }
    let soon = null, heard = false;
    events(function (e) {
      if (e.type === 'hello') {
        // Subscribed from here on; after a reconnect, whatever ended
        // while the socket was down is read once.
        if (heard) refresh();
        heard = true;
        document.documentElement.dataset.tasklogLive = '1';
        return;
      }
      if (e.type !== 'operation') return;
      clearTimeout(soon);
      soon = setTimeout(refresh, 200);
    });
    refresh();
  })();
})();
