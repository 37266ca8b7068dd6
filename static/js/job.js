// Job page: poll the job status and update queue position, phase, progress and time left,
// then show the result or the failure reason.
"use strict";
(() => {
  const box = document.getElementById("job");
  if (!box) return;
  const $ = (id) => document.getElementById(id);
  const seconds = (s) => (s == null ? "–" : `${Math.round(s)} s`);
  window.Teachbox.poll(box.dataset.statusUrl, 1500, (job) => {
    box.dataset.state = job.state;
    $("job-state").textContent = job.state;
    $("job-state").className = `badge state-${job.state}`;
    $("job-queue").textContent = job.state === "queued"
      ? `${job.queue_position} job${job.queue_position === 1 ? "" : "s"} ahead` : "–";
    $("job-phase").textContent = job.progress.phase || "–";
    $("job-progress").value = job.progress.percent || 0;
    $("job-elapsed").textContent = seconds(job.progress.elapsed);
    $("job-eta").textContent = job.progress.eta_seconds == null ? "–" : `about ${seconds(job.progress.eta_seconds)}`;
    $("job-error").textContent = job.error;
    $("job-error").hidden = !job.error;
    if (job.next_url) {
      $("job-version").textContent = job.model_version;
      $("job-details").href = job.next_url;
      $("job-done").hidden = false;
    }
    if (job.terminal) {
      const cancel = $("cancel-form");
      if (cancel) cancel.remove();
    }
    return job.terminal;
  });
})();
