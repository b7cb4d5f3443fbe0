// Run by TestChartSeries (series_test.go) with node: the chart series
// stays in time order whatever order points arrive in.
'use strict';
const assert = require('assert');
const Series = require('./static/series.js');

// Live points first, then the history fetched meanwhile, then more live.
const s = new Series(false, 3600);
[1000, 1001].forEach(function (t) { s.add(t, t - 900); });
[10, 400, 999, 1000].forEach(function (t) { s.add(t, t - 900); });
s.add(1002, 102);
let d = s.data();
assert.deepStrictEqual(d[0], [10, 400, 999, 1000, 1001, 1002], 'times in order, no duplicate');
assert.deepStrictEqual(d[1], [-890, -500, 99, 100, 101, 102]);
for (let i = 1; i < d[0].length; i++) assert.ok(d[0][i] > d[0][i - 1], 'strictly increasing');

// An hour's window from the newest point.
s.add(5000, 1);
assert.deepStrictEqual(s.data()[0], [5000]);

// A rate between neighbours, in order, whatever the arrival; a counter
// that went back is skipped.
const r = new Series(true, 3600);
[[20, 3000], [10, 1000], [30, 3000], [15, 2000], [40, 500], [50, 1500]].forEach(function (p) { r.add(p[0], p[1]); });
d = r.data(0.1);
assert.deepStrictEqual(d[0], [15, 20, 30, 50]);
assert.deepStrictEqual(d[1].map(function (x) { return Math.round(x * 1000) / 1000; }), [20, 20, 0, 10]);
console.log('series ok');
