// The templates page: uploads a root file system tarball to the REST API
// (PUT /api/v1/templates/NAME) with the session cookie, showing progress
// and putting any error next to its field.
(function () {
  'use strict';
  const form = document.getElementById('template-upload');
  if (!form) return;
  const nameInput = document.getElementById('upload-name');
  const descInput = document.getElementById('upload-description');
  const fileInput = document.getElementById('upload-file');
  const progress = document.getElementById('upload-progress');
  const message = document.getElementById('upload-message');
  const submit = document.getElementById('upload-submit');
  const csrf = (document.querySelector('meta[name="csrf-token"]') || {}).content || '';

  function clearErrors() {
    message.hidden = true;
    form.querySelectorAll('.field-error').forEach(function (p) { p.hidden = true; p.textContent = ''; });
    form.querySelectorAll('[aria-invalid]').forEach(function (el) { el.removeAttribute('aria-invalid'); });
  }
  function fieldError(field, text) {
    const p = form.querySelector('.field-error[data-for="' + field + '"]');
    if (!p) return false;
    p.textContent = text;
    p.hidden = false;
    const input = { name: nameInput, description: descInput, body: fileInput }[field];
    if (input) input.setAttribute('aria-invalid', 'true');
    return true;
  }
  function showMessage(text) {
    message.textContent = text;
    message.hidden = false;
  }

  form.addEventListener('submit', function (ev) {
    ev.preventDefault();
    clearErrors();
    const name = nameInput.value.trim();
    const file = fileInput.files && fileInput.files[0];
    let bad = false;
    if (!name) bad = fieldError('name', 'is required');
    if (!file) bad = fieldError('body', 'choose a .tar.gz file') || bad;
    if (bad) { showMessage('The template was not uploaded.'); return; }

    const q = new URLSearchParams();
    if (descInput.value) q.set('description', descInput.value);
    const xhr = new XMLHttpRequest();
    xhr.open('PUT', '/api/v1/templates/' + encodeURIComponent(name) + (q.toString() ? '?' + q : ''));
    xhr.setRequestHeader('X-CSRF-Token', csrf);
    xhr.setRequestHeader('Content-Type', 'application/gzip');
    xhr.setRequestHeader('Accept', 'application/json');
    progress.hidden = false;
    progress.value = 0;
    submit.disabled = true;
    submit.textContent = 'Uploading…';
    xhr.upload.onprogress = function (e) {
      if (e.lengthComputable) progress.value = Math.round(100 * e.loaded / e.total);
    };
    function done() {
      submit.disabled = false;
      submit.textContent = 'Upload';
      progress.hidden = true;
    }
    xhr.onerror = function () { done(); showMessage('The upload failed: the connection to the panel was lost.'); };
    xhr.onload = function () {
      done();
      if (xhr.status === 200 || xhr.status === 201) {
        location.href = '/templates?done=uploaded&name=' + encodeURIComponent(name);
        return;
      }
      let err = {};
      try { err = JSON.parse(xhr.responseText).error || {}; } catch (e) { /* not JSON */ }
      const fields = err.fields || {};
      let placed = false;
      Object.keys(fields).forEach(function (f) { placed = fieldError(f, fields[f]) || placed; });
      showMessage(placed ? 'The template was not uploaded.' : (err.message || ('The upload failed: ' + xhr.status)));
    };
    xhr.send(file);
  });
})();
