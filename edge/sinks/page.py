"""edge-camera's page at /: the live view scaled to the window, the prediction drawn by the page, the health,
the model, and (with --dataset) tag and record. One HTML document with its CSS and JavaScript inline: served by
the daemon itself, nothing fetched from elsewhere (a device offline, or on a phone's hotspot, shows it whole).

It polls /latest, /healthz and /dataset (2 a second) and reloads /latest.jpg, the newest frame undrawn, as
fast as the frames arrive: the label and confidence are text, a regression point is a marker placed in the
image's own pixels. A click on the image of a regression model records that point (POST /dataset/point).
"""

PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>edge-camera</title>
<style>
*{box-sizing:border-box}
body{margin:0;font:15px/1.4 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;background:#111;color:#eee}
header{display:flex;flex-wrap:wrap;gap:.3em 1em;align-items:baseline;padding:.5em 1em;background:#222}
header h1{font-size:1.1em;margin:0}
a{color:#9cf}header a,header button{color:#9cf;font-size:.9em}
main{display:flex;flex-wrap:wrap;gap:1em;padding:1em}
#view{position:relative;flex:1 1 480px;max-width:100%;align-self:flex-start;line-height:0}
#frame{display:block;width:100%;height:auto;background:#000}
#frame.clickable{cursor:crosshair}
.marker{position:absolute;width:18px;height:18px;margin:-9px 0 0 -9px;border:3px solid #ff0;border-radius:50%;
 box-shadow:0 0 0 2px #000;pointer-events:none}
#prediction{position:absolute;left:0;top:0;padding:.3em .6em;font-size:1.6em;line-height:1.3;
 background:rgba(0,0,0,.6)}
aside{flex:1 1 280px;max-width:100%}
section{background:#1d1d1d;border-radius:6px;padding:.6em 1em;margin-bottom:1em}
h2{font-size:1em;margin:.2em 0 .5em}
dl{display:grid;grid-template-columns:auto 1fr;gap:.2em .8em;margin:0}
dt{color:#aaa}dd{margin:0;word-break:break-word}
.ok{color:#6d6}.degraded,.starting,.stopping{color:#fc6}.failed,.error{color:#f66}
input,button,select{font:inherit;padding:.3em .5em;margin:.15em 0}
button{cursor:pointer}
#classes button.chosen{outline:2px solid #9cf}
#message{min-height:1.4em}
table{border-collapse:collapse}td{padding:0 .8em 0 0}
@media (max-width:600px){main{padding:.3em;gap:.5em}#view,aside{flex-basis:100%}#prediction{font-size:1.2em}}
</style></head>
<body>
<header><h1>edge-camera</h1><span id="model">model ?</span>
<a href="/healthz">/healthz</a><a href="/metrics">/metrics</a><a href="/latest">/latest</a>
<a href="/stream.mjpg">/stream.mjpg</a>
<form method="post" action="/logout" style="margin:0"><button>log out</button></form></header>
<main>
<div id="view"><img id="frame" alt="live view" src="/latest.jpg"><div id="prediction">waiting for a result</div>
</div>
<aside>
<section><h2>Status</h2><dl>
<dt>state</dt><dd id="state">?</dd><dt>reason</dt><dd id="reason"></dd>
<dt>frame rate</dt><dd id="fps">?</dd><dt>latency p50</dt><dd id="p50">?</dd>
<dt>bundle</dt><dd id="bundle">?</dd><dt>bundle id</dt><dd id="bundle-id">?</dd>
<dt>runtime</dt><dd id="runtime">?</dd><dt>precision</dt><dd id="precision">?</dd>
<dt>model swap</dt><dd id="swap">-</dd>
</dl>
<form id="upload"><input id="bundle-file" type="file" accept=".tar.gz,.tgz,application/gzip">
<button>swap to this bundle</button></form></section>
<section id="record"><h2>Tag and record</h2>
<p id="no-dataset" hidden>Start edge-camera with <code>--dataset DIR</code> to tag and record here.</p>
<div id="recorder" hidden>
<div id="classes"></div>
<form id="add-class"><input id="new-class" placeholder="new class" maxlength="64" size="12">
<button>add class</button></form>
<form id="capture"><label>frames <input id="count" type="number" value="1" min="1" max="100" style="width:4.5em">
</label> <label>per second <input id="rate" type="number" value="2" min="0.1" max="30" step="0.1"
style="width:4.5em"></label> <button id="capture-button">capture</button></form>
<p id="point-hint" hidden>Regression model: click the image where the point is to record it.</p>
<table id="counts"></table>
<p><button id="undo">undo last capture</button> <a id="download" href="/dataset.tar.gz">download .tar.gz</a></p>
</div>
<p id="message" role="status"></p>
</section>
</aside></main>
<script>
"use strict";
var chosen = null, regression = false, latest = null, ticks = 0;
function $(id) { return document.getElementById(id); }
function show(id, text) { $(id).textContent = text; }
function getJson(url) {
  return fetch(url, {credentials: "same-origin", cache: "no-store"}).then(function (r) {
    if (r.status === 401) { location.href = "/login"; }
    return r.json();
  });
}
function post(url, fields) {
  var body = new URLSearchParams(fields);
  return fetch(url, {method: "POST", body: body, credentials: "same-origin"}).then(function (r) {
    return r.json().then(function (doc) { doc.ok = r.ok; return doc; });
  }).then(function (doc) {
    if (!doc.ok) { say(doc.error || "failed", true); } else { drawDataset(doc); }
    return doc;
  }, function (err) { say("the camera did not answer: " + err, true); });
}
function say(text, bad) { show("message", text); $("message").className = bad ? "error" : ""; }
function drawResult(r) {
  latest = r;
  regression = !!r.values;
  $("point-hint").hidden = !regression;
  ["classes", "add-class", "capture"].forEach(function (id) { $(id).hidden = regression; });
  $("frame").className = regression ? "clickable" : "";
  var view = $("view");
  Array.prototype.slice.call(view.querySelectorAll(".marker")).forEach(function (m) { m.remove(); });
  if (regression) {
    var names = Object.keys(r.values), text = [];
    for (var i = 0; i + 1 < names.length; i += 2) {
      var x = r.values[names[i]], y = r.values[names[i + 1]];
      var m = document.createElement("div");
      m.className = "marker";
      m.style.left = (100 * x / r.image.width) + "%";
      m.style.top = (100 * y / r.image.height) + "%";
      view.appendChild(m);
      text.push(names[i].replace(/_?x$/, "") + " " + x.toFixed(1) + ", " + y.toFixed(1));
    }
    show("prediction", "point " + text.join("; "));
  } else if (r.prediction !== undefined) {
    show("prediction", r.prediction + " " + (100 * r.confidence).toFixed(1) + "%");
  }
  var runtime = (r.runtime || "").split(" ");
  show("runtime", runtime[0] || "?");
  show("precision", runtime[1] || "?");
  $("runtime").title = r.runtime || "";
  if (r.model) { show("bundle", r.model.name); show("bundle-id", r.model.id); }
}
function drawHealth(h) {
  show("state", h.state);
  $("state").className = h.state;
  show("reason", h.reason || "-");
  show("fps", (h.fps || 0).toFixed(1) + " fps");
  var lat = h.latency_ms && (h.latency_ms.capture_to_result || h.latency_ms.total);
  show("p50", lat ? lat.p50.toFixed(1) + " ms" : "?");
  if (h.model) {
    show("bundle", h.model.name); show("bundle-id", h.model.id);
    show("model", h.model.name + " (" + h.model.id + ")");
    var swap = h.model.swap;
    if (swap) { show("swap", swap.state + (swap.reason ? ": " + swap.reason : "")); }
    if (swap && swap.state === "refused") { show("reason", (h.reason ? h.reason + "; " : "") + swap.reason); }
  }
}
var drawn = "";
function drawDataset(d) {
  var key = JSON.stringify([d.classes, d.points, d.undo, chosen, regression]);
  if (key === drawn) { return; }
  drawn = key;
  if (d.enabled === false) { $("no-dataset").hidden = false; $("recorder").hidden = true; return; }
  if (!d.classes) { return; }
  $("recorder").hidden = false;
  var names = Object.keys(d.classes).sort(), box = $("classes"), table = $("counts");
  if (chosen === null && names.length) { chosen = names[0]; }
  box.textContent = ""; table.textContent = "";
  names.forEach(function (name) {
    var b = document.createElement("button");
    b.type = "button"; b.textContent = name; b.dataset.label = name;
    if (name === chosen) { b.className = "chosen"; }
    b.onclick = function () { chosen = name; drawDataset(d); };
    box.appendChild(b);
    var row = table.insertRow(); row.insertCell().textContent = name;
    var cell = row.insertCell(); cell.textContent = d.classes[name]; cell.dataset.count = name;
  });
  if (d.points || regression) {
    var row = table.insertRow(); row.insertCell().textContent = "points";
    var cell = row.insertCell(); cell.textContent = d.points; cell.dataset.count = "points";
  }
  $("undo").disabled = !d.undo;
  $("capture-button").disabled = chosen === null;
}
function tick() {
  getJson("/latest").then(function (r) { if (r && !r.error) { drawResult(r); } }, function () {});
  getJson("/healthz").then(drawHealth, function () { show("state", "unreachable"); });
  if (++ticks % 4 === 0) { getJson("/dataset").then(drawDataset, function () {}); }
}
function nextFrame() {
  var img = $("frame");
  img.onload = img.onerror = function () { setTimeout(nextFrame, img.complete && img.naturalWidth ? 60 : 1000); };
  img.src = "/latest.jpg?t=" + Date.now();
}
$("add-class").onsubmit = function (e) {
  e.preventDefault();
  var name = $("new-class").value.trim();
  post("/dataset/class", {label: name}).then(function (d) {
    if (d && d.ok) { chosen = name; $("new-class").value = ""; drawDataset(d); say("class " + name + " added"); }
  });
};
$("capture").onsubmit = function (e) {
  e.preventDefault();
  if (chosen === null) { say("add or pick a class first", true); return; }
  var count = $("count").value, label = chosen;
  say("capturing " + count + " frame(s) of " + label + "...");
  post("/dataset/capture", {label: label, count: count, rate: $("rate").value}).then(function (d) {
    if (d && d.ok) { say("saved " + d.saved.length + " frame(s) of " + label); }
  });
};
$("upload").onsubmit = function (e) {
  e.preventDefault();
  var file = $("bundle-file").files[0];
  if (!file) { say("choose a bundle .tar.gz first", true); return; }
  say("uploading " + file.name + "...");
  fetch("/model", {method: "POST", body: file, credentials: "same-origin",
                   headers: {"Content-Type": "application/gzip"}}).then(function (r) {
    return r.json().then(function (doc) {
      if (r.ok) { say("uploaded " + file.name + ": " + doc.message); } else { say(doc.error || "refused", true); }
    });
  }, function (err) { say("the upload failed: " + err, true); });
};
$("undo").onclick = function () {
  post("/dataset/undo", {}).then(function (d) {
    if (d && d.ok) { say("removed " + d.removed.join(", ")); }
  });
};
$("frame").onclick = function (e) {
  if (!regression) { return; }
  var img = $("frame"), box = img.getBoundingClientRect();
  var x = Math.round((e.clientX - box.left) / box.width * img.naturalWidth);
  var y = Math.round((e.clientY - box.top) / box.height * img.naturalHeight);
  post("/dataset/point", {x: x, y: y, width: img.naturalWidth, height: img.naturalHeight}).then(function (d) {
    if (d && d.ok) { say("point " + x + "," + y + " saved as " + d.saved[0]); }
  });
};
getJson("/dataset").then(drawDataset, function () {});
tick(); setInterval(tick, 500); nextFrame();
</script></body></html>
"""
