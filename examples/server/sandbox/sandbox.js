// The chatnotify sandbox page. Plain JavaScript, no build step, no
// dependencies. It calls the real API with the admin token the server put
// in the page (sandbox mode only), polls the sandbox's state every second,
// and draws what the fake Slack and Teams received.
"use strict";

(() => {
  const token = document.querySelector('meta[name="chatnotify-admin-token"]').content;
  // The page works under whatever prefix the server is mounted at: the
  // API is beside /sandbox.
  const base = location.pathname.replace(/\/sandbox$/, "");
  const $ = (sel, el = document) => el.querySelector(sel);
  const $$ = (sel, el = document) => Array.from(el.querySelectorAll(sel));

  // ---- API -------------------------------------------------------------

  async function api(method, path, body) {
    const headers = { Authorization: "Bearer " + token };
    if (body !== undefined) headers["Content-Type"] = "application/json";
    const res = await fetch(base + path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
    const text = await res.text();
    let data = null;
    try { data = text ? JSON.parse(text) : null; } catch { data = { error: text.trim() }; }
    if (!res.ok) {
      const err = new Error((data && data.error) || res.status + " " + res.statusText);
      err.status = res.status;
      throw err;
    }
    return { data, res };
  }

  function say(el, text, ok) {
    el.textContent = text;
    el.className = "result " + (ok ? "ok" : "bad");
  }

  // ---- Realistic, random channel settings ----------------------------

  function rand(n, chars) {
    const a = crypto.getRandomValues(new Uint8Array(n));
    return Array.from(a, (b) => chars[b % chars.length]).join("");
  }
  const UPPER = "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
  const ALNUM = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
  const HEX = "0123456789abcdef";
  const DIGITS = "0123456789";
  const guid = () => [8, 4, 4, 4, 12].map((n) => rand(n, HEX)).join("-");

  const channelDefaults = {
    bot: () => ({
      name: "Security Alerts",
      bot_token: "xoxb-" + rand(12, DIGITS) + "-" + rand(13, DIGITS) + "-" + rand(24, ALNUM),
      channel_id: "C0" + rand(9, UPPER),
    }),
    webhook: () => ({
      name: "Alerts Webhook",
      slack_webhook_url: "https://hooks.slack.com/services/T0SANDBOX/B0" + rand(9, UPPER) + "/" + rand(24, ALNUM),
    }),
    teams: () => ({
      name: "Teams Security Alerts",
      teams_webhook_url: "https://contoso.webhook.office.com/webhookb2/" + guid() + "@" + guid() +
        "/IncomingWebhook/" + rand(32, HEX) + "/" + guid(),
    }),
    // The conversation comes from the bot's discovery list.
    teamsbot: () => ({ name: "Teams Bot Approvals" }),
  };

  let channelKind = "bot";
  let knownNames = new Set();

  function uniqueName(name) {
    let n = name, i = 2;
    while (knownNames.has(n)) n = name + " " + i++;
    return n;
  }

  function fillChannelForm() {
    const form = $("#channel-form");
    const values = channelDefaults[channelKind]();
    values.name = uniqueName(values.name);
    for (const [k, v] of Object.entries(values)) form.elements[k].value = v;
  }

  function segmented(id, onChange) {
    const seg = $(id);
    seg.addEventListener("click", (e) => {
      const b = e.target.closest("button[data-kind]");
      if (!b) return;
      $$("button", seg).forEach((x) => x.classList.toggle("on", x === b));
      onChange(b.dataset.kind);
    });
  }

  segmented("#channel-kind", (kind) => {
    channelKind = kind;
    $$("#channel-form .kind-fields").forEach((el) => { el.hidden = el.dataset.for !== kind; });
    fillChannelForm();
    if (kind === "teamsbot") loadConversations();
  });

  // ---- Teams bot: the conversations it was added to -------------------

  let conversations = [];
  const convLabel = (c) => (c.team_name ? c.team_name + " \u203a " : "") + (c.name || c.conversation_id);

  // loadConversations lists the conversations the bot recorded (the
  // settings API), selecting pick's, else the one selected, else the
  // newest the bot is still in.
  async function loadConversations(pick) {
    const sel = $("#conversation");
    const current = pick || (conversations[sel.value] || {}).conversation_id;
    try {
      const { data } = await api("GET", "/v1/settings/notifications/teams/conversations");
      conversations = data.conversations || [];
    } catch (err) {
      conversations = [];
      say($("#channel-result"), "Listing the bot's conversations: " + err.status + ": " + err.message, false);
    }
    sel.innerHTML = conversations.length
      ? conversations.map((c, i) => '<option value="' + i + '"' + (c.removed ? " disabled" : "") + ">" +
          esc(convLabel(c) + (c.removed ? " (bot removed)" : "")) + "</option>").join("")
      : '<option value="">No conversation yet: add the bot to a team</option>';
    let i = conversations.findIndex((c) => c.conversation_id === current && !c.removed);
    if (i < 0) i = conversations.findIndex((c) => !c.removed);
    if (i >= 0) sel.value = String(i);
    showConversation();
  }

  function showConversation() {
    const c = conversations[$("#conversation").value];
    $("#conversation-ref").textContent = c && !c.removed ? c.conversation_id + " \u00b7 " + c.service_url + " \u00b7 tenant " + c.tenant_id : "";
  }
  $("#conversation").addEventListener("change", showConversation);

  const botChannels = ["Approvals", "Production changes", "Security", "Operations", "On call"];
  $("#add-bot").addEventListener("click", async () => {
    const out = $("#channel-result");
    const taken = new Set(conversations.map((c) => c.name));
    const channel = botChannels.find((n) => !taken.has(n)) || "Approvals " + (conversations.length + 1);
    const team = "Contoso Security";
    try {
      const { data } = await api("POST", "/sandbox/api/teams/install", { team, channel, user: teamsUser() });
      say(out, "The bot was added to " + team + " \u203a " + channel + ": Teams sent it a signed conversationUpdate, and " +
        "/v1/webhooks/teams/messages answered " + data.status + ".", data.status === 200);
      await loadConversations(data.conversation_id);
    } catch (err) {
      say(out, err.status + ": " + err.message, false);
    }
  });
  const teamsUser = () => $("#teams-user").value.trim() || "Megan Bowen";

  segmented("#event-kind", (kind) => {
    $$(".event-form").forEach((el) => { el.hidden = el.dataset.for !== kind; });
  });

  $("#channel-form").addEventListener("submit", async (e) => {
    e.preventDefault();
    const f = e.target.elements;
    const out = $("#channel-result");
    const conv = conversations[f.conversation.value];
    if (channelKind === "teamsbot" && (!conv || conv.removed)) {
      say(out, "Add the bot to a team first: a Teams bot channel posts to a conversation the bot is in.", false);
      return;
    }
    const config = {
      bot: { bot_token: f.bot_token.value.trim(), channel_id: f.channel_id.value.trim() },
      webhook: { webhook_url: f.slack_webhook_url.value.trim() },
      teams: { webhook_url: f.teams_webhook_url.value.trim() },
      teamsbot: conv && { service_url: conv.service_url, conversation_id: conv.conversation_id, tenant_id: conv.tenant_id },
    }[channelKind];
    const body = {
      channel_type: channelKind.startsWith("teams") ? "teams" : "slack",
      name: f.name.value.trim(),
      config,
      events: $$('input[name="events"]:checked', e.target).map((x) => x.value),
    };
    try {
      const { data } = await api("POST", "/v1/settings/notifications", body);
      say(out, "Created \u201c" + data.name + "\u201d (" + data.id + ").", true);
      knownNames.add(data.name);
      fillChannelForm();
      refresh();
    } catch (err) {
      say(out, err.status + ": " + err.message, false);
    }
  });

  // ---- Events ----------------------------------------------------------

  const approvalsKey = "chatnotify-sandbox-approvals";
  let approvalIDs = JSON.parse(sessionStorage.getItem(approvalsKey) || "[]");

  function rememberApproval(id) {
    approvalIDs = [id, ...approvalIDs.filter((x) => x !== id)].slice(0, 20);
    sessionStorage.setItem(approvalsKey, JSON.stringify(approvalIDs));
  }

  function formJSON(form) {
    const out = {};
    for (const el of form.elements) {
      if (!el.name || el.value === "") continue;
      out[el.name] = el.type === "number" ? Number(el.value) : el.value;
    }
    return out;
  }

  $("#approval-form").addEventListener("submit", async (e) => {
    e.preventDefault();
    const out = $("#event-result");
    try {
      const { data, res } = await api("POST", "/v1/approvals", formJSON(e.target));
      rememberApproval(data.id);
      const err = res.headers.get("X-Delivery-Error");
      say(out, err ? "Created " + data.id + ", but: " + err : "Created " + data.id + "; notifying the subscribed channels.", !err);
      refresh();
    } catch (err) {
      say(out, err.status + ": " + err.message, false);
    }
  });

  for (const [id, type] of [["#drift-form", "drift_alert"], ["#agent-form", "agent_status"]]) {
    $(id).addEventListener("submit", async (e) => {
      e.preventDefault();
      const out = $("#event-result");
      try {
        await api("POST", "/v1/events", { type, ...formJSON(e.target) });
        say(out, type + " queued for every channel subscribed to it: its messages appear as they are delivered (failures are in the server log).", true);
        refresh();
      } catch (err) {
        say(out, err.status + ": " + err.message, false);
      }
    });
  }

  // ---- Slack mrkdwn -----------------------------------------------------

  const EMOJI = {
    white_check_mark: "\u2705", x: "\u274c", warning: "\u26a0\ufe0f", raised_hand: "\u270b",
    hourglass: "\u231b", hourglass_flowing_sand: "\u23f3", grey_question: "\u2754", hook: "\ud83e\ude9d",
    information_source: "\u2139\ufe0f", large_green_circle: "\ud83d\udfe2", large_yellow_circle: "\ud83d\udfe1",
    large_orange_circle: "\ud83d\udfe0", red_circle: "\ud83d\udd34", octagonal_sign: "\ud83d\uded1",
    rocket: "\ud83d\ude80", rotating_light: "\ud83d\udea8", tada: "\ud83c\udf89", lock: "\ud83d\udd12",
    bell: "\ud83d\udd14", eyes: "\ud83d\udc40", no_entry: "\u26d4", heavy_check_mark: "\u2714\ufe0f",
  };
  const emojify = (s) => s.replace(/:([a-z0-9_+-]+):/g, (m, n) => EMOJI[n] || m);

  const esc = (s) => String(s).replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[c]);
  // Slack escapes &, < and > in text; undo that before escaping for HTML.
  const unslack = (s) => s.replace(/&lt;/g, "<").replace(/&gt;/g, ">").replace(/&amp;/g, "&");

  // holes keeps rendered HTML out of the way of later replacements.
  function holes() {
    const list = [];
    return {
      put: (html) => "\u0000" + (list.push(html) - 1) + "\u0000",
      fill: (s) => s.replace(/\u0000(\d+)\u0000/g, (_, i) => list[Number(i)]),
    };
  }

  function slackDate(d, fmt) {
    const day = (opts) => d.toLocaleDateString(undefined, opts);
    const pretty = (fallback) => {
      const n = new Date(), one = 864e5;
      const diff = Math.round((new Date(d).setHours(0, 0, 0, 0) - new Date(n).setHours(0, 0, 0, 0)) / one);
      return { 0: "Today", [-1]: "Yesterday", 1: "Tomorrow" }[diff] || fallback;
    };
    const parts = {
      date_num: d.toISOString().slice(0, 10),
      date: day({ year: "numeric", month: "long", day: "numeric" }),
      date_short: day({ year: "numeric", month: "short", day: "numeric" }),
      date_long: day({ weekday: "long", year: "numeric", month: "long", day: "numeric" }),
      time: d.toLocaleTimeString(undefined, { hour: "numeric", minute: "2-digit" }),
      time_secs: d.toLocaleTimeString(undefined, { hour: "numeric", minute: "2-digit", second: "2-digit" }),
    };
    parts.date_pretty = pretty(parts.date);
    parts.date_short_pretty = pretty(parts.date_short);
    parts.date_long_pretty = pretty(parts.date_long);
    return fmt.replace(/\{(\w+)\}/g, (m, k) => parts[k] || m);
  }

  // control renders what Slack writes between < and >: links, dates,
  // mentions.
  function control(inner) {
    const bar = inner.indexOf("|");
    const target = bar < 0 ? inner : inner.slice(0, bar);
    const label = bar < 0 ? "" : unslack(inner.slice(bar + 1));
    if (target.startsWith("!date^")) {
      const [, ts, fmt] = target.split("^");
      const d = new Date(Number(ts) * 1000);
      if (isNaN(d)) return esc(label);
      return '<time datetime="' + d.toISOString() + '" title="' + esc(label) + '">' + esc(slackDate(d, fmt || "{date_short} {time}")) + "</time>";
    }
    if (target.startsWith("!")) return '<span class="mention">@' + esc(label || target.slice(1).split("^")[0]) + "</span>";
    if (target.startsWith("@")) return '<span class="mention">@' + esc(label || target.slice(1)) + "</span>";
    if (target.startsWith("#")) return '<span class="mention">#' + esc(label || target.slice(1)) + "</span>";
    const url = unslack(target);
    if (!/^(https?|mailto):/i.test(url)) return esc(unslack("<" + inner + ">"));
    return '<a href="' + esc(url) + '" target="_blank" rel="noopener noreferrer">' + emojify(esc(label || url)) + "</a>";
  }

  function mrkdwn(src) {
    const h = holes();
    let s = String(src || "");
    s = s.replace(/```([\s\S]*?)```/g, (_, c) => h.put("<pre>" + esc(unslack(c)) + "</pre>"));
    s = s.replace(/`([^`\n]+)`/g, (_, c) => h.put("<code>" + esc(unslack(c)) + "</code>"));
    s = s.replace(/<([^<>\n]*)>/g, (_, inner) => h.put(control(inner)));
    s = emojify(esc(unslack(s)));
    s = s.replace(/(^|[^\w*])\*(?=\S)([^*\n]*?\S)\*(?!\w)/g, "$1<b>$2</b>");
    s = s.replace(/(^|[^\w_])_(?=\S)([^_\n]*?\S)_(?!\w)/g, "$1<i>$2</i>");
    s = s.replace(/(^|[^\w~])~(?=\S)([^~\n]*?\S)~(?!\w)/g, "$1<s>$2</s>");
    s = s.split("\n").map((line) => line.startsWith("&gt; ") ? '<span class="quote">' + line.slice(5) + "</span>" : line).join("<br>");
    return h.fill(s);
  }

  // mrkdwnText is what a reader sees of mrkdwn, as plain text: emoji
  // drawn, *bold* and _italic_ marks gone, &amp; and friends decoded.
  // DOMParser builds an inert document: nothing in it loads or runs.
  const mrkdwnText = (src) => new DOMParser().parseFromString(mrkdwn(src), "text/html").body.textContent;

  const plain = (t) => emojify(esc((t && t.text) || ""));
  const textObj = (t) => (!t ? "" : t.type === "mrkdwn" ? mrkdwn(t.text) : plain(t));

  // ---- Slack blocks -----------------------------------------------------

  function slackButton(el, ctx) {
    const label = plain(el.text);
    const style = el.style === "primary" || el.style === "danger" ? " " + el.style : "";
    if (el.url) {
      return '<a class="sk-btn' + style + '" href="' + esc(el.url) + '" target="_blank" rel="noopener noreferrer">' + label + "</a>";
    }
    if (!ctx.interactive) return '<button class="sk-btn' + style + '" disabled>' + label + "</button>";
    return '<button type="button" class="sk-btn' + style + '" data-action-id="' + esc(el.action_id || "") +
      '" data-value="' + esc(el.value || "") +
      '" data-ts="' + esc(ctx.ts) + '" data-channel="' + esc(ctx.channel) + '">' + label + "</button>";
  }

  function slackBlock(b, ctx) {
    switch (b.type) {
      case "header":
        return '<div class="sk-header">' + plain(b.text) + "</div>";
      case "section": {
        let html = '<div class="sk-section"><div class="sk-section-main">';
        if (b.text) html += '<div class="sk-text">' + textObj(b.text) + "</div>";
        if (b.fields) html += '<div class="sk-fields">' + b.fields.map((f) => "<div>" + textObj(f) + "</div>").join("") + "</div>";
        html += "</div>";
        if (b.accessory && b.accessory.type === "button") html += '<div class="sk-accessory">' + slackButton(b.accessory, ctx) + "</div>";
        return html + "</div>";
      }
      case "context":
        return '<div class="sk-context">' + (b.elements || []).map((e) => "<span>" + (e.type === "image" ? "" : textObj(e)) + "</span>").join("") + "</div>";
      case "divider":
        return '<hr class="sk-divider">';
      case "actions":
        return '<div class="sk-actions">' + (b.elements || []).filter((e) => e.type === "button").map((e) => slackButton(e, ctx)).join("") + "</div>";
      case "markdown":
        return '<div class="sk-text">' + esc(b.text || "").replace(/\n/g, "<br>") + "</div>";
      default:
        return '<div class="sk-unknown">[' + esc(b.type) + " block]</div>";
    }
  }

  function time(at) {
    const d = new Date(at);
    return isNaN(d) || d.getFullYear() < 2000 ? "" : d.toLocaleTimeString(undefined, { hour: "numeric", minute: "2-digit" });
  }

  function slackMessage(m, ch) {
    const ctx = { interactive: ch.kind === "bot" && !m.ephemeral, ts: m.id, channel: ch.id };
    const blocks = m.blocks && m.blocks.length ? m.blocks.map((b) => slackBlock(b, ctx)).join("") : '<div class="sk-text">' + mrkdwn(m.text) + "</div>";
    const edits = m.edits && m.edits.length
      ? ' <span class="edited" title="Replaced through ' + esc(m.edits.join(", then ")) + '">(edited)</span>' +
        m.edits.map((e) => '<span class="chip">' + esc(e) + "</span>").join("")
      : "";
    const eph = m.ephemeral ? '<div class="sk-ephemeral">Only visible to you</div>' : "";
    return '<div class="sk-msg' + (m.ephemeral ? " ephemeral" : "") + '" data-ts="' + esc(m.id) + '">' +
      '<div class="sk-avatar" aria-hidden="true">cn</div><div class="sk-body">' + eph +
      '<div class="sk-meta"><b>chatnotify</b><span class="app">APP</span><span class="when">' + esc(time(m.at)) + "</span>" + edits + "</div>" +
      blocks + "</div></div>";
  }

  // ---- Teams cards ------------------------------------------------------

  function teamsMarkdown(src) {
    const h = holes();
    let s = String(src || "");
    s = s.replace(/\\([\\`*_{}[\]()#+\-.!>~|])/g, (_, c) => h.put(esc(c)));
    s = s.replace(/\[([^\]\n]+)\]\((https?:\/\/[^)\s]+)\)/g, (_, t, u) =>
      h.put('<a href="' + esc(u) + '" target="_blank" rel="noopener noreferrer">' + esc(t) + "</a>"));
    s = esc(s);
    s = s.replace(/\*\*(?=\S)([^\n]*?\S)\*\*/g, "<b>$1</b>");
    s = s.replace(/(^|[^\w*])\*(?=\S)([^*\n]*?\S)\*(?!\w)/g, "$1<i>$2</i>");
    s = s.replace(/(^|[^\w_])_(?=\S)([^_\n]*?\S)_(?!\w)/g, "$1<i>$2</i>");
    return h.fill(s.replace(/\n/g, "<br>"));
  }

  const word = (v) => String(v || "").toLowerCase().replace(/[^a-z]/g, "");

  // ctx says whether the card's Action.Execute buttons work (a card the
  // Teams bot posted) and which card they are on.
  function cardElement(el, ctx) {
    const spacing = (el.separator ? " ac-separator" : "") + (el.spacing ? " ac-spacing-" + word(el.spacing) : "");
    switch (el.type) {
      case "TextBlock": {
        const cls = ["ac-text", "ac-size-" + (word(el.size) || "default"), "ac-weight-" + (word(el.weight) || "default"),
          "ac-color-" + (word(el.color) || "default")];
        if (el.isSubtle) cls.push("ac-subtle");
        return '<div class="' + cls.join(" ") + spacing + '">' + teamsMarkdown(el.text) + "</div>";
      }
      case "FactSet":
        return '<dl class="ac-facts' + spacing + '">' + (el.facts || []).map((f) =>
          "<dt>" + teamsMarkdown(f.title) + "</dt><dd>" + teamsMarkdown(f.value) + "</dd>").join("") + "</dl>";
      case "Container":
        return '<div class="ac-container ac-style-' + (word(el.style) || "default") + (el.bleed ? " ac-bleed" : "") + spacing + '">' +
          (el.items || []).map((x) => cardElement(x, ctx)).join("") + "</div>";
      case "ColumnSet":
        return '<div class="ac-columns' + spacing + '">' + (el.columns || []).map((c) =>
          '<div class="ac-column">' + (c.items || []).map((x) => cardElement(x, ctx)).join("") + "</div>").join("") + "</div>";
      case "ActionSet":
        return cardActions(el.actions, ctx);
      default:
        return '<div class="ac-unknown">[' + esc(el.type) + "]</div>";
    }
  }

  function cardActions(actions, ctx) {
    if (!actions || !actions.length) return "";
    return '<div class="ac-actions">' + actions.map((a) => {
      if (a.type === "Action.OpenUrl") {
        return '<a class="ac-action" href="' + esc(a.url) + '" target="_blank" rel="noopener" data-title="' + esc(a.title) + '">' + esc(a.title) + "</a>";
      }
      if (a.type === "Action.Execute" && ctx && ctx.interactive) {
        return '<button type="button" class="ac-action" data-verb="' + esc(a.verb) + '" data-activity="' + esc(ctx.id) +
          '" data-channel="' + esc(ctx.channel) + '" data-approval="' + esc((a.data && a.data.approval_id) || "") +
          '" title="Sends an adaptiveCard/action invoke">' + esc(a.title) + "</button>";
      }
      return '<button class="ac-action" disabled title="' + esc(a.type) + ' needs a bot">' + esc(a.title) + "</button>";
    }).join("") + "</div>";
  }

  function teamsMessage(m, ch) {
    const ctx = { interactive: ch.kind === "teams-bot", id: m.id, channel: ch.id };
    const cards = (m.cards || []).map((c) =>
      '<div class="ac-card">' + (c.body || []).map((x) => cardElement(x, ctx)).join("") + cardActions(c.actions, ctx) + "</div>").join("");
    const edits = m.edits && m.edits.length
      ? ' <span class="edited" title="Replaced by ' + esc(m.edits.join(", then ")) + '">(edited)</span>' +
        m.edits.map((e) => '<span class="chip">' + esc(e) + "</span>").join("")
      : "";
    const bot = ch.kind === "teams-bot" ? '<span class="app">Bot</span>' : "";
    return '<div class="tm-msg" data-id="' + esc(m.id) + '"><div class="tm-avatar" aria-hidden="true">cn</div><div class="tm-body">' +
      '<div class="tm-meta"><b>chatnotify</b>' + bot + '<span class="when">' + esc(time(m.at)) + "</span>" + edits + "</div>" + cards + "</div></div>";
  }

  // cardStatus is the status line of a result card, as a reader sees it:
  // "APPROVED by Megan Bowen".
  function cardStatus(card) {
    let line = "";
    const walk = (els) => (els || []).forEach((el) => {
      if (el.type === "Container") walk(el.items);
      else if (!line && el.type === "TextBlock" && /\*\*/.test(el.text || "")) line = el.text;
    });
    walk(card && card.body);
    return line.replace(/\*\*/g, "").replace(/\\(.)/g, "$1");
  }

  // ---- Channels ---------------------------------------------------------

  const slackName = (n) => n.toLowerCase().split(/\s+/).filter(Boolean).join("-") || "sandbox";
  const isTeams = (ch) => ch.kind === "teams" || ch.kind === "teams-bot";
  function kindLabel(ch) {
    if (ch.kind === "bot") return "Slack \u00b7 bot token";
    if (ch.kind === "webhook") return "Slack \u00b7 incoming webhook";
    if (ch.kind === "teams-bot") return "Teams \u00b7 bot";
    return /logic\.azure\.com|powerplatform\.com/.test(ch.where) ? "Teams \u00b7 Workflows" : "Teams \u00b7 incoming webhook";
  }
  const rendered = new Map(); // channel id -> JSON last drawn

  function channelPane(ch) {
    const title = isTeams(ch) ? esc(ch.name) : '<span class="hash">#</span>' + esc(slackName(ch.name));
    const body = ch.messages.length
      ? ch.messages.map((m) => (isTeams(ch) ? teamsMessage(m, ch) : slackMessage(m, ch))).join("")
      : '<p class="empty">No messages yet. Raise an event it is subscribed to.</p>';
    return '<header class="ch-head"><div><div class="ch-title">' + title + '</div><div class="ch-sub">' +
      esc(kindLabel(ch)) + " \u00b7 " + esc(ch.where) + '</div><div class="ch-events">' +
      ch.events.map((e) => '<span class="chip">' + esc(e) + "</span>").join("") + "</div></div>" +
      '<div class="ch-tools"><button type="button" class="link" data-test="' + esc(ch.id) + '">Send test</button>' +
      (ch.kind === "teams-bot" ? '<button type="button" class="link" data-remove-bot="' + esc(ch.id) + '">Remove the bot</button>' : "") +
      '<button type="button" class="link" data-delete="' + esc(ch.id) + '">Remove</button></div></header>' +
      '<div class="ch-body">' + body + "</div>";
  }

  function drawChannels(channels) {
    const root = $("#channels");
    knownNames = new Set(channels.map((c) => c.name));
    if (!channels.length) {
      if (!$(".empty", root) || root.children.length !== 1) {
        root.innerHTML = '<p class="empty">No channels yet. Create one on the left, then raise an event: its messages appear here, drawn as Slack and Teams would show them.</p>';
      }
      rendered.clear();
      return;
    }
    $$(":scope > .empty", root).forEach((e) => e.remove());
    const ids = new Set(channels.map((c) => c.id));
    $$(":scope > .channel", root).forEach((el) => {
      if (!ids.has(el.dataset.channelId)) { el.remove(); rendered.delete(el.dataset.channelId); }
    });
    for (const ch of channels) {
      const json = JSON.stringify(ch);
      let el = $$(":scope > .channel", root).find((x) => x.dataset.channelId === ch.id);
      if (!el) {
        el = document.createElement("article");
        el.className = "channel " + (isTeams(ch) ? "teams" : "slack");
        el.dataset.channelId = ch.id;
        el.dataset.kind = ch.kind;
        root.append(el);
      }
      if (rendered.get(ch.id) === json) continue;
      const before = rendered.has(ch.id) ? JSON.parse(rendered.get(ch.id)).messages.length : -1;
      rendered.set(ch.id, json);
      el.innerHTML = channelPane(ch);
      const body = $(".ch-body", el);
      if (ch.messages.length !== before) body.scrollTop = body.scrollHeight;
    }
  }

  $("#channels").addEventListener("click", async (e) => {
    const btn = e.target.closest("button");
    if (!btn) return;
    const out = $("#click-result");
    if (btn.dataset.actionId !== undefined) {
      btn.disabled = true;
      const user = $("#slack-user").value.trim() || "amy";
      if (btn.dataset.value) answeredHere.add(btn.dataset.value);
      try {
        const { data } = await api("POST", "/sandbox/api/slack/click", {
          channel: btn.dataset.channel, ts: btn.dataset.ts, action_id: btn.dataset.actionId, user,
        });
        let answer = data.answer;
        try { answer = JSON.parse(data.answer).text || answer; } catch { /* not JSON: show as is */ }
        answer = mrkdwnText(answer);
        say(out, "Sent a signed block_actions (" + btn.dataset.actionId + ", as " + user + "). " +
          "/v1/webhooks/slack/interactions answered " + data.status + (answer ? ": " + answer : "."), data.status === 200);
      } catch (err) {
        say(out, err.status + ": " + err.message, false);
        btn.disabled = false;
      }
      refresh();
    } else if (btn.dataset.verb !== undefined) {
      btn.disabled = true;
      const user = teamsUser();
      if (btn.dataset.approval) answeredHere.add(btn.dataset.approval);
      try {
        const { data } = await api("POST", "/sandbox/api/teams/click", {
          channel: btn.dataset.channel, activity_id: btn.dataset.activity, verb: btn.dataset.verb, user,
        });
        let answer = null;
        try { answer = JSON.parse(data.answer); } catch { /* not JSON */ }
        const sent = "Sent a signed adaptiveCard/action invoke (" + btn.dataset.verb + ", as " + user + "). " +
          "/v1/webhooks/teams/messages answered " + data.status;
        if (answer && answer.type === "application/vnd.microsoft.card.adaptive") {
          say(out, sent + " with the card that replaced the clicked one: " + cardStatus(answer.value) + ".", data.status === 200);
        } else {
          const text = answer && typeof answer.value === "string" ? answer.value : (answer && answer.error) || data.answer;
          say(out, sent + (text ? ": " + text : "."), false);
          btn.disabled = false;
        }
      } catch (err) {
        say(out, err.status + ": " + err.message, false);
        btn.disabled = false;
      }
      refresh();
    } else if (btn.dataset.removeBot) {
      try {
        const { data } = await api("POST", "/sandbox/api/teams/remove", { channel: btn.dataset.removeBot, user: teamsUser() });
        say(out, "The bot was removed from the conversation: Teams sent it a signed conversationUpdate (answered " + data.status +
          "), and its Bot Connector refuses the bot's posts there from now on. Send test shows what the channel reports.", data.status === 200);
        if (channelKind === "teamsbot") loadConversations();
      } catch (err) {
        say(out, err.status + ": " + err.message, false);
      }
      refresh();
    } else if (btn.dataset.test) {
      try {
        await api("POST", "/v1/settings/notifications/" + encodeURIComponent(btn.dataset.test) + "/test", { message: "This is a test notification from the chatnotify sandbox." });
        say(out, "Test message sent.", true);
      } catch (err) {
        say(out, "Test failed: " + err.message, false);
      }
      refresh();
    } else if (btn.dataset.delete) {
      try {
        await api("DELETE", "/v1/settings/notifications/" + encodeURIComponent(btn.dataset.delete));
      } catch (err) {
        say(out, "Remove failed: " + err.message, false);
      }
      refresh();
    }
  });

  // ---- Approvals and audit -------------------------------------------------

  function when(t) {
    const d = new Date(t);
    return isNaN(d) ? "" : d.toLocaleString(undefined, { month: "short", day: "numeric", hour: "numeric", minute: "2-digit", second: "2-digit" });
  }

  // risk shows a score as every message does: "82 (high)" (the levels
  // of approval.Request.RiskLevel).
  function risk(score) {
    const n = Number(score) || 0;
    return n + " (" + (n < 40 ? "low" : n < 70 ? "medium" : n < 90 ? "high" : "critical") + ")";
  }

  // ---- The "Click as" line follows every decision ------------------------

  // A decision made anywhere (a Teams link, possibly in another tab, the
  // API, the expiry sweep) is reported on the "Click as" line, so that
  // it never shows a stale answer. The statuses seen are kept for the
  // tab's session, so a decision made while the page was away for the
  // Teams confirmation page is reported on return. A Slack click made
  // here has reported its own answer already.
  const seenKey = "chatnotify-sandbox-seen";
  const seen = JSON.parse(sessionStorage.getItem(seenKey) || "{}");
  const answeredHere = new Set();

  function followDecisions(list) {
    let news = null;
    for (const r of list) {
      const before = seen[r.id];
      seen[r.id] = r.status;
      if (before === "pending" && r.status !== "pending" && !answeredHere.has(r.id)) news = r;
    }
    sessionStorage.setItem(seenKey, JSON.stringify(seen));
    if (news) {
      say($("#click-result"), "\u201c" + news.title + "\u201d: " + (news.review_notes || news.status) + ".", news.status === "approved" || news.status === "denied");
    }
  }

  function drawApprovals(list) {
    const root = $("#approvals");
    if (!list.length) {
      root.innerHTML = '<p class="empty">Requests you raise show up here with their status.</p>';
      return;
    }
    root.innerHTML = '<ul class="approvals">' + list.map((r) =>
      '<li data-approval-id="' + esc(r.id) + '"><div class="ap-head"><span class="ap-title">' + esc(r.title) + "</span>" +
      '<span class="status status-' + esc(r.status) + '">' + esc(r.status) + "</span></div>" +
      '<div class="ap-meta"><code>' + esc(r.id) + "</code> \u00b7 risk " + esc(risk(r.risk_score)) + (r.agent ? " \u00b7 " + esc(r.agent) : "") + "</div>" +
      (r.review_notes ? '<div class="ap-notes">' + esc(r.review_notes) + (r.reviewed_at ? " \u00b7 " + esc(when(r.reviewed_at)) : "") + "</div>" : "") +
      "</li>").join("") + "</ul>";
  }

  function drawAudit(entries) {
    const root = $("#audit");
    if (!entries.length) {
      root.innerHTML = '<p class="empty">Decisions are audited here (GET /v1/audit).</p>';
      return;
    }
    root.innerHTML = '<ol class="audit">' + entries.map((e) =>
      '<li><div><b>' + esc(e.action) + '</b> <span class="status status-' + esc(e.decision) + '">' + esc(e.decision) + "</span></div>" +
      '<div class="ap-meta">' + (e.actor ? esc(e.actor) + (e.actor_verified ? " (verified)" : " (unverified)") + " via " + esc(e.source) + " \u00b7 " : "") +
      "risk " + esc(risk(e.risk_score)) + " \u00b7 <code>" + esc(e.approval_id) + "</code></div>" +
      '<div class="ap-meta">' + esc(when(e.at)) + "</div></li>").join("") + "</ol>";
  }

  // ---- Polling ------------------------------------------------------------

  const last = {};
  function changed(key, value) {
    const json = JSON.stringify(value);
    if (last[key] === json) return false;
    last[key] = json;
    return true;
  }

  let busy = false;
  let again = false; // a refresh was asked for while one was running
  async function refresh() {
    if (busy) {
      again = true;
      return;
    }
    busy = true;
    try {
      // A request raised while this refresh runs is added to approvalIDs
      // meanwhile: work on a copy, and forget only the IDs that are gone.
      const ids = approvalIDs.slice();
      const [state, audit, ...approvals] = await Promise.all([
        api("GET", "/sandbox/api/state"),
        api("GET", "/v1/audit?limit=50"),
        ...ids.map((id) => api("GET", "/v1/approvals/" + encodeURIComponent(id)).catch((err) => (err.status === 404 ? null : Promise.reject(err)))),
      ]);
      const found = approvals.filter(Boolean).map((x) => x.data);
      const gone = ids.filter((id, i) => !approvals[i]);
      if (gone.length > 0) {
        approvalIDs = approvalIDs.filter((id) => !gone.includes(id));
        sessionStorage.setItem(approvalsKey, JSON.stringify(approvalIDs));
      }
      if (changed("channels", state.data.channels)) drawChannels(state.data.channels);
      if (changed("approvals", found)) drawApprovals(found);
      followDecisions(found);
      if (changed("audit", audit.data.entries)) drawAudit(audit.data.entries || []);
      $("#live").className = "live";
      $("#live").textContent = "live";
    } catch (err) {
      $("#live").className = "live down";
      $("#live").textContent = "server unreachable";
    } finally {
      busy = false;
      if (again) {
        again = false;
        refresh();
      }
    }
  }

  fillChannelForm();
  refresh();
  setInterval(refresh, 1000);
})();
