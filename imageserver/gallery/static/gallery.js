// The gallery's one script (no build step, no dependency). Two pages:
// - "directories": live countdowns; unload (DELETE /api/directories/<id>) and re-arm.
// - "directory": a virtualised thumbnail grid. Only the rows near the viewport exist in the
//   DOM, so 100,000 images stay a few hundred nodes; pages of PAGE_SIZE names are fetched
//   from the listing API (or the gallery's search when filtering) as they scroll into view.
//   "Unique" pages the listing with `unique=true`: only the kept frames, each captioned with
//   how many near-duplicates follow it.
// With a token, the session cookie goes along; state-changing calls add the CSRF header.
"use strict";

(function () {
  const PAGE_SIZE = 200;
  const MIN_TILE = 150; // px: the smallest tile width; phones get two columns
  const GAP = 8;
  const CAPTION = 26; // px under each thumbnail
  const BUFFER_ROWS = 3; // rendered above and below the viewport
  const MAX_CACHED_PAGES = 30; // listing pages kept in memory (the farthest are dropped)
  const SETTLE_MS = 150; // scrolling pause after which the thumbnails in view are fetched
  const MAX_RETRIES = 4; // failed page fetches in a row before waiting for the next scroll

  const csrf = (document.querySelector('meta[name="csrf-token"]') || {}).content || "";
  const statusLine = document.getElementById("status");
  let statusTimer = 0;

  function say(text) {
    statusLine.textContent = text;
    clearTimeout(statusTimer);
    statusTimer = setTimeout(() => { statusLine.textContent = ""; }, 2500);
  }

  async function call(path, options) {
    const opts = Object.assign({ credentials: "same-origin" }, options || {});
    const headers = Object.assign({ Accept: "application/json" }, opts.headers || {});
    if (csrf && opts.method && opts.method !== "GET") headers["X-CSRF-Token"] = csrf;
    opts.headers = headers;
    const response = await fetch(path, opts);
    const body = await response.json().catch(() => ({}));
    if (!response.ok) {
      const detail = typeof body.detail === "string" ? body.detail : "HTTP " + response.status;
      throw new Error(detail);
    }
    return body;
  }

  function remainingText(seconds) {
    const s = Math.max(0, Math.floor(seconds));
    return Math.floor(s / 60) + "m " + (s % 60) + "s";
  }

  // ---- /gallery ---------------------------------------------------------------------
  function directoriesPage() {
    const started = performance.now();
    const clocks = Array.from(document.querySelectorAll(".countdown[data-remaining]"));
    let reloading = false;
    function tick() {
      const elapsed = (performance.now() - started) / 1000;
      for (const el of clocks) {
        const left = Number(el.dataset.remaining) - elapsed;
        el.textContent = left > 0 ? remainingText(left) : "due now";
        // Past its deadline the server has unloaded it: show that (once, never in a loop).
        if (left <= -2 && Number(el.dataset.remaining) > 0 && !reloading) {
          reloading = true;
          location.reload();
        }
      }
    }
    if (clocks.length) { tick(); setInterval(tick, 1000); }

    document.addEventListener("click", async (event) => {
      const button = event.target.closest("button[data-action]");
      if (!button) return;
      const id = button.closest(".dir").dataset.id;
      const action = button.dataset.action;
      const path = action === "unload"
        ? "/api/directories/" + encodeURIComponent(id)
        : "/gallery/" + encodeURIComponent(id) + "/rearm";
      button.disabled = true;
      try {
        await call(path, { method: action === "unload" ? "DELETE" : "POST" });
        say(action === "unload" ? "Unloaded " + id : "Re-armed " + id);
        location.reload();
      } catch (error) {
        say(error.message);
        button.disabled = false;
      }
    });
  }

  // ---- /gallery/<id> ----------------------------------------------------------------
  function directoryPage(main) {
    const dirId = main.dataset.id;
    const grid = document.getElementById("grid");
    const count = document.getElementById("count");
    const filter = document.getElementById("filter");
    const uniqueBox = document.getElementById("unique");
    const state = {
      query: "", unique: false, total: Number(main.dataset.total), generation: 0,
      pages: new Map(), tiles: new Map(), cols: 1, cellW: MIN_TILE, rowH: MIN_TILE + CAPTION,
    };
    window.galleryState = state; // read by the browser tests (pages loaded, DOM bound)

    function pageUrl(index, preset) {
      const offset = index * PAGE_SIZE;
      const id = encodeURIComponent(dirId);
      if (state.query) {
        return "/gallery/" + id + "/search?" + new URLSearchParams(
          { q: state.query, offset: String(offset), limit: String(PAGE_SIZE) });
      }
      const query = { offset: String(offset), limit: String(PAGE_SIZE) };
      if (state.unique) query.unique = "true";
      if (preset) query.preset = preset;
      return "/api/directories/" + id + "/images?" + new URLSearchParams(query);
    }

    async function fetchPage(index) {
      if (state.query) {
        const found = await call(pageUrl(index));
        return { total: found.total, items: found.images };
      }
      // The listing API twice: stable URLs, and the thumbnails' (both signed when signing is on).
      const [plain, thumbs] = await Promise.all([call(pageUrl(index)), call(pageUrl(index, "thumb"))]);
      const items = plain.images.map((image, i) => ({
        name: image.name, url: image.url, thumb: (thumbs.images[i] || image).url,
        duplicates: image.duplicates,
      }));
      return { total: plain.total, items: items };
    }

    function ensurePage(index) {
      if (state.pages.has(index)) return;
      const generation = state.generation;
      state.pages.set(index, null); // loading
      fetchPage(index).then((page) => {
        if (generation !== state.generation) return;
        state.pages.set(index, page.items);
        state.failures = 0;
        if (page.total !== state.total) { state.total = page.total; layout(); }
        render();
      }, (error) => {
        if (generation !== state.generation) return;
        state.pages.delete(index);
        say(error.message);
        // A busy server or a dropped connection: try again a few times, more slowly each time.
        state.failures = (state.failures || 0) + 1;
        if (state.failures <= MAX_RETRIES) setTimeout(schedule, 500 * state.failures);
      });
    }

    function itemAt(index) {
      const page = state.pages.get(Math.floor(index / PAGE_SIZE));
      return page ? page[index % PAGE_SIZE] : undefined;
    }

    function layout() {
      const width = grid.clientWidth || MIN_TILE;
      state.cols = Math.max(1, Math.floor((width + GAP) / (MIN_TILE + GAP)));
      state.cellW = (width - GAP * (state.cols - 1)) / state.cols;
      state.rowH = state.cellW + CAPTION + GAP;
      const rows = Math.ceil(state.total / state.cols);
      grid.style.height = Math.max(0, rows * state.rowH - GAP) + "px";
      count.textContent = state.total + (state.query ? " matching" : state.unique ? " unique" : " images");
      for (const [index, tile] of state.tiles) place(tile, index);
    }

    function place(tile, index) {
      const row = Math.floor(index / state.cols);
      const col = index % state.cols;
      tile.style.width = state.cellW + "px";
      tile.style.height = (state.cellW + CAPTION) + "px";
      tile.style.transform = "translate(" + col * (state.cellW + GAP) + "px," + row * state.rowH + "px)";
    }

    function visibleRange() {
      const top = window.scrollY - (grid.getBoundingClientRect().top + window.scrollY);
      const first = Math.max(0, Math.floor(top / state.rowH) - BUFFER_ROWS);
      const last = Math.ceil((top + window.innerHeight) / state.rowH) + BUFFER_ROWS;
      return [first * state.cols, Math.min(state.total, (last + 1) * state.cols)];
    }

    function makeTile(index) {
      const tile = document.createElement("figure");
      tile.className = "tile is-loading";
      tile.setAttribute("role", "listitem");
      tile.dataset.index = String(index);
      const button = document.createElement("button");
      button.type = "button";
      const caption = document.createElement("figcaption");
      tile.append(button, caption);
      place(tile, index);
      return tile;
    }

    function fill(tile, item) {
      if (tile.dataset.name === item.name) return;
      const img = document.createElement("img");
      img.loading = "lazy";
      img.decoding = "async";
      img.alt = item.name;
      img.dataset.src = item.thumb; // set as `src` once scrolling settles (see settle)
      tile.firstChild.replaceChildren(img);
      tile.lastChild.textContent = item.name;
      tile.title = item.name;
      if (item.duplicates) {
        const more = document.createElement("span");
        more.className = "duplicates";
        more.textContent = " +" + item.duplicates;
        more.title = item.duplicates + " near-duplicate frame(s) follow";
        tile.lastChild.append(more);
        tile.title += " (+" + item.duplicates + " near-duplicates)";
      }
      tile.dataset.duplicates = String(item.duplicates || 0);
      tile.dataset.name = item.name;
      tile.classList.remove("is-loading");
    }

    function render() {
      const [start, end] = visibleRange();
      for (const [index, tile] of state.tiles) {
        if (index < start || index >= end) { tile.remove(); state.tiles.delete(index); }
      }
      for (let p = Math.floor(start / PAGE_SIZE); p * PAGE_SIZE < end; p++) ensurePage(p);
      // Half a page ahead is fetched already, so scrolling on rarely waits for the listing.
      if (end < state.total) ensurePage(Math.floor(Math.min(state.total - 1, end + PAGE_SIZE / 2) / PAGE_SIZE));
      const fresh = document.createDocumentFragment();
      for (let index = start; index < end; index++) {
        let tile = state.tiles.get(index);
        if (!tile) { tile = makeTile(index); state.tiles.set(index, tile); fresh.append(tile); }
        const item = itemAt(index);
        if (item) fill(tile, item);
      }
      grid.append(fresh);
      dropFarPages(start);
      settle();
    }

    function dropFarPages(start) {
      if (state.pages.size <= MAX_CACHED_PAGES) return;
      const here = Math.floor(start / PAGE_SIZE);
      const far = Array.from(state.pages.keys()).sort((a, b) => Math.abs(b - here) - Math.abs(a - here));
      for (const index of far.slice(0, state.pages.size - MAX_CACHED_PAGES)) state.pages.delete(index);
    }

    // Thumbnails are asked for only once scrolling pauses: flicking through thousands of
    // images must not queue thousands of thumbnails on the server ahead of the listing.
    let settleTimer = 0;
    function settle() {
      clearTimeout(settleTimer);
      settleTimer = setTimeout(() => {
        for (const img of grid.querySelectorAll("img[data-src]")) {
          img.src = img.dataset.src;
          img.removeAttribute("data-src");
        }
      }, SETTLE_MS);
    }

    let frame = 0;
    function schedule() {
      if (!frame) frame = requestAnimationFrame(() => { frame = 0; render(); });
    }

    function reset() {
      state.generation++;
      state.pages.clear();
      for (const tile of state.tiles.values()) tile.remove();
      state.tiles.clear();
      window.scrollTo(0, 0);
      // The total of a filtered or unique listing is known only once its first page arrives.
      if (state.query || state.unique) { state.total = 0; ensurePage(0); }
      else state.total = Number(main.dataset.total);
      layout();
      render();
    }

    let debounce = 0;
    filter.addEventListener("input", () => {
      clearTimeout(debounce);
      debounce = setTimeout(() => {
        const query = filter.value.trim();
        if (query !== state.query) { state.query = query; reset(); }
      }, 200);
    });
    // Unique frames come from the listing API: the name filter does not apply to them.
    uniqueBox.addEventListener("change", () => {
      state.unique = uniqueBox.checked;
      filter.disabled = state.unique;
      if (state.unique) { filter.value = ""; state.query = ""; }
      reset();
    });
    window.addEventListener("scroll", schedule, { passive: true });
    window.addEventListener("resize", () => { layout(); schedule(); });
    grid.addEventListener("click", (event) => {
      const tile = event.target.closest(".tile");
      if (tile && tile.dataset.name) viewer.open(Number(tile.dataset.index));
    });

    const viewer = makeViewer(dirId, itemAt, () => state.total, ensurePage);
    layout();
    render();
    followExtraction(dirId, main, (imageCount) => {
      // New frames of a running extraction: pages fetched short are fetched again.
      for (const [index, items] of state.pages) {
        if (items && items.length < PAGE_SIZE) state.pages.delete(index);
      }
      if (state.query) return;
      if (state.unique) ensurePage(Math.floor(Math.max(0, state.total - 1) / PAGE_SIZE));
      else state.total = imageCount;
      layout();
      render();
    });
  }

  // A video still extracting: its progress bar and the grid follow it, once a second.
  const FOLLOW_MS = 1000;
  function extractionText(x) {
    const frames = x.frames + " frames";
    if (x.state === "failed") return "failed after " + frames + ": " + x.detail;
    if (x.state === "done") return "done: " + frames;
    const of = x.duration ? " of " + Math.round(x.duration) : "";
    return "extracting: " + frames + ", " + Math.round(x.seconds_done) + of + " s";
  }

  function followExtraction(dirId, main, grew) {
    const box = document.getElementById("extraction");
    if (!box || box.dataset.state !== "running") return;
    const bar = document.getElementById("extraction-bar");
    const text = document.getElementById("extraction-text");
    const timer = setInterval(async () => {
      let body;
      try {
        body = await call("/api/directories/" + encodeURIComponent(dirId));
      } catch (error) {
        return; // unloaded, or the server restarting: try again, the page says the rest
      }
      const x = body.extraction;
      if (!x) { clearInterval(timer); return; }
      box.dataset.state = x.state;
      bar.max = x.duration || 1;
      bar.value = x.duration ? x.seconds_done : (x.state === "running" ? 0 : 1);
      text.textContent = extractionText(x);
      if (String(body.image_count) !== main.dataset.total) {
        main.dataset.total = String(body.image_count);
        grew(body.image_count);
      }
      if (x.state !== "running") clearInterval(timer);
    }, FOLLOW_MS);
  }

  // ---- the full-image viewer with its copy buttons -----------------------------------
  function makeViewer(dirId, itemAt, total, ensurePage) {
    const dialog = document.getElementById("viewer");
    const full = document.getElementById("full");
    const fullLink = document.getElementById("full-link");
    const nameEl = document.getElementById("viewer-name");
    const stable = document.getElementById("stable-url");
    const presetSelect = document.getElementById("preset");
    const presetUrl = document.getElementById("preset-url");
    const copyStable = document.getElementById("copy-stable");
    const copyPreset = document.getElementById("copy-preset");
    const copyData = document.getElementById("copy-datauri");
    let current = -1; // index in the grid, for previous/next
    let shown = null; // the item on screen (the grid may be refiltered under the viewer)

    function show(index) {
      const item = itemAt(index);
      if (!item) { ensurePage(Math.floor(index / PAGE_SIZE)); return; }
      current = index;
      shown = item;
      nameEl.textContent = item.name;
      full.alt = item.name;
      full.src = item.url;
      fullLink.href = item.url;
      stable.value = item.url;
      copyStable.dataset.copy = item.url;
      copyData.dataset.copy = "";
      loadPresetUrl(item.name);
      if (!dialog.open) dialog.showModal();
    }

    async function loadPresetUrl(name) {
      presetUrl.value = "";
      copyPreset.dataset.copy = "";
      const query = new URLSearchParams({ name: name, preset: presetSelect.value });
      try {
        const links = await call("/gallery/" + encodeURIComponent(dirId) + "/links?" + query);
        if (links.name !== name || links.preset !== presetSelect.value) return;
        presetUrl.value = links.preset_url;
        copyPreset.dataset.copy = links.preset_url;
      } catch (error) { say(error.message); }
    }

    async function dataUri() {
      const body = JSON.stringify({ names: [shown.name], preset: presetSelect.value });
      const answer = await call("/api/directories/" + encodeURIComponent(dirId) + "/datauris", {
        method: "POST", body: body, headers: { "Content-Type": "application/json" },
      });
      const first = answer.items[0];
      if (!first || !first.data_uri) throw new Error(first ? String(first.detail) : "No data URI");
      return first.data_uri;
    }

    async function copy(button, produce) {
      try {
        if (!button.dataset.copy) button.dataset.copy = await produce();
        await writeClipboard(button.dataset.copy);
        say("Copied");
      } catch (error) {
        say(button.dataset.copy ? "Select the text to copy it" : error.message);
      }
    }

    copyStable.addEventListener("click", () => copy(copyStable, () => stable.value));
    copyPreset.addEventListener("click", () => copy(copyPreset, () => presetUrl.value));
    copyData.addEventListener("click", () => copy(copyData, dataUri));
    presetSelect.addEventListener("change", () => {
      copyData.dataset.copy = "";
      if (shown) loadPresetUrl(shown.name);
    });
    document.getElementById("prev").addEventListener("click", () => { if (current > 0) show(current - 1); });
    document.getElementById("next").addEventListener("click", () => {
      if (current + 1 < total()) show(current + 1);
    });
    dialog.addEventListener("keydown", (event) => {
      if (event.target.tagName === "INPUT" || event.target.tagName === "SELECT") return;
      if (event.key === "ArrowLeft" && current > 0) show(current - 1);
      if (event.key === "ArrowRight" && current + 1 < total()) show(current + 1);
    });
    return { open: show };
  }

  async function writeClipboard(text) {
    if (navigator.clipboard && window.isSecureContext) {
      try { await navigator.clipboard.writeText(text); return; } catch (_) { /* fall back */ }
    }
    // Plain http on a LAN address is no secure context: the old way still works there.
    const area = document.createElement("textarea");
    area.value = text;
    area.readOnly = true;
    area.className = "offscreen";
    document.body.append(area);
    area.select();
    const ok = document.execCommand("copy");
    area.remove();
    if (!ok) throw new Error("copy refused");
  }

  document.addEventListener("DOMContentLoaded", () => {
    const page = document.body.dataset.page;
    if (page === "directories") directoriesPage();
    if (page === "directory") directoryPage(document.getElementById("main"));
  });
})();
