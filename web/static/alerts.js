// The alerts page: a box that checks or clears every open alert's box
// for "Acknowledge selected", and that follows the boxes checked by hand.
(function () {
  "use strict";
  var all = document.getElementById("ack-pick-all");
  if (!all) return;
  var picks = function () { return Array.prototype.slice.call(document.querySelectorAll("input.ack-pick")); };
  all.hidden = false;
  all.addEventListener("change", function () {
    picks().forEach(function (p) { p.checked = all.checked; });
  });
  document.addEventListener("change", function (e) {
    if (!e.target.classList || !e.target.classList.contains("ack-pick")) return;
    var ps = picks(), n = ps.filter(function (p) { return p.checked; }).length;
    all.checked = n === ps.length;
    all.indeterminate = n > 0 && n < ps.length;
  });
})();
