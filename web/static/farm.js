// The container list: searching, filtering, sorting and paging are done
// by the server (the toolbar is a plain GET form); this script ticks rows
// for bulk actions, submits the filters when they change, and keeps each
// row's state live from the events websocket.
(function () {
  'use strict';
  const tools = document.getElementById('farm-tools');
  if (tools) {
    tools.querySelectorAll('select, input[type=checkbox]').forEach(function (el) {
      el.addEventListener('change', function () { tools.requestSubmit ? tools.requestSubmit() : tools.submit(); });
    });
  }
  const table = document.getElementById('farm');
  if (!table) return;
  const tbody = table.tBodies[0];
  const all = document.getElementById('select-all');
  const count = document.getElementById('bulk-count');
  const submit = document.getElementById('bulk-submit');
  const boxes = function () { return Array.from(tbody.querySelectorAll('input[name=ctid]')); };

  function picked() {
    const n = boxes().filter(function (b) { return b.checked; }).length;
    count.textContent = n ? n + ' selected' : '';
    submit.disabled = n === 0;
    all.checked = n > 0 && n === boxes().length;
    all.indeterminate = n > 0 && n < boxes().length;
  }
  all.addEventListener('change', function () {
    boxes().forEach(function (b) { b.checked = all.checked; });
    picked();
  });
  tbody.addEventListener('change', function (e) {
    if (e.target.name === 'ctid') picked();
  });
  picked();

  function setStatus(tr, status) {
    const badge = tr.querySelector('.status');
    if (!badge || badge.dataset.status === status) return;
    badge.textContent = status;
    badge.dataset.status = status;
    badge.className = 'status status-' + status;
    tr.classList.remove('flash');
    void tr.offsetWidth; // restart the highlight
    tr.classList.add('flash');
  }

  async function refresh(ctid) {
    const tr = tbody.querySelector('tr[data-ctid="' + ctid + '"]');
    if (!tr) return; // not on this page
    try {
      const c = await ctpanel.api('/api/v1/containers/' + ctid);
      setStatus(tr, c.status);
    } catch (err) {
      if (err.status === 404) tr.remove(); // destroyed
    }
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
        tr.cells[1].appendChild(flag);
      }
      flag.textContent = 'failcnt ↑ ' + e.resource;
      flag.title = e.resource + ' failcnt ' + e.old_failcnt + ' → ' + e.new_failcnt;
    }
  }, document.getElementById('live-state'));

  document.addEventListener('ctpanel:opdone', function (ev) {
    if (ev.detail && ev.detail.action === 'destroy') {
      const tr = tbody.querySelector('tr[data-ctid="' + ev.detail.ctid + '"]');
      if (tr) tr.remove();
    }
  });
})();
