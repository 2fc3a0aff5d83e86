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
