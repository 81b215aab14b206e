/* kefu knowledge-graph explorer: search entities, page through their neighbours. No dependencies. */
(function () {
  "use strict";
  var PAGE = 50;
  var S = { entity: null, offset: 0, total: 0 };
  function $(id) { return document.getElementById(id); }
  function el(tag, text, cls) {
    var e = document.createElement(tag);
    if (text !== undefined && text !== null) e.textContent = String(text);
    if (cls) e.className = cls;
    return e;
  }
  function api(method, path, body) {
    var opts = { method: method, credentials: "same-origin", headers: {}, cache: "no-store" };
    if (body !== undefined) { opts.headers["Content-Type"] = "application/json"; opts.body = JSON.stringify(body); }
    return fetch(path, opts).then(function (r) {
      return r.json().catch(function () { return {}; }).then(function (data) {
        if (r.ok) return data;
        var err = new Error((data.error && data.error.message) || ("HTTP " + r.status));
        err.status = r.status;
        if (r.status === 401 && path !== "/v1/agent/login") showLogin();
        throw err;
      });
    });
  }
  function showLogin() {
    $("app").hidden = true; $("login").hidden = false;
    $("f-tenant").value = $("f-tenant").value || localStorage.getItem("kefu-console-tenant") || "default";
  }
  function boot() {
    return api("GET", "/v1/agent/me").then(function (me) {
      $("who").textContent = (me.display_name || me.username) + " · " + me.tenant;
      $("login").hidden = true; $("app").hidden = false;
      var q = new URLSearchParams(location.search).get("q");
      if (q) { $("q").value = q; search(q); }
      $("q").focus();
    }, function () { showLogin(); });
  }
  $("login-form").addEventListener("submit", function (e) {
    e.preventDefault();
    $("login-error").textContent = "";
    api("POST", "/v1/agent/login", { tenant: $("f-tenant").value.trim(), username: $("f-user").value.trim(),
                                    password: $("f-pass").value })
      .then(function () { localStorage.setItem("kefu-console-tenant", $("f-tenant").value.trim()); $("f-pass").value = ""; return boot(); })
      .catch(function (err) { $("login-error").textContent = err.message; });
  });
  function search(q) {
    return api("GET", "/v1/kg/search?limit=30&q=" + encodeURIComponent(q)).then(function (data) {
      var list = $("results");
      list.textContent = "";
      $("counts").textContent = "· " + data.counts.entities + " entities · " + data.counts.triples + " triples";
      $("results-empty").hidden = data.entities.length > 0;
      data.entities.forEach(function (e) {
        var li = el("li");
        li.setAttribute("data-kefu", "result");
        li.setAttribute("data-id", e.id);
        var name = el("div"); name.appendChild(el("b", e.name)); name.appendChild(document.createTextNode(" "));
        name.appendChild(el("span", e.type, "badge"));
        li.appendChild(name);
        li.appendChild(el("div", e.aliases.join(" · "), "aliases"));
        li.addEventListener("click", function () { open(e.id, 0); });
        list.appendChild(li);
      });
      if (data.entities.length === 1) open(data.entities[0].id, 0);
    }).catch(function (err) { $("results-empty").hidden = false; $("results-empty").textContent = err.message; });
  }
  $("search-form").addEventListener("submit", function (e) {
    e.preventDefault();
    var q = $("q").value.trim();
    if (q) search(q);
  });
  function open(id, offset) {
    return api("GET", "/v1/kg/entities/" + encodeURIComponent(id) + "/neighbours?limit=" + PAGE + "&offset=" + offset)
      .then(function (page) {
        S.entity = page.entity; S.offset = page.offset; S.total = page.total;
        Array.prototype.forEach.call(document.querySelectorAll("#results li"), function (li) {
          li.classList.toggle("active", li.getAttribute("data-id") === id);
        });
        $("detail-empty").hidden = true; $("detail-body").hidden = false;
        $("d-name").textContent = page.entity.name;
        $("d-type").textContent = page.entity.type;
        $("d-aliases").textContent = page.entity.aliases.join(" · ");
        var body = $("edges");
        body.textContent = "";
        page.edges.forEach(function (t) {
          var out = t.subject === page.entity.id;
          var tr = el("tr");
          tr.setAttribute("data-kefu", "edge");
          tr.appendChild(el("td", out ? "→" : "←"));
          tr.appendChild(el("td", t.relation));
          var cell = el("td", null, "obj");
          var otherId = out ? t.object_id : t.subject;
          var label = out ? (t.object_name || t.object) : (t.subject_name || t.subject);
          if (otherId) {
            var a = el("a", label);
            a.setAttribute("data-kefu", "neighbour");
            a.addEventListener("click", function () { open(otherId, 0); });
            cell.appendChild(a);
          } else {
            cell.textContent = label.length > 300 ? label.slice(0, 299) + "…" : label;
          }
          tr.appendChild(cell);
          var prov = t.provenance || {};
          var where = prov.uri || prov.file || prov.conversation || t.source;
          var line = prov.line || prov.row;
          tr.appendChild(el("td", where + (line ? ":" + line : ""), "src"));
          body.appendChild(tr);
        });
        var last = Math.min(page.offset + page.edges.length, page.total);
        $("page").textContent = (page.total ? page.offset + 1 : 0) + "–" + last + " of " + page.total;
        $("prev").disabled = page.offset <= 0;
        $("next").disabled = last >= page.total;
      });
  }
  $("prev").addEventListener("click", function () { if (S.entity) open(S.entity.id, Math.max(0, S.offset - PAGE)); });
  $("next").addEventListener("click", function () { if (S.entity) open(S.entity.id, S.offset + PAGE); });
  boot();
})();
