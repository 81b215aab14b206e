/*! kefu web chat widget: one tag puts a chat bubble on any page, no dependencies.
 *
 *   <script src="https://kefu.example.com/widget.js" data-key="kw_..." data-lang="zh|en"
 *           data-server="https://kefu.example.com" data-title="..." data-color="#2563eb"></script>
 *
 * data-server defaults to the script's own origin, data-lang to the browser's language.
 * Everything lives in a shadow root (classes prefixed kefu- as well); nothing is loaded from
 * the network but the kefu server's own API. window.KefuWidget: open(), close(), toggle(),
 * setLang("zh"|"en"), send(text), reset().
 */
(function () {
  "use strict";
  if (window.KefuWidget && window.KefuWidget.loaded) return;

  var script = document.currentScript || (function () {
    var found = document.querySelectorAll("script[data-key]");
    return found.length ? found[found.length - 1] : null;
  })();
  if (!script) return;
  var attr = function (name) { return (script.getAttribute("data-" + name) || "").trim(); };
  var KEY = attr("key");
  var SERVER = (attr("server") || new URL(script.src || location.href, location.href).origin).replace(/\/+$/, "");
  var LANG_EXPLICIT = attr("lang") === "zh" || attr("lang") === "en";
  var lang = LANG_EXPLICIT ? attr("lang") : guessLang();
  var COLOR = /^#[0-9a-fA-F]{3,8}$/.test(attr("color")) ? attr("color") : "#2563eb";
  var STORE = "kefu:" + KEY.slice(-16) + ":";

  function guessLang() {
    var langs = navigator.languages && navigator.languages.length ? navigator.languages : [navigator.language || "en"];
    return /^zh/i.test(langs[0] || "") ? "zh" : "en";
  }

  // -- interface strings ---------------------------------------------------------------------
  var STR = {
    en: {
      title: "Customer service", subtitle: "Ask us anything — we reply in seconds",
      greeting: "Hi! I can help with orders, shipping, returns and products. What can I do for you?",
      placeholder: "Type your question…", send: "Send", handoff: "Talk to a person",
      open: "Open chat", close: "Close chat", restart: "Start a new conversation",
      sources: "Sources", helpful: "Helpful", notHelpful: "Not helpful", thanks: "Thanks for the feedback",
      you: "You", bot: "Assistant", agent: "Agent", system: "Notice",
      offline: "You are offline. Messages will be sent when you are back online.",
      reconnecting: "Connection lost — reconnecting…",
      waitingToSend: "Waiting to send", sending: "Sending…", notSent: "Not sent",
      queued: "Waiting for an agent", queuedN: "Waiting for an agent · number {n} in the queue",
      withAgent: "{agent} is helping you", resolved: "Conversation closed — write again any time",
      offlineShort: "Offline — waiting for the network",
      csatAsk: "How satisfied were you with this conversation?", csatThanks: "Thank you! You rated us {n}/5.",
      csatLow: "Not at all", csatHigh: "Very",
      error: "Something went wrong: {msg}", noKey: "This chat is not configured (the page gives no data-key).",
      powered: "Answers come from our help center; a person can take over at any time."
    },
    zh: {
      title: "在线客服", subtitle: "有问题随时问我们，秒级回复",
      greeting: "您好！我可以帮您解答订单、配送、退换货和产品相关的问题。请问有什么可以帮您？",
      placeholder: "请输入您的问题…", send: "发送", handoff: "转人工",
      open: "打开客服对话", close: "关闭对话", restart: "开始新的对话",
      sources: "来源", helpful: "有帮助", notHelpful: "没帮助", thanks: "感谢您的反馈",
      you: "我", bot: "智能助手", agent: "客服", system: "通知",
      offline: "网络已断开，恢复联网后将自动发送消息。",
      reconnecting: "连接中断，正在重新连接…",
      waitingToSend: "等待发送", sending: "发送中…", notSent: "发送失败",
      queued: "正在等待人工客服", queuedN: "正在等待人工客服 · 您排在第 {n} 位",
      withAgent: "客服 {agent} 正在为您服务", resolved: "对话已结束，如有问题可随时再来咨询",
      offlineShort: "离线，等待网络恢复",
      csatAsk: "您对本次服务满意吗？", csatThanks: "感谢评价！您的评分：{n}/5。",
      csatLow: "很不满意", csatHigh: "非常满意",
      error: "出错了：{msg}", noKey: "客服窗口未配置（页面没有提供 data-key）。",
      powered: "答案来自我们的帮助中心，您也可以随时转人工。"
    }
  };
  function t(name, values) {
    var s = (STR[lang] || STR.en)[name] || STR.en[name] || name;
    return values ? s.replace(/\{(\w+)\}/g, function (_, k) { return values[k] != null ? values[k] : ""; }) : s;
  }

  // -- storage (localStorage may be unavailable: private mode, blocked cookies) ----------------
  function load(name, fallback) {
    try {
      var raw = window.localStorage.getItem(STORE + name);
      return raw == null ? fallback : JSON.parse(raw);
    } catch (e) { return fallback; }
  }
  function save(name, value) {
    try {
      if (value == null) window.localStorage.removeItem(STORE + name);
      else window.localStorage.setItem(STORE + name, JSON.stringify(value));
    } catch (e) { /* storage full or blocked: the widget still works for this page view */ }
  }

  // -- icons (inline SVG: no icon fonts, no emoji fonts needed) ---------------------------------
  var ICONS = {
    chat: '<path d="M4 5.5A2.5 2.5 0 0 1 6.5 3h11A2.5 2.5 0 0 1 20 5.5v8a2.5 2.5 0 0 1-2.5 2.5H10l-4.2 3.6c-.5.4-1.3.1-1.3-.6V16A2.5 2.5 0 0 1 4 13.5z"/>',
    close: '<path d="M6 6l12 12M18 6L6 18" stroke="currentColor" stroke-width="2.2" stroke-linecap="round" fill="none"/>',
    send: '<path d="M3.4 20.4l17.4-7.5a1 1 0 0 0 0-1.8L3.4 3.6a.7.7 0 0 0-1 .8L4.5 11 13 12l-8.5 1-2.1 6.6a.7.7 0 0 0 1 .8z"/>',
    person: '<circle cx="12" cy="8" r="4"/><path d="M4 20c0-4 3.6-6.5 8-6.5s8 2.5 8 6.5z"/>',
    up: '<path d="M7 10v10H4a1 1 0 0 1-1-1v-8a1 1 0 0 1 1-1zm2 10V10l4.3-6.4a1.6 1.6 0 0 1 2.9 1.1L15.5 9H20a2 2 0 0 1 2 2.3l-1.3 7A2 2 0 0 1 18.7 20z"/>',
    down: '<path d="M7 14V4H4a1 1 0 0 0-1 1v8a1 1 0 0 0 1 1zm2-10v10l4.3 6.4a1.6 1.6 0 0 0 2.9-1.1L15.5 15H20a2 2 0 0 0 2-2.3l-1.3-7A2 2 0 0 0 18.7 4z"/>',
    restart: '<path d="M12 5V2L7.5 6 12 10V7a5 5 0 1 1-5 5H5a7 7 0 1 0 7-7z"/>',
    offline: '<path d="M2 8.8a15 15 0 0 1 20 0l-1.6 1.6a12.7 12.7 0 0 0-16.8 0zm3.3 3.3a10.4 10.4 0 0 1 13.4 0l-1.6 1.6a8.1 8.1 0 0 0-10.2 0zm3.3 3.3a5.8 5.8 0 0 1 6.8 0L12 19z"/><path d="M3 3l18 18" stroke="currentColor" stroke-width="2" stroke-linecap="round"/>'
  };
  function icon(name, size) {
    return '<svg viewBox="0 0 24 24" width="' + (size || 20) + '" height="' + (size || 20) +
      '" fill="currentColor" aria-hidden="true" focusable="false">' + ICONS[name] + "</svg>";
  }

  // -- styles (all under .kefu-root; inside a shadow root when the browser has one) -----------
  var CSS = [
    ":host{all:initial}",
    ".kefu-root{--kefu-c:" + COLOR + ";--kefu-bg:#fff;--kefu-fg:#111827;--kefu-muted:#6b7280;--kefu-line:#e5e7eb;",
    "  font:14px/1.5 system-ui,-apple-system,'Segoe UI',Roboto,'PingFang SC','Hiragino Sans GB','Microsoft YaHei','Noto Sans CJK SC',sans-serif;",
    "  color:var(--kefu-fg);-webkit-font-smoothing:antialiased}",
    ".kefu-root *,.kefu-root *::before,.kefu-root *::after{box-sizing:border-box}",
    ".kefu-root button{font:inherit;color:inherit;cursor:pointer}",
    ".kefu-launcher{position:fixed;right:20px;bottom:20px;width:58px;height:58px;border-radius:50%;border:0;",
    "  background:var(--kefu-c);color:#fff;box-shadow:0 6px 20px rgba(0,0,0,.22);display:flex;align-items:center;",
    "  justify-content:center;z-index:2147483000;transition:transform .15s ease}",
    ".kefu-launcher:hover{transform:scale(1.06)}",
    ".kefu-launcher:focus-visible,.kefu-root button:focus-visible,.kefu-root textarea:focus-visible{outline:3px solid rgba(37,99,235,.45);outline-offset:2px}",
    ".kefu-badge{position:absolute;top:-3px;right:-3px;min-width:20px;height:20px;padding:0 6px;border-radius:10px;",
    "  background:#ef4444;color:#fff;font-size:12px;font-weight:600;line-height:20px;text-align:center;border:2px solid #fff}",
    ".kefu-badge[hidden]{display:none}",
    ".kefu-panel{position:fixed;right:20px;bottom:90px;width:380px;height:600px;max-height:calc(100vh - 110px);",
    "  background:var(--kefu-bg);border-radius:16px;box-shadow:0 12px 48px rgba(0,0,0,.22);display:flex;",
    "  flex-direction:column;overflow:hidden;z-index:2147483000;border:1px solid rgba(0,0,0,.06)}",
    ".kefu-panel[hidden]{display:none}",
    "@media (max-width:480px){.kefu-panel{right:0;bottom:0;width:100vw;height:100%;max-height:none;border-radius:0}}",
    ".kefu-head{background:var(--kefu-c);color:#fff;padding:14px 14px 12px 16px;display:flex;align-items:flex-start;gap:10px}",
    ".kefu-head-text{flex:1;min-width:0}",
    ".kefu-title{font-size:16px;font-weight:600;margin:0}",
    ".kefu-status{font-size:12.5px;opacity:.92;margin-top:2px;display:flex;align-items:center;gap:6px}",
    ".kefu-dot{width:8px;height:8px;border-radius:50%;background:#4ade80;flex:none}",
    ".kefu-dot.kefu-wait{background:#fbbf24}.kefu-dot.kefu-off{background:#d1d5db}",
    ".kefu-icon-btn{background:transparent;border:0;color:#fff;width:32px;height:32px;border-radius:8px;display:flex;",
    "  align-items:center;justify-content:center;opacity:.9;flex:none}",
    ".kefu-icon-btn:hover{background:rgba(255,255,255,.16);opacity:1}",
    ".kefu-banner{background:#fef3c7;color:#92400e;font-size:12.5px;padding:7px 14px;display:flex;gap:8px;align-items:center;",
    "  border-bottom:1px solid #fde68a}",
    ".kefu-banner[hidden]{display:none}",
    ".kefu-log{flex:1;overflow-y:auto;padding:14px 12px 6px;background:#f7f8fa}",
    ".kefu-row{display:flex;flex-direction:column;margin:0 0 10px;max-width:100%}",
    ".kefu-row-customer{align-items:flex-end}",
    ".kefu-row-bot,.kefu-row-agent{align-items:flex-start}",
    ".kefu-row-system{align-items:center}",
    ".kefu-name{font-size:11.5px;color:var(--kefu-muted);margin:0 4px 3px;display:flex;align-items:center;gap:4px}",
    ".kefu-msg{max-width:85%;padding:9px 12px;border-radius:14px;white-space:pre-wrap;word-wrap:break-word;overflow-wrap:anywhere}",
    ".kefu-row-customer .kefu-msg{background:var(--kefu-c);color:#fff;border-bottom-right-radius:4px}",
    ".kefu-row-bot .kefu-msg{background:#fff;border:1px solid var(--kefu-line);border-bottom-left-radius:4px}",
    ".kefu-row-agent .kefu-msg{background:#ecfdf5;border:1px solid #a7f3d0;border-bottom-left-radius:4px}",
    ".kefu-row-system .kefu-msg{background:#eef2ff;color:#3730a3;font-size:12.5px;text-align:center;border-radius:10px;max-width:92%;padding:7px 12px}",
    ".kefu-row-customer .kefu-msg a{color:#fff}",
    ".kefu-msg a{color:var(--kefu-c)}",
    ".kefu-ref{font-size:10px;color:var(--kefu-muted);margin-left:1px}",
    ".kefu-meta{font-size:11px;color:var(--kefu-muted);margin:3px 6px 0}",
    ".kefu-meta.kefu-err{color:#b91c1c}",
    ".kefu-pending .kefu-msg{opacity:.72}",
    ".kefu-streaming .kefu-text::after{content:'';display:inline-block;width:7px;height:14px;margin-left:2px;",
    "  vertical-align:-2px;background:currentColor;opacity:.5;animation:kefu-blink 1s steps(2) infinite}",
    "@keyframes kefu-blink{50%{opacity:0}}",
    ".kefu-typing{display:inline-flex;gap:4px;padding:12px 14px}",
    ".kefu-typing i{width:6px;height:6px;border-radius:50%;background:#9ca3af;animation:kefu-bounce 1.2s infinite}",
    ".kefu-typing i:nth-child(2){animation-delay:.15s}.kefu-typing i:nth-child(3){animation-delay:.3s}",
    "@keyframes kefu-bounce{0%,60%,100%{transform:none;opacity:.5}30%{transform:translateY(-4px);opacity:1}}",
    ".kefu-sources{margin-top:8px;border-top:1px dashed var(--kefu-line);padding-top:6px;font-size:12.5px;white-space:normal}",
    ".kefu-sources summary{cursor:pointer;color:var(--kefu-muted);list-style:none;user-select:none}",
    ".kefu-sources summary::-webkit-details-marker{display:none}",
    ".kefu-sources summary::before{content:'\\25B8';display:inline-block;margin-right:5px;transition:transform .15s}",
    ".kefu-sources[open] summary::before{transform:rotate(90deg)}",
    ".kefu-sources ol{margin:6px 0 0;padding:0 0 0 18px}",
    ".kefu-sources li{margin:0 0 5px}",
    ".kefu-cite-title{color:var(--kefu-fg);font-weight:500}",
    ".kefu-cite-uri{display:block;color:var(--kefu-muted);font-size:11.5px;word-break:break-all}",
    ".kefu-actions{display:flex;gap:4px;margin:4px 2px 0}",
    ".kefu-thumb{border:1px solid transparent;background:transparent;color:#9ca3af;width:28px;height:26px;border-radius:7px;",
    "  display:flex;align-items:center;justify-content:center;padding:0}",
    ".kefu-thumb:hover{background:#eef0f3;color:#4b5563}",
    ".kefu-thumb[aria-pressed=true]{color:var(--kefu-c);background:#e8efff;border-color:#c7d7fe}",
    ".kefu-csat{background:#fff;border:1px solid var(--kefu-line);border-radius:12px;padding:12px;margin:0 auto 10px;",
    "  max-width:92%;text-align:center}",
    ".kefu-csat p{margin:0 0 10px;font-weight:500}",
    ".kefu-stars{display:flex;gap:6px;justify-content:center}",
    ".kefu-star{width:38px;height:38px;border-radius:10px;border:1px solid var(--kefu-line);background:#f9fafb;font-weight:600}",
    ".kefu-star:hover{background:var(--kefu-c);color:#fff;border-color:var(--kefu-c)}",
    ".kefu-scale{display:flex;justify-content:space-between;font-size:11px;color:var(--kefu-muted);margin-top:5px}",
    ".kefu-tools{display:flex;gap:8px;padding:8px 12px 0;background:#fff;border-top:1px solid var(--kefu-line)}",
    ".kefu-chip{border:1px solid var(--kefu-line);background:#fff;border-radius:999px;padding:4px 12px 4px 8px;font-size:12.5px;",
    "  display:inline-flex;align-items:center;gap:5px;color:#374151}",
    ".kefu-chip:hover{border-color:var(--kefu-c);color:var(--kefu-c)}",
    ".kefu-chip[hidden]{display:none}",
    ".kefu-compose{display:flex;align-items:flex-end;gap:8px;padding:8px 12px 12px;background:#fff}",
    ".kefu-input{flex:1;resize:none;border:1px solid #d1d5db;border-radius:12px;padding:9px 12px;font:inherit;color:inherit;",
    "  max-height:120px;min-height:40px;line-height:1.45;background:#fff;outline:none}",
    ".kefu-input:focus{border-color:var(--kefu-c);box-shadow:0 0 0 3px rgba(37,99,235,.12)}",
    ".kefu-send{width:40px;height:40px;border-radius:12px;border:0;background:var(--kefu-c);color:#fff;display:flex;",
    "  align-items:center;justify-content:center;flex:none}",
    ".kefu-send:disabled{opacity:.45;cursor:default}",
    ".kefu-foot{font-size:11px;color:var(--kefu-muted);text-align:center;padding:0 12px 8px;background:#fff}"
  ].join("\n");

  // -- state ---------------------------------------------------------------------------------------
  var state = {
    cid: load("conversation", null), conv: null,
    byId: {},          // message id -> {msg, el, final}
    inflight: [],      // customer messages sent (or being sent) with no id yet: {lid, text, el}
    outbox: load("outbox", []),   // [{lid, text, attempted, after}]
    maxId: 0, esLastId: 0, es: null, esRetry: 0, esTimer: null,
    flushing: false, retryTimer: null, retryDelay: 1000,
    online: navigator.onLine !== false, connected: false,
    open: false, unread: 0, started: false, typingEl: null, csatEl: null, cacheTimer: null
  };

  // -- DOM -------------------------------------------------------------------------------------
  var host = document.createElement("div");
  host.id = "kefu-widget";
  host.setAttribute("data-kefu", "widget");
  var root = host.attachShadow ? host.attachShadow({ mode: "open" }) : host;
  var style = document.createElement("style");
  style.textContent = CSS;
  root.appendChild(style);
  var ui = document.createElement("div");
  ui.className = "kefu-root";
  ui.setAttribute("lang", lang === "zh" ? "zh-CN" : "en");
  ui.innerHTML =
    '<button type="button" class="kefu-launcher" data-kefu="bubble" aria-haspopup="dialog" aria-expanded="false">' +
    icon("chat", 28) + '<span class="kefu-badge" data-kefu="unread" hidden></span></button>' +
    '<section class="kefu-panel" data-kefu="panel" role="dialog" aria-modal="false" hidden>' +
    '  <header class="kefu-head">' +
    '    <div class="kefu-head-text"><h2 class="kefu-title"></h2>' +
    '      <div class="kefu-status" data-kefu="status"><span class="kefu-dot"></span><span class="kefu-status-text"></span></div></div>' +
    '    <button type="button" class="kefu-icon-btn kefu-restart" data-kefu="restart">' + icon("restart", 18) + "</button>" +
    '    <button type="button" class="kefu-icon-btn kefu-close" data-kefu="close">' + icon("close", 18) + "</button>" +
    "  </header>" +
    '  <div class="kefu-banner" data-kefu="offline" role="status" hidden>' + icon("offline", 16) + "<span></span></div>" +
    '  <div class="kefu-log" data-kefu="log" role="log" aria-live="polite"></div>' +
    '  <div class="kefu-tools"><button type="button" class="kefu-chip" data-kefu="handoff">' + icon("person", 15) +
    "<span></span></button></div>" +
    '  <form class="kefu-compose">' +
    '    <textarea class="kefu-input" data-kefu="input" rows="1" maxlength="4000"></textarea>' +
    '    <button type="submit" class="kefu-send" data-kefu="send" disabled>' + icon("send", 19) + "</button>" +
    "  </form>" +
    '  <div class="kefu-foot"></div>' +
    "</section>";
  root.appendChild(ui);
  var $ = function (name) { return ui.querySelector('[data-kefu="' + name + '"]'); };
  var el = {
    bubble: $("bubble"), badge: $("unread"), panel: $("panel"), title: ui.querySelector(".kefu-title"),
    status: $("status"), dot: ui.querySelector(".kefu-dot"), statusText: ui.querySelector(".kefu-status-text"),
    restart: $("restart"), close: $("close"), banner: $("offline"), log: $("log"), handoff: $("handoff"),
    form: ui.querySelector(".kefu-compose"), input: $("input"), send: $("send"), foot: ui.querySelector(".kefu-foot")
  };

  function mount() {
    if (!host.isConnected) (document.body || document.documentElement).appendChild(host);
  }
  if (document.body) mount(); else document.addEventListener("DOMContentLoaded", mount);

  function applyStrings() {
    ui.setAttribute("lang", lang === "zh" ? "zh-CN" : "en");
    el.title.textContent = attr("title") || t("title");
    el.bubble.setAttribute("aria-label", t("open"));
    el.panel.setAttribute("aria-label", attr("title") || t("title"));
    el.close.setAttribute("aria-label", t("close")); el.close.title = t("close");
    el.restart.setAttribute("aria-label", t("restart")); el.restart.title = t("restart");
    el.handoff.querySelector("span").textContent = t("handoff");
    el.input.placeholder = t("placeholder");
    el.input.setAttribute("aria-label", t("placeholder"));
    el.send.setAttribute("aria-label", t("send")); el.send.title = t("send");
    el.foot.textContent = t("powered");
    var greet = el.log.querySelector(".kefu-greeting .kefu-text");
    if (greet) greet.textContent = KEY ? t("greeting") : t("noKey");
    var sources = el.log.querySelectorAll(".kefu-sources summary");
    for (var i = 0; i < sources.length; i++) sources[i].textContent = t("sources") + " (" + sources[i].getAttribute("data-n") + ")";
    renderStatus();
    renderBanner();
    renderCsat();
  }

  // -- panel -----------------------------------------------------------------------------------
  function openPanel() {
    state.open = true;
    el.panel.hidden = false;
    el.bubble.setAttribute("aria-expanded", "true");
    el.bubble.innerHTML = icon("close", 24) + '<span class="kefu-badge" data-kefu="unread" hidden></span>';
    el.badge = $("unread");
    state.unread = 0;
    renderBadge();
    save("open", true);
    if (!state.started) start();
    scrollDown(true);
    setTimeout(function () { try { el.input.focus({ preventScroll: true }); } catch (e) { /* old browsers */ } }, 30);
  }
  function closePanel() {
    state.open = false;
    el.panel.hidden = true;
    el.bubble.setAttribute("aria-expanded", "false");
    el.bubble.innerHTML = icon("chat", 28) + '<span class="kefu-badge" data-kefu="unread" hidden></span>';
    el.badge = $("unread");
    renderBadge();
    save("open", false);
  }
  function renderBadge() {
    el.badge.hidden = !state.unread;
    el.badge.textContent = state.unread > 9 ? "9+" : String(state.unread || "");
  }
  el.bubble.addEventListener("click", function () { if (state.open) closePanel(); else openPanel(); });
  el.close.addEventListener("click", closePanel);
  el.restart.addEventListener("click", function () { reset(); });
  ui.addEventListener("keydown", function (e) { if (e.key === "Escape" && state.open) { closePanel(); el.bubble.focus(); } });

  // -- composing -------------------------------------------------------------------------------
  function autosize() {
    el.input.style.height = "auto";
    el.input.style.height = Math.min(el.input.scrollHeight + 2, 120) + "px";
    el.send.disabled = !el.input.value.trim() || !KEY;
  }
  el.input.addEventListener("input", autosize);
  el.input.addEventListener("keydown", function (e) {
    // Enter sends; Shift+Enter is a new line; never while an IME (pinyin) is composing.
    if (e.key === "Enter" && !e.shiftKey && !e.isComposing && e.keyCode !== 229) {
      e.preventDefault();
      submitInput();
    }
  });
  el.form.addEventListener("submit", function (e) { e.preventDefault(); submitInput(); });
  function submitInput() {
    var text = el.input.value.trim();
    if (!text || !KEY) return;
    el.input.value = "";
    autosize();
    send(text);
  }
  el.handoff.addEventListener("click", function () { handoff(); });

  // -- rendering -------------------------------------------------------------------------------
  function plain(target, text, refs) {
    // Source markers of generated answers ([1]) become small superscripts.
    var parts = refs ? text.split(/\[(\d{1,2})\]/) : [text];
    for (var i = 0; i < parts.length; i++) {
      if (i % 2) {
        var sup = document.createElement("sup");
        sup.className = "kefu-ref";
        sup.textContent = parts[i];
        target.appendChild(sup);
      } else if (parts[i]) target.appendChild(document.createTextNode(parts[i]));
    }
  }
  function nodeText(target, text, refs) {
    // Plain text with http(s) links made clickable; never HTML from the server.
    target.textContent = "";
    var re = /https?:\/\/[^\s<>"'，。）)]+/g, last = 0, m;
    while ((m = re.exec(text))) {
      if (m.index > last) plain(target, text.slice(last, m.index), refs);
      var a = document.createElement("a");
      a.href = m[0]; a.textContent = m[0]; a.target = "_blank"; a.rel = "noopener noreferrer nofollow";
      target.appendChild(a);
      last = m.index + m[0].length;
    }
    if (last < text.length) plain(target, text.slice(last), refs);
  }
  function fmtTime(iso) {
    if (!iso) return "";
    var d = new Date(iso);
    return isNaN(d) ? "" : d.toLocaleString(lang === "zh" ? "zh-CN" : "en");
  }
  function row(role) {
    var r = document.createElement("div");
    r.className = "kefu-row kefu-row-" + role;
    r.setAttribute("data-kefu", "message");
    r.setAttribute("data-role", role);
    return r;
  }
  function nameLine(role, msg) {
    if (role === "customer" || role === "system") return null;
    var n = document.createElement("div");
    n.className = "kefu-name";
    if (role === "agent") n.innerHTML = icon("person", 12);
    n.appendChild(document.createTextNode(role === "agent" ? (msg && msg.meta && msg.meta.agent ? t("agent") + " · " + msg.meta.agent : t("agent")) : t("bot")));
    return n;
  }
  function buildRow(msg) {
    var role = msg.role || "system";
    var r = row(role);
    if (msg.id != null) r.setAttribute("data-id", String(msg.id));
    var name = nameLine(role, msg);
    if (name) r.appendChild(name);
    var bubble = document.createElement("div");
    bubble.className = "kefu-msg";
    var text = document.createElement("div");
    text.className = "kefu-text";
    nodeText(text, msg.text || "", role === "bot");
    bubble.appendChild(text);
    if (msg.created_at) bubble.title = fmtTime(msg.created_at);
    r.appendChild(bubble);
    if (role === "bot") addSources(bubble, msg);
    if ((role === "bot" || role === "agent") && msg.id != null) addThumbs(r, msg);
    return r;
  }
  function addSources(bubble, msg) {
    var meta = msg.meta || {};
    if (meta.mode === "abstain") return;  // what was retrieved did not answer: not a source
    // The answer's own source comes first; other retrieved chunks are shown only when they scored
    // close to it (the rest is related reading, not a source of this answer).
    // A generated answer marks its sources ([1], [2]): exactly those are shown.
    var all = meta.citations || [], top = all.length ? +all[0].score || 0 : 0;
    var marked = {}, anyMarked = false, re = /\[(\d{1,2})\]/g, m;
    while ((m = re.exec(msg.text || ""))) { marked[+m[1]] = anyMarked = true; }
    var seen = {}, cites = [];
    all.forEach(function (c, i) {
      var k = (c.uri || "") + "\u0001" + (c.title || "");
      if (anyMarked ? !marked[c.n] : (cites.length >= 3 || (i > 0 && top > 0 && (+c.score || 0) < 0.75 * top))) return;
      if (seen[k] || !(c.title || c.uri)) return;
      seen[k] = 1;
      cites.push(c);
    });
    if (!cites.length) return;
    var det = document.createElement("details");
    det.className = "kefu-sources";
    det.setAttribute("data-kefu", "sources");
    var sum = document.createElement("summary");
    sum.setAttribute("data-n", String(cites.length));
    sum.textContent = t("sources") + " (" + cites.length + ")";
    det.appendChild(sum);
    var ol = document.createElement("ol");
    cites.forEach(function (c) {
      var li = document.createElement("li");
      li.setAttribute("data-kefu", "citation");
      if (c.n) li.value = c.n;  // numbered as the answer's [n] markers
      var title = document.createElement(/^https?:\/\//.test(c.uri || "") ? "a" : "span");
      title.className = "kefu-cite-title";
      title.textContent = c.title || c.uri;
      if (title.tagName === "A") { title.href = c.uri; title.target = "_blank"; title.rel = "noopener noreferrer"; }
      if (c.snippet) li.title = c.snippet;
      li.appendChild(title);
      if (c.uri) {
        var uri = document.createElement("span");
        uri.className = "kefu-cite-uri";
        uri.textContent = c.uri;
        li.appendChild(uri);
      }
      ol.appendChild(li);
    });
    det.appendChild(ol);
    det.addEventListener("toggle", function () {
      if (det.open && det.scrollIntoView) det.scrollIntoView({ block: "nearest" });
    });
    bubble.appendChild(det);
  }
  function addThumbs(r, msg) {
    var bar = document.createElement("div");
    bar.className = "kefu-actions";
    [["thumb-up", 1, "up", "helpful"], ["thumb-down", -1, "down", "notHelpful"]].forEach(function (spec) {
      var b = document.createElement("button");
      b.type = "button";
      b.className = "kefu-thumb";
      b.setAttribute("data-kefu", spec[0]);
      b.setAttribute("aria-label", t(spec[3]));
      b.title = t(spec[3]);
      b.setAttribute("aria-pressed", msg.feedback === spec[1] ? "true" : "false");
      b.innerHTML = icon(spec[2], 15);
      b.addEventListener("click", function () { rate(msg.id, spec[1], bar); });
      bar.appendChild(b);
    });
    r.appendChild(bar);
  }
  function setMeta(r, text, isError) {
    var m = r.querySelector(".kefu-meta");
    if (!text) { if (m) m.remove(); return; }
    if (!m) { m = document.createElement("div"); m.className = "kefu-meta"; r.appendChild(m); }
    m.className = "kefu-meta" + (isError ? " kefu-err" : "");
    m.textContent = text;
  }
  function insertRow(r, id) {
    // Messages with ids in id order; customer messages not yet stored stay at the end.
    var rows = el.log.children, before = null;
    for (var i = 0; i < rows.length; i++) {
      var x = rows[i];
      if (x === state.csatEl) continue;
      var xid = x.getAttribute("data-id");
      if (x.classList.contains("kefu-greeting")) continue;
      if (id == null) { if (x === state.typingEl) { before = x; break; } continue; }
      if ((!xid && x.getAttribute("data-kefu") === "message") || x === state.typingEl || (xid && +xid > id)) { before = x; break; }
    }
    var near = nearBottom();
    el.log.insertBefore(r, before);
    if (state.csatEl && state.csatEl.parentNode) el.log.appendChild(state.csatEl);
    scrollDown(near);
  }
  function nearBottom() { return el.log.scrollHeight - el.log.scrollTop - el.log.clientHeight < 80; }
  function scrollDown(force) { if (force) el.log.scrollTop = el.log.scrollHeight; }

  function greeting() {
    if (el.log.querySelector(".kefu-greeting")) return;
    var r = row("bot");
    r.removeAttribute("data-kefu");
    r.classList.add("kefu-greeting");
    r.appendChild(nameLine("bot"));
    var b = document.createElement("div");
    b.className = "kefu-msg";
    b.innerHTML = '<div class="kefu-text"></div>';
    b.firstChild.textContent = KEY ? t("greeting") : t("noKey");
    r.appendChild(b);
    el.log.insertBefore(r, el.log.firstChild);
  }

  function normText(s) {
    s = String(s || "");
    try { s = s.normalize("NFKC"); } catch (e) { /* no normalize */ }
    return s.replace(/\s+/g, " ").trim();
  }

  // Every message, from any source (history, the send stream, live events), comes through here.
  function addMessage(msg, opts) {
    if (!msg || msg.id == null) return;
    var id = +msg.id;
    var known = state.byId[id];
    if (known) {
      if (!known.final) finalize(known, msg);
      return;
    }
    if (msg.role === "customer") {
      var text = normText(msg.text);
      for (var i = 0; i < state.inflight.length; i++) {
        if (state.inflight[i].text === text) {
          var p = state.inflight.splice(i, 1)[0];
          ackPending(p, msg);
          return;
        }
      }
    }
    var r = buildRow(msg);
    state.byId[id] = { msg: msg, el: r, final: true };
    note(id);
    insertRow(r, id);
    if (msg.role === "bot" || msg.role === "agent") hideTyping();
    if (!state.open && msg.role !== "customer" && !(opts && opts.history)) { state.unread++; renderBadge(); }
    if (msg.role === "system" && msg.meta && msg.meta.kind === "resolved") renderCsat();
    cacheSoon();
  }
  function note(id) { if (id > state.maxId) state.maxId = id; }
  function ackPending(p, msg) {
    var id = +msg.id;
    p.el.setAttribute("data-id", String(id));
    p.el.classList.remove("kefu-pending");
    setMeta(p.el, "");
    p.el.remove();
    state.byId[id] = { msg: msg, el: p.el, final: true };
    note(id);
    insertRow(p.el, id);
    cacheSoon();
  }
  function finalize(known, msg) {
    var fresh = buildRow(msg);
    if (known.el.parentNode) known.el.parentNode.replaceChild(fresh, known.el);
    known.el = fresh; known.msg = msg; known.final = true;
    cacheSoon();
  }
  function delta(d) {
    var id = +d.message_id;
    var known = state.byId[id];
    if (known && known.final) return;  // the full message came first (live events): nothing to add
    hideTyping();
    if (!known) {
      var r = row("bot");
      r.setAttribute("data-id", String(id));
      r.classList.add("kefu-streaming");
      r.appendChild(nameLine("bot"));
      var b = document.createElement("div");
      b.className = "kefu-msg";
      b.innerHTML = '<div class="kefu-text"></div>';
      r.appendChild(b);
      known = state.byId[id] = { msg: { id: id, role: "bot", text: "" }, el: r, final: false };
      insertRow(r, id);
    }
    known.msg.text += d.text || "";
    known.el.querySelector(".kefu-text").textContent = known.msg.text;
    scrollDown(nearBottom());
  }
  function showTyping() {
    if (state.typingEl) return;
    var r = document.createElement("div");
    r.className = "kefu-row kefu-row-bot";
    r.innerHTML = '<div class="kefu-msg kefu-typing" aria-label="…"><i></i><i></i><i></i></div>';
    state.typingEl = r;
    el.log.appendChild(r);
    scrollDown(true);
  }
  function hideTyping() { if (state.typingEl) { state.typingEl.remove(); state.typingEl = null; } }

  function renderStatus() {
    var c = state.conv, text = t("subtitle"), dot = "";
    if (!state.online) { text = t("offlineShort"); dot = "kefu-off"; }
    else if (c && c.status === "queued") { text = c.queue_position ? t("queuedN", { n: c.queue_position }) : t("queued"); dot = "kefu-wait"; }
    else if (c && c.status === "agent") text = t("withAgent", { agent: c.agent || t("agent") });
    else if (c && c.status === "resolved") text = t("resolved");
    el.statusText.textContent = text;
    el.dot.className = "kefu-dot " + dot;
    el.status.setAttribute("data-status", c ? c.status : "new");
    el.handoff.hidden = !!(c && (c.status === "queued" || c.status === "agent")) || !KEY;
  }
  function renderBanner() {
    var text = !state.online ? t("offline") : (state.cid && state.started && !state.connected && state.esRetry > 0) ? t("reconnecting") : "";
    el.banner.hidden = !text;
    el.banner.querySelector("span").textContent = text;
  }
  function setConv(c) {
    if (!c || (state.cid && c.id !== state.cid)) return;
    var before = state.conv;
    state.conv = Object.assign({}, before || {}, c);
    if (c.status !== "queued") delete state.conv.queue_position;
    if (c.queue_position) state.conv.queue_position = c.queue_position;
    renderStatus();
    renderCsat();
  }
  function renderCsat() {
    var c = state.conv;
    var want = c && c.status === "resolved" && c.csat == null;
    var thanks = c && c.csat != null && state.csatRated;
    if (!want && !thanks) { if (state.csatEl) { state.csatEl.remove(); state.csatEl = null; } return; }
    if (!state.csatEl) {
      state.csatEl = document.createElement("div");
      state.csatEl.className = "kefu-csat";
      state.csatEl.setAttribute("data-kefu", "csat");
    }
    var box = state.csatEl;
    box.innerHTML = "";
    var p = document.createElement("p");
    if (want) {
      // The server's "resolved" notice just above already asks; repeat the question only without it.
      var last = el.log.querySelectorAll('[data-role="system"]');
      last = last.length ? state.byId[+last[last.length - 1].getAttribute("data-id")] : null;
      if (!(last && last.msg.meta && last.msg.meta.kind === "resolved")) {
        p.textContent = t("csatAsk");
        box.appendChild(p);
      }
      var stars = document.createElement("div");
      stars.className = "kefu-stars";
      for (var n = 1; n <= 5; n++) {
        var b = document.createElement("button");
        b.type = "button";
        b.className = "kefu-star";
        b.textContent = String(n);
        b.setAttribute("data-kefu", "csat-" + n);
        b.setAttribute("aria-label", n + "/5");
        b.addEventListener("click", rateConversation.bind(null, n));
        stars.appendChild(b);
      }
      box.appendChild(stars);
      var scale = document.createElement("div");
      scale.className = "kefu-scale";
      scale.innerHTML = "<span></span><span></span>";
      scale.firstChild.textContent = t("csatLow");
      scale.lastChild.textContent = t("csatHigh");
      box.appendChild(scale);
    } else {
      p.textContent = t("csatThanks", { n: c.csat });
      box.setAttribute("data-kefu", "csat-thanks");
      box.appendChild(p);
    }
    var near = nearBottom();
    el.log.appendChild(box);
    scrollDown(near || want);
  }

  // -- HTTP --------------------------------------------------------------------------------------
  function ApiError(status, code, message, retryAfter) {
    this.status = status; this.code = code; this.message = message; this.retryAfter = retryAfter;
  }
  function api(method, path, body, headers) {
    var opts = { method: method, headers: { "X-Kefu-Key": KEY }, credentials: "omit", cache: "no-store" };
    for (var h in headers || {}) opts.headers[h] = headers[h];
    if (body !== undefined) { opts.headers["Content-Type"] = "application/json"; opts.body = JSON.stringify(body); }
    return fetch(SERVER + path, opts).then(function (resp) {
      if (resp.ok) { markOnline(); return resp; }
      return resp.json().catch(function () { return {}; }).then(function (data) {
        var err = (data && data.error) || {};
        throw new ApiError(resp.status, err.code || "http_" + resp.status, err.message || resp.statusText,
          +(resp.headers.get("Retry-After") || 0));
      });
    });
  }
  function json(method, path, body) { return api(method, path, body).then(function (r) { return r.json(); }); }
  function isNetwork(e) { return !(e instanceof ApiError); }

  // Reads an SSE body (fetch's ReadableStream): calls onEvent(name, data, id) per event.
  function readSSE(resp, onEvent) {
    var reader = resp.body.getReader(), decoder = new TextDecoder(), buf = "";
    var ev = { name: "", data: [], id: null };
    function line(l) {
      if (l === "") {
        if (ev.data.length) onEvent(ev.name || "message", ev.data.join("\n"), ev.id);
        ev = { name: "", data: [], id: null };
        return;
      }
      if (l.charAt(0) === ":") return;
      var i = l.indexOf(":"), field = i < 0 ? l : l.slice(0, i), value = i < 0 ? "" : l.slice(i + 1);
      if (value.charAt(0) === " ") value = value.slice(1);
      if (field === "event") ev.name = value;
      else if (field === "data") ev.data.push(value);
      else if (field === "id") ev.id = value;
    }
    function feed(chunk, end) {
      buf += chunk;
      var hold = "";
      if (!end && buf.charAt(buf.length - 1) === "\r") { hold = "\r"; buf = buf.slice(0, -1); }
      var lines = buf.replace(/\r\n?/g, "\n").split("\n");
      buf = lines.pop() + hold;
      lines.forEach(line);
      if (end) { if (buf) line(buf); line(""); }
    }
    function pump() {
      return reader.read().then(function (r) {
        if (r.done) { feed(decoder.decode(), true); return; }
        feed(decoder.decode(r.value, { stream: true }), false);
        return pump();
      });
    }
    return pump();
  }

  // -- conversation lifecycle --------------------------------------------------------------------
  function start() {
    state.started = true;
    greeting();
    if (!KEY) { renderStatus(); return; }
    // What this browser saw before shows at once (even offline); the server's history follows.
    if (state.cid) {
      (load("messages:" + state.cid, []) || []).forEach(function (m) { addMessage(m, { history: true }); });
      var cached = load("conv:" + state.cid, null);
      if (cached) setConv(cached);
    }
    state.outbox.forEach(function (item) { pendingRow(item, item.attempted ? t("sending") : t("waitingToSend")); });
    renderStatus();
    if (state.cid) restore(); else flush();
  }
  function restore() {
    var cid = state.cid;
    Promise.all([json("GET", "/v1/conversations/" + cid), json("GET", "/v1/conversations/" + cid + "/messages")])
      .then(function (res) {
        if (cid !== state.cid) return;
        setConv(res[0].conversation);
        res[1].messages.forEach(function (m) { addMessage(m, { history: true }); });
        state.esLastId = state.maxId;
        openEvents();
        flush();
      })
      .catch(function (e) {
        if (e instanceof ApiError && e.status === 404) { forget(); flush(); return; }
        if (isNetwork(e)) markOffline();
        scheduleRestore();
      });
  }
  function scheduleRestore() {
    clearTimeout(state.esTimer);
    state.esRetry++;
    renderBanner();
    state.esTimer = setTimeout(restore, Math.min(30000, 1000 * Math.pow(2, Math.min(state.esRetry, 5))));
  }
  function forget() {
    // The conversation is gone on the server (or the visitor started over): begin a fresh one.
    if (state.cid) { save("messages:" + state.cid, null); save("conv:" + state.cid, null); }
    state.cid = null; state.conv = null;
    save("conversation", null);
    closeEvents();
  }
  function ensureConversation() {
    if (state.cid) return Promise.resolve(state.cid);
    if (state.creating) return state.creating;
    state.creating = json("POST", "/v1/conversations", LANG_EXPLICIT ? { lang: lang } : {})
      .then(function (data) {
        state.creating = null;
        state.cid = data.conversation.id;
        save("conversation", state.cid);
        setConv(data.conversation);
        state.esLastId = 0;
        openEvents();
        return state.cid;
      }, function (e) { state.creating = null; throw e; });
    return state.creating;
  }
  function reset() {
    forget();
    state.byId = {}; state.inflight = []; state.outbox = []; state.maxId = 0; state.esLastId = 0;
    state.csatRated = false;
    save("outbox", []);
    hideTyping();
    if (state.csatEl) { state.csatEl.remove(); state.csatEl = null; }
    el.log.innerHTML = "";
    greeting();
    renderStatus();
    renderBanner();
  }

  // -- live events (agent replies, status changes) -------------------------------------------------
  function openEvents() {
    if (!state.cid || !window.EventSource) return;
    closeEvents();
    var cid = state.cid;
    var es = new EventSource(SERVER + "/v1/conversations/" + cid + "/events?key=" + encodeURIComponent(KEY) +
      "&after=" + state.esLastId);
    state.es = es;
    es.onopen = function () {
      state.connected = true;
      state.esRetry = 0;
      markOnline();
      renderBanner();
      flush();
    };
    es.addEventListener("message", function (e) {
      var m;
      try { m = JSON.parse(e.data); } catch (err) { return; }
      if (e.lastEventId && +e.lastEventId > state.esLastId) state.esLastId = +e.lastEventId;
      addMessage(m);
    });
    es.addEventListener("status", function (e) {
      try { setConv(JSON.parse(e.data)); } catch (err) { /* ignore */ }
      cacheSoon();
    });
    es.addEventListener("error", function (e) {
      if (es !== state.es) return;
      if (e.data) {  // the server's own error event: the conversation is gone
        closeEvents();
        forget();
        return;
      }
      state.connected = false;
      if (es.readyState === 2) {  // CLOSED: the browser gave up (HTTP error); retry with backoff
        closeEvents();
        if (cid === state.cid) scheduleRestore();
      } else {
        state.esRetry++;
      }
      renderBanner();
    });
  }
  function closeEvents() {
    clearTimeout(state.esTimer);
    if (state.es) { state.es.close(); state.es = null; }
    state.connected = false;
  }

  // -- sending, with an outbox that survives reloads and network loss ------------------------------
  function newLid() { return "l" + Date.now().toString(36) + Math.random().toString(36).slice(2, 7); }
  function pendingRow(item, label) {
    var existing = el.log.querySelector('[data-lid="' + item.lid + '"]');
    if (existing) { setMeta(existing, label); return existing; }
    var r = buildRow({ role: "customer", text: item.text });
    r.classList.add("kefu-pending");
    r.setAttribute("data-lid", item.lid);
    setMeta(r, label);
    insertRow(r, null);
    state.inflight.push({ lid: item.lid, text: normText(item.text), el: r });
    return r;
  }
  function send(text) {
    text = String(text || "").trim();
    if (!text || !KEY) return;
    if (!state.started) start();
    var item = { lid: newLid(), text: text, attempted: false, after: 0 };
    state.outbox.push(item);
    save("outbox", state.outbox);
    pendingRow(item, state.online && navigator.onLine !== false ? t("sending") : t("waitingToSend"));
    scrollDown(true);
    flush();
  }
  function flush() {
    if (state.flushing || !state.outbox.length || !KEY) return;
    if (navigator.onLine === false) {
      markOffline();
      state.outbox.forEach(function (item) { pendingRow(item, t("waitingToSend")); });
      return;
    }
    state.flushing = true;
    clearTimeout(state.retryTimer);
    var step = function () {
      if (!state.outbox.length) { state.flushing = false; state.retryDelay = 1000; return; }
      var item = state.outbox[0];
      sendOne(item).then(function (outcome) {
        if (outcome === "retry") {
          state.flushing = false;
          state.retryTimer = setTimeout(flush, state.retryDelay);
          state.retryDelay = Math.min(state.retryDelay * 2, 30000);
          return;
        }
        state.outbox.shift();
        save("outbox", state.outbox);
        step();
      });
    };
    step();
  }
  function findPending(lid) {
    for (var i = 0; i < state.inflight.length; i++) if (state.inflight[i].lid === lid) return state.inflight[i];
    return null;
  }
  function sendOne(item) {
    var pending = findPending(item.lid);
    var rowEl = pending ? pending.el : pendingRow(item, t("sending"));
    setMeta(rowEl, t("sending"));
    var cid;
    return ensureConversation().then(function (id) {
      cid = id;
      item.attempted = true;
      item.after = state.maxId;
      save("outbox", state.outbox);
      showTyping();
      // A retry after a dropped connection carries the same key: the server returns the turn it
      // already stored instead of storing the message twice.
      return api("POST", "/v1/conversations/" + cid + "/messages", { text: item.text, stream: true },
                 { "Idempotency-Key": "w-" + item.lid })
        .then(function (resp) {
          var type = resp.headers.get("content-type") || "";
          if (type.indexOf("text/event-stream") < 0) return resp.json().then(onTurn);
          return readSSE(resp, function (name, data) {
            var d;
            try { d = JSON.parse(data); } catch (e) { return; }
            if (name === "turn") { setConv(d.conversation); addMessage(d.message); }
            else if (name === "delta") delta(d);
            else if (name === "message") addMessage(d);
            else if (name === "done") { setConv(d.conversation); hideTyping(); }
          }).catch(function () { /* the stream broke after the message was stored: live events fill in */ });
        })
        .then(function () { hideTyping(); cacheSoon(); return "done"; });
    }).catch(function (e) {
      hideTyping();
      if (isNetwork(e)) { markOffline(); setMeta(rowEl, t("waitingToSend")); return "retry"; }
      if (e.status === 404 && state.cid) { forget(); item.attempted = false; return "retry"; }
      if (e.status === 429 || e.status >= 500) {
        state.retryDelay = Math.max(state.retryDelay, (e.retryAfter || 1) * 1000);
        setMeta(rowEl, t("waitingToSend"));
        return "retry";
      }
      // Refused for good (too long, invalid, forbidden): say so and drop it from the outbox.
      var p = findPending(item.lid);
      if (p) state.inflight.splice(state.inflight.indexOf(p), 1);
      setMeta(rowEl, t("notSent") + " — " + (e.message || e.code), true);
      return "drop";
    });
  }
  function onTurn(turn) {
    setConv(turn.conversation);
    addMessage(turn.message);
    (turn.replies || []).forEach(function (m) { addMessage(m); });
  }

  function handoff() {
    if (!KEY) return;
    if (!state.started) start();
    el.handoff.disabled = true;
    ensureConversation()
      .then(function (cid) { return json("POST", "/v1/conversations/" + cid + "/handoff"); })
      .then(function (data) { setConv(data.conversation); if (data.message) addMessage(data.message); cacheSoon(); })
      .catch(function (e) { systemNote(isNetwork(e) ? t("offline") : t("error", { msg: e.message })); if (isNetwork(e)) markOffline(); })
      .then(function () { el.handoff.disabled = false; });
  }
  function rate(id, rating, bar) {
    var buttons = bar.querySelectorAll(".kefu-thumb");
    json("POST", "/v1/conversations/" + state.cid + "/messages/" + id + "/feedback", { rating: rating }).then(function (data) {
      buttons[0].setAttribute("aria-pressed", data.feedback === 1 ? "true" : "false");
      buttons[1].setAttribute("aria-pressed", data.feedback === -1 ? "true" : "false");
      bar.title = t("thanks");
      var known = state.byId[id];
      if (known) known.msg.feedback = data.feedback;
      cacheSoon();
    }).catch(function (e) { if (isNetwork(e)) markOffline(); });
  }
  function rateConversation(score) {
    if (!state.cid) return;
    var buttons = state.csatEl ? state.csatEl.querySelectorAll("button") : [];
    for (var i = 0; i < buttons.length; i++) buttons[i].disabled = true;
    json("POST", "/v1/conversations/" + state.cid + "/csat", { score: score }).then(function (data) {
      state.csatRated = true;
      setConv(data.conversation);
      cacheSoon();
    }).catch(function (e) {
      for (var i = 0; i < buttons.length; i++) buttons[i].disabled = false;
      if (isNetwork(e)) markOffline(); else systemNote(t("error", { msg: e.message }));
    });
  }
  function systemNote(text) {
    var r = buildRow({ role: "system", text: text });
    r.removeAttribute("data-kefu");
    r.classList.add("kefu-local-note");
    insertRow(r, null);
  }

  // -- online / offline ------------------------------------------------------------------------
  function markOffline() {
    // The browser is offline, or the server cannot be reached: show it and keep messages queued.
    state.online = false;
    state.connected = false;
    renderStatus();
    renderBanner();
  }
  function markOnline() {
    if (state.online || navigator.onLine === false) return;
    state.online = true;
    renderStatus();
    renderBanner();
  }
  window.addEventListener("offline", function () {
    state.online = false;
    state.connected = false;
    renderStatus();
    renderBanner();
  });
  window.addEventListener("online", function () {
    state.online = true;
    renderStatus();
    renderBanner();
    if (!state.started) return;
    // Reconnect at once (the browser's own retry may be seconds away), resuming after the last event.
    if (state.cid) { state.esRetry = Math.max(state.esRetry, 1); openEvents(); }
    state.retryDelay = 1000;
    flush();
  });

  // -- the local copy of the conversation (shown at once on reload, even offline) -----------------
  function cacheSoon() {
    clearTimeout(state.cacheTimer);
    state.cacheTimer = setTimeout(function () {
      if (!state.cid) return;
      var ids = Object.keys(state.byId).map(Number).sort(function (a, b) { return a - b; }).slice(-100);
      var list = [];
      ids.forEach(function (id) {
        var k = state.byId[id];
        if (!k.final) return;
        var m = k.msg, meta = m.meta || {};
        list.push({ id: m.id, role: m.role, text: m.text, created_at: m.created_at, feedback: m.feedback,
          meta: { mode: meta.mode, kind: meta.kind, agent: meta.agent, csat: meta.csat,
            citations: (meta.citations || []).slice(0, 6).map(function (c) { return { title: c.title, uri: c.uri, snippet: c.snippet }; }) } });
      });
      save("messages:" + state.cid, list);
      if (state.conv) save("conv:" + state.cid, state.conv);
    }, 300);
  }

  // -- voice: a microphone button (shown when GET /v1/voice says voice is available) --------------
  // Click to record (MediaRecorder), click again to send: POST /v1/voice/turn answers with the
  // transcript, the messages and the answer as base64 WAV, which is played back.
  var voice = { available: false, recorder: null, chunks: [], audio: null, last: null, state: "idle" };
  var VOICE_TEXT = { en: { mic: "Speak", stop: "Stop and send", noMic: "The microphone is not available" },
                     zh: { mic: "语音输入", stop: "停止并发送", noMic: "无法使用麦克风" } };
  (function () {
    var css = document.createElement("style");
    css.textContent = ".kefu-mic{width:40px;height:40px;border-radius:12px;border:1px solid var(--kefu-line);" +
      "background:#fff;color:var(--kefu-c);display:flex;align-items:center;justify-content:center;cursor:pointer;flex:none}" +
      ".kefu-mic[data-state=recording]{background:#dc2626;color:#fff;border-color:#dc2626}" +
      ".kefu-mic[data-state=sending]{opacity:.6;cursor:progress}.kefu-mic[hidden]{display:none}";
    root.appendChild(css);
  })();
  el.mic = document.createElement("button");
  el.mic.type = "button";
  el.mic.className = "kefu-mic";
  el.mic.setAttribute("data-kefu", "mic");
  el.mic.hidden = true;
  el.mic.innerHTML = '<svg viewBox="0 0 24 24" width="19" height="19" fill="currentColor" aria-hidden="true" ' +
    'focusable="false"><path d="M12 14a3 3 0 0 0 3-3V5a3 3 0 0 0-6 0v6a3 3 0 0 0 3 3zm5-3a5 5 0 0 1-10 0H5a7 7 0 ' +
    '0 0 6 6.9V21h2v-3.1A7 7 0 0 0 19 11z"/></svg>';
  el.form.insertBefore(el.mic, el.send);
  function vt(name) { return (VOICE_TEXT[lang] || VOICE_TEXT.en)[name]; }
  function setVoiceState(s) {
    voice.state = s;
    el.mic.setAttribute("data-state", s);
    el.mic.setAttribute("aria-label", s === "recording" ? vt("stop") : vt("mic"));
    el.mic.title = el.mic.getAttribute("aria-label");
  }
  setVoiceState("idle");
  function checkVoice() {
    if (!KEY || !window.MediaRecorder || !navigator.mediaDevices || !navigator.mediaDevices.getUserMedia) return;
    json("GET", "/v1/voice").then(function (data) {
      voice.available = !!(data && data.available);
      el.mic.hidden = !voice.available;
    }, function () { el.mic.hidden = true; });
  }
  function voiceTurn(blob) {
    setVoiceState("sending");
    return ensureConversation().then(function (cid) {
      var q = "?conversation_id=" + encodeURIComponent(cid) + (LANG_EXPLICIT ? "&lang=" + lang : "");
      return fetch(SERVER + "/v1/voice/turn" + q, { method: "POST", body: blob, credentials: "omit", cache: "no-store",
        headers: { "X-Kefu-Key": KEY, "Content-Type": blob.type || "application/octet-stream" } });
    }).then(function (resp) {
      return resp.json().catch(function () { return {}; }).then(function (data) {
        if (!resp.ok) throw new ApiError(resp.status, (data.error || {}).code, (data.error || {}).message || resp.statusText, 0);
        return data;
      });
    }).then(function (data) {
      voice.last = data;
      setConv(data.conversation);
      addMessage(data.message);
      (data.replies || []).forEach(function (m) { addMessage(m); });
      cacheSoon();
      if (data.audio && data.audio.base64) {
        voice.audio = new Audio("data:audio/wav;base64," + data.audio.base64);
        voice.audio.setAttribute("data-kefu", "voice-audio");
        setVoiceState("playing");
        voice.audio.addEventListener("ended", function () { setVoiceState("idle"); });
        var played = voice.audio.play();
        if (played && played.catch) played.catch(function () { setVoiceState("idle"); });
      } else {
        setVoiceState("idle");
      }
      return data;
    }, function (e) {
      setVoiceState("idle");
      voice.last = { error: { code: e.code, message: e.message } };
      voiceError(e.message || vt("noMic"));
      throw e;
    });
  }
  function voiceError(text) {
    var box = document.createElement("div");
    box.className = "kefu-meta kefu-err";
    box.setAttribute("data-kefu", "voice-error");
    box.setAttribute("role", "alert");
    box.textContent = text;
    el.log.appendChild(box);
    scrollDown(true);
  }
  function startRecording() {
    if (voice.audio) { try { voice.audio.pause(); } catch (e) { /* nothing playing */ } }
    navigator.mediaDevices.getUserMedia({ audio: true }).then(function (stream) {
      var rec = new MediaRecorder(stream);
      voice.chunks = [];
      rec.ondataavailable = function (e) { if (e.data && e.data.size) voice.chunks.push(e.data); };
      rec.onstop = function () {
        stream.getTracks().forEach(function (tr) { tr.stop(); });
        var blob = new Blob(voice.chunks, { type: rec.mimeType || "audio/webm" });
        voice.recorder = null;
        voiceTurn(blob).catch(function () { /* shown in the log */ });
      };
      voice.recorder = rec;
      rec.start();
      setVoiceState("recording");
    }, function () { setVoiceState("idle"); voiceError(vt("noMic")); });
  }
  el.mic.addEventListener("click", function () {
    if (voice.state === "recording" && voice.recorder) voice.recorder.stop();
    else if (voice.state === "idle" || voice.state === "playing") startRecording();
  });
  checkVoice();

  // -- public API ----------------------------------------------------------------------------------
  window.KefuWidget = {
    loaded: true,
    open: openPanel,
    close: closePanel,
    toggle: function () { if (state.open) closePanel(); else openPanel(); },
    setLang: function (l) { if (l === "zh" || l === "en") { lang = l; applyStrings(); } },
    send: function (text) { openPanel(); send(text); },
    reset: reset,
    conversationId: function () { return state.cid; },
    voiceTurn: function (blob) { openPanel(); return voiceTurn(blob); },
    voice: function () { return { available: voice.available, state: voice.state, last: voice.last }; }
  };

  applyStrings();
  autosize();
  if (load("open", false)) { if (document.body) openPanel(); else document.addEventListener("DOMContentLoaded", openPanel); }
  else if (state.cid || state.outbox.length) start();  // live agent replies show as a badge while closed
})();
