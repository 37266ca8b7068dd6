// Upload page: poll the upload status until preprocess has queued the job or rejected the
// files, then go to the job page or back to the form with every problem shown.
"use strict";
(() => {
  const box = document.getElementById("upload-status");
  if (!box) return;
  const bar = document.getElementById("validate-progress");
  const text = document.getElementById("validate-text");
  window.Teachbox.poll(box.dataset.statusUrl, 1000, (data) => {
    const p = data.progress || {};
    if (p.total) {
      bar.value = Math.round((100 * p.done) / p.total);
      text.textContent = `Checked ${p.done} of ${p.total} files`;
    }
    if (data.next_url) {
      window.location.assign(data.next_url);
      return true;
    }
    return false;
  });
})();
