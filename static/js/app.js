// Shared by every page: mark that scripts run (CSS shows .js-only parts), and drag and drop
// onto file inputs. Kept tiny and framework-free; every page also works without it.
"use strict";
document.documentElement.classList.add("js");

window.Teachbox = {
  // Make every [data-dropzone] inside root accept dropped files into its file input.
  enableDropzones(root) {
    root.addEventListener("dragover", (event) => {
      const zone = event.target.closest && event.target.closest("[data-dropzone]");
      if (!zone) return;
      event.preventDefault();
      zone.classList.add("dragging");
    });
    root.addEventListener("dragleave", (event) => {
      const zone = event.target.closest && event.target.closest("[data-dropzone]");
      if (zone) zone.classList.remove("dragging");
    });
    root.addEventListener("drop", (event) => {
      const zone = event.target.closest && event.target.closest("[data-dropzone]");
      if (!zone) return;
      event.preventDefault();
      zone.classList.remove("dragging");
      const input = zone.querySelector("input[type=file]");
      const merged = new DataTransfer();
      if (input.multiple) for (const file of input.files) merged.items.add(file);
      for (const file of event.dataTransfer.files) {
        merged.items.add(file);
        if (!input.multiple) break;
      }
      input.files = merged.files;
      input.dispatchEvent(new Event("change", { bubbles: true }));
    });
  },

  // Poll url every intervalMs and pass the JSON to onData until it returns true.
  poll(url, intervalMs, onData) {
    const tick = () => {
      fetch(url, { headers: { Accept: "application/json" }, credentials: "same-origin" })
        .then((response) => response.json())
        .then((data) => { if (!onData(data)) setTimeout(tick, intervalMs); })
        .catch(() => setTimeout(tick, intervalMs * 2));
    };
    tick();
  },

  // POST data to url with upload progress. 202 means accepted: onAccepted(), then go to its
  // page_url. Any other answer calls onRefused(status, body); a broken connection onBroken().
  sendUpload(url, data, { onProgress, onAccepted, onRefused, onBroken }) {
    const xhr = new XMLHttpRequest();
    xhr.open("POST", url);
    xhr.setRequestHeader("X-Requested-With", "XMLHttpRequest");
    xhr.responseType = "json";
    xhr.upload.addEventListener("progress", (e) => {
      if (e.lengthComputable) onProgress(Math.round((100 * e.loaded) / e.total));
    });
    xhr.addEventListener("load", () => {
      const body = xhr.response || {};
      if (xhr.status === 202) {
        onAccepted();
        window.location.assign(body.page_url);
        return;
      }
      onRefused(xhr.status, body);
    });
    xhr.addEventListener("error", onBroken);
    xhr.send(data);
  },
};
