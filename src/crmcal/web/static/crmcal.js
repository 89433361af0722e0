// crmcal dashboard scripts. The Content-Security-Policy allows scripts from this origin and
// inline scripts that carry the response's nonce only (issue 19).
(function () {
  "use strict";
  // the user picker submits when a user is chosen
  document.querySelectorAll("select[data-autosubmit]").forEach(function (sel) {
    sel.addEventListener("change", function () { sel.form.submit(); });
  });

})();
