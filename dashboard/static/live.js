// Live refresh of a running instance's page: reload every data-refresh seconds,
// except while the user is typing into a form or has a payload open. Without
// JavaScript the page works the same, without refreshing itself.
(function () {
  var s = parseInt(document.body.getAttribute("data-refresh"), 10);
  if (!s) return;
  function busy() {
    var a = document.activeElement;
    if (a && (a.tagName === "INPUT" || a.tagName === "TEXTAREA" || a.tagName === "SELECT")) return true;
    if (document.querySelector("details[open]")) return true;
    var fields = document.querySelectorAll("form input:not([type=hidden]), form textarea");
    for (var i = 0; i < fields.length; i++) if (fields[i].value) return true;
    return false;
  }
  setInterval(function () { if (!busy()) location.reload(); }, s * 1000);
})();
