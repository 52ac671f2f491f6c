"use strict";
// The camera page: frames go to POST /v1/classify one at a time (the next is taken only after the answer came),
// at most FPS a second, so a slow server or network slows the page down instead of piling requests up.

const FPS = 4;
const MAX_SIDE = 640;      // frames are scaled down to this: the digit finder reads ~640 px frames best and fastest
const JPEG_QUALITY = 0.85;
const TOKEN_KEY = "digitedge-token";

const $ = (id) => document.getElementById(id);
const video = $("video"), still = $("still"), overlay = $("overlay");
const grab = document.createElement("canvas");
let stream = null;
let frames = 0;

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

// ------------------------------------------------------------ talking to the server
function authHeader() {
  const token = $("token").value || sessionStorage.getItem(TOKEN_KEY) || "";
  return token ? {Authorization: "Bearer " + token} : {};
}

async function classify(body, type) {
  const started = performance.now();
  const res = await fetch("/v1/classify", {
    method: "POST", body, headers: {"Content-Type": type || "application/octet-stream", ...authHeader()},
  });
  let answer;
  try { answer = await res.json(); } catch { answer = {error: `HTTP ${res.status}`}; }
  if (res.status === 401) $("token-box").hidden = false;
  if (!res.ok) throw new Error(answer.error || `HTTP ${res.status}`);
  answer.roundTripMs = performance.now() - started;
  return answer;
}

// ------------------------------------------------------------ showing a reading
function showError(message) {
  $("error").textContent = message;
  $("error").hidden = !message;
}

function show(reading, shown) {
  frames += 1;
  document.body.dataset.frames = String(frames);
  showError("");
  $("text").textContent = reading.text;
  $("copy").disabled = !reading.text;
  $("digits").replaceChildren(...reading.digits.map((d) => {
    const li = document.createElement("li");
    li.dataset.label = d.label;
    li.dataset.confidence = d.confidence;
    li.textContent = `${d.label} · ${Math.round(d.confidence * 100)} %`;
    return li;
  }));
  $("status").textContent = `${reading.digits.length} digit(s), ${reading.width}x${reading.height}, `
    + `${Math.round(reading.roundTripMs)} ms`;
  drawBoxes(reading, shown);
}

function drawBoxes(reading, shown) {
  const ctx = overlay.getContext("2d");
  if (!shown) { ctx.clearRect(0, 0, overlay.width, overlay.height); return; }
  // The overlay covers the picture as shown on screen; boxes come in the sent image's pixels.
  const rect = shown.getBoundingClientRect(), dpr = window.devicePixelRatio || 1;
  overlay.width = Math.round(rect.width * dpr);
  overlay.height = Math.round(rect.height * dpr);
  overlay.style.width = `${rect.width}px`;
  overlay.style.height = `${rect.height}px`;
  const sx = overlay.width / reading.width, sy = overlay.height / reading.height;
  const size = Math.max(14, Math.round(18 * dpr));
  ctx.lineWidth = Math.max(2, 2 * dpr);
  ctx.font = `bold ${size}px system-ui, sans-serif`;
  ctx.textBaseline = "bottom";
  for (const d of reading.digits) {
    const [x, y, w, h] = d.box;
    ctx.strokeStyle = "#16a34a";
    ctx.strokeRect(x * sx, y * sy, w * sx, h * sy);
    const label = String(d.label), width = ctx.measureText(label).width + 8;
    const top = Math.max(size + 4, y * sy);
    ctx.fillStyle = "#16a34a";
    ctx.fillRect(x * sx, top - size - 4, width, size + 4);
    ctx.fillStyle = "#fff";
    ctx.fillText(label, x * sx + 4, top - 1);
  }
}

// ------------------------------------------------------------ the camera
function snapshot() {
  const scale = Math.min(1, MAX_SIDE / Math.max(video.videoWidth, video.videoHeight));
  grab.width = Math.round(video.videoWidth * scale);
  grab.height = Math.round(video.videoHeight * scale);
  grab.getContext("2d").drawImage(video, 0, 0, grab.width, grab.height);
  return new Promise((resolve) => grab.toBlob(resolve, "image/jpeg", JPEG_QUALITY));
}

async function cameraLoop() {
  while (stream) {
    const started = performance.now();
    if (video.readyState >= 2 && video.videoWidth) {
      try {
        const reading = await classify(await snapshot(), "image/jpeg");
        if (stream) show(reading, video);
      } catch (e) {
        showError(e.message);
      }
    }
    await sleep(Math.max(0, 1000 / FPS - (performance.now() - started)));
  }
}

async function startCamera() {
  if (!navigator.mediaDevices || !navigator.mediaDevices.getUserMedia) {
    showError("This browser gives the camera only to HTTPS pages or localhost; choose an image instead.");
    return;
  }
  try {
    stream = await navigator.mediaDevices.getUserMedia(
      {video: {facingMode: "environment", width: {ideal: 1280}, height: {ideal: 720}}, audio: false});
  } catch (e) {
    showError(`No camera: ${e.name === "NotAllowedError" ? "permission denied" : e.message || e.name}`);
    return;
  }
  video.srcObject = stream;
  await video.play();
  video.hidden = false;
  still.hidden = true;
  $("hint").hidden = true;
  $("camera").textContent = "Stop camera";
  cameraLoop();
}

function stopCamera() {
  if (!stream) return;
  stream.getTracks().forEach((t) => t.stop());
  stream = null;
  video.srcObject = null;
  $("camera").textContent = "Start camera";
}

// ------------------------------------------------------------ a picked or dropped file
async function readFile(file) {
  if (!file) return;
  stopCamera();
  video.hidden = true;
  $("hint").hidden = true;
  try {
    const bitmap = await createImageBitmap(file);
    still.width = bitmap.width;
    still.height = bitmap.height;
    still.getContext("2d").drawImage(bitmap, 0, 0);
    bitmap.close();
    still.hidden = false;
  } catch {
    still.hidden = true;  // the browser cannot show it; the server still says what it makes of it
  }
  try {
    show(await classify(file, file.type), still.hidden ? null : still);
  } catch (e) {
    $("text").textContent = "";
    $("digits").replaceChildren();
    drawBoxes(null, null);
    showError(e.message);
  }
}

// ------------------------------------------------------------ wiring
$("camera").addEventListener("click", () => (stream ? stopCamera() : startCamera()));
$("file").addEventListener("change", (e) => readFile(e.target.files[0]));
$("token").addEventListener("change", (e) => sessionStorage.setItem(TOKEN_KEY, e.target.value));
document.addEventListener("dragover", (e) => { e.preventDefault(); document.body.classList.add("dropping"); });
document.addEventListener("dragleave", () => document.body.classList.remove("dropping"));
document.addEventListener("drop", (e) => {
  e.preventDefault();
  document.body.classList.remove("dropping");
  readFile(e.dataTransfer.files[0]);
});
$("copy").addEventListener("click", async () => {
  const text = $("text").textContent;
  try {
    await navigator.clipboard.writeText(text);
  } catch {  // no clipboard API (plain HTTP off localhost): copy the selection the old way
    const range = document.createRange();
    range.selectNodeContents($("text"));
    getSelection().removeAllRanges();
    getSelection().addRange(range);
    document.execCommand("copy");
  }
  $("copy").textContent = "Copied";
  setTimeout(() => { $("copy").textContent = "Copy"; }, 1200);
});
