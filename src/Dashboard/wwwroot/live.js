// Live updates: on each witness event, fetch this page again and swap its <main> (no inline script: CSP).
(function () {
  if (!window.EventSource) { return; }
  var status = document.getElementById('live');
  var source = new EventSource('/events');
  var pending = false;
  source.onopen = function () { if (status) { status.textContent = 'Live'; } };
  source.onerror = function () { if (status) { status.textContent = 'Live updates interrupted; retrying'; } };
  source.onmessage = function (e) {
    if (status) { status.textContent = 'Live · last event: ' + e.data; }
    if (pending || document.querySelector('form[data-confirm]')) { return; }
    pending = true;
    fetch(location.href, { credentials: 'same-origin' }).then(function (r) { return r.text(); }).then(function (text) {
      var next = new DOMParser().parseFromString(text, 'text/html').getElementById('main');
      var main = document.getElementById('main');
      if (next && main) { main.innerHTML = next.innerHTML; }
    }).finally(function () { pending = false; });
  };
  document.addEventListener('click', function (e) {
    var button = e.target.closest('button[data-copy]');
    if (!button) { return; }
    var code = document.getElementById(button.getAttribute('data-copy'));
    if (code && navigator.clipboard) { navigator.clipboard.writeText(code.textContent); button.textContent = 'Copied'; }
  });
})();
