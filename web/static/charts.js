// What the container page's and the overview's charts share: the range
// buttons (1h, 1d, 1w, 1m) and a titled uPlot chart of one series.
(function (root) {
  'use strict';
  const spans = { '1h': 3600, '1d': 86400, '1w': 7 * 86400, '1m': 30 * 86400 };

  // rangeBar adds the range buttons to host; pick(key) is called on a
  // click. The bar's show(key) marks the chosen one.
  function rangeBar(host, current, pick) {
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
      b.addEventListener('click', function () { pick(k); });
      bar.appendChild(b);
    });
    bar.show = function (k) {
      bar.querySelectorAll('button').forEach(function (b) {
        const on = b.dataset.range === k;
        b.classList.toggle('primary', on);
        b.setAttribute('aria-pressed', on ? 'true' : 'false');
      });
    };
    bar.show(current);
    host.appendChild(bar);
    return bar;
  }

  function width(el) { return Math.max(240, el.clientWidth || 300); }

  // chart adds a box with a title and a uPlot chart of one series to wrap;
  // it follows the window's width.
  function chart(wrap, id, title, label, height, opts) {
    const box = document.createElement('div');
    box.className = 'chart';
    box.id = id;
    const h = document.createElement('h3');
    h.textContent = title;
    box.appendChild(h);
    wrap.appendChild(box);
    const plot = new root.uPlot(Object.assign({
      width: width(box), height: height,
      series: [{}, { label: label, stroke: '#2456c8', fill: 'rgba(36,86,200,0.12)', width: 1.5 }],
      axes: [{}, { size: 50 }],
      scales: { x: { time: true } },
      legend: { show: true },
    }, opts || {}), [[], []], box);
    root.addEventListener('resize', function () { plot.setSize({ width: width(box), height: height }); });
    return { box: box, plot: plot };
  }

  root.CtpanelCharts = { spans: spans, rangeBar: rangeBar, chart: chart };
})(window);
