(function () {
  "use strict";
  var doc = document;
  var form = doc.getElementById("filters");
  var list = doc.getElementById("finding-list");
  if (!form || !list) { return; }
  var keys = ["layer", "severity", "file", "rule"];
  var selects = {};
  keys.forEach(function (k) { selects[k] = form.querySelector("select[data-key='" + k + "']"); });
  var items = Array.prototype.slice.call(list.querySelectorAll(".finding"));
  var total = items.length;
  var status = doc.getElementById("filter-status");
  var shownCount = doc.getElementById("shown-count");
  var empty = doc.getElementById("no-match");
  var buttons = Array.prototype.slice.call(doc.querySelectorAll("#matrix .mx-btn"));

  function describe() {
    var parts = [];
    keys.forEach(function (k) {
      var s = selects[k];
      if (s && s.value) { parts.push(k + " " + s.options[s.selectedIndex].text.replace(/ \(\d+\)$/, "")); }
    });
    return parts.join(", ");
  }

  function apply() {
    var shown = 0;
    items.forEach(function (el) {
      var ok = keys.every(function (k) {
        var v = selects[k] ? selects[k].value : "";
        return !v || el.getAttribute("data-" + k) === v;
      });
      el.hidden = !ok;
      if (ok) { shown += 1; }
    });
    var what = describe();
    shownCount.textContent = String(shown);
    status.textContent = what
      ? "Showing " + shown + " of " + total + " findings (" + what + ")."
      : "Showing all " + total + " findings, most severe first.";
    empty.hidden = shown !== 0;
    var layer = selects.layer.value, sev = selects.severity.value;
    var plain = !selects.file.value && !selects.rule.value;
    buttons.forEach(function (b) {
      var bl = b.getAttribute("data-layer") || "", bs = b.getAttribute("data-severity") || "";
      var on = plain && (layer || sev) && bl === layer && bs === sev;
      b.setAttribute("aria-pressed", on ? "true" : "false");
    });
  }

  function setFilter(layer, severity) {
    selects.layer.value = layer || "";
    selects.severity.value = severity || "";
    selects.file.value = "";
    selects.rule.value = "";
    apply();
    doc.getElementById("findings").scrollIntoView({ block: "start" });
  }

  buttons.forEach(function (b) {
    b.addEventListener("click", function () {
      setFilter(b.getAttribute("data-layer"), b.getAttribute("data-severity"));
    });
  });
  form.addEventListener("change", apply);
  form.addEventListener("submit", function (e) { e.preventDefault(); });
  form.addEventListener("reset", function () { window.setTimeout(apply, 0); });

  var reopened = [];
  window.addEventListener("beforeprint", function () {
    reopened = Array.prototype.slice.call(doc.querySelectorAll("details:not([open])"));
    reopened.forEach(function (d) { d.open = true; });
  });
  window.addEventListener("afterprint", function () {
    reopened.forEach(function (d) { d.open = false; });
    reopened = [];
  });

  form.hidden = false;
  apply();
}());
