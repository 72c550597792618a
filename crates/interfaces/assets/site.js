// Progressive enhancement only: every page works without this file.
"use strict";
document.addEventListener("click", (event) => {
  const print = event.target.closest("[data-print]");
  if (print) {
    window.print();
  }
});
// A form sends once: its submit buttons are disabled while the page goes on (the server
// also carries a resent form out only once).
document.addEventListener("submit", (event) => {
  const form = event.target;
  if (form.dataset.sent) {
    event.preventDefault();
    return;
  }
  form.dataset.sent = "1";
  window.setTimeout(() => { delete form.dataset.sent; }, 10000);
});
// Ask before an action that cannot be undone.
document.addEventListener("submit", (event) => {
  const question = event.target.dataset.confirm;
  if (question && !window.confirm(question)) {
    event.preventDefault();
    delete event.target.dataset.sent;
  }
}, true);
