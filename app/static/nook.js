/* nook's map page: a client of the /v1 API. No framework; Leaflet + Leaflet-Geoman from npm. */
"use strict";

(function () {
  const config = JSON.parse(document.getElementById("config").textContent);
  const KEY = "nook.apiKey";
  const COLOURS = { low: "#1a9850", typical: "#3765b0", high: "#d73027", unranked: "#7a7a7a" };
  const PAGE = 50;
  const $ = (id) => document.getElementById(id);

  const state = {
    email: null, // the signed-in account's
    key: localStorage.getItem(KEY),
    map: null,
    markers: null,
    regions: new Map(), // id -> {data, layer}
    selected: null, // region id, or null for the map view
    cursor: null,
    listings: new Map(), // id -> {item, marker}
    pending: null, // a drawn layer not yet saved, or {id} when editing
    picking: null, // what a click on the map picks a point for (a function of it), if anything
    estimateAt: null,
    place: null, // [lat, lon] of the signed-in user's place (work, a school): listings say how far
    placeMarker: null,
    loadToken: 0,
    loadedPath: null, // the first page's query the list was last loaded with
    seenAlerts: null, // alert ids already shown (null before the first load)
    newAlerts: new Set(), // the alerts found to be news: marked while the list shows the same scope
    alertsScope: undefined, // the region the alert list showed last (null: every region)
    alertsSince: null, // alerts queued until then are not news: the last visit's newest, or the first load's
    alertsShown: 0, // how many alerts the list shows: a poll reloads as many, so pages "More alerts" added stay
    alertsCursor: null,
    alertsToken: 0,
    alertsMore: false, // a "More alerts" load is on its way: polls wait for it
    alertTimer: null,
    listingPopup: null, // a listing's popup opened from an alert or a saved listing, off the markers
    saved: new Map(), // flat id -> saved listing (all of them: at most 500)
    savedToken: 0,
    savedShown: null, // the saved list as last built (JSON): a poll that finds it the same leaves it
    hiddenToken: 0,
    hiddenShown: 100, // how many hidden listings the list shows (a press on "Show more": 100 more)
    openPopup: null,
    viewMoved: false,
  };

  class ApiError extends Error {
    constructor(status, detail) {
      super(detail);
      this.status = status;
    }
  }

  // the requests under way (each settling as its answer comes) and their paths
  const underWay = new Map();

  // every request under way whose path matches `pattern`, answered
  function answered(pattern) {
    return Promise.all([...underWay].filter(([, path]) => pattern.test(path)).map(([settled]) => settled));
  }

  async function api(path, { method = "GET", body, raw = false } = {}) {
    const headers = { Authorization: "Bearer " + state.key };
    if (body !== undefined) headers["Content-Type"] = "application/json";
    const asked = fetch(path, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const settled = asked.then(
      () => undefined,
      () => undefined,
    );
    underWay.set(settled, path);
    settled.then(() => underWay.delete(settled));
    const response = await asked;
    if (!response.ok) {
      let detail = response.statusText || "Request failed";
      try {
        const problem = await response.json();
        detail = problem.detail || problem.title || detail;
      } catch (_) {
        /* not JSON: keep the status text */
      }
      throw new ApiError(response.status, detail);
    }
    if (response.status === 204) return null;
    return raw ? response.text() : response.json();
  }

  function el(tag, attrs = {}, ...children) {
    const node = document.createElement(tag);
    for (const [name, value] of Object.entries(attrs)) {
      if (name === "text") node.textContent = value;
      else if (name === "class") node.className = value;
      else node.setAttribute(name, value);
    }
    for (const child of children) if (child) node.append(child);
    return node;
  }

  function money(amount) {
    return "$" + Math.round(amount).toLocaleString("en-US");
  }

  function svgNode(markup) {
    const doc = new DOMParser().parseFromString(markup, "image/svg+xml");
    const root = doc.documentElement;
    if (root.nodeName !== "svg") return el("p", { class: "muted", text: "(chart unavailable)" });
    root.querySelectorAll("script, foreignObject").forEach((n) => n.remove());
    return document.importNode(root, true);
  }

  function labelOf(item) {
    return item.price_rank ? item.price_rank.label : "unranked";
  }

  // today on the renter's clock, as YYYY-MM-DD (the API's dates compare as text)
  function today() {
    return new Date().toLocaleDateString("en-CA");
  }

  // a YYYY-MM-DD date as people write it: 1 Mar (2027)
  function dayWords(iso, year = true) {
    const options = { day: "numeric", month: "short", timeZone: "UTC" };
    if (year) options.year = "numeric";
    return new Date(iso + "T00:00:00Z").toLocaleDateString("en-GB", options);
  }

  // when a listing says one may move in, in words
  function availableWords(item) {
    if (!item.available_from) return "";
    return item.available_from <= today() ? "Available now" : "Available from " + dayWords(item.available_from);
  }

  function facts(item) {
    const parts = [item.bedrooms === 0 ? "studio" : item.bedrooms + " bed"];
    if (item.bathrooms != null) parts.push(item.bathrooms + " bath");
    if (item.sqft != null) parts.push(item.sqft + " sq ft");
    if (item.unit_type) parts.push(item.unit_type);
    return parts.join(" · ");
  }

  /* ---- sign in / out ---------------------------------------------------- */

  async function signIn(key) {
    state.key = key;
    const me = await api("/v1/me");
    localStorage.setItem(KEY, key);
    $("signin").hidden = true;
    $("app").hidden = false;
    $("who").hidden = false;
    $("who").textContent = me.email;
    state.email = me.email;
    $("sign-out").hidden = false;
    $("webhook-url").value = me.webhook_url || "";
    $("email-new").value = me.email;
    showDelivery(me);
    $("key-prefix").textContent = me.api_key_prefix + "…";
    startMap();
    await loadPlace(me.place);
    await Promise.all([loadRegions(), loadAlerts(), loadSaved(), loadHidden(), loadShare(), loadCalendar()]);
    pollAlerts();
    await reloadListings();
    await openLinkedListing();
  }

  // a link to one listing (an alert message's "See it on nook": /#listing=ID) opens it once signed in;
  // the address then drops it, so a reload does not open it again
  async function openLinkedListing() {
    const match = /^#listing=(\d+)$/.exec(window.location.hash);
    if (!match || !state.key) return;
    history.replaceState(null, "", window.location.pathname + window.location.search);
    try {
      showListing(await api(`/v1/listings/${match[1]}`));
    } catch (error) {
      if (error.status === 401) return signOut();
      $("listings-status").textContent =
        error.status === 404 ? "That listing is no longer on nook." : "Could not open that listing: " + error.message;
    }
  }
  window.addEventListener("hashchange", openLinkedListing);

  function signOut() {
    localStorage.removeItem(KEY);
    window.location.reload();
  }

  $("signin-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    $("signin-error").textContent = "";
    try {
      await signIn($("api-key").value.trim());
    } catch (error) {
      state.key = null;
      $("signin-error").textContent =
        error.status === 401 ? "That API key is not valid. Check it and try again." : error.message;
    }
  });
  $("sign-out").addEventListener("click", signOut);

  // a link mailed to an address: to a new key (a key lost) or to a new account; no key to send, so not
  // through api()
  function mailLinkForm(name, path) {
    const form = $(`${name}-form`);
    if (!form) return; // no sign-ups on this nook
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      const status = $(`${name}-status`);
      status.textContent = "Sending…";
      try {
        const response = await fetch(path, {
          method: "POST",
          headers: { "Content-Type": "application/json" },
          body: JSON.stringify({ email: $(`${name}-email`).value.trim() }),
        });
        const answer = await response.json();
        status.textContent = answer.detail || answer.title || "Something went wrong; try again.";
      } catch (error) {
        status.textContent = "nook did not answer; try again in a minute.";
      }
    });
  }
  mailLinkForm("key-link", "/v1/key-link");
  mailLinkForm("sign-up", "/v1/sign-up");

  /* ---- the map ---------------------------------------------------------- */

  function startMap() {
    if (state.map) return;
    const map = L.map("map", { zoomControl: true }).setView(config.center, 13);
    if (config.tileUrl) {
      L.tileLayer(config.tileUrl, { maxZoom: 19, attribution: config.tileAttribution }).addTo(map);
    } else {
      map.attributionControl.addAttribution(config.tileAttribution);
    }
    state.markers = L.layerGroup().addTo(map);
    map.pm.addControls({
      position: "topleft",
      drawMarker: false,
      drawCircleMarker: false,
      drawPolyline: false,
      drawCircle: false,
      drawText: false,
      cutPolygon: false,
      rotateMode: false,
      dragMode: false,
    });
    map.pm.setGlobalOptions({ allowSelfIntersection: true }); // the API explains what is wrong
    // the drawing toolbar's buttons are links with an icon only: give them their titles as names
    document.querySelectorAll(".leaflet-pm-toolbar .button-container[title]").forEach((box) => {
      const link = box.querySelector(".leaflet-buttons-control-button");
      if (link) link.setAttribute("aria-label", box.getAttribute("title"));
    });
    map.on("pm:create", (event) => startNewRegion(event.layer));
    map.on("pm:remove", (event) => {
      const id = event.layer.nookRegionId;
      if (id) deleteRegion(id);
    });
    map.on("moveend", () => {
      if (state.selected !== null) return;
      // a popup's auto-pan must not reload the listings under it: reload once it closes
      if (state.openPopup && map.hasLayer(state.openPopup)) state.viewMoved = true;
      else scheduleReload();
    });
    map.on("popupopen", (event) => {
      state.openPopup = event.popup;
      syncSaveButtons(); // a marker's popup is built once: saved or removed since
    });
    map.on("popupclose", () => {
      state.openPopup = null;
      if (state.viewMoved && state.selected === null) scheduleReload();
      state.viewMoved = false;
    });
    map.on("click", (event) => {
      if (!state.picking) return;
      const picked = state.picking;
      state.picking = null;
      map.getContainer().style.cursor = "";
      picked(event.latlng);
    });
    const legend = L.control({ position: "bottomleft" });
    legend.onAdd = () => {
      const box = el("div", { class: "legend", id: "legend" });
      for (const [label, colour] of Object.entries(COLOURS)) {
        const dot = el("span");
        dot.style.background = colour;
        box.append(el("div", {}, dot, label === "unranked" ? "not ranked" : label + " price"));
      }
      box.append(el("div", {}, el("span", { class: "saved-dot" }), "saved by you"));
      box.append(el("div", { id: "legend-place", hidden: "" }, el("span", { class: "place-dot" }), "your place"));
      return box;
    };
    legend.addTo(map);
    state.map = map;
    window.nookMap = map; // for the browser tests and the curious
  }

  /* ---- listings --------------------------------------------------------- */

  let reloadTimer = null;
  function scheduleReload() {
    clearTimeout(reloadTimer);
    reloadTimer = setTimeout(() => {
      // a zoom animation can end after a sort loaded the view it ends on: nothing new to show, and
      // reloading would drop the pages "more" has added since
      if (listingsPath(null) !== state.loadedPath) reloadListings();
    }, 250);
  }

  // the view's filters (bedrooms, bathrooms, size, price, furniture, type, a day to move in by; how new, and
  // price cuts only), kept in this browser
  const FILTERS = {
    "filter-beds": "bedrooms_min",
    "filter-baths": "bathrooms_min",
    "filter-sqft": "sqft_min",
    "filter-price": "price_max",
    "filter-furnished": "furnished",
    "filter-type": "unit_type",
    "move-in": "available_by",
  };
  const FILTER_IDS = [...Object.keys(FILTERS), "filter-posted", "price-cut"];
  // a checkbox's value is "true" while it is ticked, else ""
  const valueOf = (id) => ($(id).type === "checkbox" ? ($(id).checked ? "true" : "") : $(id).value);
  function setValue(id, value) {
    if ($(id).type === "checkbox") $(id).checked = value === "true";
    else $(id).value = value;
  }
  const FILTERS_KEY = "nook.filters";
  const keptFilters = JSON.parse(localStorage.getItem(FILTERS_KEY) || "{}");
  for (const id of FILTER_IDS) {
    if (typeof keptFilters[id] === "string") setValue(id, keptFilters[id]);
    $(id).addEventListener("change", filtersChanged);
  }
  function filtersChanged() {
    localStorage.setItem(FILTERS_KEY, JSON.stringify(Object.fromEntries(FILTER_IDS.map((i) => [i, valueOf(i)]))));
    showFiltersOn();
    reloadListings();
  }
  // how many filters are on, beside "Filters" (which a phone's screen starts folded: the list comes first)
  function showFiltersOn() {
    const on = filtersOn();
    $("filters-on").textContent = on ? `· ${on} on` : "";
    $("clear-filters").hidden = !on;
  }
  if (window.matchMedia("(max-width: 760px)").matches) $("filters").open = false; // nook.css's phone width
  $("clear-filters").addEventListener("click", () => {
    for (const id of FILTER_IDS) setValue(id, "");
    filtersChanged();
    $("filter-beds").focus(); // the button hides: keep the keyboard in the filters
  });
  function filterValue(id) {
    const value = valueOf(id);
    if (id !== "filter-price" || !value) return value;
    // a price typed with cents or past the API's bound still filters, in whole dollars up to 100,000
    const dollars = Math.round(Number(value));
    return Number.isFinite(dollars) && dollars > 0 ? String(Math.min(dollars, 100000)) : "";
  }
  const filtersOn = () => FILTER_IDS.filter((id) => filterValue(id)).length;
  showFiltersOn();
  const NO_FIT = "no flat fits"; // listingsPath's answer where the filters and a region's criteria conflict
  // where a region's criteria and the view's filters both bound something, the stricter holds
  const higher = (a, b) => String(Math.max(Number(a), Number(b)));
  const STRICTER = {
    bedrooms_min: higher,
    bathrooms_min: higher,
    sqft_min: higher,
    price_max: (a, b) => String(Math.min(Number(a), Number(b))),
    available_by: (a, b) => (a < b ? a : b),
  };

  function listingsPath(cursor) {
    const params = new URLSearchParams({ sort: $("sort").value, limit: String(PAGE) });
    if (filterValue("price-cut")) params.set("price_cut", "true");
    for (const [id, name] of Object.entries(FILTERS)) if (filterValue(id)) params.set(name, filterValue(id));
    if ($("filter-posted").value) {
      // to the minute: the same view asked again is the same path (a move ending on it does not reload)
      const minute = Math.floor(Date.now() / 60000) * 60000;
      params.set("posted_since", new Date(minute - Number($("filter-posted").value) * 86400000).toISOString());
    }
    const words = $("words").value.trim();
    if (words) params.append("q", words);
    if (state.place) params.set("distance_from", state.place.map((v) => v.toFixed(6)).join(","));
    if (cursor) params.set("cursor", cursor);
    if (state.selected !== null) {
      // the region's own criteria filter what it shows, as they filter its alerts
      const c = state.regions.get(state.selected).data.criteria;
      for (const name of ["bedrooms_min", "bedrooms_max", "bathrooms_min", "price_max", "sqft_min", "furnished", "available_by"]) {
        if (c[name] == null) continue;
        const mine = params.get(name);
        if (name === "furnished" && mine !== null && mine !== String(c[name])) return NO_FIT;
        params.set(name, mine !== null && STRICTER[name] ? STRICTER[name](mine, String(c[name])) : String(c[name]));
      }
      // the view's bedrooms above the region's most (the API would answer 422)
      if (params.has("bedrooms_max") && Number(params.get("bedrooms_min")) > Number(params.get("bedrooms_max"))) {
        return NO_FIT;
      }
      const types = c.unit_types || [];
      if (params.has("unit_type") && types.length && !types.includes(params.get("unit_type"))) return NO_FIT;
      if (!params.has("unit_type")) for (const type of types) params.append("unit_type", type);
      for (const label of c.labels || []) params.append("label", label);
      if (c.words) params.append("q", c.words);
      return `/v1/regions/${state.selected}/listings?` + params;
    }
    params.set("bbox", viewBounds().map((v) => v.toFixed(6)).join(","));
    return "/v1/listings?" + params;
  }

  // the map's view as [west, south, east, north], within the world's longitudes and latitudes
  function viewBounds() {
    const b = state.map.getBounds();
    const clamp = (v, lo, hi) => Math.min(hi, Math.max(lo, v));
    return [clamp(b.getWest(), -180, 180), clamp(b.getSouth(), -90, 90), clamp(b.getEast(), -180, 180), clamp(b.getNorth(), -90, 90)];
  }

  async function reloadListings() {
    clearTimeout(reloadTimer); // a reload the map's last move scheduled would only load this again
    state.cursor = null;
    state.loadedPath = listingsPath(null);
    state.listings.clear();
    state.markers.clearLayers();
    $("listing-list").replaceChildren();
    await loadMore();
  }

  async function loadMore() {
    const token = ++state.loadToken;
    $("listings-status").textContent = "Loading …";
    try {
      const path = listingsPath(state.cursor);
      if (path === NO_FIT) {
        state.cursor = null;
        $("more").hidden = true;
        showCount();
        return;
      }
      const page = await api(path);
      if (token !== state.loadToken) return; // a newer load started
      for (const item of page.items) addListing(item);
      state.cursor = page.next_cursor;
      $("more").hidden = !state.cursor;
      showCount();
    } catch (error) {
      if (token !== state.loadToken) return;
      $("listings-status").textContent = "Could not load listings: " + error.message;
      if (!state.cursor) state.loadedPath = null; // a move back to this view tries again
    }
  }

  function showCount() {
    const count = state.listings.size;
    $("listings-status").textContent = count
      ? `${count} listing${count === 1 ? "" : "s"}${state.cursor ? " so far" : ""}`
      : $("words").value.trim()
        ? "No listings here have those words."
        : filtersOn()
          ? "No listings here fit the filters. Loosen them" + (state.selected === null ? ", zoom out or move the map." : ".")
          : state.selected === null
            ? "No listings here. Zoom out or move the map."
            : "No listings in this region yet.";
  }

  function addListing(item) {
    if (state.listings.has(item.id)) return;
    const label = labelOf(item);
    const marker = L.circleMarker([item.location.latitude, item.location.longitude], {
      radius: 7,
      color: "#ffffff",
      weight: 1,
      fillColor: COLOURS[label],
      fillOpacity: 0.9,
      className: "marker marker-" + label,
      pmIgnore: true,
    });
    marker.nookListingId = item.id;
    // built once, on first open: Leaflet calls a content function again on every update()
    let content = null;
    marker.bindPopup(() => (content = content || popupFor(item)), {
      maxWidth: Math.min(340, window.innerWidth - 70),
      minWidth: Math.min(260, window.innerWidth - 70),
      autoPanPadding: [10, 10],
    });
    marker.addTo(state.markers);
    state.listings.set(item.id, { item, marker });
    const row = el(
      "li",
      { tabindex: "0", "data-id": String(item.id), "data-label": label },
      el("span", { class: "price", text: money(item.price) }),
      el("span", { class: "badge " + label, text: label === "unranked" ? "not ranked" : label }),
      el("span", { text: facts(item) })
    );
    const change = item.price_change;
    if (change && change.percent < 0) row.append(el("span", { class: "cut", title: change.words, text: "price cut" }));
    if (item.distance_m != null) {
      row.append(el("span", { class: "distance", title: "from your place", text: metres(item.distance_m) + " away" }));
    }
    if (item.available_from && item.available_from > today()) {
      row.append(el("span", { class: "available", title: availableWords(item), text: "from " + dayWords(item.available_from, false) }));
    }
    row.append(el("span", { class: "saved-tag", text: "saved", hidden: "" }));
    const open = () => openListing(item.id);
    row.addEventListener("click", open);
    row.addEventListener("keydown", (event) => {
      if (event.key === "Enter" || event.key === " ") {
        event.preventDefault();
        open();
      }
    });
    $("listing-list").append(row);
    markSaved(item.id);
  }

  // a saved listing is outlined on the map and tagged in the list
  function markSaved(id) {
    const entry = state.listings.get(id);
    if (!entry) return;
    const saved = state.saved.has(id);
    const path = entry.marker.getElement();
    if (path) path.classList.toggle("saved-marker", saved);
    entry.marker.setStyle({ color: saved ? "#1d1d1d" : "#ffffff", weight: saved ? 3 : 1 });
    const tag = document.querySelector(`#listing-list li[data-id="${id}"] .saved-tag`);
    if (tag) tag.hidden = !saved;
  }

  function openListing(id) {
    const entry = state.listings.get(id);
    if (!entry) return;
    entry.marker.openPopup();
  }

  function popupFor(item) {
    const box = el(
      "div",
      { class: "popup", "data-listing": String(item.id), "aria-busy": "true" },
      el("h3", { text: money(item.price) + " · " + (item.title || "Listing") }),
      el("p", { text: facts(item) }),
      item.available_from ? el("p", { class: "available", text: availableWords(item) }) : null,
      el("div", { class: "popup-actions" }, saveButton(item.id), hideButton(item.id)),
      el("p", { class: "muted popup-note", hidden: "" }),
      el("p", { class: "error save-error", role: "alert" }),
      el("p", { class: "muted explanation", text: "Loading the price explanation …" })
    );
    fillPopup(box, item)
      .catch((error) => {
        box.querySelector(".explanation").textContent = "Could not load details: " + error.message;
      })
      .finally(() => box.removeAttribute("aria-busy"));
    return box;
  }

  async function fillPopup(box, item) {
    const detail = await api(`/v1/listings/${item.id}`);
    box.querySelector(".explanation").textContent =
      detail.status !== "active"
        ? "This listing is no longer listed."
        : detail.explanation || "This listing has no price rank yet.";
    box.querySelector(".explanation").className = "explanation";
    if (detail.price_change) box.append(el("p", { class: "price-change", text: detail.price_change.words }));
    if (detail.price_history.length > 1) box.append(el("p", { class: "muted price-history", text: historyWords(detail.price_history) }));
    if (detail.chart_url) box.append(el("div", { class: "chart" }, svgNode(await api(detail.chart_url, { raw: true }))));
    if (detail.url) {
      box.append(el("p", {}, el("a", { href: detail.url, target: "_blank", rel: "noopener noreferrer", text: "Open the original listing" })));
    }
    // the popup lays out what it holds now (until then what was added can be cut off), and again once
    // the similar listings came
    const fit = () => {
      const entry = state.listings.get(item.id);
      if (entry) entry.marker.getPopup().update();
      else if (state.listingPopup) state.listingPopup.update();
    };
    fit();
    if (detail.status === "active") {
      const similar = (await api(`/v1/listings/${item.id}/similar?limit=3`)).items;
      if (similar.length) {
        box.append(el("div", { class: "similar" }, el("p", { class: "muted", text: "Similar nearby:" }), el("ul", {}, ...similar.map(similarItem))));
        fit();
      }
    }
  }

  function metres(distance) {
    return distance < 1000 ? distance + " m" : (distance / 1000).toFixed(1) + " km";
  }

  // a listing like the one open, to compare with: a press opens it
  function similarItem(other) {
    const away = metres(other.distance_m);
    const rooms = other.bedrooms === 0 ? "studio" : other.bedrooms + " bed";
    const button = el("button", { type: "button", class: "link", "data-listing": String(other.id) },
      `${money(other.price)} · ${rooms} · ${away} away · ${labelOf(other)}`);
    button.addEventListener("click", () => showListing(other));
    return el("li", {}, button);
  }

  function historyWords(history) {
    // dated as the API words the last change ("Cut 6% on 20 Nov 2026")
    const day = (iso) => new Date(iso).toLocaleDateString("en-GB", { day: "numeric", month: "short", year: "numeric", timeZone: "UTC" });
    return "Asked " + history.map((h) => money(h.price) + (h.since ? " from " + day(h.since) : "")).join(", then ") + ".";
  }

  // a select's last choice in this browser (the listings' order, the saved list's): restored while the
  // select still offers it, kept at every change; the answer keeps a choice made by the page itself
  function keptChoice(id, key) {
    const kept = localStorage.getItem(key);
    if ([...$(id).options].some((option) => option.value === kept)) $(id).value = kept;
    const keep = () => localStorage.setItem(key, $(id).value);
    $(id).addEventListener("change", keep);
    return keep;
  }
  const keepSort = keptChoice("sort", "nook.sort"); // (nearest my place waits for the place: showPlace)
  $("sort").addEventListener("change", reloadListings);
  $("words-form").addEventListener("submit", (event) => {
    event.preventDefault();
    reloadListings();
  });
  // the field's clear button (or emptying it) shows every listing again
  $("words").addEventListener("search", () => {
    if (!$("words").value.trim() && listingsPath(null) !== state.loadedPath) reloadListings();
  });
  $("more").addEventListener("click", loadMore);
  $("alerts-more").addEventListener("click", loadMoreAlerts);
  $("show-view").addEventListener("click", () => selectRegion(null));

  /* ---- regions ---------------------------------------------------------- */

  const STYLE = { color: "#6a3d9a", weight: 2, fillOpacity: 0.08 };

  async function loadRegions() {
    const body = await api("/v1/regions");
    for (const region of body.items) showRegion(region);
  }

  function showRegion(region) {
    let entry = state.regions.get(region.id);
    if (!entry) {
      const layer = L.geoJSON(region.geometry, { style: STYLE }).getLayers()[0];
      layer.nookRegionId = region.id;
      layer.addTo(state.map);
      layer.on("pm:edit", () => {
        // editing from the region's form: saved with the form; otherwise (the toolbar's edit mode) at once
        if (state.pending && state.pending.id === region.id) state.pending.shapeChanged = true;
        else redrawRegion(region.id, layer);
      });
      entry = { data: region, layer };
      state.regions.set(region.id, entry);
    }
    entry.data = region;
    entry.layer.unbindTooltip();
    renderRegionList();
  }

  function renderRegionList() {
    showScope(); // a renamed region's new name
    const list = $("region-list");
    list.replaceChildren();
    for (const [id, { data }] of state.regions) {
      const item = el(
        "li",
        { "data-region": String(id), class: state.selected === id ? "selected" : "" },
        el("button", { type: "button", class: "name", text: data.name, "aria-label": "Show listings in " + data.name }),
        data.alerts ? null : el("span", { class: "muted quiet", text: "no alerts" }),
        el("button", { type: "button", class: "edit", text: "Edit", "aria-label": "Edit " + data.name }),
        el("button", { type: "button", class: "delete", text: "Delete", "aria-label": "Delete " + data.name })
      );
      item.querySelector(".name").addEventListener("click", () => selectRegion(id));
      item.querySelector(".edit").addEventListener("click", () => editRegion(id));
      item.querySelector(".delete").addEventListener("click", () => deleteRegion(id));
      list.append(item);
    }
  }

  async function selectRegion(id) {
    state.selected = id;
    $("show-view").hidden = id === null;
    $("view-region").hidden = id !== null; // (a region is one already)
    renderRegionList();
    showMarket(id);
    state.alertsShown = 0;
    $("alert-list").replaceChildren(el("li", { class: "muted", text: "Loading alerts …" }));
    $("alerts-more").hidden = true;
    loadAlerts();
    if (id !== null) state.map.fitBounds(state.regions.get(id).layer.getBounds(), { padding: [20, 20] });
    await reloadListings();
  }

  // how fast the selected region moves, and its price cuts, in the API's words
  async function showMarket(id) {
    const box = $("region-market");
    box.hidden = id === null;
    box.textContent = id === null ? "" : "Loading this area's market …";
    if (id === null) return;
    try {
      const market = await api(`/v1/regions/${id}/market`);
      if (state.selected === id) box.textContent = market.summary;
    } catch (error) {
      if (state.selected === id) box.textContent = "Could not load this area's market: " + error.message;
    }
  }

  function criteriaFromForm() {
    const number = (id) => ($(id).value === "" ? null : Number($(id).value));
    const types = [...document.querySelectorAll('input[name="unit-type"]:checked')].map((c) => c.value);
    const labels = [...document.querySelectorAll('input[name="region-label"]:checked')].map((c) => c.value);
    return {
      bedrooms_min: number("region-beds-min"),
      bedrooms_max: number("region-beds-max"),
      bathrooms_min: number("region-baths-min"),
      price_max: number("region-price-max"),
      sqft_min: number("region-sqft-min"),
      furnished: $("region-furnished").value === "" ? null : $("region-furnished").value === "true",
      available_by: $("region-available-by").value || null,
      unit_types: types.length ? types : null,
      labels: labels.length ? labels : null,
      words: $("region-words").value.trim() || null,
    };
  }

  function openRegionForm(title, name, criteria, alerts = true) {
    $("region-form-title").textContent = title;
    $("region-name").value = name;
    $("region-alerts").checked = alerts;
    $("region-beds-min").value = criteria.bedrooms_min ?? "";
    $("region-beds-max").value = criteria.bedrooms_max ?? "";
    $("region-baths-min").value = criteria.bathrooms_min ?? "";
    $("region-price-max").value = criteria.price_max ?? "";
    $("region-sqft-min").value = criteria.sqft_min ?? "";
    $("region-furnished").value = criteria.furnished == null ? "" : String(criteria.furnished);
    $("region-available-by").value = criteria.available_by ?? "";
    $("region-words").value = criteria.words ?? "";
    document.querySelectorAll('input[name="unit-type"]').forEach((box) => {
      box.checked = (criteria.unit_types || []).includes(box.value);
    });
    document.querySelectorAll('input[name="region-label"]').forEach((box) => {
      box.checked = (criteria.labels || []).includes(box.value);
    });
    $("region-error").textContent = "";
    $("region-form-hint").textContent = ""; // (a shape drawn while the view's form was open is no view)
    $("region-form").hidden = false;
    $("region-name").focus();
  }

  function startNewRegion(layer, criteria = {}) {
    if (state.pending && state.pending.layer) state.pending.layer.remove();
    layer.setStyle(STYLE);
    state.pending = { layer };
    openRegionForm("New region", "My area " + (state.regions.size + 1), criteria);
  }

  // the map's view and its filters as a new region, to be alerted of new listings like these, here
  // ("Posted" and "Price cuts only" stay behind: a region's alerts are of new listings and price cuts)
  function criteriaFromFilters() {
    const number = (id) => (filterValue(id) === "" ? null : Number(filterValue(id)));
    return {
      bedrooms_min: number("filter-beds"),
      bathrooms_min: number("filter-baths"),
      sqft_min: number("filter-sqft"),
      price_max: number("filter-price"),
      furnished: $("filter-furnished").value === "" ? null : $("filter-furnished").value === "true",
      available_by: $("move-in").value || null,
      unit_types: $("filter-type").value ? [$("filter-type").value] : null,
      words: $("words").value.trim() || null,
    };
  }
  // what the filters ask for, as a region's name ("2+ bed apartments up to $4,800"), if they ask it
  function nameOf(c) {
    if (!c.bedrooms_min && c.furnished === null && !c.unit_types && !c.price_max) return null;
    const words = [
      c.bedrooms_min ? c.bedrooms_min + "+ bed" : "",
      c.furnished === null ? "" : c.furnished ? "furnished" : "unfurnished",
      c.unit_types ? c.unit_types[0] + "s" : "flats",
      c.price_max ? "up to " + money(c.price_max) : "",
    ].filter(Boolean).join(" ");
    return words[0].toUpperCase() + words.slice(1);
  }
  $("view-region").addEventListener("click", () => {
    if (state.pending && state.pending.id !== undefined) $("region-cancel").click();
    const [west, south, east, north] = viewBounds();
    const layer = L.rectangle([[south, west], [north, east]]).addTo(state.map);
    const criteria = criteriaFromFilters();
    startNewRegion(layer, criteria);
    $("region-name").value = nameOf(criteria) || $("region-name").value;
    $("region-form-hint").textContent = "The map's view, with the filters as its criteria. Drag the corners on the map to change the shape.";
    layer.pm.enable({ allowSelfIntersection: true, snappable: false });
    state.map.fitBounds(layer.getBounds(), { padding: [20, 20] }); // its corners in sight
  });

  function editRegion(id) {
    if (state.pending) $("region-cancel").click();
    const { data, layer } = state.regions.get(id);
    state.pending = { id, shapeChanged: false };
    openRegionForm("Edit " + data.name, data.name, data.criteria, data.alerts);
    $("region-form-hint").textContent = "Drag the corners on the map to change the shape.";
    layer.pm.enable({ allowSelfIntersection: true, snappable: false });
    state.map.fitBounds(layer.getBounds(), { padding: [20, 20] });
  }

  function closeRegionForm() {
    $("region-form").hidden = true;
    $("region-form-hint").textContent = "";
    if (state.pending && state.pending.id !== undefined) {
      const entry = state.regions.get(state.pending.id);
      if (entry) entry.layer.pm.disable();
    }
    state.pending = null;
  }

  // put a region's layer back to its saved shape (a cancelled edit)
  function resetRegionShape(id) {
    const entry = state.regions.get(id);
    if (!entry) return;
    entry.layer.pm.disable();
    entry.layer.setLatLngs(L.geoJSON(entry.data.geometry).getLayers()[0].getLatLngs());
    entry.layer.unbindTooltip();
  }

  function showShapeError(layer, message) {
    layer.unbindTooltip();
    layer.bindTooltip(el("span", { class: "shape-error", text: message }), { permanent: true, direction: "center" }).openTooltip();
    $("region-error").textContent = message;
  }

  $("region-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    const pending = state.pending;
    if (!pending) return;
    const body = { name: $("region-name").value.trim(), criteria: criteriaFromForm(), alerts: $("region-alerts").checked };
    try {
      if (pending.layer) {
        body.geometry = pending.layer.toGeoJSON().geometry;
        const region = await api("/v1/regions", { method: "POST", body });
        pending.layer.remove();
        showRegion(region);
      } else {
        const { layer } = state.regions.get(pending.id);
        if (pending.shapeChanged) body.geometry = layer.toGeoJSON().geometry;
        showRegion(await api(`/v1/regions/${pending.id}`, { method: "PATCH", body }));
      }
      closeRegionForm();
      if (state.selected !== null) await reloadListings();
    } catch (error) {
      const layer = pending.layer || (body.geometry && state.regions.get(pending.id).layer);
      if (layer) showShapeError(layer, error.message);
      else $("region-error").textContent = error.message;
    }
  });
  $("region-cancel").addEventListener("click", () => {
    if (state.pending && state.pending.layer) state.pending.layer.remove();
    else if (state.pending && state.pending.shapeChanged) resetRegionShape(state.pending.id);
    closeRegionForm();
  });

  async function redrawRegion(id, layer) {
    try {
      showRegion(await api(`/v1/regions/${id}`, { method: "PATCH", body: { geometry: layer.toGeoJSON().geometry } }));
      if (state.selected === id) await reloadListings();
    } catch (error) {
      showShapeError(layer, error.message);
    }
  }

  async function deleteRegion(id) {
    const entry = state.regions.get(id);
    if (!entry) return;
    // nothing asks of the region once it is gone: what asked of it (an alert poll) is answered first,
    // as it would be a 404 after
    if (state.selected === id) await selectRegion(null);
    await answered(new RegExp(`region_id=${id}(&|$)|/v1/regions/${id}(/|$)`));
    try {
      await api(`/v1/regions/${id}`, { method: "DELETE" });
    } catch (error) {
      if (error.status !== 404) {
        $("region-error").textContent = error.message;
        return;
      }
    }
    entry.layer.remove();
    state.regions.delete(id);
    renderRegionList();
  }

  /* ---- your place ------------------------------------------------------- */

  // a place that matters (work, a school), kept with the account: every listing says how far it is from
  // there, and "Nearest my place" sorts by it
  const placeKey = () => "nook.place." + state.email; // where a browser kept it before the account did

  async function loadPlace(place) {
    state.place = place ? [place.latitude, place.longitude] : null;
    const kept = JSON.parse(localStorage.getItem(placeKey()) || "null");
    if (!state.place && Array.isArray(kept) && kept.length === 2) {
      try {
        await savePlace(kept); // moved to the account, for every browser
        localStorage.removeItem(placeKey());
      } catch (error) {
        state.place = kept; // kept here until the account can take it
      }
    } else {
      localStorage.removeItem(placeKey());
    }
    showPlace();
  }

  async function savePlace(place) {
    const body = { place: place && { latitude: place[0], longitude: place[1] } };
    const me = await api("/v1/me", { method: "PATCH", body });
    state.place = me.place ? [me.place.latitude, me.place.longitude] : null;
  }

  function showPlace() {
    $("place-set").textContent = state.place ? "Move my place" : "Set my place";
    $("place-clear").hidden = !state.place;
    $("sort").querySelector('option[value="distance"]').disabled = !state.place;
    if (!state.place && $("sort").value === "distance") $("sort").value = "newest";
    $("saved-order").querySelector('option[value="distance"]').disabled = !state.place;
    if (!state.place && $("saved-order").value === "distance") $("saved-order").value = "saved";
    if (state.placeMarker) state.placeMarker.remove();
    state.placeMarker = state.place
      ? L.circleMarker(state.place, { radius: 8, color: "#ffffff", weight: 2, fillColor: "#1d1d1d", fillOpacity: 1,
        className: "place-marker", pmIgnore: true, interactive: false }).addTo(state.map)
      : null;
    $("legend-place").hidden = !state.place;
  }

  $("place-set").addEventListener("click", () => {
    $("place-status").textContent = "Click the map where your place is (work, a school) …";
    pick(async (latlng) => {
      try {
        await savePlace([latlng.lat, latlng.lng]);
      } catch (error) {
        $("place-status").textContent = "Could not keep your place: " + error.message;
        return;
      }
      showPlace();
      $("sort").value = "distance";
      keepSort();
      $("place-status").textContent = "Listings say how far they are from your place; the nearest come first.";
      await reloadListings();
    });
  });

  $("place-clear").addEventListener("click", async () => {
    try {
      await savePlace(null);
    } catch (error) {
      $("place-status").textContent = "Could not forget your place: " + error.message;
      return;
    }
    showPlace();
    $("place-status").textContent = "";
    await reloadListings();
  });

  /* ---- estimate --------------------------------------------------------- */

  function pick(picked) {
    state.picking = picked;
    state.map.getContainer().style.cursor = "crosshair";
  }

  $("est-pick").addEventListener("click", () => {
    pick((latlng) => {
      state.estimateAt = latlng;
      $("est-where").textContent = latlng.lat.toFixed(5) + ", " + latlng.lng.toFixed(5);
    });
    $("est-where").textContent = "click the map …";
  });

  $("estimate-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    const at = state.estimateAt || state.map.getCenter();
    const number = (id) => ($(id).value === "" ? null : Number($(id).value));
    const body = { bedrooms: number("est-beds"), latitude: at.lat, longitude: at.lng };
    if (number("est-baths") !== null) body.bathrooms = number("est-baths");
    if (number("est-sqft") !== null) body.sqft = number("est-sqft");
    if ($("est-type").value) body.unit_type = $("est-type").value;
    if (number("est-price") !== null) body.price = number("est-price");
    const result = $("estimate-result");
    result.hidden = false;
    try {
      const answer = await api("/v1/estimates", { method: "POST", body });
      result.replaceChildren(
        el("p", { class: "explanation", text: answer.explanation }),
        el("p", { class: "muted", text: `Typical range ${money(answer.typical_range.low)} to ${money(answer.typical_range.high)}.` }),
        svgNode(answer.chart_svg)
      );
    } catch (error) {
      result.replaceChildren(el("p", { class: "error", text: error.message }));
    }
  });

  /* ---- alerts and webhook ----------------------------------------------- */

  const ALERT_PAGE = 10;
  const alertKey = (a) => a.id + "@" + a.created_at; // an alert queued again (a price cut) is news again

  function alertsPath(limit, cursor) {
    const params = new URLSearchParams({ limit: String(limit) });
    if (state.selected !== null) params.set("region_id", String(state.selected));
    if (cursor) params.set("cursor", cursor);
    return "/v1/alerts?" + params;
  }

  // when the newest alert this browser showed of every region was queued (ms), kept per account
  const seenUntilKey = () => "nook.alertsSeenUntil." + state.email;

  // the latest alerts (of the selected region, when one is), polled while the page is visible; new ones
  // are marked and announced. News is an alert not shown before and queued after the newest alert the
  // last visit showed (or, on a first visit, the first load): a region's older alerts, first shown when
  // it is selected, are not news.
  async function loadAlerts() {
    const list = $("alert-list");
    const token = ++state.alertsToken;
    state.alertsMore = false;
    try {
      const page = await api(alertsPath(Math.min(100, Math.max(ALERT_PAGE, state.alertsShown)), null));
      if (token !== state.alertsToken) return; // the scope changed, or a newer load started
      const newest = page.items.length ? Date.parse(page.items[0].created_at) : -Infinity;
      const firstLoad = state.seenAlerts === null;
      if (firstLoad) {
        const lastVisit = Number(localStorage.getItem(seenUntilKey()));
        state.seenAlerts = new Set();
        state.alertsSince = lastVisit > 0 ? lastVisit : newest;
      }
      const fresh = page.items.filter(
        (a) => !state.seenAlerts.has(alertKey(a)) && Date.parse(a.created_at) > state.alertsSince
      );
      for (const alert of page.items) state.seenAlerts.add(alertKey(alert));
      // marked until the list shows another scope: the next poll must not take a mark away from under
      // the reader (it did, as those alerts were then seen), but back from a region its news is not news
      if (state.alertsScope !== state.selected) {
        state.newAlerts.clear();
        state.alertsScope = state.selected;
      }
      for (const alert of fresh) state.newAlerts.add(alertKey(alert));
      list.replaceChildren(...page.items.map((alert) => alertItem(alert, state.newAlerts.has(alertKey(alert)))));
      if (!page.items.length) list.append(el("li", { class: "muted", text: noAlertsWords() }));
      state.alertsShown = page.items.length;
      state.alertsCursor = page.next_cursor;
      $("alerts-more").hidden = !state.alertsCursor;
      if (fresh.length) {
        const words = fresh.length === 1 ? "1 new alert" : `${fresh.length} new alerts`;
        $("alerts-news").textContent = words + (firstLoad ? " since your last visit" : "");
      }
      // seen: the alerts of every region up to the newest shown (a region's list says nothing of the others)
      if (state.selected === null && newest > Number(localStorage.getItem(seenUntilKey()))) {
        localStorage.setItem(seenUntilKey(), String(newest));
      }
    } catch (error) {
      if (token !== state.alertsToken) return;
      if (error.status === 401) return signOut();
      list.replaceChildren(el("li", { class: "error", text: "Could not load alerts: " + error.message }));
    }
  }

  async function loadMoreAlerts() {
    if (!state.alertsCursor || state.alertsMore) return;
    const token = ++state.alertsToken;
    state.alertsMore = true;
    try {
      const page = await api(alertsPath(ALERT_PAGE, state.alertsCursor));
      if (token !== state.alertsToken) return;
      for (const alert of page.items) state.seenAlerts.add(alertKey(alert));
      $("alert-list").append(...page.items.map((alert) => alertItem(alert, state.newAlerts.has(alertKey(alert)))));
      state.alertsShown += page.items.length;
      state.alertsCursor = page.next_cursor;
      $("alerts-more").hidden = !state.alertsCursor;
    } catch (error) {
      if (token !== state.alertsToken) return;
      if (error.status === 401) return signOut();
      $("alerts-news").textContent = "Could not load more alerts: " + error.message;
    } finally {
      if (token === state.alertsToken) state.alertsMore = false;
    }
  }

  function noAlertsWords() {
    if (state.selected === null) return "No alerts yet: they arrive when a listing appears in one of your regions.";
    const region = state.regions.get(state.selected).data;
    return region.alerts
      ? `No alerts in ${region.name} yet: they arrive when a listing appears there.`
      : `${region.name} sends no alerts: turn them on with Edit.`;
  }

  // the listings and the alerts follow the selected region
  function showScope() {
    const name = state.selected === null ? null : state.regions.get(state.selected).data.name;
    $("scope").textContent = name === null ? "in view" : "in " + name;
    $("alerts-scope").textContent = name === null ? "in all your regions" : "in " + name;
  }

  // an alert's status, as the renter reads it
  const ALERT_STATUS = { queued: "not sent yet", sent: "sent to you", expired: "too old to send" };
  const SENT_VIA = { email: "emailed to you", webhook: "sent to your webhook" };

  function alertStatusWords(alert) {
    const sent = SENT_VIA[alert.sent_via] || "sent to you";
    // a price cut too old to send, of a flat the user was told of before
    if (alert.status === "expired" && alert.sent_at) {
      return sent + " " + new Date(alert.sent_at).toLocaleString() + "; the price cut was too old to send";
    }
    return alert.status === "sent" ? sent : ALERT_STATUS[alert.status] || alert.status;
  }

  function alertItem(alert, isNew) {
    const when = new Date(alert.created_at).toLocaleString();
    const button = el(
      "button",
      {
        type: "button",
        class: "link",
        "aria-label": `Show the ${alert.reason === "price_cut" ? "price cut " : ""}listing at ${money(alert.listing.price)} in ${alert.region.name}`,
      },
      alert.reason === "price_cut" ? "Price cut: " : "",
      el("strong", { text: money(alert.listing.price) }),
      " " + facts(alert.listing) + " in " + alert.region.name
    );
    button.addEventListener("click", () => showListing(alert.listing));
    return el(
      "li",
      { "data-alert": String(alert.id), "data-listing": String(alert.listing.id), class: isNew ? "new" : "" },
      isNew ? el("span", { class: "badge new", text: "new" }) : null,
      button,
      el("span", { class: "muted", text: ` — ${alertStatusWords(alert)}, ${when}` })
    );
  }

  // open a listing (an alert's, a saved one): its marker's popup when it is on the map, else a popup
  // where it is. The popup pans the map to itself: a pan before it opened ended in a reload of the
  // listings (the view moved, no popup open) that took the marker, and its popup, away.
  function showListing(listing) {
    if (state.listings.has(listing.id)) return openListing(listing.id);
    const at = [listing.location.latitude, listing.location.longitude];
    state.listingPopup = L.popup({ maxWidth: Math.min(340, window.innerWidth - 70), minWidth: Math.min(260, window.innerWidth - 70) })
      .setLatLng(at)
      .setContent(popupFor(listing))
      .openOn(state.map);
  }

  function pollAlerts() {
    if (state.alertTimer || !(config.alertPollSeconds > 0)) return;
    state.alertTimer = setInterval(() => {
      if (document.hidden || !state.key) return;
      if (!state.alertsMore) loadAlerts();
      loadSaved(); // their prices move too
    }, config.alertPollSeconds * 1000);
  }

  /* ---- saved listings --------------------------------------------------- */

  // every saved listing (at most 500), each as the flat it stands for now
  // a list of the caller's (saved, hidden listings), a hundred a page, until `atLeast` items or its end;
  // the cursor of the next page, if any
  async function pagesOf(path, atLeast, query = {}) {
    const items = [];
    let cursor = null;
    do {
      const params = new URLSearchParams({ ...query, limit: "100" });
      if (cursor) params.set("cursor", cursor);
      const page = await api(path + "?" + params);
      items.push(...page.items);
      cursor = page.next_cursor;
    } while (cursor && items.length < atLeast);
    return { items, cursor };
  }

  async function loadSaved() {
    const token = ++state.savedToken;
    try {
      const { items } = await pagesOf("/v1/me/saved", Infinity, savedOrder());
      if (token !== state.savedToken) return; // a newer load started (a save, a removal, another order)
      state.saved = new Map(items.map((saved) => [saved.listing.id, saved]));
      syncSaveButtons();
      // not while a note or a viewing's time is being written: the next load shows the list
      const writing = document.activeElement && document.activeElement.matches("input.note, input.viewing");
      if (writing && $("saved-list").contains(document.activeElement)) return;
      // nor when nothing changed: a list built anew under the pointer loses a press on its buttons, and a
      // test's hold of a note field (it was not interactable)
      const shown = JSON.stringify(items);
      if (shown === state.savedShown) return;
      state.savedShown = shown;
      const list = $("saved-list");
      list.replaceChildren(...items.map(savedItem));
      if (!items.length) list.append(el("li", { class: "muted", text: "Nothing saved yet: open a listing and press \u201cSave listing\u201d." }));
      showSavedAt();
    } catch (error) {
      if (token !== state.savedToken) return;
      if (error.status === 401) return signOut();
      $("saved-status").textContent = "Could not load your saved listings: " + error.message;
    }
  }

  // the saved list's order, and how far each flat is from the renter's place (if they set one)
  function savedOrder() {
    const order = $("saved-order").value;
    const query = { sort: order === "distance" && !state.place ? "saved" : order };
    if (state.place) query.distance_from = state.place.map((v) => v.toFixed(6)).join(",");
    return query;
  }
  keptChoice("saved-order", "nook.savedOrder"); // the order picked last in this browser
  $("saved-order").addEventListener("change", loadSaved);

  function savedItem(saved) {
    const listing = saved.listing;
    const open = el(
      "button",
      { type: "button", class: "link", "aria-label": `Show the saved listing at ${money(listing.price)}, ${facts(listing)}` },
      el("strong", { text: money(listing.price) }),
      " " + facts(listing)
    );
    open.addEventListener("click", () => showListing(listing));
    const away = listing.distance_m == null ? null
      : el("span", { class: "muted distance", title: "from your place", text: " " + metres(listing.distance_m) + " away" });
    // when one may move in, while it is listed (to compare the list by, or order it)
    const free = saved.still_listed && listing.available_from
      ? el("span", { class: "muted available", text: " \u00b7 " + availableWords(listing) })
      : null;
    const remove = el("button", {
      type: "button",
      class: "remove",
      text: "Remove",
      "aria-label": `Remove the listing at ${money(listing.price)}, ${facts(listing)}, from your saved listings`,
    });
    remove.addEventListener("click", () => setSaved(listing.id, false));
    const note = el("input", {
      type: "text",
      class: "note",
      maxlength: "1000",
      placeholder: "Add a note (a viewing, a question to ask)",
      "aria-label": `Your note on the listing at ${money(listing.price)}, ${facts(listing)}`,
    });
    note.value = saved.note || "";
    note.addEventListener("change", () => keepSaved(listing.id, { note: note.value }, "the note"));
    const stage = el(
      "select",
      { class: "stage", "aria-label": `Where you are with the listing at ${money(listing.price)}, ${facts(listing)}` },
      el("option", { value: "", text: "Just saved" }),
      ...config.stages.map(([value, label]) => el("option", { value, text: label }))
    );
    stage.value = saved.stage || "";
    stage.addEventListener("change", () => keepSaved(listing.id, { stage: stage.value || null }, "where you are with it"));
    // the renter's stars for the flat, to sort the list by
    const rating = el(
      "select",
      { class: "rating", "aria-label": `Your stars for the listing at ${money(listing.price)}, ${facts(listing)}` },
      el("option", { value: "", text: "no stars" }),
      ...[1, 2, 3, 4, 5].map((n) => el("option", { value: String(n), text: "\u2605".repeat(n) + ` ${n} of 5` }))
    );
    rating.addEventListener("change", () => keepSaved(listing.id, { rating: rating.value ? Number(rating.value) : null }, "your stars"));
    // a viewing booked: when, on the browser's clock (cleared: none); nook reminds the renter before it
    const viewing = el("input", {
      type: "datetime-local",
      class: "viewing",
      "aria-label": `When your viewing of the listing at ${money(listing.price)}, ${facts(listing)} is`,
    });
    viewing.addEventListener("change", () => {
      const booked = viewing.value ? { at: viewing.value, time_zone: browserZone() } : null;
      keepSaved(listing.id, { viewing: booked }, "the viewing");
    });
    const calendar = el("button", {
      type: "button",
      class: "link calendar",
      text: "Add to calendar",
      "aria-label": `Add to calendar your viewing of the listing at ${money(listing.price)}, ${facts(listing)}`,
    });
    calendar.addEventListener("click", () => downloadViewing(listing.id));
    const li = el(
      "li",
      { "data-listing": String(listing.id), class: saved.still_listed ? "" : "gone" },
      open,
      ...(away ? [away] : []),
      ...(free ? [free] : []),
      remove,
      el("p", { class: "muted since", text: saved.since_saved }),
      el("p", { class: "stage-line" }, stage, el("span", { class: "muted stage-since" }), " ", rating),
      el("p", { class: "viewing-line" }, el("label", {}, "Viewing ", viewing), el("span", { class: "muted viewing-zone" }), " ", calendar),
      el("p", { class: "clash-line", hidden: "" }),
      note
    );
    showStage(li, saved);
    return li;
  }

  // a saved listing's line says where the user is with the flat, and since when
  function showStage(li, saved) {
    li.dataset.stage = saved.stage || "none";
    li.classList.toggle("ruled-out", saved.stage === "ruled_out");
    li.querySelector("select.stage").value = saved.stage || "";
    li.querySelector("select.rating").value = saved.rating ? String(saved.rating) : "";
    const since = saved.stage_at && new Date(saved.stage_at).toLocaleDateString(undefined, { day: "numeric", month: "short" });
    li.querySelector(".stage-since").textContent = since ? " since " + since : "";
    // the viewing's line while the stage is "viewing booked", or one is kept
    const viewing = saved.viewing;
    li.querySelector(".viewing-line").hidden = saved.stage !== "viewing" && !viewing;
    li.querySelector("input.viewing").value = viewing ? viewing.local : "";
    const elsewhere = viewing && viewing.time_zone !== browserZone();
    li.querySelector(".viewing-zone").textContent = elsewhere ? ` (${viewing.time_zone} time)` : "";
    li.querySelector("button.calendar").hidden = !viewing;
    showClashes(li, saved);
  }

  // the renter's other viewings less than an hour from this one: no time to get from one to the next
  function showClashes(li, saved) {
    const clashes = saved.viewing ? saved.viewing.clashes : [];
    const line = li.querySelector(".clash-line");
    line.hidden = !clashes.length;
    line.textContent = clashes.length
      ? "Less than an hour from your viewing of " +
        clashes.map((clash) => `${clashName(clash)} (${viewingWhen(clash)})`).join(" and ") + "."
      : "";
  }

  function clashName(clash) {
    return clash.title || (clash.price === null ? "another flat" : "the flat at " + money(clash.price));
  }

  // a viewing booked, moved or cleared changes the clashes of others: their lines say so at once
  async function refreshClashes() {
    const { items } = await pagesOf("/v1/me/saved", Infinity);
    for (const saved of items) {
      state.saved.set(saved.listing.id, saved);
      const li = $("saved-list").querySelector(`li[data-listing="${saved.listing.id}"]`);
      if (li) showClashes(li, saved);
    }
  }

  function browserZone() {
    return Intl.DateTimeFormat().resolvedOptions().timeZone;
  }

  // a saved listing's viewing as an iCalendar file the browser downloads (for a calendar app)
  async function downloadViewing(id) {
    $("saved-status").textContent = "";
    try {
      const calendar = await api(`/v1/me/saved/${id}/viewing.ics`, { raw: true });
      const url = URL.createObjectURL(new Blob([calendar], { type: "text/calendar" }));
      const link = el("a", { href: url, download: `viewing-${id}.ics`, hidden: "" });
      document.body.append(link);
      link.click();
      link.remove();
      setTimeout(() => URL.revokeObjectURL(url), 10000);
    } catch (error) {
      if (error.status === 401) return signOut();
      $("saved-status").textContent = "Could not make the calendar file: " + error.message;
    }
  }

  // the saved listings the "Show" choice asks for: all of them, those not ruled out, or one stage's
  // (each choice counting its listings)
  function showSavedAt() {
    const show = $("saved-show").value;
    const counts = { "": 0, running: 0 };
    let shown = 0;
    for (const li of $("saved-list").querySelectorAll("li[data-listing]")) {
      const stage = li.dataset.stage;
      counts[""] += 1;
      counts[stage] = (counts[stage] || 0) + 1;
      if (stage !== "ruled_out") counts.running += 1;
      li.hidden = show === "running" ? stage === "ruled_out" : Boolean(show) && stage !== show;
      if (!li.hidden) shown += 1;
    }
    for (const option of $("saved-show").options) {
      option.textContent = `${option.dataset.label} (${counts[option.value] || 0})`;
    }
    $("saved-none").hidden = !counts[""] || shown > 0;
  }
  $("saved-show").addEventListener("change", showSavedAt);

  // keep a change to a saved listing (its note, its stage); the list shows it as answered
  async function keepSaved(id, body, what) {
    $("saved-status").textContent = "";
    try {
      const saved = await api(`/v1/me/saved/${id}`, { method: "PATCH", body });
      state.saved.set(id, saved);
      const shown = state.savedShown === null ? null : JSON.parse(state.savedShown);
      if (shown) {
        const items = shown.map((item) => (item.listing.id === id ? saved : item));
        state.savedShown = JSON.stringify(items);
        const li = $("saved-list").querySelector(`li[data-listing="${id}"]`);
        if (li) {
          li.querySelector("input.note").value = saved.note || "";
          showStage(li, saved);
          showSavedAt();
        }
      }
      syncSaveButtons();
      // (if that ask fails, the list's next poll shows them)
      if ("viewing" in body || "stage" in body) refreshClashes().catch(() => {});
    } catch (error) {
      if (error.status === 401) return signOut();
      $("saved-status").textContent = `Could not keep ${what}: ` + error.message;
      // the line shows the stage, viewing and stars kept, not the ones refused
      const li = $("saved-list").querySelector(`li[data-listing="${id}"]`);
      if (li && state.saved.has(id) && !("note" in body)) showStage(li, state.saved.get(id));
    }
  }

  function saveButton(id) {
    const button = el("button", { type: "button", class: "save", "data-listing": String(id) });
    button.addEventListener("click", () => setSaved(id, !state.saved.has(id)));
    syncSaveButton(button);
    return button;
  }

  // a popup's button says what a press does now, and the popup shows where the saver is with the flat
  // and their note
  function syncSaveButton(button) {
    const saved = state.saved.get(Number(button.dataset.listing));
    button.textContent = saved ? "Remove from saved" : "Save listing";
    const popup = button.closest(".popup");
    const note = popup && popup.querySelector(".popup-note");
    if (note) {
      const stage = saved && config.stages.find(([value]) => value === saved.stage);
      const when = saved && saved.viewing ? viewingWhen(saved.viewing) : "";
      const said = [stage ? stage[1] : "", when, saved && saved.note ? "Your note: " + saved.note : ""];
      note.textContent = said.filter(Boolean).join(" \u00b7 ");
      note.hidden = !note.textContent;
    }
  }

  // when a viewing is, on the browser's clock: "Sat 5 Dec, 18:00"
  function viewingWhen(viewing) {
    const options = { weekday: "short", day: "numeric", month: "short", hour: "2-digit", minute: "2-digit" };
    return new Date(viewing.at).toLocaleString(undefined, options);
  }

  function syncSaveButtons() {
    for (const button of document.querySelectorAll(".popup button.save")) syncSaveButton(button);
    for (const id of state.listings.keys()) markSaved(id);
  }

  async function setSaved(id, save) {
    const errors = document.querySelectorAll(`.popup[data-listing="${id}"] .save-error`);
    $("saved-status").textContent = "";
    for (const p of errors) p.textContent = "";
    try {
      await api(`/v1/me/saved/${id}`, { method: save ? "PUT" : "DELETE" });
    } catch (error) {
      if (error.status === 401) return signOut();
      // removed already (in another tab) is what was asked; anything else is said where it was asked
      if (save || error.status !== 404) {
        for (const p of errors) p.textContent = error.message;
        if (!errors.length) $("saved-status").textContent = error.message;
      }
    }
    await loadSaved();
  }

  /* ---- listings the user is not interested in ---------------------------- */

  // the hidden listings, last hidden first, a hundred at a time (up to 5,000): as many as were shown
  // before, and a button for the next hundred
  async function loadHidden() {
    const token = ++state.hiddenToken;
    try {
      const { items, cursor } = await pagesOf("/v1/me/hidden", state.hiddenShown);
      if (token !== state.hiddenToken) return;
      const list = $("hidden-list");
      list.replaceChildren(...items.map(hiddenItem));
      if (!items.length) list.append(el("li", { class: "muted", text: "None: a listing you hide (\u201cNot interested\u201d) is listed here." }));
      if (cursor) {
        const more = el("button", { type: "button", id: "hidden-more", text: `Show more (${items.length} shown)` });
        more.addEventListener("click", () => {
          state.hiddenShown = items.length + 100;
          loadHidden();
        });
        list.append(el("li", {}, more));
      }
    } catch (error) {
      if (token !== state.hiddenToken) return;
      if (error.status === 401) return signOut();
      $("hidden-status").textContent = "Could not load your hidden listings: " + error.message;
    }
  }

  function hiddenItem(hidden) {
    const listing = hidden.listing;
    const words = `${money(listing.price)}, ${facts(listing)}`;
    const again = el("button", { type: "button", class: "remove", text: "Show again", "aria-label": `Show again the listing at ${words}` });
    again.addEventListener("click", () => showAgain(listing.id));
    return el(
      "li",
      { "data-listing": String(listing.id), class: listing.status === "active" ? "" : "gone" },
      el("span", {}, el("strong", { text: money(listing.price) }), " " + facts(listing)),
      again
    );
  }

  function hideButton(id) {
    const button = el("button", { type: "button", class: "hide", "data-listing": String(id), text: "Not interested" });
    button.addEventListener("click", () => hideListing(id));
    return button;
  }

  // hidden: off the map and the list at once (the API leaves it out from now on), and onto the hidden list
  async function hideListing(id) {
    const errors = document.querySelectorAll(`.popup[data-listing="${id}"] .save-error`);
    for (const p of errors) p.textContent = "";
    try {
      await api(`/v1/me/hidden/${id}`, { method: "PUT" });
    } catch (error) {
      if (error.status === 401) return signOut();
      for (const p of errors) p.textContent = error.message;
      return;
    }
    state.map.closePopup();
    const entry = state.listings.get(id);
    if (entry) {
      state.markers.removeLayer(entry.marker);
      state.listings.delete(id);
      const row = document.querySelector(`#listing-list li[data-id="${id}"]`);
      if (row) row.remove();
      showCount();
    }
    await Promise.all([loadHidden(), loadAlerts()]);
  }

  async function showAgain(id) {
    $("hidden-status").textContent = "";
    try {
      await api(`/v1/me/hidden/${id}`, { method: "DELETE" });
    } catch (error) {
      if (error.status === 401) return signOut();
      if (error.status !== 404) {
        $("hidden-status").textContent = error.message;
        return;
      }
    }
    await Promise.all([loadHidden(), reloadListings(), loadAlerts()]);
  }

  // where alerts go: by email (where this nook sends email and the user chose it), or to the webhook;
  // and how often
  function showDelivery(me) {
    const pace = $("alert-pace");
    const minutes = String(me.alerts_every_minutes);
    if (![...pace.options].some((option) => option.value === minutes)) {
      pace.append(el("option", { value: minutes }, "at most every " + minutes + " minutes"));
    }
    pace.value = minutes;
    $("pace-status").textContent = me.next_alerts_at
      ? "The next message may go at " + new Date(me.next_alerts_at).toLocaleTimeString() + "."
      : "";
    showQuiet(me.quiet_hours);
    showReminder(me);
    $("email-card").hidden = !me.email_available;
    $("email-address").textContent = me.email;
    $("email-alerts").checked = me.email_alerts;
    const where = me.email_alerts
      ? "Alerts come by email."
      : me.webhook_url
        ? "Alerts go to your webhook."
        : "Alerts go nowhere yet: they wait here.";
    // SES said the address bounced for good, or an email was marked as spam there: say so, and how to mend it
    $("email-status").textContent = me.email_trouble
      ? `Email alerts stopped on ${new Date(me.email_trouble.at).toLocaleDateString()}: ${me.email_trouble.reason}. ` +
        "Check your address (below), then tick the box again. " + where
      : where;
    // a new address asked for waits for the link mailed there to be opened
    $("email-change-status").textContent = me.pending_email
      ? `Waiting for you to open the link sent to ${me.pending_email} (until ` +
        `${new Date(me.pending_email_until).toLocaleString()}); until then your address stays ${me.email}.`
      : "";
  }

  // hours no message goes, on the clock of the browser that set them
  function showQuiet(quiet) {
    $("quiet-from").value = quiet ? String(quiet.from) : "";
    $("quiet-until").value = quiet ? String(quiet.until) : "7";
    $("quiet-until").disabled = !quiet;
    const here = browserZone();
    $("quiet-status").textContent = !quiet
      ? ""
      : quiet.time_zone === here
        ? "Alerts that come meanwhile wait for the end of these hours."
        : `On the clock of ${quiet.time_zone}; choose the hours again to use this one (${here}).`;
  }

  async function setQuiet() {
    const from = $("quiet-from").value;
    const body = {
      quiet_hours: from === ""
        ? null
        : { from: Number(from), until: Number($("quiet-until").value), time_zone: browserZone() },
    };
    for (const id of ["quiet-from", "quiet-until"]) $(id).disabled = true;
    try {
      showDelivery(await api("/v1/me", { method: "PATCH", body }));
    } catch (error) {
      if (error.status === 401) return signOut();
      showDelivery(await api("/v1/me"));
      $("quiet-status").textContent = error.message;
    } finally {
      $("quiet-from").disabled = false;
      $("quiet-until").disabled = $("quiet-from").value === "";
    }
  }
  $("quiet-from").addEventListener("change", setQuiet);
  $("quiet-until").addEventListener("change", setQuiet);

  // how long before a viewing its reminder comes (with the alerts, where they go)
  function showReminder(me) {
    const lead = $("viewing-reminder");
    const minutes = String(me.viewing_reminder_minutes);
    if (![...lead.options].some((option) => option.value === minutes)) {
      lead.append(el("option", { value: minutes }, minutes + " minutes before"));
    }
    lead.value = minutes;
    $("viewing-reminder-status").textContent = me.viewing_reminder_minutes === 0
      ? "No reminders: your calendar app's alarm can do it (Add to calendar)."
      : me.alerts_to === null
        ? "Reminders go where your alerts go: choose a webhook or email under Alerts."
        : "";
  }

  // a select of /v1/me's: sent as the renter picks it, the card shown as nook has it after
  function patchOnChange(id, statusId, bodyOf) {
    $(id).addEventListener("change", async () => {
      const select = $(id);
      select.disabled = true;
      try {
        showDelivery(await api("/v1/me", { method: "PATCH", body: bodyOf(Number(select.value)) }));
      } catch (error) {
        if (error.status === 401) return signOut();
        showDelivery(await api("/v1/me"));
        $(statusId).textContent = error.message;
      } finally {
        select.disabled = false;
      }
    });
  }
  patchOnChange("viewing-reminder", "viewing-reminder-status", (minutes) => ({ viewing_reminder_minutes: minutes }));
  patchOnChange("alert-pace", "pace-status", (minutes) => ({ alerts_every_minutes: minutes }));

  $("email-alerts").addEventListener("change", async () => {
    const box = $("email-alerts");
    box.disabled = true;
    try {
      showDelivery(await api("/v1/me/email-alerts", { method: box.checked ? "PUT" : "DELETE" }));
    } catch (error) {
      box.checked = !box.checked;
      $("email-status").textContent = error.message;
    } finally {
      box.disabled = false;
    }
  });

  $("webhook-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    try {
      const me = await api("/v1/me/webhook", { method: "PUT", body: { url: $("webhook-url").value.trim() } });
      showDelivery(me);
      $("webhook-status").textContent = me.email_alerts
        ? "Saved: alerts go to this webhook once email alerts are off."
        : "Saved: alerts go to this webhook.";
    } catch (error) {
      $("webhook-status").textContent = error.message;
    }
  });
  $("webhook-clear").addEventListener("click", async () => {
    try {
      await api("/v1/me/webhook", { method: "DELETE" });
      $("webhook-url").value = "";
      $("webhook-status").textContent = "Removed: no webhook.";
      showDelivery(await api("/v1/me"));
    } catch (error) {
      $("webhook-status").textContent = error.message;
    }
  });

  /* ---- a shared shortlist -------------------------------------------------- */

  // the saved listings shown, read-only, to whoever has the link (a partner, a flatmate)
  function showShare(share) {
    const shared = share.url !== null;
    $("share-url").value = share.url || "";
    $("share-url").hidden = $("share-url-label").hidden = $("share-stop").hidden = !shared;
    $("share-start").textContent = shared ? "Update the link's notes" : "Share my saved listings";
    $("share-notes").checked = share.notes;
  }

  async function loadShare() {
    try {
      showShare(await api("/v1/me/saved/share"));
    } catch (error) {
      $("share-status").textContent = "Could not tell whether your list is shared: " + error.message;
    }
  }

  $("share-start").addEventListener("click", async () => {
    try {
      showShare(await api("/v1/me/saved/share", { method: "PUT", body: { notes: $("share-notes").checked } }));
      $("share-status").textContent = $("share-notes").checked
        ? "Shared, with your notes: copy the link above."
        : "Shared, without your notes: copy the link above.";
      $("share-url").select();
    } catch (error) {
      $("share-status").textContent = error.message;
    }
  });

  $("share-stop").addEventListener("click", async () => {
    try {
      await api("/v1/me/saved/share", { method: "DELETE" });
      showShare({ url: null, notes: false });
      $("share-status").textContent = "Not shared any more: the link shows nothing now.";
    } catch (error) {
      $("share-status").textContent = error.message;
    }
  });

  /* ---- viewings in a calendar app ------------------------------------------ */

  function showCalendar(feed) {
    const published = feed.url !== null;
    $("calendar-url").value = feed.url || "";
    $("calendar-url").hidden = $("calendar-url-label").hidden = $("calendar-stop").hidden = !published;
    $("calendar-start").hidden = published;
  }

  async function loadCalendar() {
    try {
      showCalendar(await api("/v1/me/saved/calendar"));
    } catch (error) {
      $("calendar-status").textContent = "Could not tell whether your viewings are published: " + error.message;
    }
  }

  $("calendar-start").addEventListener("click", async () => {
    try {
      showCalendar(await api("/v1/me/saved/calendar", { method: "PUT" }));
      $("calendar-status").textContent = "Published: copy the link above into your calendar app.";
      $("calendar-url").select();
    } catch (error) {
      $("calendar-status").textContent = error.message;
    }
  });

  $("calendar-stop").addEventListener("click", async () => {
    try {
      await api("/v1/me/saved/calendar", { method: "DELETE" });
      showCalendar({ url: null });
      $("calendar-status").textContent = "Not published any more: the link shows nothing now.";
    } catch (error) {
      $("calendar-status").textContent = error.message;
    }
  });

  /* ---- API key ---------------------------------------------------------- */

  // a new key replaces the old one at once: this browser keeps signed in with it, and shows it this once
  $("key-new").addEventListener("click", async () => {
    if (!window.confirm("Replace your API key? The old one stops working at once, wherever it is used.")) return;
    try {
      const answer = await api("/v1/me/key", { method: "POST" });
      state.key = answer.api_key;
      localStorage.setItem(KEY, answer.api_key);
      $("key-prefix").textContent = answer.api_key_prefix + "…";
      $("key-shown").value = answer.api_key;
      $("key-shown").hidden = $("key-shown-label").hidden = false;
      $("key-status").textContent = "Copy your new key now: it is not shown again. This browser uses it already.";
    } catch (error) {
      $("key-status").textContent = error.message;
    }
  });

  $("email-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    try {
      const me = await api("/v1/me", { method: "PATCH", body: { email: $("email-new").value.trim() } });
      if (me.pending_email) {
        showDelivery(me);
        $("email-change-status").textContent =
          `We sent a link to ${me.pending_email}: your address changes when you open it (within a day).`;
        return;
      }
      const seen = localStorage.getItem(seenUntilKey()); // what was seen stays seen under the new address
      $("who").textContent = state.email = $("email-new").value = me.email;
      if (seen) localStorage.setItem(seenUntilKey(), seen);
      showDelivery(me);
      $("email-change-status").textContent = "Changed: this account is " + me.email + " now.";
    } catch (error) {
      $("email-change-status").textContent = error.message;
    }
  });

  // the document is written to S3; the answer is a link to it that works for an hour
  $("export-new").addEventListener("click", async () => {
    const link = $("export-link");
    link.hidden = true;
    $("export-status").textContent = "Gathering your data…";
    try {
      const done = await api("/v1/me/export", { method: "POST" });
      const counts = done.counts;
      link.href = done.url;
      link.textContent = `Your data (${Math.max(1, Math.round(done.bytes / 1024)).toLocaleString("en-US")} KB)`;
      link.hidden = false;
      const until = new Date(done.expires_at).toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" });
      $("export-status").textContent =
        `${counts.regions} regions, ${counts.saved} saved, ${counts.hidden} hidden listings and ` +
        `${counts.alerts} alerts. The link works until ${until}.`;
    } catch (error) {
      $("export-status").textContent = error.message;
    }
  });

  // a file of one's data brought in: read here, and its alerts (never imported, and most of a big file) left out
  const IMPORTED = [
    ["regions", "region", "regions"],
    ["saved", "saved listing", "saved listings"],
    ["hidden", "hidden listing", "hidden listings"],
  ];

  function importWords(report) {
    const count = (n, one, many) => `${n.toLocaleString("en-US")} ${n === 1 ? one : many}`;
    const added = IMPORTED.filter(([part]) => report[part].added).map(([part, one, many]) => count(report[part].added, one, many));
    if (report.place === "added") added.push("your place");
    const here = IMPORTED.reduce((sum, [part]) => sum + report[part].already_here, 0);
    const left = IMPORTED.reduce((sum, [part]) => sum + report[part].not_imported, 0);
    const last = added.pop();
    let words = !last ? "Nothing added." : added.length ? `Added ${added.join(", ")} and ${last}.` : `Added ${last}.`;
    if (here) words += ` ${here.toLocaleString("en-US")} already here.`;
    if (left) words += ` ${left.toLocaleString("en-US")} not imported:`;
    return words;
  }

  $("import-file").addEventListener("change", async (event) => {
    const input = event.target;
    const file = input.files[0];
    if (!file) return;
    const status = $("import-status");
    const problems = $("import-problems");
    problems.replaceChildren();
    status.textContent = `Reading ${file.name}…`;
    try {
      let data;
      try {
        data = JSON.parse(await file.text());
      } catch (_) {
        throw new Error(`${file.name} is not a file of your data from nook (it is not JSON).`);
      }
      if (data && typeof data === "object" && !Array.isArray(data)) delete data.alerts;
      // regions are drawn for so long an import: the same file again goes on where the last stopped
      const added = { regions: 0, saved: 0, hidden: 0 };
      let report;
      let place = "absent";
      for (let round = 0; round < 50; round++) {
        report = await api("/v1/me/import", { method: "POST", body: data });
        for (const [part] of IMPORTED) added[part] += report[part].added;
        if (report.place === "added") place = "added";
        if (report.complete) break;
        status.textContent = `Bringing in your regions… ${added.regions} so far.`;
      }
      for (const [part] of IMPORTED) {
        // what the earlier rounds added, the last found here already
        report[part].already_here -= added[part] - report[part].added;
        report[part].added = added[part];
      }
      report.place = place;
      status.textContent = importWords(report);
      for (const [part, one] of IMPORTED) {
        for (const problem of report[part].problems) {
          problems.append(el("li", { text: `${one} ${problem.item + 1}: ${problem.reason}` }));
        }
      }
      if (report.place === "added") await loadPlace((await api("/v1/me")).place);
      await Promise.all([loadRegions(), loadSaved(), loadHidden()]);
      await reloadListings(); // what was hidden is not shown
    } catch (error) {
      if (error.status === 401) return signOut();
      status.textContent = error.message;
    } finally {
      input.value = ""; // the same file again is a change too
    }
  });

  $("account-delete").addEventListener("click", async () => {
    if (!window.confirm("Delete your account, with your regions, alerts, saved and hidden listings? This cannot be undone.")) return;
    try {
      await api("/v1/me", { method: "DELETE" });
      signOut();
    } catch (error) {
      $("account-status").textContent = error.message;
    }
  });

  /* ---- start ------------------------------------------------------------ */

  if (state.key) {
    signIn(state.key).catch((error) => {
      localStorage.removeItem(KEY);
      state.key = null;
      $("signin-error").textContent =
        error.status === 401 ? "Your saved API key is no longer valid: sign in again." : error.message;
    });
  }
})();
