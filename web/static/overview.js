// The farm overview's host charts: CPU, load, memory and the containers'
// disk over the last hour, day, week or month, one sample a minute kept in
// the database (host_samples), averaged into about 240 points.
(function () {
  'use strict';
  const host = document.getElementById('host-charts');
  if (!host || typeof window.uPlot !== 'function') return;
  const GiB = 1073741824;
  const defs = [
    { id: 'cpu', title: 'CPU (% of all CPUs)', label: '%', value: function (p) { return p.cpu_percent; } },
    { id: 'load', title: 'Load (1 min)', label: 'load', value: function (p) { return p.load1; } },
    { id: 'mem', title: 'Memory used (GiB)', label: 'GiB', value: function (p) { return p.mem_used / GiB; } },
    { id: 'disk', title: 'Disk used (GiB)', label: 'GiB', value: function (p) { return p.disk_used / GiB; } },
  ];
  const spans = { '1h': 3600, '1d': 86400, '1w': 7 * 86400, '1m': 30 * 86400 };
  let range = '1d';
  const bar = document.createElement('div');
  bar.className = 'chart-ranges';
  bar.setAttribute('role', 'group');
  bar.setAttribute('aria-label', 'Chart range');
  Object.keys(spans).forEach(function (k) {
    const b = document.createElement('button');
    b.type = 'button';
    b.className = 'small';
    b.textContent = k;
    b.dataset.range = k;
    b.addEventListener('click', function () { range = k; load(); });
    bar.appendChild(b);
  });
  host.appendChild(bar);
  const wrap = document.createElement('div');
  wrap.className = 'charts';
  host.appendChild(wrap);
  function width(el) { return Math.max(240, el.clientWidth || 300); }
  const plots = defs.map(function (d) {
    const box = document.createElement('div');
    box.className = 'chart';
    box.id = 'host-chart-' + d.id;
    const h = document.createElement('h3');
    h.textContent = d.title;
    box.appendChild(h);
    wrap.appendChild(box);
    const plot = new uPlot({
      width: width(box), height: 160,
      series: [{}, { label: d.label, stroke: '#2456c8', fill: 'rgba(36,86,200,0.12)', width: 1.5 }],
      axes: [{}, { size: 50 }],
      scales: { x: { time: true } },
      legend: { show: true },
    }, [[], []], box);
    return { def: d, box: box, plot: plot };
  });
  window.addEventListener('resize', function () {
    plots.forEach(function (p) { p.plot.setSize({ width: width(p.box), height: 160 }); });
  });
  async function load() {
    bar.querySelectorAll('button').forEach(function (b) {
      const on = b.dataset.range === range;
      b.classList.toggle('primary', on);
      b.setAttribute('aria-pressed', on ? 'true' : 'false');
    });
    let data;
    try { data = await ctpanel.api('/host-history.json?range=' + range); } catch (err) { return; }
    if (data.range !== range) return;
    const now = Date.now() / 1000;
    const t = data.points.map(function (p) { return new Date(p.t).getTime() / 1000; });
    plots.forEach(function (p) {
      p.plot.setData([t, data.points.map(p.def.value)]);
      p.plot.setScale('x', { min: now - spans[range], max: now });
      p.box.dataset.points = t.length;
    });
    host.dataset.loaded = range;
  }
  load();
  setInterval(function () { if (range === '1h') load(); }, 60000);
})();
