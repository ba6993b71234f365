(function () {
"use strict";
var D = JSON.parse(document.getElementById("map-data").textContent);
function bytes(b64) {
  var s = atob(b64), out = new Uint8Array(s.length);
  for (var i = 0; i < s.length; i++) out[i] = s.charCodeAt(i);
  return out;
}
function numbers(q) {
  var u = new Uint16Array(bytes(q.q16).buffer), out = new Float32Array(u.length);
  var step = (q.hi - q.lo) / 65535;
  for (var i = 0; i < u.length; i++) out[i] = q.lo + u[i] * step;
  return out;
}
var n = D.n, k = D.k, rows = new Int32Array(bytes(D.rows).buffer);
var X = numbers(D.x), Y = numbers(D.y), scores = numbers(D.scores);
var nb = D.neighbors.dtype === "u16" ? new Uint16Array(bytes(D.neighbors.data).buffer)
                                     : new Int32Array(bytes(D.neighbors.data).buffer);
var at = new Map();  // table row id -> point
for (var i = 0; i < n; i++) at.set(rows[i], i);
var layers = {};
Object.keys(D.layers).forEach(function (name) {
  var L = D.layers[name];
  layers[name] = L.type === "category" ? {type: "category", names: L.names, codes: bytes(L.codes)}
                                       : {type: "number", values: numbers(L)};
});
var kindOf = layers.kind.codes, shownKinds = D.kinds.map(function () { return true; });
var text = new Array(n);
for (var i = 0; i < n; i++) {
  var t = "<b>" + escape(D.tokens[i]) + "</b><br>#" + rows[i];
  Object.keys(layers).forEach(function (name) {
    if (name === "id") return;
    var L = layers[name];
    t += "<br>" + name + ": " + (L.type === "category" ? escape(L.names[L.codes[i]])
                                                         : L.values[i].toPrecision(4));
  });
  text[i] = t;
}
function escape(s) {
  return String(s).replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");
}
function tokenOf(id) {
  return at.has(id) ? D.tokens[at.get(id)] : (D.extra[String(id)] || "#" + id);
}
var about = document.getElementById("about"), html = "<dl><dt>layout</dt><dd>" + D.method + "</dd>";
Object.keys(D.parameters).forEach(function (p) {
  html += "<dt>" + escape(p) + "</dt><dd>" + escape(JSON.stringify(D.parameters[p]).replace(/^"|"$/g, "")) + "</dd>";
});
if (D.notes.length) html += "<dt>notes</dt>";
D.notes.forEach(function (t) { html += "<dd>" + escape(t) + "</dd>"; });
about.innerHTML = html + "</dl>";

function coloursOf(name) {
  var L = layers[name];
  if (L.type === "category") {
    var pal = name === "kind" ? D.kind_colours : D.cluster_colours, c = new Array(n);
    for (var i = 0; i < n; i++) c[i] = pal[L.codes[i] % pal.length];
    return {color: c, showscale: false};
  }
  return {color: L.values, colorscale: "Viridis", showscale: true,
          colorbar: {title: {text: name}, thickness: 12}};
}
function legend(name) {
  var L = layers[name], box = document.getElementById("legend"), h = "";
  if (L.type === "category") {
    var pal = name === "kind" ? D.kind_colours : D.cluster_colours;
    var count = new Array(L.names.length).fill(0);
    for (var i = 0; i < n; i++) count[L.codes[i]]++;
    L.names.forEach(function (nm, c) {
      if (count[c]) h += '<div><span class="sw" style="background:' + pal[c % pal.length] + '"></span>' +
                          escape(nm) + ' <span class="muted">(' + count[c] + ")</span></div>";
    });
  } else {
    h = '<div class="muted">' + escape(name) + ": colour scale on the right</div>";
  }
  box.innerHTML = h;
}
function positions() {
  var x = new Float32Array(n), y = new Float32Array(n);
  for (var i = 0; i < n; i++) {
    var on = shownKinds[kindOf[i]];
    x[i] = on ? X[i] : NaN; y[i] = on ? Y[i] : NaN;
  }
  return [x, y];
}
var gd = document.getElementById("plot"), start = coloursOf("kind"), xy = positions();
var traces = [
  {type: "scattergl", mode: "markers", x: xy[0], y: xy[1], text: text, hoverinfo: "text",
   marker: Object.assign({size: 4, opacity: 0.8}, start), name: "rows"},
  {type: "scattergl", mode: "markers", x: [], y: [], hoverinfo: "text", text: [],
   marker: {size: 11, color: "rgba(0,0,0,0)", line: {color: "#ff7f0e", width: 2.5}}, name: "neighbours"},
  {type: "scattergl", mode: "markers", x: [], y: [], hoverinfo: "text", text: [],
   marker: {size: 16, color: "rgba(0,0,0,0)", line: {color: "#d62728", width: 3.5}}, name: "selected"}
];
var layout = {margin: {l: 30, r: 10, t: 10, b: 30}, showlegend: false, dragmode: "pan",
              hovermode: "closest", font: {family: "system-ui, sans-serif"},
              xaxis: {zeroline: false}, yaxis: {zeroline: false}};
var config = {displaylogo: false, showLink: false, showSendToCloud: false, scrollZoom: true,
              responsive: true, modeBarButtonsToRemove: ["sendChartToCloud", "sendDataToCloud"]};
var state = {ready: false, selected: -1, colour: "kind", neighbours: []};
var select = document.getElementById("colour");
Object.keys(layers).forEach(function (name) {
  var o = document.createElement("option"); o.value = o.textContent = name; select.appendChild(o);
});
select.addEventListener("change", function () { setColour(select.value); });
var kinds = document.getElementById("kinds");
D.kinds.forEach(function (name, c) {
  var count = 0;
  for (var i = 0; i < n; i++) if (kindOf[i] === c) count++;
  if (!count) return;
  var l = document.createElement("label"), b = document.createElement("input");
  b.type = "checkbox"; b.checked = true; b.value = name; b.dataset.kind = c;
  b.addEventListener("change", function () { shownKinds[c] = b.checked; refilter(); });
  l.appendChild(b); l.appendChild(document.createTextNode(" " + name + " (" + count + ")"));
  kinds.appendChild(l); kinds.appendChild(document.createElement("br"));
});
function setColour(name) {
  state.colour = name; select.value = name;
  var c = coloursOf(name), m = Object.assign({size: 4, opacity: 0.8}, c);
  legend(name);
  return Plotly.restyle(gd, {marker: [m]}, [0]);
}
function refilter() {
  var p = positions();
  return Plotly.restyle(gd, {x: [p[0]], y: [p[1]]}, [0]);
}
function message(t) { document.getElementById("message").textContent = t || ""; }
function resolve(q) {
  q = q.trim();
  if (/^#[0-9]+$/.test(q)) return parseInt(q.slice(1), 10);
  if (Object.prototype.hasOwnProperty.call(D.search, q)) return D.search[q];
  if (D.lowercase && Object.prototype.hasOwnProperty.call(D.search, q.toLowerCase()))
    return D.search[q.toLowerCase()];
  return null;
}
function choose(i, fly) {
  state.selected = i;
  var id = rows[i], list = document.getElementById("neighbors"), items = [];
  var nx = [], ny = [], nt = [];
  list.innerHTML = "";
  for (var r = 0; r < k; r++) {
    var j = nb[i * k + r];
    if (D.neighbors.dtype === "u16" ? j === 65535 : j < 0) continue;
    var li = document.createElement("li"), s = scores[i * k + r];
    li.dataset.id = j;
    li.innerHTML = "<code>" + escape(tokenOf(j)) + '</code> <span class="muted">#' + j +
                   " &middot; " + s.toFixed(3) + "</span>";
    li.addEventListener("click", (function (j) { return function () {
      if (at.has(j)) choose(at.get(j), true); else message("#" + j + " is not on this page (sampled)");
    }; })(j));
    list.appendChild(li);
    items.push(j);
    if (at.has(j)) { var p = at.get(j); nx.push(X[p]); ny.push(Y[p]); nt.push(text[p]); }
  }
  state.neighbours = items;
  document.getElementById("selected").innerHTML = "<code>" + escape(D.tokens[i]) + "</code> #" + id +
    " &mdash; its " + k + " nearest rows in the full table:";
  document.getElementById("selected").dataset.id = id;
  var update = Plotly.restyle(gd, {x: [nx, [X[i]]], y: [ny, [Y[i]]], text: [nt, [text[i]]]}, [1, 2]);
  if (fly) {
    var xs = gd._fullLayout.xaxis.range, ys = gd._fullLayout.yaxis.range;
    var w = Math.min(Math.abs(xs[1] - xs[0]), (xr[1] - xr[0]) / 6) / 2;
    var h = Math.min(Math.abs(ys[1] - ys[0]), (yr[1] - yr[0]) / 6) / 2;
    update = update.then(function () {
      return Plotly.relayout(gd, {"xaxis.range": [X[i] - w, X[i] + w], "yaxis.range": [Y[i] - h, Y[i] + h]});
    });
  }
  return update;
}
function search(q) {
  var id = resolve(q);
  if (id === null) { message(JSON.stringify(q) + " is not a single token of this table"); return Promise.resolve(null); }
  if (!at.has(id)) { message("#" + id + " is not on this page (sampled)"); return Promise.resolve(null); }
  message("");
  return choose(at.get(id), true).then(function () { return id; });
}
document.getElementById("search-form").addEventListener("submit", function (e) {
  e.preventDefault(); search(document.getElementById("search").value);
});
var xr = [D.x.lo, D.x.hi], yr = [D.y.lo, D.y.hi];
Plotly.newPlot(gd, traces, layout, config).then(function () {
  legend("kind");
  gd.on("plotly_click", function (ev) {
    var p = ev.points[0];
    if (p.curveNumber === 0) choose(p.pointIndex, false);
    else if (p.curveNumber === 1) choose(at.get(state.neighbours.filter(function (j) { return at.has(j); })[p.pointIndex]), false);
  });
  state.ready = true;
});
// what the tests and a console user can reach
window.embcliMap = {state: state, search: search, choose: choose, setColour: setColour,
  refilter: refilter, rows: rows, X: X, Y: Y, kinds: kindOf, shownKinds: shownKinds,
  pixel: function (i) {
    var L = gd._fullLayout, box = gd.getBoundingClientRect();
    return [box.left + L._size.l + L.xaxis.l2p(X[i]), box.top + L._size.t + L.yaxis.l2p(Y[i])];
  }};
})();
