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
  const C = window.CtpanelCharts;
  if (!C) return;
  const spans = C.spans;
  let range = '1d';
  const bar = C.rangeBar(host, range, function (k) { range = k; load(); });
  const wrap = document.createElement('div');
  wrap.className = 'charts';
  host.appendChild(wrap);
  const plots = defs.map(function (d) {
    const c = C.chart(wrap, 'host-chart-' + d.id, d.title, d.label, 160);
    return { def: d, box: c.box, plot: c.plot };
  });
  async function load() {
    bar.show(range);
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
