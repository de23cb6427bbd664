// pyprobe HTML report: draws the RSS timeline and two flame graphs from the embedded JSON.
// Vanilla JS, no external resources. Every time-range change (a drag on the timeline, the
// #range=T0-T1 address fragment, the reset button) goes through selectRange().
(function () {
  "use strict";

  var SVG_NS = "http://www.w3.org/2000/svg";
  var data = JSON.parse(document.getElementById("pyprobe-data").textContent);
  var state = { range: null, thread: "all", zoom: { cpu: [], rss: [] }, scaleToLimit: false };

  // ---- formatting -------------------------------------------------------------------------

  var BYTE_UNITS = ["B", "KiB", "MiB", "GiB", "TiB"];

  function fmtBytes(b) {
    var v = Math.abs(b);
    var unit = 0;
    while (v >= 1024 && unit < BYTE_UNITS.length - 1) {
      v /= 1024;
      unit += 1;
    }
    var text = unit === 0 ? v.toFixed(0) : v.toFixed(1);
    return (b < 0 ? "-" : "") + text + " " + BYTE_UNITS[unit];
  }

  function fmtSecs(s) {
    return (s < 10 ? s.toFixed(2) : s.toFixed(1)) + " s";
  }

  function fmtCount(n) {
    return String(Math.round(n)).replace(/\B(?=(\d{3})+(?!\d))/g, ",");
  }

  function fmtPct(part, whole) {
    return whole > 0 ? ((100 * part) / whole).toFixed(1) + "%" : "0%";
  }

  // A round step near `raw`: 1, 2 or 5 times a power of ten.
  function niceStep(raw) {
    if (!(raw > 0)) return 1;
    var pow = Math.pow(10, Math.floor(Math.log(raw) / Math.LN10));
    var f = raw / pow;
    return (f <= 1 ? 1 : f <= 2 ? 2 : f <= 5 ? 5 : 10) * pow;
  }

  function decimalsFor(step) {
    return step >= 1 ? 0 : Math.min(6, Math.ceil(-Math.log(step) / Math.LN10 - 1e-9));
  }

  // ---- SVG helpers --------------------------------------------------------------------------

  function el(name, attrs, parent) {
    var e = document.createElementNS(SVG_NS, name);
    if (attrs) {
      for (var k in attrs) {
        if (Object.prototype.hasOwnProperty.call(attrs, k)) e.setAttribute(k, attrs[k]);
      }
    }
    if (parent) parent.appendChild(e);
    return e;
  }

  function text(parent, x, y, content, attrs) {
    var t = el("text", attrs || {}, parent);
    t.setAttribute("x", r(x));
    t.setAttribute("y", r(y));
    t.textContent = content;
    return t;
  }

  function r(v) {
    return Math.round(v * 100) / 100;
  }

  function svgRoot(id, width, height) {
    var svg = el("svg", {
      id: id,
      xmlns: SVG_NS,
      viewBox: "0 0 " + width + " " + height,
      width: width,
      height: height,
    });
    return svg;
  }

  // ---- the data, per range and thread -------------------------------------------------------

  var buckets = data.timeline.buckets;
  var bucketWidth = data.timeline.width;
  var points = data.memory.points;
  var details = data.memory.details;

  var lastAt = Math.max(
    data.duration,
    points.length ? points[points.length - 1][0] : 0,
    details.length ? details[details.length - 1].at : 0
  );
  var timeMax = lastAt > 0 ? lastAt : Math.max(bucketWidth * buckets.length, 1);

  // Weights per stack id for the selected range (all of it when null): [samples, growth,
  // release]. Bucket i covers [i·w, (i+1)·w); it counts when it meets [t0, t1].
  function weightsFor(range) {
    var w = {};
    if (!range) {
      data.stacks.forEach(function (s, id) {
        w[id] = [s.total.samples, s.total.rss_growth, s.total.rss_release];
      });
      return w;
    }
    for (var i = 0; i < buckets.length; i++) {
      var b0 = i * bucketWidth;
      var b1 = b0 + bucketWidth;
      if (!(b0 <= range[1] && range[0] < b1)) continue;
      var entries = buckets[i].stacks;
      for (var j = 0; j < entries.length; j++) {
        var e = entries[j];
        var acc = w[e[0]] || (w[e[0]] = [0, 0, 0]);
        acc[0] += e[1];
        acc[1] += e[2];
        acc[2] += e[3];
      }
    }
    return w;
  }

  function threadMatches(stack) {
    return state.thread === "all" || String(stack.thread) === state.thread;
  }

  // A tree of frames: {key, label, value, children: {key: node}, depth}.
  function buildTree(weights, measure) {
    var root = { key: "root", label: "all", value: 0, children: {}, depth: 0, parent: null };
    for (var id in weights) {
      if (!Object.prototype.hasOwnProperty.call(weights, id)) continue;
      var v = weights[id][measure];
      if (!(v > 0)) continue;
      var stack = data.stacks[id];
      if (!threadMatches(stack)) continue;
      var path = [];
      if (data.per_thread) path.push("t" + stack.thread);
      for (var k = 0; k < stack.frames.length; k++) path.push("f" + stack.frames[k]);
      var node = root;
      root.value += v;
      for (var p = 0; p < path.length; p++) {
        var key = path[p];
        var child = node.children[key];
        if (!child) {
          child = node.children[key] = {
            key: key,
            label: key.charAt(0) === "t" ? data.threads[+key.slice(1)] : data.frames[+key.slice(1)],
            value: 0,
            children: {},
            depth: node.depth + 1,
            parent: node,
          };
        }
        child.value += v;
        node = child;
      }
    }
    return root;
  }

  function sortedChildren(node) {
    var list = [];
    for (var k in node.children) {
      if (Object.prototype.hasOwnProperty.call(node.children, k)) list.push(node.children[k]);
    }
    list.sort(function (a, b) {
      return a.label < b.label ? -1 : a.label > b.label ? 1 : a.key < b.key ? -1 : 1;
    });
    return list;
  }

  function maxDepth(node) {
    var d = node.depth;
    for (var k in node.children) {
      if (Object.prototype.hasOwnProperty.call(node.children, k)) {
        d = Math.max(d, maxDepth(node.children[k]));
      }
    }
    return d;
  }

  // ---- flame graphs -------------------------------------------------------------------------

  var FLAME_WIDTH = 1200;
  var ROW = 18;
  var CHAR_WIDTH = 6.7;
  var MIN_WIDTH = 0.4;

  var FLAMES = {
    cpu: { measure: 0, unit: "samples", box: "flame-cpu-box", info: "flame-cpu-info", id: "flame-cpu" },
    rss: { measure: 1, unit: "bytes", box: "flame-rss-box", info: "flame-rss-info", id: "flame-rss" },
  };

  function hash(s) {
    var h = 2166136261;
    for (var i = 0; i < s.length; i++) {
      h ^= s.charCodeAt(i);
      h = Math.imul(h, 16777619);
    }
    return h >>> 0;
  }

  function frameColor(kind, node) {
    if (node.depth === 0) return "#c9ced6";
    if (node.key.charAt(0) === "t") return "#b8d4c0";
    var name = node.label.split(" (")[0];
    var h = hash(name);
    if (kind === "cpu") {
      return "hsl(" + (8 + (h % 44)) + "," + (72 + ((h >> 8) % 18)) + "%," + (58 + ((h >> 16) % 12)) + "%)";
    }
    return "hsl(" + (195 + (h % 60)) + "," + (55 + ((h >> 8) % 20)) + "%," + (70 + ((h >> 16) % 12)) + "%)";
  }

  function fitLabel(label, width) {
    var chars = Math.floor((width - 6) / CHAR_WIDTH);
    if (chars < 3) return "";
    if (label.length <= chars) return label;
    return label.slice(0, chars - 1) + "\u2026";
  }

  function fmtValue(kind, v) {
    return kind === "cpu" ? fmtCount(v) + " samples" : fmtBytes(v);
  }

  function findZoom(root, path) {
    var node = root;
    var kept = [];
    for (var i = 0; i < path.length; i++) {
      var next = node.children[path[i]];
      if (!next) break;
      node = next;
      kept.push(path[i]);
    }
    return { node: node, path: kept };
  }

  function pathOf(node) {
    var path = [];
    for (var n = node; n && n.parent; n = n.parent) path.unshift(n.key);
    return path;
  }

  function drawFlame(kind, weights) {
    var spec = FLAMES[kind];
    var box = document.getElementById(spec.box);
    var info = document.getElementById(spec.info);
    var root = buildTree(weights, spec.measure);
    var zoom = findZoom(root, state.zoom[kind]);
    state.zoom[kind] = zoom.path;
    var depth = maxDepth(root);
    var height = (depth + 1) * ROW + 4;
    var svg = svgRoot(spec.id, FLAME_WIDTH, Math.max(height, 40));
    svg.setAttribute("class", "flamegraph");
    svg.setAttribute("data-measure", spec.unit);
    svg.setAttribute("data-total", String(root.value));
    svg.setAttribute("data-range", state.range ? state.range[0] + "-" + state.range[1] : "all");
    svg.setAttribute("data-thread", state.thread);
    var drawn = 0;

    function hover(node) {
      var pctAll = fmtPct(node.value, root.value);
      info.textContent = node.label + ": " + fmtValue(kind, node.value) + " (" + pctAll + " of the selection)";
    }

    function drawNode(node, x, width) {
      var y = node.depth * ROW;
      var g = el("g", { class: "frame" }, svg);
      g.setAttribute("data-label", node.label);
      g.setAttribute("data-value", String(node.value));
      g.setAttribute("data-depth", String(node.depth));
      var title = el("title", null, g);
      title.textContent =
        node.label + "\n" + fmtValue(kind, node.value) + " (" + fmtPct(node.value, root.value) + " of the selection)";
      el("rect", {
        x: r(x),
        y: y,
        width: r(Math.max(width, 0.1)),
        height: ROW - 1,
        rx: 2,
        fill: frameColor(kind, node),
      }, g);
      var label = fitLabel(node.label, width);
      if (label) text(g, x + 3, y + ROW - 5.5, label);
      g.addEventListener("click", function (ev) {
        ev.stopPropagation();
        state.zoom[kind] = node === zoom.node && node.parent ? pathOf(node.parent) : pathOf(node);
        drawFlame(kind, weights);
      });
      g.addEventListener("mouseenter", function () {
        hover(node);
      });
      drawn += 1;
    }

    function drawSubtree(node, x, scale) {
      var width = node.value * scale;
      if (width < MIN_WIDTH) return;
      drawNode(node, x, width);
      var cx = x;
      var children = sortedChildren(node);
      for (var i = 0; i < children.length; i++) {
        drawSubtree(children[i], cx, scale);
        cx += children[i].value * scale;
      }
    }

    if (root.value > 0) {
      // Ancestors of the zoomed frame span the whole width.
      for (var n = zoom.node.parent; n; n = n.parent) drawNode(n, 0, FLAME_WIDTH);
      drawSubtree(zoom.node, 0, FLAME_WIDTH / zoom.node.value);
    } else {
      text(svg, 8, 24, kind === "cpu" ? "No samples in this selection." : "No RSS growth in this selection.", {
        class: "note",
      });
    }
    svg.setAttribute("data-nodes", String(drawn));
    box.textContent = "";
    box.appendChild(svg);
    return root.value;
  }

  // ---- the timeline -------------------------------------------------------------------------

  var TL = { width: 1200, height: 340, left: 74, right: 18, top: 24, plotBottom: 262, bandTop: 272, bandBottom: 302 };

  function xOf(t) {
    return TL.left + (t / timeMax) * (TL.width - TL.left - TL.right);
  }

  function tOf(x) {
    return ((x - TL.left) / (TL.width - TL.left - TL.right)) * timeMax;
  }

  function rssAt(t) {
    var v = null;
    for (var i = 0; i < points.length && points[i][0] <= t; i++) v = points[i][3];
    return v === null && points.length ? points[0][3] : v;
  }

  // The line where the process runs out: RSS plus the headroom, at each breakdown.
  function limitSeries() {
    var out = [];
    details.forEach(function (d) {
      if (d.headroom === null || d.headroom === undefined) return;
      var rss = rssAt(d.at);
      if (rss === null) rss = d.anon + d.file + d.shmem;
      var cgRoom = d.cgroup_limit !== null && d.cgroup_limit !== undefined ? d.cgroup_limit - d.cgroup_usage : null;
      out.push({ at: d.at, value: rss + d.headroom, cgroup: cgRoom !== null && cgRoom <= (d.mem_available === null ? Infinity : d.mem_available) });
    });
    return out;
  }

  function drawTimeline() {
    var box = document.getElementById("timeline-box");
    box.textContent = "";
    var limit = limitSeries();
    var lastLimit = limit.length ? limit[limit.length - 1] : null;

    if (lastLimit) {
      var controls = document.createElement("p");
      controls.className = "chart-controls";
      var label = document.createElement("label");
      var check = document.createElement("input");
      check.type = "checkbox";
      check.id = "scale-to-limit";
      check.checked = state.scaleToLimit;
      check.addEventListener("change", function () {
        state.scaleToLimit = check.checked;
        drawTimeline();
      });
      label.appendChild(check);
      label.appendChild(document.createTextNode(" scale the chart to the out-of-memory line"));
      controls.appendChild(label);
      box.appendChild(controls);
    }

    var svg = svgRoot("timeline", TL.width, TL.height);
    svg.setAttribute("class", "timeline");
    box.appendChild(svg); // in the document, so that text can be measured
    var plotW = TL.width - TL.left - TL.right;

    var yMax = 0;
    points.forEach(function (p) {
      yMax = Math.max(yMax, p[2]);
    });
    details.forEach(function (d) {
      yMax = Math.max(yMax, d.anon + d.file + d.shmem);
    });
    if (state.scaleToLimit && lastLimit) {
      limit.forEach(function (l) {
        yMax = Math.max(yMax, l.value);
      });
    }
    yMax = yMax > 0 ? yMax * 1.15 : 1024 * 1024;
    var unitIndex = 0;
    while (unitIndex < BYTE_UNITS.length - 1 && yMax / Math.pow(1024, unitIndex + 1) >= 1) unitIndex++;
    var unit = Math.pow(1024, unitIndex);
    var yStep = niceStep(yMax / unit / 5) * unit;
    yMax = Math.ceil(yMax / yStep) * yStep;

    function yOf(b) {
      return TL.plotBottom - (b / yMax) * (TL.plotBottom - TL.top);
    }

    // Grid and axes.
    var grid = el("g", { class: "grid" }, svg);
    var axis = el("g", { class: "axis" }, svg);
    var yDecimals = decimalsFor(yStep / unit);
    for (var yv = 0; yv <= yMax + yStep / 2; yv += yStep) {
      el("line", { x1: TL.left, x2: TL.width - TL.right, y1: r(yOf(yv)), y2: r(yOf(yv)) }, grid);
      text(axis, TL.left - 6, yOf(yv) + 4, (yv / unit).toFixed(yDecimals) + " " + BYTE_UNITS[unitIndex], {
        "text-anchor": "end",
      });
    }
    var xStep = niceStep(timeMax / 10);
    var xDecimals = decimalsFor(xStep);
    for (var xv = 0; xv <= timeMax + xStep * 1e-6; xv += xStep) {
      el("line", { x1: r(xOf(xv)), x2: r(xOf(xv)), y1: TL.top, y2: TL.bandBottom }, grid);
      text(axis, xOf(xv), TL.bandBottom + 16, xv.toFixed(xDecimals) + " s", { "text-anchor": "middle" });
    }
    text(axis, TL.width - TL.right, TL.bandBottom + 32, "seconds since the start of the recording", {
      "text-anchor": "end",
    });
    el("line", { class: "axis-line", x1: TL.left, x2: TL.width - TL.right, y1: TL.plotBottom, y2: TL.plotBottom }, svg);
    el("line", { class: "axis-line", x1: TL.left, x2: TL.left, y1: TL.top, y2: TL.plotBottom }, svg);

    // Anon / file / shmem, stacked. Each breakdown holds until the next one (and the last
    // until the last RSS reading), like the RSS staircase it splits.
    if (details.length) {
      var layers = [
        { cls: "anon-area", id: "anon-area", get: function (d) { return d.anon; } },
        { cls: "file-area", id: "file-area", get: function (d) { return d.file; } },
        { cls: "shmem-area", id: "shmem-area", get: function (d) { return d.shmem; } },
      ];
      var endAt = Math.max(points.length ? points[points.length - 1][0] : 0, details[details.length - 1].at);
      var steps = [];
      details.forEach(function (d, i) {
        steps.push([d.at, i], [i + 1 < details.length ? details[i + 1].at : endAt, i]);
      });
      var base = details.map(function () {
        return 0;
      });
      layers.forEach(function (layer) {
        var top = details.map(function (d, i) {
          return base[i] + layer.get(d);
        });
        if (top.every(function (v, i) { return v === base[i]; })) return;
        var pts = [];
        steps.forEach(function (st) {
          pts.push(r(xOf(st[0])) + "," + r(yOf(top[st[1]])));
        });
        for (var i = steps.length - 1; i >= 0; i--) pts.push(r(xOf(steps[i][0])) + "," + r(yOf(base[steps[i][1]])));
        el("polygon", { class: layer.cls, id: layer.id, points: pts.join(" ") }, svg);
        base = top;
      });
    }

    // RSS: each point covers a stretch up to the next one (several readings once a long
    // recording merged them): its highest reading is the line, its lowest the band's floor.
    if (points.length) {
      var endOf = function (i) {
        return i + 1 < points.length ? points[i + 1][0] : Math.max(points[i][0], data.memory.end ? data.memory.end[0] : 0);
      };
      var upper = [];
      var lower = [];
      points.forEach(function (p, i) {
        upper.push([p[0], p[2]], [endOf(i), p[2]]);
        lower.push([p[0], p[1]], [endOf(i), p[1]]);
      });
      var band = upper.concat(lower.reverse()).map(function (q) {
        return r(xOf(q[0])) + "," + r(yOf(q[1]));
      });
      el("polygon", { class: "rss-band", points: band.join(" ") }, svg);
      var d = upper
        .map(function (q, i) {
          return (i ? "L" : "M") + r(xOf(q[0])) + "," + r(yOf(q[1]));
        })
        .join("");
      if (points.length === 1) d += "h2";
      el("path", { class: "rss-line", id: "rss-line", d: d }, svg);
    } else {
      text(svg, TL.left + plotW / 2, (TL.top + TL.plotBottom) / 2, "No RSS readings in this recording.", {
        class: "note",
        "text-anchor": "middle",
      });
    }

    // Samples per bucket, under the chart.
    var maxTicks = 0;
    var perBucket = buckets.map(function (b) {
      var s = 0;
      b.stacks.forEach(function (e) {
        s += e[1];
      });
      maxTicks = Math.max(maxTicks, s);
      return s;
    });
    text(svg, TL.left - 6, TL.bandBottom - 8, "samples", { class: "band-label", "text-anchor": "end" });
    var bars = el("g", { id: "sample-bars" }, svg);
    perBucket.forEach(function (s, i) {
      if (!s) return;
      var h = (s / maxTicks) * (TL.bandBottom - TL.bandTop);
      el("rect", {
        class: "tick-bar",
        x: r(xOf(i * bucketWidth)),
        y: r(TL.bandBottom - h),
        width: r(Math.max(xOf(bucketWidth) - xOf(0) - 0.5, 0.5)),
        height: r(h),
      }, bars);
    });

    // The selected range, over the data and under the labels.
    el("g", { id: "selection-layer" }, svg);

    // The out-of-memory line.
    if (lastLimit) {
      var what = lastLimit.cgroup ? "RSS + room left in the cgroup" : "RSS + available memory";
      var limitText = "out of memory at \u2248 " + fmtBytes(lastLimit.value) + " (" + what + ")";
      if (lastLimit.value <= yMax) {
        var ld = limit
          .map(function (l, i) {
            return (i ? "L" : "M") + r(xOf(l.at)) + "," + r(yOf(l.value));
          })
          .join("");
        ld += "L" + r(xOf(timeMax)) + "," + r(yOf(lastLimit.value));
        el("path", { class: "limit-line", id: "limit-line", d: ld }, svg);
        text(svg, TL.width - TL.right - 4, yOf(lastLimit.value) - 5, limitText, {
          class: "limit-label halo",
          id: "limit-label",
          "text-anchor": "end",
        });
      } else {
        text(svg, TL.width - TL.right - 4, TL.top - 8, "\u2191 " + limitText + ", above the chart", {
          class: "limit-label halo",
          id: "limit-label",
          "text-anchor": "end",
        });
      }
    }

    // The peak.
    var peak = data.memory.peak;
    if (peak) {
      var px = xOf(peak.at);
      var py = yOf(peak.rss);
      el("circle", { class: "peak-marker", id: "peak-marker", cx: r(px), cy: r(py), r: 5 }, svg);
      var peakText = "peak " + fmtBytes(peak.rss) + " at " + fmtSecs(peak.at) + (peak.frame ? ": " + peak.frame : "");
      var right = px > TL.left + plotW * 0.55;
      text(svg, right ? px - 9 : px + 9, Math.max(py - 9, TL.top + 4), peakText, {
        class: "peak-label halo",
        id: "peak-label",
        "text-anchor": right ? "end" : "start",
      });
    }

    // Legend.
    var legend = el("g", { class: "legend" }, svg);
    var items = [["rss-line", "#1f6feb", "RSS"]];
    if (details.length) items.push(["anon", "#8cc8a0", "anonymous"], ["file", "#f0c070", "file-backed"]);
    if (lastLimit) items.push(["limit", "#cf222e", "out-of-memory line"]);
    if (peak) items.push(["peak", "#8250df", "peak"]);
    var lx = TL.left + 8;
    items.forEach(function (it) {
      el("rect", { x: lx, y: 6, width: 12, height: 8, fill: it[1], rx: 1 }, legend);
      var t = text(legend, lx + 16, 14, it[2]);
      var measured = t.getComputedTextLength();
      lx += 30 + (measured > 0 ? measured : it[2].length * 6.5);
    });

    // The drag area, on top of everything.
    var dragArea = el("rect", {
      class: "drag-area",
      x: TL.left,
      y: TL.top,
      width: plotW,
      height: TL.bandBottom - TL.top,
    }, svg);
    installDrag(svg, dragArea);
    drawSelection();
  }

  function drawSelection(preview) {
    var layer = document.getElementById("selection-layer");
    if (!layer) return;
    layer.textContent = "";
    var range = preview || state.range;
    if (!range) return;
    var x0 = xOf(range[0]);
    var x1 = Math.max(xOf(range[1]), x0 + 1);
    var h = TL.bandBottom - TL.top;
    el("rect", { class: "outside", x: TL.left, y: TL.top, width: r(Math.max(x0 - TL.left, 0)), height: h }, layer);
    el("rect", { class: "outside", x: r(x1), y: TL.top, width: r(Math.max(TL.width - TL.right - x1, 0)), height: h }, layer);
    el("rect", { class: "selection", id: "selection", x: r(x0), y: TL.top, width: r(x1 - x0), height: h }, layer);
  }

  function installDrag(svg, area) {
    var start = null;
    function timeAt(ev) {
      var pt = svg.createSVGPoint();
      pt.x = ev.clientX;
      pt.y = ev.clientY;
      var local = pt.matrixTransform(svg.getScreenCTM().inverse());
      return Math.min(Math.max(tOf(local.x), 0), timeMax);
    }
    function move(ev) {
      if (start === null) return;
      var t = timeAt(ev);
      drawSelection([Math.min(start, t), Math.max(start, t)]);
    }
    function up(ev) {
      window.removeEventListener("mousemove", move);
      window.removeEventListener("mouseup", up);
      if (start === null) return;
      var t = timeAt(ev);
      var t0 = Math.min(start, t);
      var t1 = Math.max(start, t);
      start = null;
      // A click without a drag selects nothing new.
      if (xOf(t1) - xOf(t0) < 3) {
        drawSelection();
        return;
      }
      selectRange(t0, t1, true);
    }
    area.addEventListener("mousedown", function (ev) {
      ev.preventDefault();
      start = timeAt(ev);
      window.addEventListener("mousemove", move);
      window.addEventListener("mouseup", up);
    });
  }

  // ---- range, thread, redraw ----------------------------------------------------------------

  function roundTime(t) {
    return Math.round(t * 1000) / 1000;
  }

  // The one way to change the time range: drag, address fragment and reset all come here.
  // `t0 === null` selects the whole recording. `updateAddress` writes #range=T0-T1.
  function selectRange(t0, t1, updateAddress) {
    if (t0 === null) {
      state.range = null;
    } else {
      t0 = roundTime(Math.max(0, t0));
      t1 = roundTime(Math.max(t0, t1));
      state.range = [t0, t1];
    }
    if (updateAddress && window.history && window.history.replaceState) {
      var base = location.href.split("#")[0];
      window.history.replaceState(null, "", state.range ? base + "#range=" + state.range[0] + "-" + state.range[1] : base);
    }
    redraw();
  }

  function rangeFromAddress() {
    var m = /(?:^#|[#&])range=([0-9]*\.?[0-9]+)-([0-9]*\.?[0-9]+)/.exec(location.hash);
    if (m && parseFloat(m[1]) <= parseFloat(m[2])) {
      selectRange(parseFloat(m[1]), parseFloat(m[2]), false);
    } else {
      selectRange(null, null, false);
    }
  }

  function redraw() {
    var weights = weightsFor(state.range);
    var samples = drawFlame("cpu", weights);
    var growth = drawFlame("rss", weights);
    var release = 0;
    for (var id in weights) {
      if (Object.prototype.hasOwnProperty.call(weights, id) && threadMatches(data.stacks[id])) {
        release += weights[id][2];
      }
    }
    var label = document.getElementById("range-label");
    label.textContent = state.range
      ? fmtSecs(state.range[0]) + " \u2013 " + fmtSecs(state.range[1])
      : "the whole recording (0 \u2013 " + fmtSecs(timeMax) + ")";
    var totals = document.getElementById("range-totals");
    totals.textContent =
      fmtCount(samples) + " samples, RSS +" + fmtBytes(growth) + " grown, " + fmtBytes(release) + " released" +
      (state.thread === "all" ? "" : " (" + data.threads[+state.thread] + ")");
    var toolbar = document.getElementById("toolbar");
    toolbar.setAttribute("data-range", state.range ? state.range[0] + "-" + state.range[1] : "all");
    toolbar.setAttribute("data-samples", String(samples));
    toolbar.setAttribute("data-rss-growth", String(growth));
    document.getElementById("reset-range").disabled = !state.range;
    drawSelection();
  }

  function setupControls() {
    var select = document.getElementById("thread-select");
    data.threads.forEach(function (label, i) {
      var opt = document.createElement("option");
      opt.value = String(i);
      opt.textContent = label;
      select.appendChild(opt);
    });
    select.addEventListener("change", function () {
      state.thread = select.value;
      redraw();
    });
    document.getElementById("reset-range").addEventListener("click", function () {
      selectRange(null, null, true);
    });
    window.addEventListener("hashchange", rangeFromAddress);
  }

  function showError(err) {
    var p = document.createElement("p");
    p.className = "script-error";
    p.id = "script-error";
    p.textContent = "The report could not be drawn: " + (err && err.stack ? err.stack : err);
    document.body.insertBefore(p, document.body.firstChild);
    document.body.setAttribute("data-error", String(err));
  }

  try {
    if (!data.stacks.length && !points.length) {
      document.getElementById("report").hidden = true;
    } else {
      setupControls();
      drawTimeline();
      rangeFromAddress();
    }
    document.body.setAttribute("data-rendered", "1");
  } catch (err) {
    showError(err);
  }
})();
