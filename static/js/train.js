// Train page: class fields appear as the number changes, thumbnails and counts for chosen
// images, and the upload sent with XHR so a progress bar can show how much has been sent.
"use strict";
(() => {
  const form = document.getElementById("train-form");
  if (!form) return;
  const classes = document.getElementById("classes");
  const countInput = form.querySelector("input[name=num_classes]");
  const minPer = Number(form.dataset.minPerClass);
  const maxPer = Number(form.dataset.maxPerClass);
  const maxBytes = Number(form.dataset.maxBytes);
  const THUMBS = 30;

  function renumber(block, index) {
    block.dataset.index = index;
    block.querySelector("legend").textContent = `Class ${index + 1}`;
    for (const el of block.querySelectorAll("[name],[id],[for],[data-field]")) {
      for (const attr of ["name", "id", "for", "data-field"]) {
        const value = el.getAttribute(attr);
        if (value) el.setAttribute(attr, value.replace(/class_\d+_/, `class_${index}_`));
      }
    }
    for (const label of block.querySelectorAll("label")) {
      label.textContent = label.textContent.replace(/Class \d+/, `Class ${index + 1}`);
    }
  }

  function clearBlock(block) {
    for (const input of block.querySelectorAll("input, textarea")) input.value = "";
    for (const el of block.querySelectorAll(".errors, [data-thumbs]")) el.replaceChildren();
    for (const el of block.querySelectorAll(".refill")) el.remove();
    for (const el of block.querySelectorAll(".has-error")) el.classList.remove("has-error");
    for (const el of block.querySelectorAll("[data-count]")) el.textContent = "";
  }

  function setClassCount() {
    const low = Number(countInput.min), high = Number(countInput.max);
    const wanted = Math.min(Math.max(Number(countInput.value) || low, low), high);
    const blocks = () => classes.querySelectorAll(".class-block");
    while (blocks().length < wanted) {
      const copy = blocks()[blocks().length - 1].cloneNode(true);
      renumber(copy, blocks().length);
      clearBlock(copy);
      classes.appendChild(copy);
    }
    while (blocks().length > wanted) blocks()[blocks().length - 1].remove();
  }

  function showFiles(input) {
    const zone = input.closest("[data-dropzone]");
    if (!zone) return;
    const count = input.files.length;
    const label = zone.querySelector("[data-count]");
    const ok = count >= minPer && count <= maxPer;
    label.textContent = `${count} image${count === 1 ? "" : "s"} chosen (${minPer}–${maxPer} per class)`;
    label.classList.toggle("bad", count > 0 && !ok);
    label.classList.toggle("good", ok);
    const thumbs = zone.querySelector("[data-thumbs]");
    for (const img of thumbs.querySelectorAll("img")) URL.revokeObjectURL(img.src);
    thumbs.replaceChildren();
    [...input.files].slice(0, THUMBS).forEach((file) => {
      const img = document.createElement("img");
      img.src = URL.createObjectURL(file);
      img.alt = file.name;
      img.title = file.name;
      thumbs.appendChild(img);
    });
    if (count > THUMBS) {
      const more = document.createElement("span");
      more.className = "more";
      more.textContent = `+${count - THUMBS} more`;
      thumbs.appendChild(more);
    }
  }

  function showErrors(fields) {
    for (const list of form.querySelectorAll(".errors")) list.replaceChildren();
    for (const el of form.querySelectorAll(".has-error")) el.classList.remove("has-error");
    for (const [name, messages] of Object.entries(fields || {})) {
      const box = form.querySelector(`[data-field="${name}"]`);
      if (!box) continue;
      box.classList.add("has-error");
      const list = box.querySelector(".errors");
      for (const message of messages) {
        const item = document.createElement("li");
        item.textContent = message;
        list.appendChild(item);
      }
    }
    const first = form.querySelector(".has-error");
    if (first) first.scrollIntoView({ block: "center" });
  }

  function say(message) {
    const box = document.getElementById("form-message");
    box.textContent = message;
    box.hidden = !message;
  }

  function upload(event) {
    if (event.submitter && event.submitter.name === "resize") return;  // no-JS fallback button
    event.preventDefault();
    say("");
    const data = new FormData(form);
    let total = 0;
    for (const value of data.values()) if (value instanceof File) total += value.size;
    if (total > maxBytes) {
      say(`These files add up to ${(total / 1048576).toFixed(0)} MB; one upload may hold ` +
          `${(maxBytes / 1048576).toFixed(0)} MB. Choose fewer or smaller files.`);
      return;
    }
    const bar = document.getElementById("upload-progress");
    const state = document.getElementById("upload-state");
    const button = form.querySelector("input[name=submit]");
    bar.hidden = false;
    bar.value = 0;
    button.disabled = true;
    state.textContent = "Uploading…";
    window.Teachbox.sendUpload(form.action, data, {
      onProgress(percent) {
        bar.value = percent;
        state.textContent = `Uploading… ${percent}%`;
      },
      onAccepted() { state.textContent = "Uploaded. Checking your files…"; },
      onRefused(status, body) {
        button.disabled = false;
        bar.hidden = true;
        state.textContent = "";
        showErrors(body.fields);
        say(body.message || `The upload failed (${status}). Try again.`);
      },
      onBroken() {
        button.disabled = false;
        bar.hidden = true;
        state.textContent = "";
        say("The connection broke during the upload. Check your network and try again.");
      },
    });
  }

  countInput.addEventListener("input", setClassCount);
  form.addEventListener("change", (event) => {
    if (event.target.type === "file") showFiles(event.target);
  });
  form.addEventListener("submit", upload);
  window.Teachbox.enableDropzones(form);
})();

