// hazardgw duty console. Plain JavaScript, no framework: every text from the
// API goes into the page with textContent, never as HTML.
"use strict";
(() => {
  const $ = (id) => document.getElementById(id);
  const store = {
    get(k) { try { return localStorage.getItem("hazardgw." + k); } catch { return null; } },
    set(k, v) { try { localStorage.setItem("hazardgw." + k, v); } catch { /* private mode */ } },
    del(k) { try { localStorage.removeItem("hazardgw." + k); } catch { /* private mode */ } },
  };

  const T = {
    zh: {
      console: "值班台", signinTitle: "值班台登录", token: "API 令牌", signin: "登录", signout: "退出",
      signinHint: "令牌由网关配置 gateway.http.token 给出，只保存在本浏览器中。",
      alerts: "告警", recent: "最近结束", devices: "设备", by: "值班员", for: "时长", cancel: "取消",
      comment: "备注", reason: "原因", ack: "确认", shelve: "搁置", unshelve: "取消搁置", reset: "复位",
      oos: "停用检修", ins: "恢复投用", oosList: "停用检修中的设备", since: "自 ", until: "至 ", unacked: "未确认", acked: "已确认", shelved: "已搁置",
      shelvedUntil: "搁置至 ", latched: "锁存", suppressed: "已抑制", chattering: "频繁动作",
      resolved: "已恢复正常", firing: "报警中", maxSev: "最高 ", started: "开始 ", resolvedAt: "恢复 ",
      threshold: "阈值 ", noAlerts: "当前没有告警", noRecent: "无", noDevices: "没有设备",
      online: "在线", offline: "离线", good: "正常", bad: "异常", uncertain: "不确定", outOfService: "停用中",
      lastSeen: "更新 ", badToken: "令牌无效，请重新登录", unreachable: "无法连接网关", updated: "已更新 ",
      soundOn: "报警音 · 静音", soundSilenced: "已静音", soundBlocked: "启用报警音", soundIdle: "报警音",
      needBy: "请填写值班员姓名", needReason: "请填写原因",
      conflict: "告警仍在报警中，恢复正常后才能复位", ended: "该告警已结束", notFound: "找不到（可能已结束或网关版本不支持）",
      total: (n, u) => `共 ${n} 条，未确认 ${u} 条`, min: "分钟", hour: "小时", day: "天",
      sev: { red: "红色 I级", orange: "橙色 II级", yellow: "黄色 III级", blue: "蓝色 IV级" },
    },
    en: {
      console: "Duty console", signinTitle: "Duty console sign-in", token: "API token", signin: "Sign in",
      signout: "Sign out", signinHint: "The token is the gateway's gateway.http.token; it is kept in this browser only.",
      alerts: "Alerts", recent: "Recently ended", devices: "Devices", by: "Officer", for: "For", cancel: "Cancel",
      comment: "Comment", reason: "Reason", ack: "Acknowledge", shelve: "Shelve", unshelve: "Unshelve",
      reset: "Reset", oos: "Out of service", ins: "Back in service", oosList: "Devices out of service",
      since: "since ", until: "until ", unacked: "unacknowledged",
      acked: "acknowledged", shelved: "shelved", shelvedUntil: "shelved until ", latched: "latched",
      suppressed: "suppressed", chattering: "chattering", resolved: "back to normal", firing: "active",
      maxSev: "highest ", started: "started ", resolvedAt: "normal ", threshold: "limit ",
      noAlerts: "No alerts", noRecent: "none", noDevices: "No devices", online: "online", offline: "offline",
      good: "good", bad: "bad", uncertain: "uncertain", outOfService: "out of service", lastSeen: "updated ",
      badToken: "The token was refused; sign in again", unreachable: "Gateway unreachable", updated: "updated ",
      soundOn: "Alarm · Silence", soundSilenced: "Silenced", soundBlocked: "Enable sound", soundIdle: "Sound",
      needBy: "Enter the officer's name", needReason: "Enter a reason",
      conflict: "The alarm is still active; it can be reset once back to normal", ended: "This alert has ended",
      notFound: "Not found (ended, or not supported by this gateway)",
      total: (n, u) => `${n} open, ${u} unacknowledged`, min: " min", hour: " h", day: " d",
      sev: { red: "Red · I", orange: "Orange · II", yellow: "Yellow · III", blue: "Blue · IV" },
    },
  };
  const RANK = { red: 0, orange: 1, yellow: 2, blue: 3 };
  const SHELVE = [15, 30, 60, 120, 240, 480]; // minutes
  const OOS = [60, 240, 480, 1440, 10080]; // minutes
  const POLL_MS = 3000, FULL_EVERY = 5, BEEP_MS = 6000;

  let token = null, site = null, lang = store.get("lang") || "zh";
  let open = [], recent = [], devices = [], outs = [], tick = 0, timer = null, lastRender = "";
  const t = (k) => (T[lang] && T[lang][k] !== undefined ? T[lang][k] : T.zh[k]);

  // --- small helpers ---
  function el(tag, cls, ...kids) {
    const e = document.createElement(tag);
    if (cls) e.className = cls;
    for (const k of kids) if (k !== null && k !== undefined && k !== "") e.append(k instanceof Node ? k : String(k));
    return e;
  }
  function button(text, cls, onClick) {
    const b = el("button", cls, text);
    b.type = "button";
    b.addEventListener("click", onClick);
    return b;
  }
  // Times read as MM-DD HH:MM:SS in the site's zone, the same in both languages.
  let fmt = null;
  function fmtTime(iso, date) {
    if (!iso) return "";
    const d = new Date(iso);
    if (isNaN(d)) return "";
    if (!fmt) {
      const o = { month: "2-digit", day: "2-digit", hour: "2-digit", minute: "2-digit", second: "2-digit", hourCycle: "h23" };
      try { fmt = new Intl.DateTimeFormat("en-GB", Object.assign(o, site && site.timezone ? { timeZone: site.timezone } : {})); }
      catch { fmt = new Intl.DateTimeFormat("en-GB", o); }
    }
    const p = {};
    for (const x of fmt.formatToParts(d)) p[x.type] = x.value;
    return (date ? `${p.month}-${p.day} ` : "") + `${p.hour}:${p.minute}:${p.second}`;
  }
  function num(v) {
    if (typeof v !== "number") return v === undefined || v === null ? "" : String(v);
    return String(Math.round(v * 100) / 100);
  }
  function minutes(m) { return m % 1440 === 0 ? m / 1440 + t("day") : m % 60 ? m + t("min") : m / 60 + t("hour"); }
  function goDuration(s) { // "8h0m0s" → ms; 0 when unknown
    let ms = 0;
    for (const [, n, u] of String(s || "").matchAll(/([\d.]+)(h|ms|m|s)/g)) ms += n * { h: 3600e3, m: 60e3, s: 1e3, ms: 1 }[u];
    return ms;
  }
  function flags(a) { // the management states are flags, and one of them shows in state
    const has = (name) => a[name] === true || a.state === name;
    return {
      acked: !!a.acknowledged, resolved: a.status === "resolved", latched: has("latched"),
      shelved: has("shelved") || !!a.shelved_until, suppressed: has("suppressed"), chattering: has("chattering"),
    };
  }
  const needsAck = (a) => { const f = flags(a); return !f.acked && !f.shelved && !f.suppressed; };
  function explain(status, msg, kind) {
    if (status === 409 && kind === "reset") return t("conflict") + (msg ? ` (${msg})` : "");
    if (status === 409) return t("ended") + (msg ? ` (${msg})` : "");
    if (status === 404) return t("notFound") + (msg ? ` (${msg})` : "");
    return `${status ? "HTTP " + status + ": " : ""}${msg || t("unreachable")}`;
  }

  // --- the API ---
  async function api(method, path, body) {
    const opts = { method, headers: { Authorization: "Bearer " + token }, cache: "no-store" };
    if (body !== undefined) { opts.headers["Content-Type"] = "application/json"; opts.body = JSON.stringify(body); }
    let r;
    try { r = await fetch("/api/v1" + path, opts); } catch { throw Object.assign(new Error(t("unreachable")), { status: 0 }); }
    if (r.status === 401) { signOut(t("badToken")); throw Object.assign(new Error(t("badToken")), { status: 401 }); }
    let data = null;
    try { data = await r.json(); } catch { /* empty or not JSON */ }
    if (!r.ok) throw Object.assign(new Error((data && data.error) || r.statusText), { status: r.status });
    return data;
  }

  // --- signing in and out ---
  function takeFragmentToken() {
    const m = /(?:^#|&)token=([^&]*)/.exec(location.hash);
    if (!m) return;
    try { store.set("token", decodeURIComponent(m[1])); } catch { /* bad escape: ignore */ }
    history.replaceState(null, "", location.pathname + location.search); // the token leaves the address bar
  }
  function showSignedIn(yes) {
    $("signin").hidden = yes;
    $("main").hidden = !yes;
    $("signout").hidden = !yes;
    $("sound").hidden = !yes;
  }
  function signOut(msg) {
    token = null;
    store.del("token");
    clearTimeout(timer);
    open = []; recent = []; devices = []; outs = []; lastRender = "";
    if ($("act").open) $("act").close();
    showSignedIn(false);
    $("signin-error").textContent = msg || "";
    $("token").value = "";
    updateSound();
    setTitle();
  }
  async function start() {
    token = store.get("token");
    if (!token) { signOut(""); return; }
    if (!/^[\x20-\x7e]+$/.test(token)) { signOut(t("badToken")); return; } // not sendable in a header
    showSignedIn(true);
    tick = 0;
    await poll();
  }

  // --- polling ---
  // One poll at a time: a refresh asked for while one runs follows it.
  let busy = false, again = false;
  async function poll() {
    clearTimeout(timer);
    if (!token) return;
    if (busy) { again = true; return; }
    busy = true;
    const full = tick++ % FULL_EVERY === 0;
    try {
      if (!site) {
        site = await api("GET", "/site");
        fmt = null;
        if (!store.get("lang") && site.language) lang = site.language === "en" ? "en" : "zh";
        translate();
      }
      const [act, all, dev, oos] = await Promise.all([
        api("GET", "/alerts?state=active"),
        full ? api("GET", "/alerts?state=all&limit=60") : null,
        full ? api("GET", "/devices") : null,
        // An older gateway has no list (404): the device cards still say it.
        full ? api("GET", "/out-of-service").catch((e) => (e.status === 404 ? [] : Promise.reject(e))) : null,
      ]);
      if (!token) return; // signed out meanwhile
      open = Array.isArray(act) ? act : [];
      const openIDs = new Set(open.map((a) => a.id));
      if (all) recent = all.filter((a) => !openIDs.has(a.id)).slice(0, 20);
      else recent = recent.filter((a) => !openIDs.has(a.id));
      if (dev) devices = Array.isArray(dev.devices) ? dev.devices : [];
      if (oos) outs = Array.isArray(oos) ? oos : [];
      setConn(true);
      render();
    } catch (e) {
      if (e.status !== 401) setConn(false, e.message);
    } finally {
      busy = false;
    }
    if (again) { again = false; tick = 0; poll(); } else if (token) timer = setTimeout(poll, POLL_MS);
  }
  function refreshNow() { tick = 0; poll(); }
  let offlineSince = null, connMsg = "";
  function setConn(ok, msg) {
    const c = $("conn"), b = $("banner");
    if (ok) {
      offlineSince = null;
      c.className = "conn ok";
      c.textContent = "● " + t("updated") + fmtTime(new Date().toISOString());
      b.hidden = true;
    } else {
      offlineSince = offlineSince || new Date().toISOString();
      connMsg = msg || connMsg;
      c.className = "conn bad";
      c.textContent = "✕ " + t("unreachable");
      b.hidden = false;
      b.textContent = `${t("unreachable")} · ${fmtTime(offlineSince)}` + (connMsg && connMsg !== t("unreachable") ? ` · ${connMsg}` : "");
    }
  }

  // --- rendering ---
  function sortAlerts(list) {
    return list.slice().sort((a, b) =>
      (RANK[a.severity] ?? 9) - (RANK[b.severity] ?? 9) ||
      (needsAck(a) ? 0 : 1) - (needsAck(b) ? 0 : 1) ||
      Date.parse(b.started_at) - Date.parse(a.started_at) || (a.id < b.id ? -1 : 1));
  }
  function render(force) {
    const key = JSON.stringify([lang, open, recent, devices, outs]);
    if (!force && key === lastRender) { setTitle(); updateSound(); return; }
    lastRender = key;
    const list = sortAlerts(open);
    $("alerts").replaceChildren(...(list.length ? list.map((a) => alertCard(a, true)) : [el("p", "empty", t("noAlerts"))]));
    $("recent").replaceChildren(...(recent.length ? recent.map((a) => alertCard(a, false)) : [el("p", "empty", t("noRecent"))]));
    const devs = devices.slice().sort((a, b) => devRank(a) - devRank(b) || String(a.id).localeCompare(String(b.id)));
    $("devices").replaceChildren(...(devs.length ? devs.map(deviceCard) : [el("p", "empty", t("noDevices"))]));
    $("oos").replaceChildren(...outs.map(oosCard));
    $("oos-section").hidden = !outs.length;
    $("counts").textContent = t("total")(open.length, open.filter(needsAck).length);
    setTitle();
    updateSound();
  }
  // Messages start with the site's name in brackets (for a phone that
  // shows many sites); the console names its one site in the header.
  function withoutSite(msg) {
    const p = "【" + siteName() + "】";
    return msg && msg.startsWith(p) ? msg.slice(p.length) : msg;
  }

  function siteName() { return (site && (site.name || site.site)) || "hazardgw"; }
  function setTitle() {
    const n = open.filter(needsAck).length;
    document.title = (token ? `(${n}) ` : "") + `${t("console")} · ${siteName()}`;
    $("sitename").textContent = siteName();
  }
  function alertCard(a, isOpen) {
    const f = flags(a);
    const card = el("article", `alert sev-${RANK[a.severity] !== undefined ? a.severity : "none"}` +
      (f.acked ? " acked" : "") + (f.resolved ? " resolved" : "") + (isOpen ? "" : " ended") + (isOpen && needsAck(a) ? " needs-ack" : ""));
    card.dataset.id = a.id;
    const badges = el("div", "badges", el("span", "sev", t("sev")[a.severity] || a.severity || "?"));
    const badge = (text, cls) => badges.append(el("span", "badge " + cls, text));
    if (isOpen) badge(f.acked ? t("acked") : t("unacked"), f.acked ? "b-acked" : needsAck(a) ? "b-unacked" : "b-unacked-quiet");
    badge(f.resolved ? t("resolved") : t("firing"), f.resolved ? "b-normal" : "b-firing");
    if (f.shelved) badge(a.shelved_until ? t("shelvedUntil") + fmtTime(a.shelved_until, true) : t("shelved"), "b-shelved");
    if (f.latched) badge(t("latched"), "b-latched");
    if (f.suppressed) badge(t("suppressed"), "b-suppressed");
    if (f.chattering) badge(t("chattering"), "b-chattering");
    const peak = a.peak_severity;
    if (f.resolved && peak) badge(t("maxSev") + (t("sev")[peak] || peak), "b-max sev-" + peak);
    card.append(badges, el("div", "msg", withoutSite(a.message) || `${a.device} ${a.point}`));
    const where = a.site && site && a.site !== site.site ? a.site : siteName();
    const dev = a.label ? `${a.label} (${a.device})` : a.device;
    let value = `${a.point} ${num(a.value)}${a.unit ? " " + a.unit : ""}`;
    if (a.threshold !== undefined && a.threshold !== null) value += ` / ${t("threshold")}${num(a.threshold)}${a.unit ? " " + a.unit : ""}`;
    card.append(el("div", "meta", (a.rule === MAINT ? [where, dev] : [where, dev, value]).join(" · ")));
    const times = [t("started") + fmtTime(a.started_at, true)];
    if (a.resolved_at) times.push(t("resolvedAt") + fmtTime(a.resolved_at, true));
    card.append(el("div", "meta", times.join(" · ")));
    if (f.acked) {
      card.append(el("div", "ackinfo", `✔ ${t("acked")} ${a.acknowledged_by || ""} ${fmtTime(a.acknowledged_at, true)}` +
        (a.comment ? ` — ${a.comment}` : "")));
    }
    if (isOpen) {
      const acts = el("div", "actions");
      if (!f.acked) acts.append(button(t("ack"), "primary act-ack", () => openAction("ack", a)));
      if (f.shelved) acts.append(button(t("unshelve"), "act-unshelve", () => openAction("unshelve", a)));
      else if (a.rule !== MAINT) acts.append(button(t("shelve"), "act-shelve", () => openAction("shelve", a)));
      if (f.latched) acts.append(button(t("reset"), "act-reset", () => openAction("reset", a)));
      card.append(acts);
    }
    return card;
  }
  // A device is out of service while its maintenance record says so.
  const MAINT = "gateway:maintenance";
  const oosRecord = (d) => open.find((a) => a.rule === MAINT && a.device === d.id && a.out_of_service_until);
  const devOut = (d) => d.out_of_service === true || !!oosRecord(d) || outs.some((o) => o.device === d.id);
  // A device out of service: who took it out, since and until when, why.
  function oosCard(o) {
    const card = el("article", "device q-uncertain oos");
    card.dataset.id = o.device;
    card.append(el("div", "dhead", el("span", "dot", "◐"), el("b", "", o.label || o.device), el("small", "", ` ${o.device}`)));
    card.append(el("div", "dstate", `${t("outOfService")} · ${t("by")} ${o.by || ""}`));
    card.append(el("div", "meta", `${t("since")}${fmtTime(o.since, true)} · ${t("until")}${fmtTime(o.until, true)}`));
    if (o.reason) card.append(el("div", "msg", `${t("reason")}: ${o.reason}`));
    const acts = el("div", "actions");
    acts.append(button(t("ins"), "act-ins", () => openAction("ins", { id: o.device, label: o.label })));
    card.append(acts);
    return card;
  }
  function devRank(d) { return !d.online ? 0 : d.quality === "bad" ? 1 : d.quality === "uncertain" ? 2 : 3; }
  function deviceCard(d) {
    const q = d.quality || "good";
    const card = el("article", `device q-${q}` + (d.online ? "" : " offline"));
    card.dataset.id = d.id;
    card.append(el("div", "dhead", el("span", "dot", d.online ? "●" : "○"), el("b", "", d.label || d.id),
      el("small", "", ` ${d.id} · ${d.kind || ""}`)));
    const state = [d.online ? t("online") : t("offline"), (t(q) || q) + (d.reason ? ` (${d.reason})` : "")];
    const rec = oosRecord(d);
    if (devOut(d)) state.push(t("outOfService") + (rec ? ` → ${fmtTime(rec.out_of_service_until, true)} (${rec.out_of_service_by || ""})` : ""));
    card.append(el("div", "dstate", state.join(" · ")));
    const vals = Array.isArray(d.values) ? d.values : Object.entries(d.values || {}).map(([name, v]) => Object.assign({ name }, v));
    const ul = el("ul", "vals");
    for (const v of vals.slice(0, 12)) {
      ul.append(el("li", v.quality && v.quality !== "good" ? "vq-" + v.quality : "", el("span", "", v.name + " "),
        el("b", "", num(v.value)), v.unit ? " " + v.unit : "", v.quality && v.quality !== "good" ? ` (${t(v.quality) || v.quality}${v.reason ? " " + v.reason : ""})` : ""));
    }
    if (vals.length) card.append(ul);
    const seen = d.last_poll || d.last_seen;
    if (seen && !String(seen).startsWith("0001")) card.append(el("div", "meta", t("lastSeen") + fmtTime(seen, true)));
    const acts = el("div", "actions");
    acts.append(devOut(d) ? button(t("ins"), "act-ins", () => openAction("ins", d)) : button(t("oos"), "act-oos", () => openAction("oos", d)));
    card.append(acts);
    return card;
  }

  // --- actions ---
  let action = null;
  function openAction(kind, target) {
    action = { kind, target };
    const dev = kind === "oos" || kind === "ins";
    $("act-title").textContent = t(kind);
    $("act-what").textContent = dev ? `${target.label || target.id} (${target.id})` : target.message || `${target.device} ${target.point}`;
    $("by").value = store.get("by") || "";
    $("text").value = "";
    $("act-error").textContent = "";
    $("f-text").hidden = !(kind === "ack" || kind === "reset" || kind === "shelve" || kind === "oos");
    $("text-label").textContent = kind === "ack" || kind === "reset" ? t("comment") : t("reason");
    $("f-for").hidden = !(kind === "shelve" || kind === "oos");
    const sel = $("for");
    sel.replaceChildren();
    const max = goDuration(site && site.max_shelve) || 8 * 3600e3;
    const choices = kind === "shelve" ? SHELVE.filter((m) => m * 60e3 <= max) : OOS;
    if (!choices.length) choices.push(Math.max(1, Math.floor(max / 60e3))); // a max_shelve under 15 minutes
    for (const m of choices) {
      const o = el("option", "", minutes(m));
      o.value = String(m);
      sel.append(o);
    }
    if (kind === "shelve") sel.value = sel.querySelector('option[value="120"]') ? "120" : sel.options[sel.options.length - 1].value;
    if (kind === "oos") sel.value = "240";
    $("act-ok").textContent = t(kind);
    $("act-ok").disabled = false;
    $("act").showModal();
    ($("by").value ? ($("f-text").hidden ? $("act-ok") : $("text")) : $("by")).focus();
  }
  async function submitAction(ev) {
    ev.preventDefault();
    if (!action) return;
    const { kind, target } = action;
    const by = $("by").value.trim(), text = $("text").value.trim(), mins = Number($("for").value);
    if (!by) { $("act-error").textContent = t("needBy"); $("by").focus(); return; }
    if ((kind === "shelve" || kind === "oos") && !text) { $("act-error").textContent = t("needReason"); $("text").focus(); return; }
    store.set("by", by);
    const id = encodeURIComponent(target.id);
    const calls = {
      ack: ["POST", `/alerts/${id}/ack`, { by, comment: text }],
      shelve: ["POST", `/alerts/${id}/shelve`, { by, reason: text, for: `${mins}m` }],
      unshelve: ["POST", `/alerts/${id}/unshelve`, { by }],
      reset: ["POST", `/alerts/${id}/reset`, { by, comment: text }],
      oos: ["POST", `/devices/${id}/out-of-service`, { by, reason: text, until: new Date(Date.now() + mins * 60e3).toISOString() }],
      ins: ["DELETE", `/devices/${id}/out-of-service`, { by }],
    };
    $("act-ok").disabled = true;
    try {
      await api(...calls[kind]);
      $("act").close();
      refreshNow();
    } catch (e) {
      if (e.status === 401) return;
      $("act-error").textContent = explain(e.status, e.message, kind);
    } finally {
      $("act-ok").disabled = false;
    }
  }

  // --- sound: a tone while a red or orange alarm is active and unacknowledged ---
  let audio = null, lastBeep = 0, beeps = 0;
  const silenced = new Set();
  function wakeAudio() { // without a user gesture first, browsers keep it suspended
    try {
      audio = audio || new AudioContext();
      if (audio.state === "suspended") audio.resume().then(updateSound, () => {});
    } catch { /* no Web Audio */ }
  }
  function ensureAudio() { wakeAudio(); updateSound(); }
  function alarming() {
    return token ? open.filter((a) => (a.severity === "red" || a.severity === "orange") && a.status !== "resolved" && needsAck(a)) : [];
  }
  function updateSound() {
    const now = alarming();
    for (const id of silenced) if (!now.some((a) => a.id === id)) silenced.delete(id);
    const loud = now.filter((a) => !silenced.has(a.id));
    if (loud.length && (!audio || audio.state === "suspended")) wakeAudio();
    const running = audio && audio.state === "running";
    const state = loud.length ? (running ? "sounding" : "blocked") : now.length ? "silenced" : "off";
    document.body.dataset.sound = state;
    document.body.dataset.beeps = String(beeps);
    $("sound").textContent = { sounding: t("soundOn"), blocked: t("soundBlocked"), silenced: t("soundSilenced"), off: t("soundIdle") }[state];
    $("sound").className = "sound-" + state;
    if (state === "sounding" && Date.now() - lastBeep >= BEEP_MS) {
      lastBeep = Date.now();
      beep(loud.some((a) => a.severity === "red"));
    }
  }
  function beep(red) {
    const t0 = audio.currentTime + 0.05;
    const tones = red ? [880, 660, 880, 660] : [660, 0, 660];
    tones.forEach((hz, i) => {
      if (!hz) return;
      const o = audio.createOscillator(), g = audio.createGain();
      o.type = "square";
      o.frequency.value = hz;
      g.gain.setValueAtTime(0.0001, t0 + i * 0.25);
      g.gain.exponentialRampToValueAtTime(0.15, t0 + i * 0.25 + 0.02);
      g.gain.exponentialRampToValueAtTime(0.0001, t0 + i * 0.25 + 0.22);
      o.connect(g).connect(audio.destination);
      o.start(t0 + i * 0.25);
      o.stop(t0 + i * 0.25 + 0.23);
    });
    beeps++;
  }
  function toggleSilence() {
    ensureAudio();
    const now = alarming();
    if (now.some((a) => !silenced.has(a.id))) now.forEach((a) => silenced.add(a.id));
    else silenced.clear();
    updateSound();
  }

  // --- language ---
  function translate() {
    document.documentElement.lang = lang;
    for (const e of document.querySelectorAll("[data-t]")) e.textContent = t(e.dataset.t);
    $("lang").textContent = lang === "zh" ? "EN" : "中文";
    if (token) setConn(!offlineSince);
    render(true);
  }

  // --- start ---
  document.addEventListener("DOMContentLoaded", () => {
    takeFragmentToken();
    window.addEventListener("hashchange", () => { takeFragmentToken(); if (store.get("token")) start(); });
    for (const ev of ["click", "keydown", "touchend"]) document.addEventListener(ev, ensureAudio, { passive: true });
    $("signin-form").addEventListener("submit", (ev) => {
      ev.preventDefault();
      const v = $("token").value.trim();
      if (!v) return;
      store.set("token", v);
      $("signin-error").textContent = "";
      start();
    });
    $("signout").addEventListener("click", () => signOut(""));
    $("lang").addEventListener("click", () => { lang = lang === "zh" ? "en" : "zh"; store.set("lang", lang); translate(); });
    $("sound").addEventListener("click", toggleSilence);
    $("act-form").addEventListener("submit", submitAction);
    $("act-cancel").addEventListener("click", () => $("act").close());
    setInterval(() => {
      $("clock").textContent = fmtTime(new Date().toISOString(), true) + (site && site.timezone ? ` ${site.timezone}` : "");
      updateSound();
    }, 1000);
    translate();
    start();
  });
})();
