// parkd reception board. Plain JavaScript, no library: it draws the lots
// from /api/lots and the parked calls from /api/slots, refetches the calls
// when /api/events says something changed (or polls while it cannot), and
// ticks the waiting times itself. Every text from the server goes into the
// page as textContent, never as HTML.
(function () {
  'use strict';

  // The parked calls come first, as tiles: they need attention. Below
  // them, a lot with at most this many slots shows each free slot as a
  // small chip, so the desk sees at a glance where to park; a bigger lot
  // lists its free slots as ranges (201–240, 242), because hundreds of
  // chips would say less and push the calls off a phone's screen.
  var FULL_LOT_MAX = 30;
  var REFRESH_GAP_MS = 250; // at most one /api/slots fetch per this
  var POLL_MS = 750; // while live updates are unavailable
  var EXT_KEY = 'parkd.extension';

  function meta(name) {
    var m = document.querySelector('meta[name="' + name + '"]');
    return m ? m.getAttribute('content') : '';
  }
  var csrf = meta('csrf-token');
  var supervisor = meta('parkd-role') === 'supervisor';
  var userExt = meta('parkd-extension');

  // The board of /?domain=X shows that domain's lots alone; the API
  // refuses a domain the user may not see.
  var params = new URLSearchParams(window.location.search);
  var domainQ = params.has('domain') ? '?domain=' + encodeURIComponent(params.get('domain')) : '';

  // A lot is its name within its domain: two tenants may each have "main".
  function lotKey(name, domain) { return domain ? name + '@' + domain : name; }

  var lots = [];           // from /api/lots
  var lotsStale = true;    // refetch /api/lots on the next refresh
  var calls = [];          // from /api/slots
  var fetchedAt = 0;       // Date.now() when calls were fetched
  var clockOffset = 0;     // server clock minus ours, from the Date header
  var tiles = new Map();   // call id -> tile
  var sections = new Map(); // lot name -> section
  var known = null;        // call id -> summary, after the first render
  var els = {};

  // ---- HTTP ----

  function api(method, path, body) {
    var opts = { method: method, credentials: 'same-origin', headers: { 'Accept': 'application/json' } };
    if (method !== 'GET') {
      opts.headers['X-CSRF-Token'] = csrf;
      opts.headers['Content-Type'] = 'application/json';
      opts.body = JSON.stringify(body || {});
    }
    return fetch(path, opts).then(function (resp) {
      if (resp.status === 401) {
        window.location.assign('/login');
        throw new Error('Your session ended; log in again.');
      }
      var date = resp.headers.get('Date');
      return resp.text().then(function (text) {
        var data = null;
        try { data = text ? JSON.parse(text) : null; } catch (e) { data = null; }
        if (!resp.ok) {
          var msg = data && data.error ? data.error : resp.status + ' ' + resp.statusText;
          throw new Error(msg);
        }
        return { data: data, date: date };
      });
    });
  }

  // ---- messages ----

  function say(msg) {
    els.error.hidden = true;
    els.error.textContent = '';
    // Emptied first so that the same message twice is announced twice.
    els.status.textContent = '';
    window.setTimeout(function () { els.status.textContent = msg; }, 30);
  }

  function fail(msg) {
    els.error.textContent = msg;
    els.error.hidden = false;
  }

  // ---- refresh, throttled ----

  var lastFetch = 0;
  var timer = null;
  var inflight = false;
  var again = false;
  var loadFailed = false; // the error shown is a failed refresh, cleared by the next good one

  function schedule() {
    if (inflight) { again = true; return; }
    if (timer) { return; }
    var wait = Math.max(0, lastFetch + REFRESH_GAP_MS - Date.now());
    timer = window.setTimeout(function () { timer = null; refresh(); }, wait);
  }

  function refresh() {
    inflight = true;
    lastFetch = Date.now();
    var getLots = lotsStale ? api('GET', '/api/lots' + domainQ) : Promise.resolve(null);
    return Promise.all([getLots, api('GET', '/api/slots' + domainQ)]).then(function (res) {
      if (res[0]) { lots = res[0].data || []; lotsStale = false; }
      calls = res[1].data || [];
      fetchedAt = Date.now();
      if (res[1].date) {
        var server = Date.parse(res[1].date);
        if (!isNaN(server)) { clockOffset = server - fetchedAt; }
      }
      if (loadFailed) { loadFailed = false; els.error.hidden = true; }
      render();
    }).catch(function (err) {
      loadFailed = true;
      fail('Could not load the parked calls: ' + err.message);
    }).then(function () {
      inflight = false;
      if (again) { again = false; schedule(); }
    });
  }

  // ---- live updates ----

  var pollTimer = null;

  // document.body.dataset.live says how the board follows the lots
  // ("events" or "polling"), for the people who support it and the tests.
  function startPolling() {
    document.body.dataset.live = 'polling';
    els.conn.hidden = false;
    if (!pollTimer) { pollTimer = window.setInterval(schedule, POLL_MS); }
  }

  function stopPolling() {
    document.body.dataset.live = 'events';
    els.conn.hidden = true;
    if (pollTimer) { window.clearInterval(pollTimer); pollTimer = null; }
  }

  function connect() {
    if (!window.EventSource) { startPolling(); return; }
    var es = new EventSource('/api/events' + domainQ);
    ['transition', 'slot', 'note'].forEach(function (type) {
      es.addEventListener(type, schedule);
    });
    es.addEventListener('reset', function () { lotsStale = true; schedule(); });
    es.onopen = function () { stopPolling(); schedule(); };
    es.onerror = function () {
      // The browser reconnects by itself (with Last-Event-ID) unless the
      // server refused the stream; then poll, and try again later.
      if (es.readyState === EventSource.CLOSED) {
        startPolling();
        window.setTimeout(connect, 15000);
      } else {
        startPolling();
      }
    };
  }

  // ---- drawing ----

  function el(tag, cls, text) {
    var e = document.createElement(tag);
    if (cls) { e.className = cls; }
    if (text !== undefined) { e.textContent = text; }
    return e;
  }

  function lotOf(key) {
    for (var i = 0; i < lots.length; i++) {
      if (lotKey(lots[i].name, lots[i].domain) === key) { return lots[i]; }
    }
    return null;
  }

  function clock(secs) {
    secs = Math.max(0, Math.floor(secs));
    var h = Math.floor(secs / 3600), m = Math.floor(secs / 60) % 60, s = secs % 60;
    var mm = (h ? String(m).padStart(2, '0') : String(m)) + ':' + String(s).padStart(2, '0');
    return h ? h + ':' + mm : mm;
  }

  function callerText(c) {
    if (c.caller_name && c.caller_number && c.caller_name !== c.caller_number) {
      return c.caller_name;
    }
    return c.caller_name || c.caller_number || 'Unknown caller';
  }

  function ranges(nums) {
    var out = [];
    for (var i = 0; i < nums.length; i++) {
      var j = i;
      while (j + 1 < nums.length && nums[j + 1] === nums[j] + 1) { j++; }
      out.push(i === j ? String(nums[i]) : nums[i] + '–' + nums[j]);
      i = j;
    }
    return out.join(', ');
  }

  function section(lot) {
    var key = lotKey(lot.name, lot.domain);
    var s = sections.get(key);
    if (!s) {
      s = { root: el('section', 'lot') };
      s.root.id = 'lot-' + key;
      s.title = el('h2');
      s.name = el('span', '', 'Lot ' + lot.name + (lot.domain ? ' (' + lot.domain + ')' : '') + ' ');
      s.codes = el('span', 'codes');
      s.title.appendChild(s.name);
      s.title.appendChild(s.codes);
      s.title.id = 'lot-title-' + key;
      s.root.setAttribute('aria-labelledby', s.title.id);
      s.list = el('ul', 'calls');
      s.empty = el('p', 'empty', 'No call parked.');
      // Free slots: a chip per slot in a small lot; in a big one, ranges.
      s.freeBox = el('div', 'freelist');
      s.freeTitle = el('p', 'freetitle');
      s.chips = el('ul', 'chips');
      s.freeBox.appendChild(s.freeTitle);
      s.freeBox.appendChild(s.chips);
      s.root.appendChild(s.title);
      s.root.appendChild(s.list);
      s.root.appendChild(s.empty);
      s.root.appendChild(s.freeBox);
      s.freeTiles = new Map();
      sections.set(key, s);
    }
    var codes = [];
    if (lot.first) { codes.push('slots ' + (lot.first === lot.last ? lot.first : lot.first + '–' + lot.last)); }
    if (lot.park_code) { codes.push('park ' + lot.park_code); }
    if (lot.retrieve_code) { codes.push('pick up ' + lot.retrieve_code + '<slot>'); }
    s.codes.textContent = codes.length ? '(' + codes.join(', ') + ')' : '';
    return s;
  }

  function freeTile(s, slot) {
    var t = s.freeTiles.get(slot);
    if (!t) {
      t = el('li', 'free', String(slot));
      t.setAttribute('aria-label', 'Slot ' + slot + ' free');
      s.freeTiles.set(slot, t);
    }
    return t;
  }

  function render() {
    var byLot = new Map();
    calls.forEach(function (c) {
      var key = lotKey(c.lot, c.domain);
      if (!byLot.has(key)) { byLot.set(key, []); }
      byLot.get(key).push(c);
    });
    var shown = lots.slice();
    byLot.forEach(function (lc, key) {
      // A lot removed from the configuration keeps its calls until they leave.
      if (!lotOf(key)) { shown.push({ name: lc[0].lot, domain: lc[0].domain, first: 0, last: 0, timeout_seconds: 0, warn_after_seconds: 0 }); }
    });

    var seen = new Set();
    var order = [];
    shown.forEach(function (lot) {
      var s = section(lot);
      order.push(s.root);
      var lc = (byLot.get(lotKey(lot.name, lot.domain)) || []).sort(function (a, b) { return a.slot - b.slot; });
      var bySlot = new Map();
      lc.forEach(function (c) { bySlot.set(c.slot, c); });
      var items = [];
      var free = [];
      var size = lot.first ? lot.last - lot.first + 1 : 0;
      lc.forEach(function (c) { items.push(callTile(c, lot)); seen.add(c.call); });
      for (var k = lot.first; size > 0 && k <= lot.last; k++) {
        if (!bySlot.has(k)) { free.push(k); }
      }
      var chips = size > 0 && size <= FULL_LOT_MAX;
      place(s.chips, chips ? free.map(function (n) { return freeTile(s, n); }) : []);
      s.freeBox.hidden = size === 0;
      s.freeTitle.textContent = free.length === 0 ? 'No free slot.' : free.length + (free.length === 1 ? ' free slot' : ' free slots') + (chips ? ':' : ': ' + ranges(free));
      s.empty.hidden = lc.length > 0;
      place(s.list, items);
    });
    place(els.lots, order);
    els.lots.setAttribute('aria-busy', 'false');
    if (shown.length === 0) {
      els.lots.textContent = '';
      els.lots.appendChild(el('p', 'empty', 'You may see no lot.'));
    }

    // Forget the tiles of calls that left, and tell a screen reader.
    var now = new Map();
    calls.forEach(function (c) { now.set(c.call, c); });
    tiles.forEach(function (_, id) { if (!seen.has(id)) { tiles.delete(id); } });
    if (known) {
      var news = [];
      now.forEach(function (c, id) {
        if (!known.has(id)) { news.push(callerText(c) + ' parked in ' + c.slot + '.'); }
        else if (known.get(id).slot !== c.slot) { news.push(callerText(c) + ' moved to ' + c.slot + '.'); }
      });
      known.forEach(function (c, id) {
        if (!now.has(id)) { news.push('Slot ' + c.slot + ' is free: ' + callerText(c) + ' left.'); }
      });
      if (news.length) { say(news.join(' ')); }
    }
    known = now;
    tick();
  }

  // place makes parent's children exactly items, in order, moving only
  // what is out of place so that a focused field keeps its focus.
  function place(parent, items) {
    for (var i = 0; i < items.length; i++) {
      if (parent.children[i] !== items[i]) {
        parent.insertBefore(items[i], parent.children[i] || null);
      }
    }
    while (parent.children.length > items.length) {
      parent.removeChild(parent.lastElementChild);
    }
  }

  function button(text, cls, onclick) {
    var b = el('button', cls, text);
    b.type = 'button';
    b.addEventListener('click', onclick);
    return b;
  }

  function callTile(c, lot) {
    var t = tiles.get(c.call);
    if (!t) {
      t = makeTile(c.call);
      tiles.set(c.call, t);
    }
    t.call = c;
    t.lot = lot;
    var id = 'call-' + c.call;
    t.root.id = id;
    t.slot.textContent = String(c.slot);
    t.who.textContent = callerText(c);
    var bits = [];
    if (c.caller_number && c.caller_number !== t.who.textContent) { bits.push(c.caller_number); }
    bits.push('parked by ' + (c.parker || 'unknown'));
    if (c.node) { bits.push('on node ' + c.node); }
    t.meta.textContent = bits.join(' · ');
    // Another node's call is shown here and acted on from its own node's board.
    t.actions.hidden = !!c.remote;
    t.noteForm.hidden = !!c.remote;
    t.root.setAttribute('aria-label', 'Slot ' + c.slot + ': ' + callerText(c));
    t.notes.textContent = '';
    (c.notes || []).forEach(function (n) { t.notes.appendChild(el('li', '', n.text)); });
    t.notes.hidden = !(c.notes && c.notes.length);
    var last = c.notes && c.notes.length ? c.notes[c.notes.length - 1].text : '';
    t.noteInput.placeholder = last ? 'Change the note' : 'Add a note';
    t.noteLabel.textContent = 'Note for slot ' + c.slot;
    t.moveLabel.textContent = 'Move slot ' + c.slot + ' to slot';
    t.pickup.setAttribute('aria-label', 'Pick up slot ' + c.slot + ', ' + callerText(c));
    t.move.setAttribute('aria-label', 'Move slot ' + c.slot);
    var ext = lot.timeout_seconds || 120;
    t.extend.textContent = 'Extend +' + clock(ext);
    t.extend.setAttribute('aria-label', 'Extend slot ' + c.slot + ' by ' + clock(ext));
    if (t.hangup) { t.hangup.setAttribute('aria-label', 'Hang up slot ' + c.slot); }
    return t.root;
  }

  function makeTile(callID) {
    var t = {};
    t.root = el('li', 'call');
    var head = el('div', 'head');
    t.slot = el('span', 'slotno');
    t.wait = el('span', 'wait');
    t.waitWhy = el('span', 'meta');
    var waitBox = el('span');
    waitBox.appendChild(el('span', 'visually-hidden', 'On hold for '));
    waitBox.appendChild(t.wait);
    waitBox.appendChild(document.createTextNode(' '));
    waitBox.appendChild(t.waitWhy);
    head.appendChild(t.slot);
    head.appendChild(waitBox);
    t.root.appendChild(head);
    t.who = el('div', 'who');
    t.meta = el('div', 'meta');
    t.recall = el('div', 'recall meta');
    t.notes = el('ul', 'notes');
    t.root.appendChild(t.who);
    t.root.appendChild(t.meta);
    t.root.appendChild(t.recall);
    t.root.appendChild(t.notes);

    var nf = el('form', 'note-form');
    t.noteLabel = el('label', 'visually-hidden');
    t.noteInput = el('input');
    t.noteInput.name = 'note';
    t.noteInput.maxLength = 500;
    t.noteInput.id = 'note-' + callID;
    t.noteLabel.htmlFor = t.noteInput.id;
    nf.appendChild(t.noteLabel);
    nf.appendChild(t.noteInput);
    var save = el('button', '', 'Save note');
    save.type = 'submit';
    nf.appendChild(save);
    nf.addEventListener('submit', function (ev) {
      ev.preventDefault();
      var text = t.noteInput.value.trim();
      if (!text) { t.noteInput.focus(); return; }
      act(save, 'note', t.call, { text: text }, 'Note saved for slot ' + t.call.slot + '.').then(function (ok) {
        if (ok) { t.noteInput.value = ''; }
      });
    });
    t.root.appendChild(nf);
    t.noteForm = nf;

    var actions = el('div', 'actions');
    t.actions = actions;
    t.pickup = button('Pick up', 'primary', function () {
      var ext = myExtension();
      if (!ext) {
        fail('Type your phone\'s extension in "My phone" first.');
        els.ext.focus();
        return;
      }
      act(t.pickup, 'pickup', t.call, { extension: ext },
        'Ringing ' + ext + ' to pick up ' + callerText(t.call) + ' (slot ' + t.call.slot + ').');
    });
    var openMove = function (open) {
      t.moveForm.hidden = !open;
      t.move.setAttribute('aria-expanded', String(open));
      if (open) { t.moveInput.focus(); }
    };
    t.move = button('Move', '', function () { openMove(t.moveForm.hidden); });
    t.move.setAttribute('aria-expanded', 'false');
    t.extend = button('Extend', '', function () {
      var secs = (t.lot && t.lot.timeout_seconds) || 120;
      act(t.extend, 'extend', t.call, { seconds: secs }, 'Recall of slot ' + t.call.slot + ' pushed back by ' + clock(secs) + '.');
    });
    actions.appendChild(t.pickup);
    actions.appendChild(t.move);
    actions.appendChild(t.extend);
    if (supervisor) {
      t.hangup = button('Hang up', 'danger', function () {
        if (!window.confirm('Hang up on ' + callerText(t.call) + ' in slot ' + t.call.slot + '?')) { return; }
        act(t.hangup, 'hangup', t.call, {}, 'Hung up on slot ' + t.call.slot + '.');
      });
      actions.appendChild(t.hangup);
    }
    t.root.appendChild(actions);

    t.moveForm = el('form', 'move-form');
    t.moveForm.hidden = true;
    t.moveLabel = el('label');
    t.moveInput = el('input');
    t.moveInput.inputMode = 'numeric';
    t.moveInput.id = 'move-' + callID;
    t.moveInput.required = true;
    t.moveLabel.htmlFor = t.moveInput.id;
    var go = el('button', '', 'Move');
    go.type = 'submit';
    var cancel = button('Cancel', '', function () { openMove(false); t.move.focus(); });
    t.moveForm.appendChild(t.moveLabel);
    t.moveForm.appendChild(t.moveInput);
    t.moveForm.appendChild(go);
    t.moveForm.appendChild(cancel);
    t.moveForm.addEventListener('submit', function (ev) {
      ev.preventDefault();
      var slot = parseInt(t.moveInput.value, 10);
      if (!(slot > 0)) { fail('Type the slot number to move the call to.'); t.moveInput.focus(); return; }
      act(go, 'move', t.call, { slot: slot }, callerText(t.call) + ' moved to slot ' + slot + '.').then(function (ok) {
        if (ok) { openMove(false); t.moveInput.value = ''; }
      });
    });
    t.root.appendChild(t.moveForm);
    return t;
  }

  // act posts one action on a call and reports the outcome.
  function act(btn, what, c, body, done) {
    btn.disabled = true;
    return api('POST', '/api/calls/' + encodeURIComponent(c.call) + '/' + what, body).then(function () {
      say(done);
      schedule();
      return true;
    }, function (err) {
      fail('Slot ' + c.slot + ': ' + err.message);
      schedule();
      return false;
    }).then(function (ok) {
      btn.disabled = false;
      return ok;
    });
  }

  // tick redraws the waiting times and recall countdowns, once a second.
  function tick() {
    var now = Date.now();
    var since = fetchedAt ? (now - fetchedAt) / 1000 : 0;
    tiles.forEach(function (t) {
      var c = t.call, lot = t.lot || {};
      var wait = (c.waiting_seconds || 0) + since;
      t.wait.textContent = clock(wait);
      var late = (lot.timeout_seconds > 0 && wait >= lot.timeout_seconds) || c.state === 'recalling' || c.recall_attempts > 0;
      var warn = !late && lot.warn_after_seconds > 0 && wait >= lot.warn_after_seconds;
      var level = late ? 'late' : warn ? 'warn' : '';
      t.wait.className = 'wait' + (level ? ' ' + level : '');
      t.root.className = 'call' + (level ? ' ' + level : '');
      t.waitWhy.textContent = late ? 'past recall time' : warn ? 'long wait' : '';
      var r;
      if (c.state === 'recalling') {
        r = 'Ringing ' + (c.parker || 'the parker') + ' (recall attempt ' + Math.max(1, c.recall_attempts) + ')';
        t.recall.className = 'recall meta ringing';
      } else {
        t.recall.className = 'recall meta';
        if (c.next_recall) {
          var left = (Date.parse(c.next_recall) - (now + clockOffset)) / 1000;
          r = left > 0 ? 'Recall in ' + clock(left) : 'Recall due';
        } else {
          r = 'No recall';
        }
        if (c.recall_attempts > 0) {
          r += ' · ' + c.recall_attempts + (c.recall_attempts === 1 ? ' recall' : ' recalls') + ' so far';
        }
      }
      t.recall.textContent = r;
    });
  }

  // ---- my phone, park my call ----

  function myExtension() {
    return els.ext.value.trim();
  }

  function setup() {
    els.lots = document.getElementById('lots');
    els.status = document.getElementById('status');
    els.error = document.getElementById('error');
    els.conn = document.getElementById('conn');
    els.ext = document.getElementById('my-ext');
    var saved = '';
    try { saved = window.localStorage.getItem(EXT_KEY) || ''; } catch (e) { saved = ''; }
    if (saved) { els.ext.value = saved; } else if (userExt) { els.ext.value = userExt; }
    els.ext.addEventListener('change', function () {
      var v = myExtension();
      try {
        if (v && v !== userExt) { window.localStorage.setItem(EXT_KEY, v); } else { window.localStorage.removeItem(EXT_KEY); }
      } catch (e) { /* private mode: remembered for this page only */ }
      if (v) { say('Pick up and Park my call use phone ' + v + '.'); }
    });
    document.getElementById('phone-form').addEventListener('submit', function (ev) {
      ev.preventDefault();
      els.ext.dispatchEvent(new Event('change'));
    });
    var parkForm = document.getElementById('park-form');
    var parkBtn = document.getElementById('park-mine');
    var parkSlot = document.getElementById('park-slot');
    parkForm.addEventListener('submit', function (ev) {
      ev.preventDefault();
      var ext = myExtension();
      if (!ext) { fail('Type your phone\'s extension in "My phone" first.'); els.ext.focus(); return; }
      var body = { extension: ext };
      var v = parkSlot.value.trim();
      if (v) {
        var n = parseInt(v, 10);
        if (!(n > 0) || String(n) !== v) { fail('The slot is a number, or empty for the next free slot.'); parkSlot.focus(); return; }
        body.slot = n;
      }
      parkBtn.disabled = true;
      api('POST', '/api/park', body).then(function (res) {
        var slot = res.data && res.data.slot ? res.data.slot : body.slot;
        say('Your call is parked' + (slot ? ' in slot ' + slot : '') + '.');
        parkSlot.value = '';
        schedule();
      }, function (err) {
        fail('Park my call: ' + err.message);
      }).then(function () { parkBtn.disabled = false; });
    });
    window.setInterval(tick, 1000);
    refresh();
    connect();
  }

  if (document.readyState === 'loading') {
    document.addEventListener('DOMContentLoaded', setup);
  } else {
    setup();
  }
}());
