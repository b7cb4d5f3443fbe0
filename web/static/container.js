// A container's page: its state from the events websocket, the
// beancounter table every second from the stats websocket while it runs,
// and uPlot charts of the last hour followed live.
(function () {
  'use strict';
  const root = document.getElementById('ct');
  if (!root) return;
  const ctid = root.dataset.ctid;
  const UNLIMITED = 9223372036854775807;
  let status = root.dataset.status;
  let stats = null;

  // ---- state and actions -------------------------------------------------
  function setStatus(s) {
    status = s;
    root.dataset.status = s;
    document.querySelectorAll('.state .status, .status-text').forEach(function (el) {
      el.textContent = s;
      if (el.classList.contains('status')) {
        el.dataset.status = s;
        el.className = 'status status-' + s;
      }
    });
    document.querySelectorAll('#actions button[data-when]').forEach(function (b) {
      b.disabled = b.dataset.when.split(' ').indexOf(s) < 0;
    });
    if (s === 'running' || s === 'frozen') startStats(); else stopStats();
  }

  async function refresh() {
    try {
      const c = await ctpanel.api('/api/v1/containers/' + ctid);
      setStatus(c.status);
      const np = document.getElementById('nproc');
      if (np) np.textContent = c.nproc;
      refreshOps();
    } catch (err) {
      if (err.status === 404) location.href = '/?done=destroy';
    }
  }

  // The operations list, newest first, as the page rendered it.
  async function refreshOps() {
    const table = document.getElementById('ops-table');
    if (!table) return;
    const data = await ctpanel.api('/api/v1/containers/' + ctid + '/operations').catch(function () { return null; });
    if (!data) return;
    const tbody = document.createElement('tbody');
    data.operations.slice(0, 20).forEach(function (o) {
      const tr = document.createElement('tr');
      tr.className = 'op-' + o.status;
      const when = new Date(o.created_at);
      [['when', when.toLocaleTimeString()], ['action', o.action], ['status', o.status], ['by', o.requested_by], ['error', o.error || '']]
        .forEach(function (c) {
          const td = document.createElement('td');
          td.dataset.label = c[0];
          td.textContent = c[1];
          if (c[0] === 'when') td.title = when.toISOString();
          tr.appendChild(td);
        });
      tbody.appendChild(tr);
    });
    table.replaceChild(tbody, table.tBodies[0]);
  }

  ctpanel.events(function (e) {
    if (String(e.ctid) !== ctid) return;
    if (e.type === 'operation') refresh();
  });
  document.addEventListener('ctpanel:opdone', refresh);

  // ---- beancounters ------------------------------------------------------
  const area = document.getElementById('bc-area');
  const live = document.getElementById('bc-live');

  function num(v) { return v >= UNLIMITED ? 'unlimited' : String(v); }
  function human(res, v) {
    if (v >= UNLIMITED) return '';
    let bytes = null;
    if (res === 'physpages' || res === 'swappages') bytes = v * 4096;
    else if (res === 'kmemsize' || res === 'tcpsndbuf') bytes = v;
    else if (res === 'cpu') return Math.round(v / 1000) + 's';
    if (bytes === null) return '';
    if (bytes < 1024) return bytes + ' B';
    const units = ['KiB', 'MiB', 'GiB', 'TiB'];
    let i = -1;
    do { bytes /= 1024; i++; } while (bytes >= 1024 && i < units.length - 1);
    return bytes.toFixed(1) + ' ' + units[i];
  }
  function cell(tr, label, res, v, cls) {
    const td = document.createElement('td');
    td.className = 'num' + (cls ? ' ' + cls : '');
    td.dataset.label = label;
    td.textContent = res === null ? String(v) : num(v);
    const h = res === null ? '' : human(res, v);
    if (h) {
      const small = document.createElement('small');
      small.textContent = h;
      td.appendChild(small);
    }
    tr.appendChild(td);
  }

  function renderTable(rows) {
    let table = document.getElementById('bc-table');
    if (!table) {
      area.innerHTML = '<div class="table-wrap"><table class="bc" id="bc-table"><thead><tr><th>resource</th>' +
        '<th class="num">held</th><th class="num">maxheld</th><th class="num">barrier</th><th class="num">limit</th>' +
        '<th class="num">failcnt</th></tr></thead><tbody></tbody></table></div>';
      table = document.getElementById('bc-table');
    }
    const tbody = document.createElement('tbody');
    rows.forEach(function (r) {
      const tr = document.createElement('tr');
      tr.dataset.resource = r.resource;
      if (r.failcnt > 0) tr.className = 'failing';
      const th = document.createElement('th');
      th.scope = 'row';
      th.dataset.label = 'resource';
      th.textContent = r.resource;
      tr.appendChild(th);
      cell(tr, 'held', r.resource, r.held);
      cell(tr, 'maxheld', r.resource, r.maxheld);
      // cpu's barrier and limit are cpuunits and cpulimit, not time.
      const limRes = r.resource === 'cpu' ? 'cpulimits' : r.resource;
      cell(tr, 'barrier', limRes, r.barrier);
      cell(tr, 'limit', limRes, r.limit);
      cell(tr, 'failcnt', null, r.failcnt, 'failcnt');
      tbody.appendChild(tr);
    });
    table.replaceChild(tbody, table.tBodies[0]);
    table.dataset.updated = new Date().toISOString();
  }

  function startStats() {
    if (stats) return;
    stats = ctpanel.socket('/api/v1/containers/' + ctid + '/stats/ws?interval=1000', function (m) {
      if (m.type === 'beancounters') {
        renderTable(m.beancounters);
        live.textContent = 'live';
        charts.push(new Date(m.at).getTime() / 1000, m.beancounters);
      } else if (m.type === 'status' && m.status === 'stopped') {
        area.innerHTML = '<p class="empty" id="bc-empty">The container is not running, so there is nothing to count. Start it to see its beancounters.</p>';
        live.textContent = 'stopped';
      }
    }, live);
  }
  function stopStats() {
    if (!stats) return;
    stats.close();
    stats = null;
    live.textContent = 'stopped';
    live.classList.remove('on');
  }

  // ---- charts --------------------------------------------------------------
  // Each chart is one series over time; CPU is a rate from the cumulative
  // cpu time (ms), memory, processes and disk are what is held. A range
  // (1 hour, 1 day, 1 week, 1 month) is read from the stored history,
  // which the database keeps at 10 s for an hour, 1 min for two days and
  // 1 h for a month; live points follow while the page is open.
  const charts = (function () {
    const host = document.getElementById('chart-area');
    const defs = [
      { id: 'numproc', title: 'Processes (numproc held)', res: 'numproc', label: 'processes', value: function (r) { return r.held; } },
      { id: 'mem', title: 'Memory (physpages held, MiB)', res: 'physpages', label: 'MiB', value: function (r) { return r.held * 4096 / 1048576; } },
      { id: 'cpu', title: 'CPU (% of one CPU)', res: 'cpu', label: '%', rate: true, scale: 0.1, value: function (r) { return r.held; } },
      // Only for a container on a disk of its own: made when its first
      // point comes.
      { id: 'disk', title: 'Disk used (MiB)', res: 'diskspace', label: 'MiB', lazy: true, value: function (r) { return r.held / 1024; } },
    ];
    const C = window.CtpanelCharts;
    const ranges = C ? C.spans : {};
    let span = 3600;
    const state = {};
    if (!host || !C || typeof window.uPlot !== 'function' || typeof window.CtpanelSeries !== 'function') return { push: function () {} };
    const bar = C.rangeBar(host, '1h', function (k) { setRange(k); });
    const wrap = document.createElement('div');
    wrap.className = 'charts';
    host.appendChild(wrap);

    function make(d) {
      // Its window (the range, ending now) is set as it is drawn.
      const c = C.chart(wrap, 'chart-' + d.id, d.title, d.label, 180);
      state[d.id] = { def: d, series: new window.CtpanelSeries(d.rate, span), plot: c.plot, box: c.box };
      return state[d.id];
    }
    defs.forEach(function (d) { if (!d.lazy) make(d); });
    function charted(res) {
      const out = Object.values(state).filter(function (s) { return s.def.res === res; });
      if (out.length) return out;
      const d = defs.find(function (x) { return x.lazy && x.res === res; });
      return d ? [make(d)] : [];
    }
    // Points go in their place in time, wherever they come from (the
    // history is fetched while live points already arrive): CPU is the
    // rate of its cumulative ms, ms per s being tenths of a per cent.
    function add(s, t, raw) { return s.series.add(t, raw); }
    function draw(s) {
      const d = s.series.data(s.def.scale);
      s.plot.setData(d);
      // The window: at least the last five minutes, at most the range,
      // ending now (set here: uPlot widens a lone point by itself).
      const now = Date.now() / 1000;
      const first = d[0].length ? d[0][0] : now;
      s.plot.setScale('x', { min: Math.max(now - span, Math.min(first, now - 300)), max: Math.max(now, d[0].length ? d[0][d[0].length - 1] : now) });
      // What is drawn, for whoever checks it (the browser tests).
      s.box.dataset.points = d[0].length;
      s.box.dataset.ordered = d[0].every(function (t, i) { return i === 0 || t > d[0][i - 1]; });
      s.box.dataset.span = d[0].length > 1 ? Math.round(d[0][d[0].length - 1] - d[0][0]) : 0;
      s.box.dataset.range = span;
    }

    let loading = 0;
    async function load() {
      const mine = ++loading;
      const to = new Date();
      const from = new Date(to.getTime() - span * 1000);
      host.dataset.loaded = '';
      try {
        const h = await ctpanel.api('/api/v1/containers/' + ctid + '/stats?from=' + encodeURIComponent(from.toISOString().replace(/\.\d+Z$/, 'Z')) +
          '&to=' + encodeURIComponent(to.toISOString().replace(/\.\d+Z$/, 'Z')));
        if (mine !== loading) return; // another range was asked for meanwhile
        Object.keys(h.series).forEach(function (res) {
          charted(res).forEach(function (s) {
            h.series[res].forEach(function (p) { add(s, new Date(p.t).getTime() / 1000, s.def.value(p)); });
          });
        });
        Object.values(state).forEach(draw);
        host.dataset.loaded = Object.keys(ranges).find(function (k) { return ranges[k] === span; });
        host.dataset.step = h.step;
      } catch (err) {
        host.insertAdjacentHTML('afterbegin', '<p class="muted">No history: ' + err.message.replace(/[<>&]/g, '') + '</p>');
      }
    }
    function setRange(k) {
      span = ranges[k];
      bar.show(k);
      Object.values(state).forEach(function (s) { s.series = new window.CtpanelSeries(s.def.rate, span); draw(s); });
      load();
    }
    load();

    return {
      push: function (t, rows) {
        rows.forEach(function (r) {
          charted(r.resource).forEach(function (s) {
            if (add(s, t, s.def.value(r))) draw(s);
          });
        });
      },
    };
  })();

  // ---- the terminal -------------------------------------------------------
  // The console or a root shell in a frame of the terminal page, opened on
  // request (an open terminal is a session on the server, and is audited).
  (function () {
    const area = document.getElementById('term-area');
    const frame = document.getElementById('term-frame');
    const buttons = [document.getElementById('console-connect'), document.getElementById('shell-connect')];
    if (!area || !frame) return;
    buttons.forEach(function (b) {
      if (!b) return;
      b.addEventListener('click', function () {
        area.hidden = false;
        if (frame.getAttribute('src') !== b.dataset.src) frame.setAttribute('src', b.dataset.src);
        buttons.forEach(function (o) { if (o) o.classList.toggle('primary', o === b); });
        frame.addEventListener('load', function focus() {
          frame.removeEventListener('load', focus);
          try { frame.contentWindow.ctpanelConsole.term.focus(); } catch (e) { /* not ready */ }
        });
        area.scrollIntoView({ block: 'nearest' });
        setTimeout(loadSessions, 1500);
      });
    });

    // The sessions open on the server: resume your shell, watch another
    // (staff, read-only) or end one.
    const box = document.getElementById('term-sessions');
    const staff = root.dataset.staff === 'true';
    function show(src) {
      area.hidden = false;
      frame.setAttribute('src', src);
      buttons.forEach(function (o) { if (o) o.classList.remove('primary'); });
      area.scrollIntoView({ block: 'nearest' });
    }
    function button(text, onClick, cls) {
      const b = document.createElement('button');
      b.type = 'button';
      b.className = 'link' + (cls ? ' ' + cls : '');
      b.textContent = text;
      b.addEventListener('click', onClick);
      return b;
    }
    async function loadSessions() {
      if (!box) return;
      let data;
      try { data = await ctpanel.api('/api/v1/containers/' + ctid + '/sessions'); } catch (e) { return; }
      const tbody = box.querySelector('tbody');
      tbody.textContent = '';
      data.sessions.forEach(function (s) {
        const tr = document.createElement('tr');
        tr.dataset.session = s.id;
        [['kind', s.kind === 'shell' ? 'root shell' : 'console'], ['opened by', s.owner + (s.yours ? ' (you)' : '')],
          ['started', new Date(s.started_at).toLocaleTimeString()], ['last input', new Date(s.last_active_at).toLocaleTimeString()],
          ['viewers', String(s.viewers)]].forEach(function (c) {
          const td = document.createElement('td');
          td.dataset.label = c[0];
          td.textContent = c[1];
          if (c[0] === 'viewers') td.className = 'num';
          tr.appendChild(td);
        });
        const act = document.createElement('td');
        act.dataset.label = '';
        const base = '/containers/' + ctid + '/';
        if (s.kind === 'console') {
          act.appendChild(button('Open', function () { show(base + 'console'); }));
        } else if (s.yours) {
          act.appendChild(button('Resume', function () { show(base + 'shell?session=' + encodeURIComponent(s.id)); }));
        } else if (staff) {
          act.appendChild(button('Watch', function () { show(base + 'shell?read_only=1&session=' + encodeURIComponent(s.id)); }));
        }
        act.appendChild(button('End', async function () {
          if (!confirm('End this ' + (s.kind === 'shell' ? 'root shell' : 'console session') + '? What runs in a shell is hung up.')) return;
          try {
            await ctpanel.api('/api/v1/containers/' + ctid + '/sessions/' + encodeURIComponent(s.id), { method: 'DELETE' });
          } catch (e) { alert(e.message); }
          loadSessions();
        }, 'danger'));
        tr.appendChild(act);
        tbody.appendChild(tr);
      });
      box.hidden = data.sessions.length === 0;
    }
    loadSessions();
    setInterval(function () { if (!document.hidden) loadSessions(); }, 10000);
  })();

  // Tabs: mark the one in view.
  const tabs = document.querySelectorAll('.tabs a');
  function markTab() {
    let cur = tabs[0];
    tabs.forEach(function (a) {
      const sec = document.querySelector(a.getAttribute('href'));
      if (sec && sec.getBoundingClientRect().top < 140) cur = a;
    });
    tabs.forEach(function (a) { a.classList.toggle('active', a === cur); });
  }
  window.addEventListener('scroll', markTab, { passive: true });
  markTab();

  setStatus(status);
})();
