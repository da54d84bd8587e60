// linegate dashboard: draws /api/line, then follows /api/events (CFX envelopes as server-sent events).
// Plain browser JavaScript, no libraries: everything the page needs is served by the gateway.
"use strict";

(function () {
  const SVG = "http://www.w3.org/2000/svg";
  const MAX_LOG = 60;
  const REFRESH_MS = 5000;

  // SEMI E10 classes by the first digit of a ResourceState code (CFX ResourceState enum).
  const CATEGORY = {
    "1": "productive", "2": "standby", "3": "engineering",
    "4": "scheduled_downtime", "5": "unscheduled_downtime", "6": "nonscheduled",
  };
  const STATE_NAME = {
    "1000": "PRD", "1100": "PRD_REGULAR_WORK", "1200": "PRD_WORK_FOR_THIRD_PARTIES", "1300": "PRD_REWORK",
    "1400": "PRD_ENGINEERING", "2000": "SBY", "2100": "SBY_NO_OPERATOR", "2200": "SBY_NO_PRODUCT",
    "2201": "SBY_NO_PRODUCT_BLOCKED", "2202": "SBY_NO_PRODUCT_STARVED", "2300": "SBY_NO_SUPPORT_TOOL",
    "2400": "SBY_ASSOCIATED_CLUSTER_MODULE_DOWN", "2500": "SBY_NO_HOST", "3000": "ENG",
    "3100": "ENG_PROCESS_EXPERIMENTS", "3200": "ENG_EQUIPMENT_EXPERIMENTS", "4000": "SDT",
    "4100": "SDT_USER_MAINTENANCE_DELAY", "4200": "SDT_SUPPLIED_MAINTENANCE_DELAY",
    "4300": "SDT_PREVENTIVE_MAINTENANCE", "4400": "SDT_CHANGE_OF_CONSUMABLES", "4500": "SDT_SETUP",
    "4600": "SDT_PRODUCTION_TEST", "4700": "SDT_FACILITIES_RELATED", "5000": "USD",
    "5100": "USD_USER_MAINTENTANCE_DELAY", "5200": "USD_SUPPLIED_MAINTENANCE_DELAY", "5300": "USD_REPAIR",
    "5400": "USD_OUT_OF_SPEC_INPUT_MATERIAL", "5500": "USD_CHANGE_OF_CONSUMABLES",
    "5600": "USD_FACILITIES_RELATED", "6000": "NST", "6100": "NST_UNWORKED_SHIFTS",
    "6200": "NST_EQUIPMENT_INSTALLATION", "6300": "NST_EQUIPMENT_MODIFICATIONS",
    "6400": "NST_OFFLINE_TRAINING", "6500": "NST_SHUTDOWN_AND_STARTUP",
  };

  const model = { machines: [], byHandle: new Map(), reflowHandle: null, events: 0, flights: 0 };
  const $ = (id) => document.getElementById(id);

  function el(tag, attrs, text) {
    const node = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) node.setAttribute(k, v);
    if (text !== undefined && text !== null) node.textContent = String(text); // never innerHTML: data is not markup
    return node;
  }

  function svg(tag, attrs, text) {
    const node = document.createElementNS(SVG, tag);
    for (const [k, v] of Object.entries(attrs || {})) node.setAttribute(k, String(v));
    if (text !== undefined) node.textContent = String(text);
    return node;
  }

  function stateOf(code) {
    if (code === null || code === undefined) return { code: null, name: "unknown", category: "unknown" };
    const c = String(code);
    return { code: c, name: STATE_NAME[c] || c, category: CATEGORY[c.charAt(0)] || "unknown" };
  }

  // --- the line ---------------------------------------------------------------------------

  function buildLine(view) {
    const line = $("line");
    line.replaceChildren();
    model.machines = view.machines.map((m, index) => ({
      id: m.id,
      handle: m.handle,
      index: index,
      protocol: m.protocol,
      link: m.link.state,
      linkInfo: m.link,
      state: stateOf(m.state.code),
      recipe: m.active_recipe,
      product: m.product,
      shift: m.shift,
      faults: new Map(m.faults.map((f) => [f.occurrence_id, f])),
      boards: new Map(m.boards_present.map((b) => [b.board_id || b.barcode, { working: false, barcode: b.barcode }])),
      working: new Set(m.boards_in_process.map((b) => b.board_id || b.barcode)),
      readings: m.readings || {},
      node: null,
      conveyor: null,
    }));
    model.byHandle = new Map(model.machines.map((m) => [m.handle, m]));
    model.machines.forEach((m, i) => {
      if (i > 0) {
        const conveyor = el("div", { class: "conveyor", "data-from": model.machines[i - 1].id, "data-to": m.id });
        model.machines[i - 1].conveyor = conveyor;
        line.appendChild(conveyor);
      }
      m.node = el("article", { class: "machine", "data-machine": m.id });
      line.appendChild(m.node);
      renderMachine(m);
    });
    for (const m of view.machines) {
      if (m.reflow && m.reflow.zones.length) drawReflow(m.handle, m.id, m.reflow);
    }
  }

  function renderMachine(m) {
    const node = m.node;
    node.dataset.category = m.state.category;
    node.dataset.stateCode = m.state.code || "";
    node.dataset.faults = String(m.faults.size);
    node.replaceChildren(
      el("div", { class: "name" }, m.id),
      el("div", { class: "handle" }, m.handle),
      el("span", { class: "link", "data-state": m.link, title: linkTitle(m) }, m.link.replace("_", " ")),
      el("div", { class: "state", title: m.state.code || "" }, m.state.name.replace(/_/g, " ")),
    );
    const dl = el("dl");
    const recipe = m.recipe ? m.recipe.name + (m.recipe.revision ? " rev " + m.recipe.revision : "") : "–";
    dl.append(el("dt", {}, "recipe"), el("dd", { class: "recipe", title: recipe }, recipe));
    if (m.product) dl.append(el("dt", {}, "product"), el("dd", { class: "product" }, m.product));
    if (m.shift && m.shift.work_order) dl.append(el("dt", {}, "order"), el("dd", { class: "work-order" }, m.shift.work_order));
    dl.append(el("dt", {}, "protocol"), el("dd", {}, m.protocol));
    node.appendChild(dl);
    if (m.shift) node.appendChild(shiftFigures(m.shift));
    const browse = el("button", { type: "button", class: "browse", title: "the machine's mapped points, live" }, "points");
    browse.addEventListener("click", () => showPoints(m.id));
    node.appendChild(browse);
    // Plain readings ([readings] of the machine's map) are no CFX events: /api/line brings them.
    const names = Object.keys(m.readings).sort();
    if (names.length) {
      const readings = el("dl", { class: "readings" });
      for (const name of names) {
        const r = m.readings[name];
        const value = r.value === null ? "–" : typeof r.value === "number" ? String(Math.round(r.value * 100) / 100) : String(r.value);
        readings.append(el("dt", {}, name), el("dd", { "data-reading": name }, value + (r.unit ? " " + r.unit : "")));
      }
      node.appendChild(readings);
    }
    if (m.faults.size) {
      const list = el("ul", { class: "faults" });
      for (const f of m.faults.values()) {
        list.appendChild(el("li", { "data-code": f.code }, f.code + (f.description ? " — " + f.description : "")));
      }
      node.appendChild(list);
    }
    const boards = el("div", { class: "boards", "aria-label": "boards in the machine" });
    for (const [id, board] of m.boards) {
      // People know a board by its barcode; the Hermes BoardId is the key only because every
      // machine's events carry it.
      const label = board.barcode || id;
      boards.appendChild(el("span", { class: "board", title: label, "data-board": id, "data-barcode": board.barcode || "", "data-working": String(m.working.has(id)) }));
    }
    node.appendChild(boards);
  }

  // The shift's figures on a card: what a supervisor compares machine by machine.
  function shiftFigures(shift) {
    const figures = el("dl", { class: "shift" });
    const add = (name, key, value) => figures.append(el("dt", {}, name), el("dd", { "data-figure": key }, value));
    add("boards", "boards", String(shift.boards_completed));
    const cycle = shift.cycle_seconds.mean;
    add("cycle", "cycle", cycle === null ? "–" : cycle.toFixed(1) + " s");
    if (shift.first_pass_yield !== null) {
      // An inspection or test station: its verdicts, then the yield they give.
      add("units", "units", shift.units_passed + " passed, " + shift.units_failed + " failed");
      add("yield", "yield", percent(shift.first_pass_yield));
    }
    add("avail.", "availability", percent(shift.availability));
    add("OEE", "oee", percent(shift.oee));
    return figures;
  }

  function percent(ratio) {
    return ratio === null || ratio === undefined ? "–" : (ratio * 100).toFixed(1) + " %";
  }

  function renderShift(view) {
    const shift = view.shift;
    if (shift) {
      $("boards-out").textContent = String(shift.boards_out);
      $("line-yield").textContent = percent(shift.rolled_throughput_yield);
      $("alarm-count").textContent = shift.active_alarms + (shift.unacknowledged_alarms ? " (" + shift.unacknowledged_alarms + " new)" : "");
      $("shift-start").textContent = "shift since " + new Date(shift.started).toLocaleTimeString();
    }
    const banner = $("changeover");
    const change = view.changeover;
    banner.hidden = !change;
    if (change) {
      banner.textContent = "changeover to " + change.product + " (" + change.at + "): " + change.switched.length + " switched, " +
        change.waiting.length + " waiting" + (change.waiting.length ? " (" + change.waiting.join(", ") + ")" : "") +
        (change.failed.length ? ", failed on " + change.failed.join(", ") : "");
    }
  }

  async function refreshAlarms() {
    let answer;
    try {
      const response = await fetch("/api/alarms", { cache: "no-store" });
      if (!response.ok) return;
      answer = await response.json();
    } catch (err) {
      return;
    }
    const body = $("alarm-list").querySelector("tbody");
    body.replaceChildren();
    for (const a of answer.alarms) {
      const machine = model.byHandle.get(a.source);
      const row = el("tr", { "data-occurrence": a.occurrence_id, "data-active": String(a.active), "data-acknowledged": String(a.acknowledged) });
      const time = (iso) => (iso ? new Date(iso).toLocaleTimeString() : "");
      row.append(
        el("td", {}, time(a.occurred_at)),
        el("td", {}, machine ? machine.id : a.source),
        el("td", { class: "code" }, a.code || ""),
        el("td", {}, a.description || ""),
        el("td", { class: "ack" }, a.acknowledged ? a.acknowledged_by || "yes" : "no"),
        el("td", { class: "cleared" }, a.active ? "active" : time(a.cleared_at)),
      );
      body.appendChild(row);
    }
    document.body.dataset.alarms = String(answer.alarms.length);
  }

  // --- the point browser: what a map reads off the machine, raw and mapped ----------------------

  let pointsTimer = null;

  function showPoints(machineId) {
    model.pointsOf = machineId;
    $("points-panel").hidden = false;
    $("points-machine").textContent = machineId;
    refreshPoints();
    if (pointsTimer === null) pointsTimer = setInterval(refreshPoints, 1000);
  }

  function hidePoints() {
    model.pointsOf = null;
    $("points-panel").hidden = true;
    if (pointsTimer !== null) clearInterval(pointsTimer);
    pointsTimer = null;
  }

  function shown(value) {
    if (value === null || value === undefined) return "–";
    if (Array.isArray(value)) return "[" + value.join(", ") + "]";
    if (typeof value === "number" && !Number.isInteger(value)) return String(Math.round(value * 1000) / 1000);
    return String(value);
  }

  async function refreshPoints() {
    const machineId = model.pointsOf;
    if (!machineId) return;
    let answer;
    try {
      const response = await fetch("/api/machines/" + encodeURIComponent(machineId) + "/points", { cache: "no-store" });
      if (!response.ok) return;
      answer = await response.json();
    } catch (err) {
      return;
    }
    if (model.pointsOf !== machineId) return;
    const body = $("point-list").querySelector("tbody");
    body.replaceChildren();
    if (!answer.points.length) {
      body.appendChild(el("tr", {}, "")).appendChild(el("td", { colspan: "4" }, answer.protocol + ": no point map"));
    }
    for (const p of answer.points) {
      const row = el("tr", { "data-point": p.name });
      row.append(
        el("td", {}, p.name),
        el("td", {}, p.address),
        el("td", { class: "raw" }, shown(p.raw)),
        el("td", { class: "value" }, shown(p.value) + (p.unit && p.value !== null ? " " + p.unit : "")),
      );
      body.appendChild(row);
    }
    $("points-panel").dataset.updates = String(Number($("points-panel").dataset.updates || "0") + 1);
  }

  // --- one board's reflow profile: the oven keeps its recent boards' ------------------------

  function ovenId() {
    const oven = model.byHandle.get(model.reflowHandle);
    return oven ? oven.id : null;
  }

  async function refreshBoardChoices() {
    const machineId = ovenId();
    if (!machineId) return;
    let answer;
    try {
      const response = await fetch("/api/machines/" + encodeURIComponent(machineId) + "/reflow", { cache: "no-store" });
      if (!response.ok) return;
      answer = await response.json();
    } catch (err) {
      return;
    }
    const select = $("reflow-board");
    const chosen = select.value;
    const options = [el("option", { value: "" }, "live")];
    for (const p of answer.profiles) options.push(el("option", { value: p.board }, p.board));
    select.replaceChildren(...options);
    select.value = answer.profiles.some((p) => p.board === chosen) ? chosen : "";
    select.dataset.boards = String(answer.profiles.length);
  }

  async function pickBoard() {
    const board = $("reflow-board").value;
    const machineId = ovenId();
    model.reflowPinned = board || null;
    if (!board || !machineId) return;
    const url = "/api/machines/" + encodeURIComponent(machineId) + "/reflow?board=" + encodeURIComponent(board);
    const response = await fetch(url, { cache: "no-store" });
    if (!response.ok) return;
    const answer = await response.json();
    if (model.reflowPinned === board) drawReflow(model.reflowHandle, machineId, answer.profiles[0]);
  }

  // The link as the supervisor needs it when it is down: how often it connected, failed and why.
  function linkTitle(m) {
    const info = m.linkInfo;
    if (!info) return m.link === "unknown" ? "the gateway does not answer" : m.link;
    const parts = ["connects " + info.connects, "failures " + info.failures];
    if (info.last_error) parts.push("last error: " + info.last_error);
    return parts.join(" · ");
  }

  function flyBoard(from, board) {
    if (!from.conveyor) return; // the last machine: the board leaves the line
    model.flights += 1;
    document.body.dataset.flights = String(model.flights);
    const chip = el("span", { class: "flying", title: board, "data-board": board });
    from.conveyor.appendChild(chip);
    chip.addEventListener("animationend", () => chip.remove());
    setTimeout(() => chip.remove(), 2000); // also when animations are disabled
  }

  // --- the reflow chart ---------------------------------------------------------------------

  function drawReflow(handle, machineId, profile) {
    const chart = $("reflow-chart");
    if (model.reflowHandle && model.reflowHandle !== handle) return; // one oven on the chart: the first seen
    model.reflowHandle = handle;
    const zones = profile.zones.filter((z) => z.zone !== null);
    chart.replaceChildren();
    const W = 640, H = 300, L = 44, R = 12, T = 12, B = 30;
    const values = [];
    for (const z of zones) {
      for (const k of ["setpoint_top", "setpoint_bottom", "actual_top", "actual_bottom"]) {
        if (typeof z[k] === "number") values.push(z[k]);
      }
    }
    if (!zones.length || !values.length) {
      chart.appendChild(svg("text", { class: "empty", x: W / 2, y: H / 2, "text-anchor": "middle" }, "no zone data"));
      return;
    }
    let lo = Math.floor((Math.min(...values) - 20) / 50) * 50;
    let hi = Math.ceil((Math.max(...values) + 10) / 50) * 50;
    lo = Math.max(0, lo);
    if (hi <= lo) hi = lo + 50;
    const x = (i) => L + (zones.length === 1 ? (W - L - R) / 2 : (i * (W - L - R)) / (zones.length - 1));
    const y = (v) => T + ((hi - v) * (H - T - B)) / (hi - lo);
    for (let v = lo; v <= hi; v += 50) {
      chart.appendChild(svg("line", { class: "grid", x1: L, x2: W - R, y1: y(v), y2: y(v) }));
      chart.appendChild(svg("text", { class: "axis-label", x: L - 6, y: y(v) + 4, "text-anchor": "end" }, v + "°"));
    }
    zones.forEach((z, i) => {
      chart.appendChild(svg("text", { class: "axis-label", x: x(i), y: H - 10, "text-anchor": "middle" }, "Z" + z.zone));
    });
    const series = (key) => zones.map((z, i) => (typeof z[key] === "number" ? [x(i), y(z[key])] : null)).filter(Boolean);
    const path = (points) => points.map((p, i) => (i ? "L" : "M") + p[0].toFixed(1) + " " + p[1].toFixed(1)).join(" ");
    const setpoints = series("setpoint_top").length ? series("setpoint_top") : series("setpoint_bottom");
    if (setpoints.length) chart.appendChild(svg("path", { class: "setpoint", d: path(setpoints), "data-series": "setpoint" }));
    for (const side of ["top", "bottom"]) {
      const points = series("actual_" + side);
      if (!points.length) continue;
      chart.appendChild(svg("path", { class: "actual-" + side, d: path(points), "data-series": "actual-" + side }));
      for (const p of points) chart.appendChild(svg("circle", { class: "dot-" + side, cx: p[0], cy: p[1], r: 3.5 }));
    }
    chart.dataset.updates = String(Number(chart.dataset.updates || "0") + 1);
    chart.dataset.zones = String(zones.length);
    chart.dataset.machine = machineId;
    const top = zones.map((z) => z.actual_top).filter((v) => typeof v === "number");
    chart.dataset.peak = top.length ? String(Math.max(...top)) : "";
    $("reflow-source").textContent =
      machineId + (profile.board ? " · board " + profile.board : "") + (profile.time ? " · " + new Date(profile.time).toLocaleTimeString() : "");
    chart.dataset.board = profile.board || "";
    const extra = [];
    if (typeof profile.conveyor_speed === "number") extra.push("conveyor " + profile.conveyor_speed.toFixed(1) + " mm/s");
    if (typeof profile.o2_ppm === "number") extra.push("O₂ " + profile.o2_ppm.toFixed(0) + " ppm");
    $("reflow-extra").textContent = extra.join(" · ");
  }

  // The same reading as gateway/http/line.py reflow_profile, for live envelopes.
  function reflowProfile(body) {
    const data = body.CommonProcessData;
    if (!data || !String(data["$type"] || "").startsWith("CFX.Structures.SolderReflow.ReflowProcessData")) return null;
    let o2 = null;
    const zones = [];
    for (const entry of data.ZoneData || []) {
      const zone = entry.Zone || {};
      const z = { zone: zone.StageSequence, name: zone.StageName, setpoint_top: null, setpoint_bottom: null, actual_top: null, actual_bottom: null };
      for (const sp of entry.Setpoints || []) {
        if (sp.SetpointType === "Temperature" && (sp.SubZone === "Top" || sp.SubZone === "Bottom")) z["setpoint_" + sp.SubZone.toLowerCase()] = sp.Setpoint;
      }
      for (const r of entry.Readings || []) {
        if (r.ReadingType === "O2") o2 = r.ReadingValue;
        else if (r.ReadingType === "Temperature" && (r.SubZone === "Top" || r.SubZone === "Bottom")) z["actual_" + r.SubZone.toLowerCase()] = r.ReadingValue;
      }
      if (z.setpoint_top !== null || z.setpoint_bottom !== null || z.actual_top !== null || z.actual_bottom !== null) zones.push(z);
    }
    zones.sort((a, b) => (a.zone || 0) - (b.zone || 0));
    return { zones: zones, conveyor_speed: data.ConveyorSpeed, o2_ppm: o2 };
  }

  // --- events -------------------------------------------------------------------------------

  function boardKey(body) {
    return body.HermesIdentifier || body.PrimaryIdentifier || (body.Units && body.Units[0] && body.Units[0].UnitIdentifier);
  }

  function apply(envelope) {
    const m = model.byHandle.get(envelope.Source);
    const body = envelope.MessageBody || {};
    const name = envelope.MessageName;
    if (!m) return;
    switch (name) {
      case "CFX.ResourcePerformance.StationStateChanged":
        m.state = stateOf(body.NewState);
        break;
      case "CFX.ResourcePerformance.FaultOccurred":
        if (body.Fault) m.faults.set(body.Fault.FaultOccurrenceId, { code: body.Fault.FaultCode, description: body.Fault.Description, severity: body.Fault.Severity });
        refreshAlarms();
        break;
      case "CFX.ResourcePerformance.FaultCleared":
        m.faults.delete(body.FaultOccurrenceId);
        refreshAlarms();
        break;
      case "CFX.ResourcePerformance.FaultAcknowledged":
        refreshAlarms();
        return;
      case "CFX.Production.RecipeActivated":
        m.recipe = { name: body.RecipeName, revision: body.Revision };
        break;
      case "CFX.Production.UnitsArrived":
        m.boards.set(boardKey(body), { working: false, barcode: body.PrimaryIdentifier || null });
        break;
      case "CFX.Production.WorkStarted":
        m.working.add(boardKey(body));
        break;
      case "CFX.Production.WorkCompleted":
        m.working.delete(boardKey(body));
        break;
      case "CFX.Production.UnitsDeparted": {
        const key = boardKey(body);
        m.boards.delete(key);
        m.working.delete(key);
        flyBoard(m, key);
        break;
      }
      case "CFX.Production.Processing.UnitsProcessed": {
        const profile = reflowProfile(body);
        if (profile && !model.reflowPinned) {
          profile.time = envelope.TimeStamp;
          const unit = (body.UnitProcessData || [])[0];
          profile.board = unit ? unit.UnitIdentifier : null;
          drawReflow(m.handle, m.id, profile);
        }
        return;
      }
      default:
        return;
    }
    renderMachine(m);
  }

  // What an event line says besides its name: the fault, the recipe, the board's barcode.
  function eventDetail(body) {
    const facts = [];
    if (body.Fault) facts.push(body.Fault.FaultCode + (body.Fault.Description ? " " + body.Fault.Description : ""));
    if (body.RecipeName) facts.push("recipe " + body.RecipeName + (body.Revision ? " rev " + body.Revision : ""));
    if (body.PrimaryIdentifier) facts.push(body.PrimaryIdentifier);
    else if (body.HermesIdentifier) facts.push(body.HermesIdentifier);
    return facts.join(" · ");
  }

  function log(envelope) {
    const list = $("event-log");
    const item = el("li");
    // The time the gateway's stream delivered the event: simulated machines stamp events with
    // their own (accelerated) clock, so their stamps would not line up with the others'. The
    // machine's own stamp stays in the tooltip.
    const stamp = envelope.TimeStamp || "";
    item.append(
      el("time", { title: stamp ? "machine time " + stamp : "", "data-machine-time": stamp }, new Date().toLocaleTimeString()),
      el("span", { class: "src" }, envelope.Source || ""),
    );
    const short = String(envelope.MessageName || "").replace(/^CFX\./, "");
    item.append(el("span", { class: /Fault/.test(short) ? "fault" : "" }, short));
    const detail = eventDetail(envelope.MessageBody || {});
    if (detail) item.append(el("span", { class: "detail" }, detail));
    list.prepend(item);
    while (list.children.length > MAX_LOG) list.lastChild.remove();
  }

  function onMessage(message) {
    let envelope;
    try {
      envelope = JSON.parse(message.data);
    } catch (err) {
      return;
    }
    model.events += 1;
    document.body.dataset.events = String(model.events);
    $("event-count").textContent = String(model.events);
    apply(envelope);
    log(envelope);
  }

  // --- periodic refresh: link states and outbox come from /api/line ---------------------------

  async function refresh(first) {
    let view;
    try {
      const response = await fetch("/api/line", { cache: "no-store" });
      if (!response.ok) throw new Error("HTTP " + response.status);
      view = await response.json();
    } catch (err) {
      $("outbox-depth").textContent = "?";
      // The gateway is gone: what the cards last showed is no longer known.
      document.body.dataset.gateway = "unreachable";
      for (const m of model.machines) {
        if (m.link !== "unknown") {
          m.link = "unknown";
          m.linkInfo = null;
          renderMachine(m);
        }
      }
      return false;
    }
    document.body.dataset.gateway = "reachable";
    $("line-name").textContent = view.line || "line";
    $("outbox-depth").textContent = String(view.outbox.depth);
    renderShift(view);
    refreshAlarms();
    refreshBoardChoices();
    const handles = view.machines.map((m) => m.handle).join(",");
    if (first || handles !== model.machines.map((m) => m.handle).join(",")) {
      buildLine(view);
      return true;
    }
    for (const fresh of view.machines) {
      const m = model.byHandle.get(fresh.handle);
      const readings = fresh.readings || {};
      const linkChanged = !m || !m.linkInfo || JSON.stringify(m.linkInfo) !== JSON.stringify(fresh.link);
      const shiftChanged = !m || JSON.stringify(m.shift) !== JSON.stringify(fresh.shift) || m.product !== fresh.product;
      if (m && (m.link !== fresh.link.state || linkChanged || shiftChanged || JSON.stringify(m.readings) !== JSON.stringify(readings))) {
        m.link = fresh.link.state;
        m.linkInfo = fresh.link;
        m.shift = fresh.shift;
        m.product = fresh.product;
        m.readings = readings;
        renderMachine(m);
      }
    }
    return true;
  }

  function tick() {
    $("clock").textContent = new Date().toLocaleTimeString();
  }

  async function start() {
    tick();
    $("points-close").addEventListener("click", hidePoints);
    $("reflow-board").addEventListener("change", pickBoard);
    setInterval(tick, 1000);
    // Subscribe first, then draw: events that arrive while /api/line loads are applied after it.
    const early = [];
    const source = new EventSource("/api/events");
    source.onmessage = (message) => early.push(message);
    source.onopen = () => {
      document.body.dataset.stream = "live";
      $("stream-status").textContent = "live";
    };
    source.onerror = () => {
      document.body.dataset.stream = "lost";
      $("stream-status").textContent = "reconnecting…";
      // The stream broke: ask the gateway now rather than at the next refresh, so the cards stop
      // claiming links the gateway may no longer hold.
      if (document.body.dataset.ready === "true") refresh(false);
    };
    while (!(await refresh(true))) await new Promise((resolve) => setTimeout(resolve, 2000));
    source.onmessage = onMessage;
    early.forEach(onMessage);
    document.body.dataset.ready = "true";
    setInterval(() => refresh(false), REFRESH_MS);
  }

  // The board page: a board's genealogy from the trace store (GET /api/trace/boards/{id}).
  const BOARD_SECTIONS = [
    ["Passes", "passes", ["machine", "arrived", "completed", "departed", "result", "recipe", "operator"]],
    ["Inspection and test", "results", ["machine", "method", "unit_identifier", "result", "time"]],
    ["Repairs", "repairs", ["machine", "result", "component", "repair", "time"]],
    ["Materials", "materials", ["machine", "reel", "lot", "part_number", "location", "designators"]],
    ["Faults while in a machine", "faults", ["machine", "code", "description", "occurred", "cleared"]],
  ];

  function boardTable(rows, columns) {
    const table = document.createElement("table");
    const head = table.insertRow();
    columns.forEach((name) => { const th = document.createElement("th"); th.textContent = name; head.appendChild(th); });
    rows.forEach((row) => {
      const tr = table.insertRow();
      columns.forEach((name) => {
        const value = row[name];
        const td = tr.insertCell();
        td.textContent = value === null || value === undefined ? "–" : String(value);
        if (value === "Failed") td.className = "failed";
      });
    });
    return table;
  }

  async function findBoard(event) {
    event.preventDefault();
    const out = $("board-result");
    const id = $("board-id").value.trim();
    out.replaceChildren();
    if (!id) return;
    out.dataset.state = "loading";
    let response, body;
    try {
      response = await fetch("/api/trace/boards/" + encodeURIComponent(id));
      body = await response.json();
    } catch (error) {
      out.textContent = "the gateway did not answer";
      out.dataset.state = "error";
      return;
    }
    if (!response.ok) {
      out.textContent = body.error ? body.error.message : response.statusText;
      out.dataset.state = "error";
      return;
    }
    if (body.matches > 1) {
      const note = document.createElement("p");
      note.textContent = `${id} names ${body.matches} boards (oldest first)`;
      out.appendChild(note);
    }
    body.boards.forEach((board) => {
      const title = document.createElement("h3");
      title.textContent = `${board.barcode || board.board} · Hermes ${board.hermes_id || "–"} · work order ${board.work_order || "–"}`;
      out.appendChild(title);
      BOARD_SECTIONS.forEach(([label, key, columns]) => {
        const rows = board[key] || [];
        if (!rows.length) return;
        const caption = document.createElement("h4");
        caption.textContent = label;
        out.appendChild(caption);
        out.appendChild(boardTable(rows, columns));
      });
    });
    const report = document.createElement("a");
    report.href = "/api/trace/boards/" + encodeURIComponent(id) + "/report";
    report.textContent = "printable report";
    report.target = "_blank";
    out.appendChild(report);
    out.dataset.state = "found";
    out.dataset.passes = String(body.boards.reduce((n, b) => n + b.passes.length, 0));
  }

  $("board-search").addEventListener("submit", findBoard);

  window.linegateDashboard = { model: model };
  start();
})();
