(function () {
"use strict";
var T0 = performance.now();
var marks = {};
var D = JSON.parse(document.getElementById("map-data").textContent);
marks.parsed = performance.now();
function bytes(b64) {
  var s = atob(b64), len = s.length, out = new Uint8Array(len);
  for (var i = 0; i < len; i++) out[i] = s.charCodeAt(i);
  return out;
}
function numbers(q) {
  var u = new Uint16Array(bytes(q.q16).buffer), out = new Float32Array(u.length);
  var step = (q.hi - q.lo) / 65535;
  for (var i = 0; i < u.length; i++) out[i] = q.lo + u[i] * step;
  return out;
}
var n = D.n, k = D.k, rows = new Int32Array(bytes(D.rows).buffer);
var X = numbers(D.x), Y = numbers(D.y);
// the neighbour lists are decoded on first use: they are the largest arrays of the page
var nbCache = null;
function neighbourData() {
  if (!nbCache) {
    var buf = bytes(D.neighbors.data).buffer;
    nbCache = {ids: D.neighbors.dtype === "u16" ? new Uint16Array(buf) : new Int32Array(buf),
               scores: numbers(D.scores)};
  }
  return nbCache;
}
// table row id -> point (-1: not on the page)
var maxRow = 0;
for (var i = 0; i < n; i++) if (rows[i] > maxRow) maxRow = rows[i];
var pointOfRow = new Int32Array(maxRow + 1).fill(-1);
for (var i = 0; i < n; i++) pointOfRow[rows[i]] = i;
function onPage(id) { return id >= 0 && id <= maxRow && pointOfRow[id] >= 0; }
function pointOf(id) { return onPage(id) ? pointOfRow[id] : -1; }
var layers = {};
Object.keys(D.layers).forEach(function (name) {
  var L = D.layers[name];
  layers[name] = L.type === "category" ? {type: "category", names: L.names, codes: bytes(L.codes)}
                                       : {type: "number", values: numbers(L),
                                          missing: L.missing ? bytes(L.missing) : null,
                                          lo: L.lo, hi: L.hi, one: L.lo === L.hi};
});
function absent(L, i) { return L.type === "number" && L.missing !== null && L.missing[i] === 1; }
var kindOf = layers.kind.codes, shownKinds = D.kinds.map(function () { return true; });
function escape(s) {
  return String(s).replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;")
                  .replace(/"/g, "&quot;");
}
function fmt(v) { return Math.abs(v) >= 1e4 ? v.toExponential(3) : v.toPrecision(4); }
// the hover box: written when a point is hovered, never one string per point up front
function hoverHtml(i) {
  var t = "<b>" + escape(D.tokens[i]) + "</b> #" + rows[i];
  Object.keys(layers).forEach(function (name) {
    if (name === "id") return;
    var L = layers[name];
    t += "<br>" + escape(name) + ": " + (L.type === "category" ? escape(L.names[L.codes[i]])
                                         : absent(L, i) ? "no value" : fmt(L.values[i]));
  });
  return t;
}
// a token from the server as the page shows tokens (embcli's read.tokens.visible: " Paris" -> ␣Paris)
function visible(t) {
  return String(t).replace(/[\u0000-\u001f\u007f ]/g, function (ch) {
    if (ch === " ") return "\u2423";
    if (ch === "\n") return "\\n";
    if (ch === "\t") return "\\t";
    if (ch === "\r") return "\\r";
    return "\\x" + ("0" + ch.charCodeAt(0).toString(16)).slice(-2);
  });
}
function tokenOf(id) {
  return onPage(id) ? D.tokens[pointOfRow[id]] : (D.extra[String(id)] || "#" + id);
}
function shownParameter(name, v) {
  if (/variance/.test(name) && Array.isArray(v) && v.every(function (x) { return typeof x === "number"; }))
    return v.map(function (x) { return (100 * x).toFixed(1) + "%"; }).join(", ");
  return typeof v === "string" ? v : JSON.stringify(v);
}
var about = document.getElementById("about"), html = "<dl><dt>layout</dt><dd>" + escape(D.method) + "</dd>";
Object.keys(D.parameters).forEach(function (p) {
  html += "<dt>" + escape(p) + "</dt><dd>" + escape(shownParameter(p, D.parameters[p])) + "</dd>";
});
if (D.notes.length) html += "<dt>notes</dt>";
D.notes.forEach(function (t) { html += "<dd>" + escape(t) + "</dd>"; });
about.innerHTML = html + "</dl>";

function paletteOf(name) { return name === "kind" ? D.kind_colours : D.cluster_colours; }
// plotly.js's Viridis, whose 17 stops colour the 17 bins of a number layer
var VIRIDIS = ["#440154", "#48186a", "#472d7b", "#424086", "#3b528b", "#33638d", "#2c728e",
  "#26828e", "#21918c", "#1fa088", "#28ae80", "#3fbc73", "#5ec962", "#84d44b", "#addc30",
  "#d8e219", "#fde725"];
var NO_VALUE = "#c7c7c7";  // a number layer's rows without a value
// Points are drawn as one trace per colour (a category, or a bin of a number layer): a trace of
// one colour costs plotly.js almost nothing, where a colour per point costs it a string per point
// (seconds for 262,144 rows). groups[g].members are the shown points trace g draws.
function grouping(name) {
  var L = layers[name], codes, colours, names;
  if (L.type === "category") {
    var pal = paletteOf(name);
    codes = L.codes; names = L.names;
    colours = names.map(function (_, c) { return pal[c % pal.length]; });
  } else {
    var lo = Infinity, hi = -Infinity, v = L.values, B = VIRIDIS.length;
    for (var i = 0; i < n; i++) {
      if (absent(L, i)) continue;
      if (v[i] < lo) lo = v[i]; if (v[i] > hi) hi = v[i];
    }
    if (lo > hi) { lo = 0; hi = 1; }
    var one = lo === hi;  // every row with a value has the same one: one colour, no range
    var span = hi > lo ? hi - lo : 1;
    codes = new Uint8Array(n);
    for (var i = 0; i < n; i++)  // a row with no value (no row in B) is grey, after the bins
      codes[i] = absent(L, i) ? B : one ? 0 : Math.min(B - 1, Math.floor((v[i] - lo) / span * B));
    colours = VIRIDIS.concat([NO_VALUE]);
    names = VIRIDIS.map(function (_, b) { return fmt(lo + span * b / B) + " to " + fmt(lo + span * (b + 1) / B); })
                   .concat(["no value"]);
    if (one) names[0] = fmt(lo);
    L.lo = lo; L.hi = one ? lo : lo + span; L.one = one;
  }
  var count = new Int32Array(colours.length);
  for (var i = 0; i < n; i++) if (shownKinds[kindOf[i]]) count[codes[i]]++;
  var groups = [];
  for (var c = 0; c < colours.length; c++)
    if (count[c]) groups.push({code: c, colour: colours[c], name: names[c], members: new Int32Array(count[c]), fill: 0});
  groups.sort(function (a, b) { return b.members.length - a.members.length; });  // small on top
  var byCode = {};
  groups.forEach(function (g) { byCode[g.code] = g; });
  for (var i = 0; i < n; i++) {
    if (!shownKinds[kindOf[i]]) continue;
    var g = byCode[codes[i]]; g.members[g.fill++] = i;
  }
  return groups;
}
function legend(name) {
  var L = layers[name], box = document.getElementById("legend"), h = "";
  if (L.type === "category") {
    var pal = paletteOf(name), count = new Array(L.names.length).fill(0);
    for (var i = 0; i < n; i++) count[L.codes[i]]++;
    L.names.forEach(function (nm, c) {
      if (count[c]) h += '<div><span class="sw" style="background:' + pal[c % pal.length] + '"></span>' +
                          escape(nm) + ' <span class="muted">(' + count[c] + ")</span></div>";
    });
  } else {
    h = L.one  // one value for every row that has one (stored lo == hi)
      ? '<div><span class="sw" style="background:' + VIRIDIS[0] + '"></span>' + escape(name) +
        ": every row " + escape(fmt(L.lo)) + "</div>"
      : '<div class="muted">' + escape(name) + ": colour scale on the right (" + VIRIDIS.length +
        " steps)</div>";
    var none = 0;
    for (var i = 0; i < n; i++) if (absent(L, i)) none++;
    if (none) h += '<div><span class="sw" style="background:' + NO_VALUE + '"></span>no value ' +
                   '<span class="muted">(' + none + ")</span></div>";
  }
  box.innerHTML = h;
}
function pad(lo, hi) { var d = (hi - lo) * 0.04 || 1; return [lo - d, hi + d]; }
var xr = [D.x.lo, D.x.hi], yr = [D.y.lo, D.y.hi];
marks.decoded = performance.now();
var gd = document.getElementById("plot");
function rings(colour, size, width, name) {
  return {type: "scattergl", mode: "markers", x: [], y: [], hoverinfo: "none", name: name,
          marker: {size: size, color: "rgba(0,0,0,0)", line: {color: colour, width: width}}};
}
// the rings drawn over the points: a row's neighbours, the chosen row, the live app's answers
var RINGS = [rings("#ff7f0e", 11, 2.5, "neighbours"), rings("#d62728", 16, 3.5, "selected"),
             rings("#2ca02c", 14, 3, "answers"), rings("#9467bd", 14, 3, "answers, other end")];
var RING = {neighbours: 0, selected: 1, answers: 2, answers2: 3};
var ringed = [[], [], [], []];  // the points each ring trace shows
var groups = [];  // the point traces, first in gd.data; the ring traces follow them
function traces(name) {
  groups = grouping(name);
  var out = groups.map(function (g) {
    var x = new Float32Array(g.members.length), y = new Float32Array(g.members.length);
    for (var j = 0; j < g.members.length; j++) { x[j] = X[g.members[j]]; y[j] = Y[g.members[j]]; }
    return {type: "scattergl", mode: "markers", x: x, y: y, hoverinfo: "none", name: g.name,
            marker: {size: 4, opacity: 0.8, color: g.colour},
            selected: {marker: {opacity: 1}}, unselected: {marker: {opacity: 0.25}}};
  });
  RINGS.forEach(function (r, j) {
    out.push(Object.assign({}, r, {x: ringed[j].map(function (p) { return X[p]; }),
                                   y: ringed[j].map(function (p) { return Y[p]; })}));
  });
  var L = layers[name];
  if (L.type === "number" && !L.one)  // the colour bar alone: a trace with no point drawn
    out.push({type: "scatter", mode: "markers", x: [null], y: [null], hoverinfo: "skip",
              marker: {color: [L.lo, L.hi], cmin: L.lo, cmax: L.hi, colorscale: "Viridis",
                       showscale: true, colorbar: {title: {text: name}, thickness: 12}}});
  return out;
}
// a point of the plot from a plotly event's (curveNumber, pointIndex); undefined for none
function pointAt(p) {
  if (p.curveNumber < groups.length) return groups[p.curveNumber].members[p.pointIndex];
  var r = ringed[p.curveNumber - groups.length];
  return r ? r[p.pointIndex] : undefined;
}
var layout = {margin: {l: 30, r: 10, t: 10, b: 30}, showlegend: false, dragmode: "pan",
              hovermode: "closest", font: {family: "system-ui, sans-serif"},
              xaxis: {zeroline: false, range: pad(xr[0], xr[1])},
              yaxis: {zeroline: false, range: pad(yr[0], yr[1])}};
var config = {displaylogo: false, showLink: false, showSendToCloud: false, scrollZoom: true,
              responsive: true, modeBarButtonsToRemove: ["sendChartToCloud", "sendDataToCloud"]};
var state = {ready: false, selected: -1, colour: "kind", neighbours: [], selection: [],
             live: !!D.live, answers: [], firstFrame: null};
var select = document.getElementById("colour");
Object.keys(layers).forEach(function (name) {
  var o = document.createElement("option"); o.value = o.textContent = name; select.appendChild(o);
});
select.addEventListener("change", function () { setColour(select.value); });
var kinds = document.getElementById("kinds"), kindCount = new Array(D.kinds.length).fill(0);
for (var i = 0; i < n; i++) kindCount[kindOf[i]]++;
D.kinds.forEach(function (name, c) {
  var count = kindCount[c];
  if (!count) return;
  var l = document.createElement("label"), b = document.createElement("input");
  b.type = "checkbox"; b.checked = true; b.value = name; b.dataset.kind = c;
  b.addEventListener("change", function () { shownKinds[c] = b.checked; refilter(); });
  l.appendChild(b); l.appendChild(document.createTextNode(" " + name + " (" + count + ")"));
  kinds.appendChild(l); kinds.appendChild(document.createElement("br"));
});
function redraw() {
  var keep = {"xaxis.range": gd._fullLayout.xaxis.range.slice(), "yaxis.range": gd._fullLayout.yaxis.range.slice()};
  var lay = Object.assign({}, gd.layout, {xaxis: Object.assign({}, gd.layout.xaxis, {range: keep["xaxis.range"]}),
                                          yaxis: Object.assign({}, gd.layout.yaxis, {range: keep["yaxis.range"]}),
                                          selections: []});
  setSelection([]);
  tip.style.display = "none";
  return Plotly.react(gd, traces(state.colour), lay, config);
}
function setColour(name) {
  state.colour = name; select.value = name;
  legend(name);
  return redraw();
}
function refilter() { return redraw(); }
// the points the plot draws now (sorted), as the tests and a console user can check
function drawn() {
  var out = [];
  for (var t = 0; t < groups.length; t++) {
    var xs = gd.data[t].x;
    for (var j = 0; j < xs.length; j++) out.push(groups[t].members[j]);
  }
  return out.sort(function (a, b) { return a - b; });
}
function message(t) { document.getElementById("message").textContent = t || ""; }
function resolve(q) {
  q = q.trim();
  if (/^#[0-9]+$/.test(q)) return parseInt(q.slice(1), 10);
  if (Object.prototype.hasOwnProperty.call(D.search, q)) return D.search[q];
  if (D.lowercase && Object.prototype.hasOwnProperty.call(D.search, q.toLowerCase()))
    return D.search[q.toLowerCase()];
  // a word-vector table, as embcli resolves there: as typed, else lower-cased, else up to case
  if (D.words && Object.prototype.hasOwnProperty.call(D.search, q.toLowerCase()))
    return D.search[q.toLowerCase()];
  if (D.words && D.fold && Object.prototype.hasOwnProperty.call(D.fold, q.toLowerCase()))
    return D.fold[q.toLowerCase()];
  return null;
}
function ringTrace(ring, points) {
  ringed[ring] = points;
  var x = points.map(function (p) { return X[p]; }), y = points.map(function (p) { return Y[p]; });
  return Plotly.restyle(gd, {x: [x], y: [y]}, [groups.length + ring]);
}
function flyTo(i) {
  var xs = gd._fullLayout.xaxis.range, ys = gd._fullLayout.yaxis.range;
  var w = Math.min(Math.abs(xs[1] - xs[0]), (xr[1] - xr[0]) / 6) / 2;
  var h = Math.min(Math.abs(ys[1] - ys[0]), (yr[1] - yr[0]) / 6) / 2;
  return Plotly.relayout(gd, {"xaxis.range": [X[i] - w, X[i] + w], "yaxis.range": [Y[i] - h, Y[i] + h]});
}
// the list of a row's neighbours: [{id, token, score}], from the page's lists or the live app
function showNeighbours(id, token, items, fly) {
  var list = document.getElementById("neighbors"), near = [];
  list.innerHTML = "";
  items.forEach(function (it) {
    var li = document.createElement("li");
    li.dataset.id = it.id;
    li.innerHTML = "<code>" + escape(it.token) + '</code> <span class="muted">#' + it.id +
                   " &middot; " + it.score.toFixed(3) + "</span>";
    li.addEventListener("click", function () { pick(it.id); });
    list.appendChild(li);
    if (onPage(it.id)) near.push(pointOfRow[it.id]);
  });
  state.neighbours = items.map(function (it) { return it.id; });
  var sel = document.getElementById("selected");
  sel.innerHTML = "<code>" + escape(token) + "</code> #" + id + " &mdash; its " + items.length +
    " nearest rows in the full table:";
  sel.dataset.id = id;
  var i = pointOf(id);
  state.selected = i;
  var update = ringTrace(RING.neighbours, near).then(function () {
    return ringTrace(RING.selected, i >= 0 ? [i] : []);
  });
  if (fly && i >= 0) update = update.then(function () { return flyTo(i); });
  return update;
}
function choose(i, fly) {
  var d = neighbourData(), items = [];
  for (var r = 0; r < k; r++) {
    var j = d.ids[i * k + r];
    if (D.neighbors.dtype === "u16" ? j === 65535 : j < 0) continue;
    items.push({id: j, token: tokenOf(j), score: d.scores[i * k + r]});
  }
  return showNeighbours(rows[i], D.tokens[i], items, fly);
}
// a row id past the table's last row: what embcli says of it, not "not on this page"
function beyond(id) {
  if (id < D.table_rows) return false;
  message("#" + id + " is not a row id of this table (0.." + (D.table_rows - 1) + ")");
  return true;
}
function pick(id) {
  if (onPage(id)) return choose(pointOfRow[id], true);
  if (beyond(id)) return Promise.resolve(null);
  if (state.live) return askNeighbours("#" + id);
  message("#" + id + " is not on this page (sampled)");
  return Promise.resolve(null);
}

// -- the live app: the same answers as the CLI, from the server that served this page ---------
function ask(endpoint, params) {
  var q = Object.keys(params).map(function (p) {
    return encodeURIComponent(p) + "=" + encodeURIComponent(params[p]);
  }).join("&");
  return fetch("api/" + endpoint + "?" + q, {headers: {Accept: "application/json"}})
    .then(function (r) { return r.json().then(function (doc) {
      if (!r.ok) throw new Error(doc.error || ("HTTP " + r.status));
      return doc;
    }); });
}
function askNeighbours(q) {
  return ask("neighbors", {word: q, k: k}).then(function (doc) {
    message("");
    state.asked = doc;
    var t = doc.tokens[0], items = doc.neighbors.map(function (nb) {
      return {id: nb.id, token: onPage(nb.id) ? tokenOf(nb.id) : visible(nb.token), score: nb.cosine};
    });
    var label = onPage(t.id) ? tokenOf(t.id) : visible(t.token);
    if (!onPage(t.id)) message("#" + t.id + " is not on this page (sampled): its neighbours from the server");
    return showNeighbours(t.id, label, items, true).then(function () { return t.id; });
  }, function (e) { message(e.message); return null; });
}
function search(q) {
  var id = resolve(q);
  if (id !== null && onPage(id)) { message(""); return choose(pointOfRow[id], true).then(function () { return id; }); }
  if (id !== null && beyond(id)) return Promise.resolve(null);
  if (state.live && q.trim()) return askNeighbours(q.trim());
  if (id === null) { message(JSON.stringify(q) + " is not a single token of this table"); return Promise.resolve(null); }
  message("#" + id + " is not on this page (sampled)");
  return Promise.resolve(null);
}
document.getElementById("search-form").addEventListener("submit", function (e) {
  e.preventDefault(); search(document.getElementById("search").value);
});
function answerList(box, items, scoreKey) {
  box.innerHTML = "";
  var ol = document.createElement("ol");
  items.forEach(function (it) {
    var li = document.createElement("li");
    if (it.id !== undefined) li.dataset.id = it.id;
    li.innerHTML = "<code>" + escape(it.token) + "</code>" +
      (it.id !== undefined ? ' <span class="muted">#' + it.id + "</span>" : "") +
      ' <span class="muted">&middot; ' + Number(it[scoreKey]).toFixed(3) + "</span>";
    if (it.id !== undefined) li.addEventListener("click", function () { pick(it.id); });
    ol.appendChild(li);
  });
  box.appendChild(ol);
}
function ringAnswers(ids, ids2) {
  var on = function (l) { return l.filter(onPage).map(function (id) { return pointOfRow[id]; }); };
  state.answers = ids;
  return ringTrace(RING.answers, on(ids)).then(function () {
    return ringTrace(RING.answers2, on(ids2 || []));
  });
}
function analogy(a, b, c, kk) {
  var box = document.getElementById("analogy-out");
  return ask("analogy", {a: a, b: b, c: c, k: kk || 5}).then(function (doc) {
    state.analogy = doc;
    box.innerHTML = "";
    answerList(box, doc.results.map(function (r) { return {id: r.id, token: visible(r.token), score: r.score}; }), "score");
    box.insertAdjacentHTML("afterbegin", '<div class="muted">' + escape(doc.formula) + "</div>");
    return ringAnswers(doc.results.map(function (r) { return r.id; })).then(function () { return doc; });
  }, function (e) { box.textContent = e.message; return null; });
}
function similarity(a, b) {
  var box = document.getElementById("similarity-out");
  return ask("similarity", {a: a, b: b}).then(function (doc) {
    state.similarity = doc;
    box.innerHTML = "cosine <b>" + doc.cosine.toFixed(4) + "</b> <span class=\"muted\">&middot; dot " +
                    doc.dot.toFixed(4) + "</span>";
    var ids = doc.a_tokens.concat(doc.b_tokens).map(function (t) { return t.id; });
    return ringAnswers(ids).then(function () { return doc; });
  }, function (e) { box.textContent = e.message; return null; });
}
function axis(pairs, kk) {
  var box = document.getElementById("axis-out");
  return ask("axis", {pairs: pairs, k: kk || 10}).then(function (doc) {
    state.axis = doc;
    var words = doc.words, half = Math.ceil(words.length / 2);
    var idOf = function (w) { var id = resolve(w.word); return id === null ? undefined : id; };
    var items = words.map(function (w) { return {id: idOf(w), token: visible(w.word), score: w.score}; });
    var explained = doc.axis.variance_explained;
    box.innerHTML = '<div class="muted">' + (typeof explained === "number" ? "variance explained " +
      (100 * explained).toFixed(1) + "%; " : "") + "ringed: green the first " + half +
      ", purple the last " + (words.length - half) + "</div>";
    answerList(box, items, "score");
    var hi = items.slice(0, half), lo = items.slice(half);
    var ids = function (l) { return l.filter(function (it) { return it.id !== undefined; }).map(function (it) { return it.id; }); };
    return ringAnswers(ids(hi), ids(lo)).then(function () { return doc; });
  }, function (e) { box.textContent = e.message; return null; });
}
if (state.live) {
  document.getElementById("live").hidden = false;
  var v = function (id) { return document.getElementById(id).value.trim(); };
  document.getElementById("analogy-form").addEventListener("submit", function (e) {
    e.preventDefault(); analogy(v("an-a"), v("an-b"), v("an-c"));
  });
  document.getElementById("similarity-form").addEventListener("submit", function (e) {
    e.preventDefault(); similarity(v("sim-a"), v("sim-b"));
  });
  document.getElementById("axis-form").addEventListener("submit", function (e) {
    e.preventDefault(); axis(v("axis-pairs"));
  });
}

// -- box and lasso selection: the tokens listed, copied or saved ------------------------------
var SHOWN_SELECTION = 500;
function selectionText(format) {
  var pts = state.selection;
  if (format === "tsv") {
    var names = Object.keys(layers).filter(function (nm) { return nm !== "id"; });
    var lines = [["id", "token", "x", "y"].concat(names).join("\t")];
    pts.forEach(function (i) {
      var cells = [rows[i], tsvCell(D.tokens[i]), X[i], Y[i]];
      names.forEach(function (nm) {
        var L = layers[nm];
        cells.push(L.type === "category" ? tsvCell(L.names[L.codes[i]]) : L.values[i]);
      });
      lines.push(cells.join("\t"));
    });
    return lines.join("\n") + "\n";
  }
  return pts.map(function (i) { return D.tokens[i]; }).join("\n") + (pts.length ? "\n" : "");
}
function tsvCell(s) {
  return String(s).replace(/\\/g, "\\\\").replace(/\t/g, "\\t").replace(/\n/g, "\\n").replace(/\r/g, "\\r");
}
function setSelection(points) {
  state.selection = points.slice().sort(function (a, b) { return rows[a] - rows[b]; });
  var box = document.getElementById("selection"), list = document.getElementById("selection-list");
  box.hidden = !state.selection.length;
  document.getElementById("selection-count").textContent = state.selection.length + " tokens selected";
  var h = "";
  state.selection.slice(0, SHOWN_SELECTION).forEach(function (i) {
    h += '<li data-id="' + rows[i] + '"><code>' + escape(D.tokens[i]) + '</code> <span class="muted">#' +
         rows[i] + "</span></li>";
  });
  if (state.selection.length > SHOWN_SELECTION)
    h += '<li class="muted">&hellip; and ' + (state.selection.length - SHOWN_SELECTION) +
         " more (copy or save has them all)</li>";
  list.innerHTML = h;
}
document.getElementById("selection-list").addEventListener("click", function (e) {
  var li = e.target.closest("li[data-id]");
  if (li) pick(parseInt(li.dataset.id, 10));
});
function copySelection() {
  var text = selectionText("txt");
  var done = function () { message("copied " + state.selection.length + " tokens"); return true; };
  if (navigator.clipboard && window.isSecureContext)
    return navigator.clipboard.writeText(text).then(done, function () { return fallbackCopy(text) && done(); });
  return Promise.resolve(fallbackCopy(text) && done());
}
function fallbackCopy(text) {
  var ta = document.createElement("textarea");
  ta.value = text; ta.style.position = "fixed"; ta.style.opacity = "0";
  document.body.appendChild(ta); ta.select();
  var ok = false;
  try { ok = document.execCommand("copy"); } catch (e) { ok = false; }
  document.body.removeChild(ta);
  if (!ok) message("the browser refused to copy: use save");
  return ok;
}
function saveSelection(format) {
  var blob = new Blob([selectionText(format)], {type: format === "tsv" ? "text/tab-separated-values" : "text/plain"});
  var a = document.createElement("a");
  a.href = URL.createObjectURL(blob);
  a.download = "embcli-selection." + format;
  document.body.appendChild(a); a.click(); document.body.removeChild(a);
  setTimeout(function () { URL.revokeObjectURL(a.href); }, 1000);
}
document.getElementById("copy").addEventListener("click", copySelection);
document.getElementById("save-txt").addEventListener("click", function () { saveSelection("txt"); });
document.getElementById("save-tsv").addEventListener("click", function () { saveSelection("tsv"); });
var drag = document.getElementById("drag");
drag.addEventListener("change", function () { setDrag(drag.value); });
function setDrag(mode) { drag.value = mode; return Plotly.relayout(gd, {dragmode: mode}); }

// -- hover -----------------------------------------------------------------------------------
var tip = document.getElementById("hover");
function pixel(i) {
  var L = gd._fullLayout, box = gd.getBoundingClientRect();
  return [box.left + L._size.l + L.xaxis.l2p(X[i]), box.top + L._size.t + L.yaxis.l2p(Y[i])];
}
function showHover(i) {
  var p = pixel(i);
  tip.innerHTML = hoverHtml(i);
  tip.style.display = "block";
  var w = tip.offsetWidth, left = p[0] + 12 + w > window.innerWidth ? p[0] - 12 - w : p[0] + 12;
  tip.style.left = left + "px"; tip.style.top = Math.max(0, p[1] - 10) + "px";
  state.hovered = i;
}

marks.plotting = performance.now();
Plotly.newPlot(gd, traces("kind"), layout, config).then(function () {
  marks.plotted = performance.now();
  legend("kind");
  gd.on("plotly_hover", function (ev) {
    var i = pointAt(ev.points[0]);
    if (i !== undefined) showHover(i);
  });
  gd.on("plotly_unhover", function () { tip.style.display = "none"; });
  gd.on("plotly_click", function (ev) {
    var i = pointAt(ev.points[0]);
    if (i !== undefined) choose(i, false);
  });
  gd.on("plotly_selecting", function () { tip.style.display = "none"; });
  gd.on("plotly_selected", function (ev) {
    tip.style.display = "none";
    var pts = ev && ev.points ? ev.points.filter(function (p) { return p.curveNumber < groups.length; })
                                        .map(pointAt) : [];
    setSelection(pts);
  });
  gd.on("plotly_deselect", function () { setSelection([]); });
  requestAnimationFrame(function () {
    state.firstFrame = performance.now();
    state.ready = true;
  });
});
// what the tests and a console user can reach
window.embcliMap = {state: state, search: search, choose: choose, setColour: setColour,
  groups: function () { return groups.map(function (g) { return {colour: g.colour, name: g.name, members: Array.from(g.members)}; }); },
  refilter: refilter, drawn: drawn, rings: function () { var o = {}; Object.keys(RING).forEach(function (r) { o[r] = {trace: groups.length + RING[r], points: ringed[RING[r]].slice()}; }); return o; },
  rows: rows, X: X, Y: Y, kinds: kindOf, shownKinds: shownKinds,
  analogy: analogy, similarity: similarity, axis: axis, setDrag: setDrag,
  setSelection: setSelection, selectionText: selectionText, copySelection: copySelection,
  saveSelection: saveSelection, pixel: pixel, t0: T0, marks: marks};
})();
