// The dashboard's renderer: fetches api/status every 2 s and rebuilds the page.
// Every value from the server (file names above all) goes in as text (textContent),
// never as markup, and the Content-Security-Policy forbids inline script anyway.
"use strict";

const token = new URLSearchParams(window.location.search).get("token");
const withToken = (url) => (token ? url + (url.includes("?") ? "&" : "?") + "token=" + encodeURIComponent(token) : url);
const SVG = "http://www.w3.org/2000/svg";

function bytes(n) {
  if (n === null || n === undefined) return "";
  const units = ["B", "KiB", "MiB", "GiB", "TiB"];
  let i = 0;
  while (n >= 1024 && i < units.length - 1) { n /= 1024; i += 1; }
  return (i ? n.toFixed(1) : String(n)) + " " + units[i];
}

function duration(s) {
  if (s === null || s === undefined) return "";
  if (s < 60) return s.toFixed(1) + " s";
  if (s < 3600) return (s / 60).toFixed(1) + " min";
  return (s / 3600).toFixed(1) + " h";
}

function when(iso) { return iso ? new Date(iso).toLocaleString() : ""; }

function cell(row, text, cls) {
  const td = document.createElement("td");
  td.textContent = text === null || text === undefined ? "" : String(text);
  if (cls) td.className = cls;
  row.appendChild(td);
  return td;
}

function fill(tableId, items, columns, empty) {
  const body = document.querySelector("#" + tableId + " tbody");
  const rows = [];
  for (const item of items) {
    const tr = document.createElement("tr");
    for (const [key, cls, format] of columns) {
      if (key === "preview") {
        const td = cell(tr, "", "preview");
        if (item.preview) {
          const img = document.createElement("img");
          img.className = "thumb";
          img.alt = "preview of " + item.output;
          img.src = withToken(item.preview);
          td.appendChild(img);
        }
      } else if (key === "retry_command") {
        const td = cell(tr, "", "");
        if (item.retry_command) {
          const code = document.createElement("code");
          code.textContent = item.retry_command;
          td.appendChild(code);
        }
      } else {
        cell(tr, format ? format(item[key]) : item[key], cls);
      }
    }
    rows.push(tr);
  }
  if (!rows.length) {
    const tr = document.createElement("tr");
    const td = cell(tr, empty, "empty");
    td.colSpan = columns.length;
    rows.push(tr);
  }
  body.replaceChildren(...rows);
}

function counts(facts) {
  const boxes = [];
  for (const [state, n] of Object.entries(facts.counts).concat([["total", facts.total]])) {
    const box = document.createElement("div");
    box.className = "count";
    box.id = "count-" + state;
    const number = document.createElement("span");
    number.className = "n";
    number.textContent = String(n);
    const label = document.createElement("span");
    label.className = "label";
    label.textContent = state;
    box.append(number, label);
    boxes.push(box);
  }
  document.getElementById("counts").replaceChildren(...boxes);
}

function chart(facts) {
  const svg = document.getElementById("chart");
  const buckets = facts.throughput.buckets;
  const width = 720, height = 160, step = width / buckets.length;
  const start = Date.parse(buckets[0].start);
  const span = buckets.length * facts.throughput.bucket_seconds * 1000;
  const samples = facts.queue_history.map((s) => [Date.parse(s.time), s.queued + s.in_flight]);
  samples.push([Date.now(), facts.queue.queued + facts.queue.in_flight]);
  const top = Math.max(1, ...buckets.map((b) => b.files), ...samples.map((s) => s[1]));
  const parts = [];
  buckets.forEach((b, i) => {
    if (!b.files) return;
    const rect = document.createElementNS(SVG, "rect");
    const h = (b.files / top) * (height - 10);
    rect.setAttribute("class", "files");
    rect.setAttribute("x", String(i * step + 1));
    rect.setAttribute("width", String(Math.max(1, step - 2)));
    rect.setAttribute("y", String(height - h));
    rect.setAttribute("height", String(h));
    const title = document.createElementNS(SVG, "title");
    title.textContent = b.files + " files, " + bytes(b.bytes) + " from " + when(b.start);
    rect.appendChild(title);
    parts.push(rect);
  });
  const points = samples
    .filter((s) => s[0] >= start)
    .map((s) => ((s[0] - start) / span) * width + "," + (height - (s[1] / top) * (height - 10)));
  if (points.length) {
    const line = document.createElementNS(SVG, "polyline");
    line.setAttribute("class", "queue");
    line.setAttribute("points", points.join(" "));
    parts.push(line);
  }
  svg.replaceChildren(...parts);
  document.getElementById("chart-top").textContent = String(top);
  document.getElementById("queue-now").textContent =
    facts.queue.queued + " waiting, " + facts.queue.in_flight + " converting";
}

function render(facts) {
  document.getElementById("daemon").textContent =
    (facts.daemon_pid ? "daemon running (pid " + facts.daemon_pid + ")" : "daemon not running") +
    " · output folder " + (facts.out_dir || "?") + " · started " + when(facts.started) +
    " · last full scan " + when(facts.last_scan);
  const health = document.getElementById("health");
  if (facts.health && facts.health.ok) {
    health.className = "health ok";
    health.textContent = "healthy";
  } else {
    health.className = "health bad";
    health.textContent = "unhealthy: " + (facts.health ? facts.health.problems.join("; ") : "no daemon");
  }
  counts(facts);
  chart(facts);
  fill("recent", facts.recent, [
    ["finished", "", when], ["path", "path"], ["output", "path"], ["source_bytes", "num", bytes],
    ["output_bytes", "num", bytes], ["seconds", "num", duration], ["preview"],
  ], "nothing converted yet");
  fill("failures", facts.failures, [
    ["path", "path"], ["state"], ["kind"], ["reason", "path"], ["attempts", "num"],
    ["when", "", when], ["retry_command"],
  ], "no failures");
  fill("waiting", facts.waiting, [
    ["path", "path"], ["state"], ["since", "", when], ["waited_seconds", "num", duration], ["reason", "path"],
  ], "nothing waiting");
  fill("aliases", facts.aliases, [
    ["path", "path"], ["output", "path"], ["same_as", "path"], ["links_to", "path"], ["link"],
    ["when", "", when],
  ], "no copies");
  document.getElementById("updated").textContent = new Date().toLocaleTimeString();
}

async function refresh() {
  try {
    const answer = await fetch(withToken("api/status"), { cache: "no-store" });
    if (!answer.ok) throw new Error(answer.status + " " + (await answer.text()));
    render(await answer.json());
  } catch (err) {
    const health = document.getElementById("health");
    health.className = "health bad";
    health.textContent = "cannot reach the daemon: " + err.message;
  }
}

refresh();
setInterval(refresh, 2000);
