// Inference page: preview the chosen or dropped image, and take a webcam snapshot that is
// put into the same file input and sent with the same form.
"use strict";
(() => {
  const form = document.getElementById("predict-form");
  if (!form) return;
  const input = form.querySelector("input[type=file]");
  if (!input) return;
  window.Teachbox.enableDropzones(form);
  const preview = document.getElementById("preview");
  input.addEventListener("change", () => {
    if (!input.files.length) return;
    if (preview.src) URL.revokeObjectURL(preview.src);
    preview.src = URL.createObjectURL(input.files[0]);
    preview.hidden = false;
  });

  const video = document.getElementById("camera");
  const snap = document.getElementById("camera-snap");
  const problem = document.getElementById("camera-error");
  document.getElementById("camera-start").addEventListener("click", async () => {
    problem.hidden = true;
    if (!navigator.mediaDevices || !navigator.mediaDevices.getUserMedia) {
      problem.textContent = "This browser cannot use a webcam here (it needs HTTPS or localhost).";
      problem.hidden = false;
      return;
    }
    try {
      video.srcObject = await navigator.mediaDevices.getUserMedia({ video: true, audio: false });
      video.hidden = false;
      // Only once frames have a size can a snapshot be drawn.
      video.addEventListener("loadedmetadata", () => { snap.hidden = false; }, { once: true });
    } catch (error) {
      problem.textContent = `The webcam could not be opened: ${error.message}. Allow camera access and try again.`;
      problem.hidden = false;
    }
  });
  snap.addEventListener("click", () => {
    const canvas = document.getElementById("camera-canvas");
    canvas.width = video.videoWidth;
    canvas.height = video.videoHeight;
    canvas.getContext("2d").drawImage(video, 0, 0);
    canvas.toBlob((blob) => {
      const files = new DataTransfer();
      files.items.add(new File([blob], "webcam.jpg", { type: "image/jpeg" }));
      input.files = files.files;
      form.requestSubmit();
    }, "image/jpeg", 0.92);
  });
})();
