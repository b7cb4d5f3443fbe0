// The farm (or "my containers") table: filter, sort by any column, and
// live state from the events websocket.
(function () {
  'use strict';
  const table = document.getElementById('farm');
  if (!table) return;
  const tbody = table.tBodies[0];
  const filter = document.getElementById('farm-filter');
  const statusSel = document.getElementById('farm-status');
  const count = document.getElementById('farm-count');
  const none = document.getElementById('farm-none');

  function applyFilter() {
    const words = filter.value.toLowerCase().split(/\s+/).filter(Boolean);
    const status = statusSel.value;
    let shown = 0;
    for (const tr of tbody.rows) {
      const text = tr.textContent.toLowerCase();
      const st = tr.querySelector('.status').dataset.status;
      const ok = words.every(function (w) { return text.includes(w); }) && (!status || st === status);
      tr.hidden = !ok;
      if (ok) shown++;
    }
    count.textContent = shown + ' of ' + tbody.rows.length + ' containers';
    none.hidden = shown > 0;
  }
  filter.addEventListener('input', applyFilter);
  statusSel.addEventListener('change', applyFilter);

  function cellValue(tr, i, kind) {
    const td = tr.cells[i];
    const v = td.dataset.value !== undefined ? td.dataset.value : td.textContent.trim();
    return kind === 'num' ? Number(v) || 0 : v.toLowerCase();
  }
  const heads = Array.from(table.tHead.rows[0].cells);
  heads.forEach(function (th, i) {
    th.querySelector('button').addEventListener('click', function () {
      const dir = th.getAttribute('aria-sort') === 'ascending' ? 'descending' : 'ascending';
      heads.forEach(function (h) { h.removeAttribute('aria-sort'); });
      th.setAttribute('aria-sort', dir);
      const kind = th.dataset.sort;
      const rows = Array.from(tbody.rows);
      rows.sort(function (a, b) {
        const x = cellValue(a, i, kind), y = cellValue(b, i, kind);
        const c = x < y ? -1 : x > y ? 1 : 0;
        return dir === 'ascending' ? c : -c;
      });
      rows.forEach(function (r) { tbody.appendChild(r); });
    });
  });

  function setStatus(tr, status) {
    const badge = tr.querySelector('.status');
    badge.textContent = status;
    badge.dataset.status = status;
    badge.className = 'status status-' + status;
    tr.classList.remove('flash');
    void tr.offsetWidth; // restart the highlight
    tr.classList.add('flash');
  }

  let reloadTimer = null;
  async function refresh(ctid) {
    const tr = tbody.querySelector('tr[data-ctid="' + ctid + '"]');
    try {
      const c = await ctpanel.api('/api/v1/containers/' + ctid);
      if (!tr) { // a container this page does not list yet
        clearTimeout(reloadTimer);
        reloadTimer = setTimeout(function () { location.reload(); }, 800);
        return;
      }
      setStatus(tr, c.status);
      const np = tr.querySelector('.nproc');
      np.textContent = c.nproc;
      np.dataset.value = c.nproc;
    } catch (err) {
      if (err.status === 404 && tr) tr.remove(); // destroyed
    }
    applyFilter();
  }

  ctpanel.events(function (e) {
    if (e.type === 'operation') {
      refresh(e.ctid);
    } else if (e.type === 'alert') {
      const tr = tbody.querySelector('tr[data-ctid="' + e.ctid + '"]');
      if (!tr) return;
      tr.classList.add('failing');
      let flag = tr.querySelector('.flag');
      if (!flag) {
        flag = document.createElement('span');
        flag.className = 'flag';
        tr.cells[0].appendChild(flag);
      }
      flag.textContent = 'failcnt ↑ ' + e.resource;
      flag.title = e.resource + ' failcnt ' + e.old_failcnt + ' → ' + e.new_failcnt;
    }
  }, document.getElementById('live-state'));

  document.addEventListener('ctpanel:opdone', function (ev) {
    if (ev.detail && ev.detail.action === 'destroy') {
      const tr = tbody.querySelector('tr[data-ctid="' + ev.detail.ctid + '"]');
      if (tr) tr.remove();
      applyFilter();
    }
  });
  applyFilter();
})();
