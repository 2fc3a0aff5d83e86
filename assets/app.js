// Progressive enhancement for the admin pages; every page works without it.
"use strict";
(function () {
  // Test Connection stays disabled until every required field has a value.
  function requiredFilled(form, button) {
    var names = (button.getAttribute("data-required") || "").split(",");
    return names.every(function (n) {
      var el = form.elements[n];
      return !el || String(el.value).trim() !== "";
    });
  }
  // On a saved credential the password field appears, and is required, once a value that
  // decides where the password goes has changed (the server refuses the change without it).
  var again = document.getElementById("password-again");
  if (again) {
    var form = again.closest("form");
    var input = document.getElementById("password");
    var test = document.getElementById("test-connection");
    var watched = again.getAttribute("data-watch").split(",");
    var valueOf = function (n) {
      var el = form.elements[n];
      if (!el) { return ""; }
      return el.type === "checkbox" ? String(el.checked) : String(el.value).trim();
    };
    var initial = {};
    watched.forEach(function (n) { initial[n] = valueOf(n); });
    var baseRequired = test ? test.getAttribute("data-required") : "";
    var follow = function () {
      var changed = watched.some(function (n) { return valueOf(n) !== initial[n]; });
      var show = changed || again.hasAttribute("data-open");
      again.hidden = !show;
      input.required = changed;
      if (test) {
        test.setAttribute("data-required", changed ? baseRequired + ",password" : baseRequired);
      }
    };
    form.addEventListener("input", follow);
    form.addEventListener("change", follow);
    follow();
  }
  document.querySelectorAll("#test-connection").forEach(function (button) {
    var form = button.form;
    var update = function () { button.disabled = !requiredFilled(form, button); };
    form.addEventListener("input", update);
    form.addEventListener("change", update);
    update();
    // Run the test in place, so typed values (the password) stay in the form.
    button.addEventListener("click", function (event) {
      event.preventDefault();
      if (button.disabled) { return; }
      var result = document.getElementById("test-result");
      result.textContent = "Testing the connection…";
      button.disabled = true;
      fetch(button.getAttribute("formaction"), {
        method: "POST",
        body: new URLSearchParams(new FormData(form)),
        headers: { "X-Requested-With": "fetch" },
        credentials: "same-origin"
      }).then(function (r) { return r.text(); })
        .then(function (html) { result.innerHTML = html; })
        .catch(function () { result.textContent = "The test could not be run: the server did not answer."; })
        .finally(update);
    });
  });
  // The clear-text warning follows the Use Secure Connection checkbox.
  var secure = document.getElementById("use_secure_connection");
  var warning = document.getElementById("insecure-warning");
  if (secure && warning) {
    secure.addEventListener("change", function () { warning.hidden = secure.checked; });
  }
  // A typed mailbox's provider (its domain, MX or SRV records, asked of the server) fills host,
  // port and security while the host is still empty, and its sign-in advice is shown.
  var mailbox = document.getElementById("mailbox");
  if (mailbox && mailbox.hasAttribute("data-detect")) {
    var mform = mailbox.form;
    var providerHint = document.getElementById("provider-hint");
    var asked = "";
    var announce = function (el) {
      if (el) { el.dispatchEvent(new Event("change", { bubbles: true })); }
    };
    var fill = function (d, typed) {
      var host = mform.elements["host"];
      if (!d || String(mailbox.value).trim() !== typed) { return; }
      if (d.host && host && String(host.value).trim() === "") {
        host.value = d.host;
        if (mform.elements["port"]) { mform.elements["port"].value = d.port; }
        var secure = mform.elements["use_secure_connection"];
        var mode = mform.elements["secure_mode"];
        if (secure) { secure.checked = d.security !== "none"; announce(secure); }
        if (mode && d.security !== "none") { mode.value = d.security; }
        announce(host);
      }
      if (providerHint) {
        providerHint.textContent = d.provider ? d.provider.name + ": " + d.provider.hint : d.reason;
        providerHint.hidden = false;
      }
    };
    mailbox.addEventListener("change", function () {
      var typed = String(mailbox.value).trim();
      var host = mform.elements["host"];
      if (typed === asked || typed.indexOf("@") < 1 || !host || String(host.value).trim() !== "") { return; }
      asked = typed;
      fetch(mailbox.getAttribute("data-detect") + "?mailbox=" + encodeURIComponent(typed), {
        headers: { "Accept": "application/json" },
        credentials: "same-origin"
      }).then(function (r) { return r.ok ? r.json() : null; })
        .then(function (d) { fill(d, typed); })
        .catch(function () { /* no guess: the form is filled by hand */ });
    });
  }
  // A Test Connection result's fix button opens Advanced and puts the cursor in the field
  // that fixes the failure (a pin button fills in the fingerprint shown).
  document.addEventListener("click", function (e) {
    var link = e.target.closest ? e.target.closest("a[data-fix]") : null;
    if (!link) { return; }
    var field = document.getElementById(link.getAttribute("data-fix"));
    if (!field) { return; }
    e.preventDefault();
    var details = field.closest("details");
    if (details) { details.open = true; }
    if (link.hasAttribute("data-value")) {
      field.value = link.getAttribute("data-value");
      field.dispatchEvent(new Event("input", { bubbles: true }));
    }
    field.scrollIntoView({ block: "center" });
    field.focus();
  });
  // Delete asks for confirmation before the confirmation page is even needed.
  document.querySelectorAll("form[data-confirm]").forEach(function (form) {
    form.addEventListener("submit", function (e) {
      if (!window.confirm(form.getAttribute("data-confirm"))) { e.preventDefault(); }
    });
  });
})();
// Times: <time datetime> elements show the local time, and "3 min ago" for the last day; the
// exact UTC time stays in the title. The navigation marks the current section.
(function () {
  "use strict";
  function ago(ms) {
    var s = Math.round(ms / 1000);
    if (s < 45) { return "just now"; }
    var m = Math.round(s / 60);
    if (m < 60) { return m + " min ago"; }
    var h = Math.round(m / 60);
    return h + (h === 1 ? " hour ago" : " hours ago");
  }
  document.querySelectorAll("time[datetime]").forEach(function (el) {
    var t = new Date(el.getAttribute("datetime"));
    if (isNaN(t.getTime())) { return; }
    var local = t.toLocaleString(undefined, {
      year: "numeric", month: "short", day: "numeric", hour: "2-digit", minute: "2-digit"
    });
    var age = Date.now() - t.getTime();
    el.textContent = age >= 0 && age < 86400000 ? ago(age) : local;
    el.title = local + " (" + el.getAttribute("datetime") + ")";
  });
  var path = window.location.pathname;
  var best = null;
  document.querySelectorAll(".topbar nav a[href]").forEach(function (a) {
    var href = a.getAttribute("href");
    if ((path === href || path.indexOf(href + "/") === 0) &&
        (!best || href.length > best.getAttribute("href").length)) { best = a; }
  });
  if (!best) { return; }
  best.setAttribute("aria-current", "page");
  // On a narrow screen the navigation is a strip that scrolls sideways: bring the current
  // section into its middle (without moving the page).
  for (var el = best.parentElement; el && el !== document.body; el = el.parentElement) {
    if (el.scrollWidth > el.clientWidth) {
      var b = best.getBoundingClientRect(), e = el.getBoundingClientRect();
      el.scrollLeft += (b.left + b.width / 2) - (e.left + e.width / 2);
      break;
    }
  }
})();
