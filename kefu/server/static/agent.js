/* kefu agent pages (console, dashboard): the shared client. JSON calls to /v1 that sign the page out on a 401
   and say when the server is busy or unreachable (in #notice), and the sign-in form (#login, #login-form,
   #f-tenant, #f-user, #f-pass, #login-error, #logout). Each page passes its strings and hooks:

     var agent = kefuAgent({ t: t, onSignIn: function (me, previous) {…}, onSignOut: function () {…},
                             onLogout: function () {…}, onRateLimited: function () {…}, onNotice: function (text) {…} });
     agent.api("GET", "/v1/agent/queue").then(…);   agent.boot();
*/
(function () {
  "use strict";
  window.kefuAgent = function (cfg) {
    var $ = function (id) { return document.getElementById(id); };
    var hook = function (name) { return typeof cfg[name] === "function" ? cfg[name] : function () {}; };
    var self = { me: null };

    function notice(text) {
      $("notice").textContent = text;
      hook("onNotice")(text);
    }
    function api(method, path, body) {
      var opts = { method: method, credentials: "same-origin", headers: {}, cache: "no-store" };
      if (body !== undefined) { opts.headers["Content-Type"] = "application/json"; opts.body = JSON.stringify(body); }
      return fetch(path, opts).then(function (r) {
        return r.json().catch(function () { return {}; }).then(function (data) {
          if (r.ok) { notice(""); return data; }
          var err = new Error((data.error && data.error.message) || r.statusText || ("HTTP " + r.status));
          err.status = r.status; err.code = data.error && data.error.code;
          if (r.status === 401 && path !== "/v1/agent/login") signedOut();
          if (r.status === 429) { hook("onRateLimited")(); notice(cfg.t("rateLimited")); }
          throw err;
        });
      }, function (e) { notice(cfg.t("offline")); throw e; });
    }
    function showLogin() {
      $("app").hidden = true; $("login").hidden = false;
      $("f-tenant").value = $("f-tenant").value || localStorage.getItem("kefu-console-tenant") || "default";
      (($("f-user").value && $("f-pass")) || $("f-user")).focus();
    }
    function signedOut() {
      self.me = null;
      hook("onSignOut")();
      showLogin();
    }
    function boot() {
      return api("GET", "/v1/agent/me").then(function (me) {
        var previous = self.me;
        self.me = me;
        $("login").hidden = true; $("app").hidden = false;
        return hook("onSignIn")(me, previous);
      }, function (err) {
        if (err.status !== 401) $("login-error").textContent = cfg.t("failed", { msg: err.message });
        showLogin();
      });
    }
    $("login-form").addEventListener("submit", function (e) {
      e.preventDefault();
      var btn = document.querySelector("[data-kefu=login-submit]");
      btn.disabled = true;
      $("login-error").textContent = "";
      api("POST", "/v1/agent/login", { tenant: $("f-tenant").value.trim(), username: $("f-user").value.trim(),
                                      password: $("f-pass").value })
        .then(function () {
          localStorage.setItem("kefu-console-tenant", $("f-tenant").value.trim());
          $("f-pass").value = "";
          return boot();
        })
        .catch(function (err) {
          $("login-error").textContent = err.status === 401 ? cfg.t("badLogin") : cfg.t("failed", { msg: err.message });
        })
        .then(function () { btn.disabled = false; });
    });
    $("logout").addEventListener("click", function () {
      api("POST", "/v1/agent/logout").catch(function () {}).then(function () { hook("onLogout")(); signedOut(); });
    });
    self.api = api; self.boot = boot; self.signedOut = signedOut; self.notice = notice;
    return self;
  };
})();
