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
  // Delete asks for confirmation before the confirmation page is even needed.
  document.querySelectorAll("form[data-confirm]").forEach(function (form) {
    form.addEventListener("submit", function (e) {
      if (!window.confirm(form.getAttribute("data-confirm"))) { e.preventDefault(); }
    });
  });
})();
