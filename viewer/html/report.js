// report.js - the interactive parts of `growprof report --format html` (embedded in the page):
// a flame graph drawn in SVG from the collapsed stacks in #gp-data (click to zoom, hover for
// numbers, search, choice of weight), and sorting of the hotspot tables by a column.
// Plain DOM, no library, nothing fetched. Strings from the trace only ever reach the page as
// text nodes or attribute values, never as markup.
(function () {
  'use strict';
  var SVGNS = 'http' + '://www.w3.org/2000/svg'; // a namespace name, never fetched
  var ROW = 18;
  var WEIGHTS = ['bytes copied', 'moves', 'steps'];
  var data = JSON.parse(document.getElementById('gp-data').textContent);

  function fmtCount(n) {
    return String(n).replace(/\B(?=(\d{3})+(?!\d))/g, ',');
  }
  function fmtBytes(n) {
    var u = ['B', 'KiB', 'MiB', 'GiB', 'TiB', 'PiB'], i = 0;
    while (n >= 1024 && i < u.length - 1) { n /= 1024; i++; }
    return i ? n.toFixed(1) + ' ' + u[i] : n + ' B';
  }
  function fmtWeight(w, n) { return w === 0 ? fmtBytes(n) : fmtCount(n); }

  // ---- the tree of frames: every node holds the three weights ----
  function node(name, parent) {
    return { name: name, parent: parent, v: [0, 0, 0], kids: {}, list: null, depth: 0 };
  }
  var root = node('all', null);
  data.stacks.forEach(function (s) {
    var frames = s[0].split(';'), n = root;
    for (var k = 0; k < 3; k++) root.v[k] += s[k + 1];
    frames.forEach(function (f, d) {
      var c = Object.prototype.hasOwnProperty.call(n.kids, f) ? n.kids[f] : null;
      if (!c) { c = n.kids[f] = node(f, n); c.depth = d + 1; }
      for (var k = 0; k < 3; k++) c.v[k] += s[k + 1];
      n = c;
    });
  });

  var weight = 0, focus = root, search = '';
  var box = document.getElementById('flamegraph');
  var tip = document.getElementById('fg-tip');
  var status = document.getElementById('fg-status');

  function kids(n) {
    // heaviest first for the current weight, so the big frames sit on the left
    var l = Object.keys(n.kids).map(function (k) { return n.kids[k]; });
    l.sort(function (a, b) { return b.v[weight] - a.v[weight] || (a.name < b.name ? -1 : 1); });
    return l;
  }
  function isAncestor(a, n) { for (; n; n = n.parent) if (n === a) return true; return false; }
  function pathOf(n) {
    var p = [];
    for (; n && n.parent; n = n.parent) p.unshift(n.name);
    return p.join(' \u2192 ');
  }

  function color(n) {
    if (n === root) return '#c8ccd2';
    if (n.name === '[relocation]') return '#a77bd1';
    if (n.name === '[unknown stack]') return '#b8bcc2';
    var h = 0;
    for (var i = 0; i < n.name.length; i++) h = (h * 31 + n.name.charCodeAt(i)) >>> 0;
    var r = 205 + (h % 50), g = 70 + ((h >>> 8) % 130), b = 30 + ((h >>> 16) % 40);
    return 'rgb(' + r + ',' + g + ',' + b + ')';
  }

  function el(tag, attrs) {
    var e = document.createElementNS(SVGNS, tag);
    for (var k in attrs) e.setAttribute(k, attrs[k]);
    return e;
  }

  function showTip(n, ev) {
    var tot = focus.v[weight] || 1, all = root.v[weight] || 1;
    while (tip.firstChild) tip.removeChild(tip.firstChild);
    var b = document.createElement('b');
    b.textContent = n.name;
    tip.appendChild(b);
    var lines = [
      WEIGHTS[0] + ': ' + fmtBytes(n.v[0]) + ' (' + fmtCount(n.v[0]) + ' bytes)',
      'moves: ' + fmtCount(n.v[1]) + ', steps: ' + fmtCount(n.v[2]),
      (100 * n.v[weight] / all).toFixed(2) + '% of all ' + WEIGHTS[weight] +
        (focus !== root ? ', ' + (100 * n.v[weight] / tot).toFixed(2) + '% of the zoomed frame' : '')
    ];
    if (n.parent && n.parent !== root) lines.push(pathOf(n));
    lines.forEach(function (t) {
      tip.appendChild(document.createElement('br'));
      tip.appendChild(document.createTextNode(t));
    });
    tip.hidden = false;
    moveTip(ev);
  }
  function moveTip(ev) {
    var x = ev.clientX + 14, y = ev.clientY + 14;
    var w = tip.offsetWidth, h = tip.offsetHeight;
    if (x + w > window.innerWidth - 4) x = Math.max(4, ev.clientX - w - 14);
    if (y + h > window.innerHeight - 4) y = Math.max(4, ev.clientY - h - 14);
    tip.style.left = x + 'px';
    tip.style.top = y + 'px';
  }

  function render() {
    var W = Math.max(box.clientWidth, 320);
    // As tall as the frames drawn, not as the deepest stack of any weight: frames are laid
    // out by depth first and placed once the deepest one drawn is known (a CPython run's
    // deep import stacks copy nothing, and left an empty band above the one tower).
    var svg = el('svg', {});
    svg.setAttribute('data-zoom', focus === root ? '' : pathOf(focus));
    var drawn = 0, matched = 0, matchedW = 0, top = 0, rows = [];
    var fw = focus.v[weight];
    function place(n, r, t) {
      rows.push({ depth: n.depth, r: r, t: t });
      if (n.depth > top) top = n.depth;
    }

    function draw(n, x, w) {
      if (w < 0.5 || n.v[weight] <= 0) return;
      var g = el('g', {});
      if (n !== focus && isAncestor(n, focus)) g.setAttribute('class', 'dim');
      var r = el('rect', { x: x.toFixed(2), width: Math.max(w - 0.5, 0.5).toFixed(2),
        height: ROW - 1, fill: color(n), rx: 1.5 });
      r.setAttribute('data-name', n.name);
      if (search && n.name.toLowerCase().indexOf(search) >= 0) {
        r.setAttribute('class', 'match');
        matched++;
        if (!isAncestorMatched(n)) matchedW += n.v[weight];
      }
      g.appendChild(r);
      var chars = Math.floor((w - 6) / 7.3), t = null;
      if (chars >= 3) {
        t = el('text', { x: (x + 3).toFixed(2) });
        t.textContent = n.name.length <= chars ? n.name : n.name.slice(0, chars - 2) + '..';
        g.appendChild(t);
      }
      place(n, r, t);
      g.addEventListener('click', function () { zoom(n); });
      g.addEventListener('mouseenter', function (ev) { showTip(n, ev); });
      g.addEventListener('mousemove', moveTip);
      g.addEventListener('mouseleave', function () { tip.hidden = true; });
      svg.appendChild(g);
      drawn++;
      if (!isAncestor(focus, n)) return; // an ancestor of the focus: only the focus above it
      var cx = x;
      kids(n).forEach(function (c) {
        var cw = w * c.v[weight] / (n.v[weight] || 1);
        draw(c, cx, cw);
        cx += cw;
      });
    }
    function isAncestorMatched(n) {
      for (var p = n.parent; p; p = p.parent)
        if (p.name.toLowerCase().indexOf(search) >= 0) return true;
      return false;
    }
    // The focus's ancestors span the whole width; the focus's subtree fills it.
    var chain = [];
    for (var a = focus; a; a = a.parent) chain.unshift(a);
    chain.forEach(function (a) {
      if (a === focus) return;
      var g = el('g', { 'class': 'dim' });
      var r = el('rect', { x: 0, width: W - 0.5, height: ROW - 1, fill: color(a), rx: 1.5 });
      r.setAttribute('data-name', a.name);
      g.appendChild(r);
      var t = el('text', { x: 3 });
      t.textContent = a.name;
      g.appendChild(t);
      place(a, r, t);
      g.addEventListener('click', function () { zoom(a); });
      g.addEventListener('mouseenter', function (ev) { showTip(a, ev); });
      g.addEventListener('mousemove', moveTip);
      g.addEventListener('mouseleave', function () { tip.hidden = true; });
      svg.appendChild(g);
      drawn++;
    });
    if (fw > 0) draw(focus, 0, W);
    var H = (top + 1) * ROW + 4;
    rows.forEach(function (e) {
      var y = H - (e.depth + 1) * ROW;
      e.r.setAttribute('y', y);
      if (e.t) e.t.setAttribute('y', y + ROW - 5);
    });
    svg.setAttribute('width', W);
    svg.setAttribute('height', H);
    svg.setAttribute('viewBox', '0 0 ' + W + ' ' + H);
    box.replaceChildren(svg);
    box.setAttribute('data-drawn', drawn);
    var msg = fw > 0 ? '' : 'nothing to show: no ' + WEIGHTS[weight] + ' were recorded';
    if (search) msg = matched + ' frame' + (matched === 1 ? '' : 's') + ' match, ' +
      (100 * matchedW / (fw || 1)).toFixed(1) + '% of ' + WEIGHTS[weight];
    status.textContent = msg;
  }

  function zoom(n) {
    focus = n;
    tip.hidden = true;
    render();
  }

  document.getElementById('fg-reset').addEventListener('click', function () { zoom(root); });
  document.getElementById('fg-weight').addEventListener('change', function (ev) {
    weight = Number(ev.target.value) || 0;
    if (focus.v[weight] <= 0) focus = root;
    render();
  });
  document.getElementById('fg-search').addEventListener('input', function (ev) {
    search = ev.target.value.trim().toLowerCase();
    render();
  });
  document.addEventListener('keydown', function (ev) {
    if (ev.key === 'Escape') zoom(root);
  });
  var pending = 0;
  window.addEventListener('resize', function () {
    if (pending) return;
    pending = window.requestAnimationFrame(function () { pending = 0; render(); });
  });
  render();

  // ---- tables: click a header to sort by it ----
  Array.prototype.forEach.call(document.querySelectorAll('table.sortable'), function (table) {
    var ths = table.tHead.rows[0].cells;
    Array.prototype.forEach.call(ths, function (th, col) {
      th.addEventListener('click', function () {
        var desc = !th.classList.contains('sorted-desc');
        Array.prototype.forEach.call(ths, function (h) { h.classList.remove('sorted-desc', 'sorted-asc'); });
        th.classList.add(desc ? 'sorted-desc' : 'sorted-asc');
        var body = table.tBodies[0];
        var rows = Array.prototype.slice.call(body.rows);
        rows.sort(function (a, b) {
          var x = a.cells[col], y = b.cells[col];
          var vx = x.getAttribute('data-v'), vy = y.getAttribute('data-v');
          var c = vx !== null && vy !== null ? Number(vx) - Number(vy)
            : x.textContent.localeCompare(y.textContent);
          return desc ? -c : c;
        });
        rows.forEach(function (r) { body.appendChild(r); });
      });
    });
  });
})();
