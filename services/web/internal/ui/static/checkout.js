// Sends the browser's time zone with the checkout, so the assistant dates
// its notes in the customer's day.
"use strict";
try {
  document.getElementById("timezone").value = Intl.DateTimeFormat().resolvedOptions().timeZone || "";
} catch (e) { /* an old browser: the platform defaults to UTC */ }
