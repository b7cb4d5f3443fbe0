// A chart series kept in time order whatever order its points arrive in
// (the last hour's history is fetched while live points already come in):
// raw points are inserted where they belong, and the plotted values are
// derived from them, as a rate between neighbours for cumulative counters.
(function (root) {
  'use strict';

  function Series(rate, windowSecs) {
    this.rate = !!rate;
    this.window = windowSecs || 3600;
    this.t = [];
    this.v = [];
  }

  // add puts (t, raw) in its place; a point at a time already held is
  // ignored. It says whether anything changed.
  Series.prototype.add = function (t, raw) {
    const ts = this.t;
    let lo = 0, hi = ts.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (ts[mid] < t) lo = mid + 1; else hi = mid;
    }
    if (lo < ts.length && ts[lo] === t) return false;
    ts.splice(lo, 0, t);
    this.v.splice(lo, 0, raw);
    const cutoff = ts[ts.length - 1] - this.window;
    let drop = 0;
    while (drop < ts.length && ts[drop] < cutoff) drop++;
    if (drop) { ts.splice(0, drop); this.v.splice(0, drop); }
    return true;
  };

  // data is uPlot's [times, values]: the raw values, or for a rate the
  // change per second between neighbours (a counter that went back, a
  // restart, starts over).
  Series.prototype.data = function (scale) {
    const ts = this.t, vs = this.v, k = scale || 1;
    if (!this.rate) return [ts.slice(), vs.map(function (x) { return x * k; })];
    const x = [], y = [];
    for (let i = 1; i < ts.length; i++) {
      const dt = ts[i] - ts[i - 1], dv = vs[i] - vs[i - 1];
      if (dt > 0 && dv >= 0) { x.push(ts[i]); y.push(dv / dt * k); }
    }
    return [x, y];
  };

  root.CtpanelSeries = Series;
  if (typeof module !== 'undefined' && module.exports) module.exports = Series;
})(typeof window !== 'undefined' ? window : globalThis);
