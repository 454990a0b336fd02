/* Sign-up: the browser's time zone (an IANA name such as "Europe/Berlin") into the
 * form's hidden field marked data-time-zone, so that the account shows times, and
 * sends its mail, in the person's own zone from the start. The server checks the name
 * (app.i18n.known_zone) and keeps UTC for anything else; without JS, UTC it is, and the
 * account page changes it. A file of its own: the Content-Security-Policy allows no
 * inline script.
 */
(function () {
  "use strict";

  var zone = "";
  try {
    zone = Intl.DateTimeFormat().resolvedOptions().timeZone || "";
  } catch (e) {
    return;
  }
  if (!zone) return;
  var fields = document.querySelectorAll("input[data-time-zone]");
  for (var i = 0; i < fields.length; i++) {
    if (!fields[i].value) fields[i].value = zone;
  }
})();