// Import: a .zip, or a folder holding one folder per class, chosen or dropped. Folder files
// are sent named by their path (folder/class/file.jpg) so the server groups them by class.
(() => {
  const form = document.getElementById("import-form");
  if (!form) return;
  const zone = form.querySelector("[data-import-drop]");
  const archiveInput = form.querySelector("input[type=file][name$=archive]");
  const folderInput = form.querySelector("input[type=file][name$=folder]");
  const chosen = form.querySelector("[data-import-chosen]");
  const state = document.getElementById("import-state");
  const message = document.getElementById("import-message");
  let dropped = null;  // {archive: File} or {files: [[path, File], ...]}

  function say(text) {
    message.textContent = text;
    message.hidden = !text;
  }

  function show() {
    if (dropped && dropped.archive) chosen.textContent = `${dropped.archive.name} chosen`;
    else if (dropped) chosen.textContent = `${dropped.files.length} files from the dropped folder`;
    else if (archiveInput.files.length) chosen.textContent = `${archiveInput.files[0].name} chosen`;
    else if (folderInput.files.length) chosen.textContent = `${folderInput.files.length} files from the folder`;
    else chosen.textContent = "";
  }

  const fileOf = (entry) => new Promise((resolve, reject) => entry.file(resolve, reject));
  const batchOf = (reader) => new Promise((resolve, reject) => reader.readEntries(resolve, reject));

  async function walk(entry, path, out) {
    if (entry.isFile) {
      out.push([path + entry.name, await fileOf(entry)]);
      return;
    }
    const reader = entry.createReader();
    for (let batch = await batchOf(reader); batch.length; batch = await batchOf(reader)) {
      for (const child of batch) await walk(child, `${path}${entry.name}/`, out);
    }
  }

  zone.addEventListener("dragover", (event) => {
    event.preventDefault();
    zone.classList.add("dragging");
  });
  zone.addEventListener("dragleave", () => zone.classList.remove("dragging"));
  zone.addEventListener("drop", async (event) => {
    event.preventDefault();
    zone.classList.remove("dragging");
    const files = [...event.dataTransfer.files];
    const entries = [...event.dataTransfer.items].map((item) => item.webkitGetAsEntry && item.webkitGetAsEntry());
    if (files.length === 1 && files[0].name.toLowerCase().endsWith(".zip")) {
      dropped = { archive: files[0] };
    } else {
      const out = [];
      for (const entry of entries.filter(Boolean)) await walk(entry, "", out);
      dropped = { files: out };
    }
    show();
  });
  form.addEventListener("change", () => { dropped = null; show(); });

  form.addEventListener("submit", (event) => {
    event.preventDefault();
    say("");
    const data = new FormData();
    for (const input of form.querySelectorAll("input[type=hidden], input[type=text]")) {
      data.append(input.name, input.value);
    }
    const archive = (dropped && dropped.archive) || archiveInput.files[0];
    if (archive) {
      data.append(archiveInput.name, archive, archive.name);
    } else {
      const files = (dropped && dropped.files)
        || [...folderInput.files].map((file) => [file.webkitRelativePath || file.name, file]);
      for (const [path, file] of files) data.append(folderInput.name, file, path);
    }
    const button = document.getElementById("import-submit");
    button.disabled = true;
    state.textContent = "Uploading…";
    window.Teachbox.sendUpload(form.action, data, {
      onProgress(percent) { state.textContent = `Uploading… ${percent}%`; },
      onAccepted() { state.textContent = "Uploaded. Checking your files…"; },
      onRefused(status, body) {
        button.disabled = false;
        state.textContent = "";
        say([body.message, ...Object.values(body.fields || {}).flat()].filter(Boolean).join(" ")
            || `The upload failed (${status}). Try again.`);
      },
      onBroken() {
        button.disabled = false;
        state.textContent = "";
        say("The connection broke during the upload. Check your network and try again.");
      },
    });
  });
})();
