// Carries the one-time handoff to the Control UI's own origin at once: the
// token travels in the form's body, never in a URL.
"use strict";
document.getElementById("control-handoff").submit();
