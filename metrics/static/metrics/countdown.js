// Counts down every <time class="countdown" datetime="..."> on the page (next retries), once a second.
(function () {
  function words(seconds) {
    var s = Math.round(seconds);
    if (s <= 0) return "now (due)";
    if (s < 60) return "in " + s + " s";
    if (s < 3600) return "in " + Math.floor(s / 60) + " min " + String(s % 60).padStart(2, "0") + " s";
    return "in " + Math.floor(s / 3600) + " h " + String(Math.floor((s % 3600) / 60)).padStart(2, "0") + " min";
  }
  function tick() {
    document.querySelectorAll("time.countdown[datetime]").forEach(function (el) {
      var at = Date.parse(el.getAttribute("datetime"));
      if (!isNaN(at)) el.textContent = words((at - Date.now()) / 1000);
    });
  }
  document.addEventListener("DOMContentLoaded", function () { tick(); setInterval(tick, 1000); });
})();
