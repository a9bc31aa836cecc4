// Live updates: on each witness event, fetch this page again and swap its <main> (no inline script: CSP).
(function () {
  if (!window.EventSource) { return; }
  var status = document.getElementById('live');
  var source = new EventSource('/events');
  var pending = false;
  var again = false;
  // One fetch at a time; an event that arrives during it fetches once more afterwards (else the last change is missed).
  function refresh() {
    if (document.querySelector('form[data-confirm]')) { return; }
    if (pending) { again = true; return; }
    pending = true;
    again = false;
    fetch(location.href, { credentials: 'same-origin' }).then(function (r) { return r.ok ? r.text() : ''; }).then(function (text) {
      var next = new DOMParser().parseFromString(text, 'text/html').getElementById('main');
      var main = document.getElementById('main');
      if (next && main) { main.innerHTML = next.innerHTML; }
    }).catch(function () { }).finally(function () {
      pending = false;
      if (again) { refresh(); }
    });
  }
  source.onopen = function () { if (status) { status.textContent = 'Live'; } };
  source.onerror = function () { if (status) { status.textContent = 'Live updates interrupted; retrying'; } };
  source.onmessage = function (e) {
    if (status) { status.textContent = 'Live · last event: ' + e.data; }
    refresh();
  };
  document.addEventListener('click', function (e) {
    var button = e.target.closest('button[data-copy]');
    if (!button) { return; }
    var code = document.getElementById(button.getAttribute('data-copy'));
    if (code && navigator.clipboard) { navigator.clipboard.writeText(code.textContent); button.textContent = 'Copied'; }
  });
})();
