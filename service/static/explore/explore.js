/* jpsi-sidis explorer: reads the form, asks this service (relative URLs, so it works behind a
 * prefix), draws with the vendored Plotly.js. No build step, nothing from another host.
 *
 * Units: √s, Q, P_T in GeV; binned σ in pb/GeV² (dσ/dP_T²), point σ in pb/GeV⁴
 * (dσ/dx dz dQ² dP_T²). window.jpsiExplorer exposes what is shown, for tests and the console.
 */
(() => {
  "use strict";

  const M_JPSI = 3.1; // GeV
  const M_P = 0.938272; // GeV
  const W_TH = M_JPSI + M_P; // GeV: the lowest W that makes a J/ψ and a proton
  const CHANNELS = [
    "oct3s1_U", "oct3s1_L", "oct1s0_U", "oct1s0_L",
    "oct3p0_U", "oct3p0_L", "sing3s1_U", "sing3s1_L",
  ];
  const TOTALS = ["total_U", "total_L"];
  const LABELS = {
    oct3s1_U: "³S₁[8] U (fragmentation)", oct3s1_L: "³S₁[8] L (fragmentation)",
    oct1s0_U: "¹S₀[8] U", oct1s0_L: "¹S₀[8] L",
    oct3p0_U: "³P₀[8] U", oct3p0_L: "³P₀[8] L",
    sing3s1_U: "³S₁[1] U", sing3s1_L: "³S₁[1] L",
    total_U: "total U", total_L: "total L",
  };
  const COLORS = {
    oct3s1: "#d62728", oct1s0: "#1f77b4", oct3p0: "#2ca02c", sing3s1: "#9467bd", total: "#111111",
  };
  const color = (name) => COLORS[name.split("_")[0]];
  // the original study's bins (z and Q), with the x bins of the model card
  const X_BINS = [[0.1, 0.5], [0.5, 0.9]];
  const Z_BINS = [[0.1, 0.4], [0.4, 1.0]];
  const Q_BINS = [[10, 30], [30, 50]];
  const KEY_STORE = "jpsi-explorer-api-key";
  const FIELD_NAMES = {
    sqrt_s: "√s", PT: "P_T values", bins: "bin", points: "point", x: "x", z: "z", Q: "Q",
    theory: "theory", uncertainty: "theory band", channels: "channels",
  };

  const $ = (id) => document.getElementById(id);
  const state = { generation: 0, shown: null, theory: null };

  class ApiError extends Error {
    constructor(status, title, detail, items) {
      super(detail);
      this.status = status;
      this.title = title;
      this.items = items;
    }
  }

  function where(loc) {
    const parts = (loc || []).filter((p, i) => !(i === 0 && p === "body"));
    return parts
      .map((p) => (typeof p === "number" ? `#${p + 1}` : FIELD_NAMES[p] || String(p)))
      .join(" › ");
  }

  function problem(status, data, text) {
    if (data && typeof data === "object" && (data.detail || data.errors)) {
      const items = (data.errors || []).map((e) => {
        const at = where(e.loc);
        return at ? `${at}: ${e.msg}` : e.msg;
      });
      for (const r of data.reasons || []) items.push(r);
      let detail = typeof data.detail === "string" ? data.detail : JSON.stringify(data.detail);
      if (status === 401) {
        detail += " — open “API key” in the controls and enter the service's key.";
      }
      return new ApiError(status, data.title || `HTTP ${status}`, detail, items);
    }
    return new ApiError(status, `HTTP ${status}`, (text || "no explanation given").slice(0, 300), []);
  }

  async function api(path, body) {
    const headers = { Accept: "application/json" };
    const key = sessionStorage.getItem(KEY_STORE);
    if (key) headers["X-API-Key"] = key;
    const init = { method: body === undefined ? "GET" : "POST", headers };
    if (body !== undefined) {
      headers["Content-Type"] = "application/json";
      init.body = JSON.stringify(body);
    }
    let response;
    try {
      response = await fetch(path, init);
    } catch (err) {
      throw new ApiError(0, "No answer", `the service did not answer (${err.message}); is jpsi-serve running?`, []);
    }
    const text = await response.text();
    let data = null;
    try {
      data = JSON.parse(text);
    } catch (_) {
      data = null;
    }
    if (!response.ok) throw problem(response.status, data, text);
    return data;
  }

  // ---------------------------------------------------------------- the form

  function num(id) {
    const v = $(id).value.trim();
    return v === "" ? NaN : Number(v);
  }

  function linspace(a, b, n) {
    if (n === 1) return [a];
    const out = [];
    for (let i = 0; i < n; i++) out.push(a + ((b - a) * i) / (n - 1));
    return out;
  }

  function readForm() {
    const mode = document.querySelector("input[name=mode]:checked").value;
    const f = {
      sqrtS: num("sqrt_s"),
      mode,
      bin: { x: [num("x_lo"), num("x_hi")], z: [num("z_lo"), num("z_hi")], Q: [num("q_lo"), num("q_hi")] },
      point: { x: num("pt_x"), z: num("pt_z"), Q: num("pt_q") },
      PT: linspace(num("pt_min"), num("pt_max"), Math.round(num("pt_n"))),
      stacked: document.querySelector("input[name=stack]:checked").value === "stacked",
      logY: $("log_y").checked,
      channels: CHANNELS.filter((c) => $(`ch_${c}`).checked),
      totals: TOTALS.filter((c) => $(`ch_${c}`).checked),
      uncertainty: readUncertainty(),
    };
    return f;
  }

  function readUncertainty() {
    if (!state.theory) return null;
    const u = {};
    if ($("band_scales").value) u.scales = $("band_scales").value;
    const ldme = [...document.querySelectorAll("#band_ldme input:checked")].map((i) => i.value);
    const pdf = [...document.querySelectorAll("#band_pdf input:checked")].map((i) => i.value);
    if (ldme.length) u.ldme_sets = ldme;
    if (pdf.length) u.pdf_sets = pdf;
    return Object.keys(u).length ? u : null;
  }

  /** Problems the browser can see before asking: empty or non-numeric fields. */
  function formProblems(f) {
    const out = [];
    const check = (v, name) => { if (!Number.isFinite(v)) out.push(`${name}: enter a number`); };
    check(f.sqrtS, "√s");
    if (f.mode === "bin") {
      for (const k of ["x", "z", "Q"]) f.bin[k].forEach((v, i) => check(v, `${k} ${i ? "upper" : "lower"} edge`));
    } else {
      for (const k of ["x", "z", "Q"]) check(f.point[k], k);
    }
    check(num("pt_min"), "P_T from");
    check(num("pt_max"), "P_T to");
    if (!(num("pt_n") >= 1)) out.push("P_T values: enter a whole number ≥ 1");
    if (num("pt_n") > 10000) out.push("P_T values: at most 10 000 here (the service takes 200 by default)");
    return out;
  }

  // ---------------------------------------------------------------- asking the service

  async function fetchSpectrum(f) {
    if (f.mode === "bin") {
      const body = { bins: [f.bin], PT: f.PT, sqrt_s: f.sqrtS };
      if (f.uncertainty) body.uncertainty = f.uncertainty;
      const data = await api("v1/exact/binned", body);
      const r = data.results[0];
      return {
        kind: "bin", units: data.units, PT: r.PT, sigma: r.sigma, band: r.band || null,
        physical: r.physical, notes: r.physical ? [] : ["no part of this bin is physical at this √s: σ = 0 (see the kinematic map)"],
      };
    }
    const points = f.PT.map((PT) => ({ ...f.point, PT }));
    const body = { points, sqrt_s: f.sqrtS };
    if (f.uncertainty) body.uncertainty = f.uncertainty;
    const data = await api("v1/exact", body);
    const sigma = {};
    const names = CHANNELS.concat(TOTALS);
    for (const n of names) sigma[n] = data.results.map((r) => (r.valid ? r.sigma[n] : null));
    let band = null;
    if (data.results.some((r) => r.band)) {
      band = { lo: {}, hi: {} };
      for (const side of ["lo", "hi"]) {
        for (const n of names) band[side][n] = data.results.map((r) => (r.band && r.band[side][n] !== undefined ? r.band[side][n] : null));
      }
    }
    const notes = [];
    data.results.forEach((r, i) => {
      if (!r.valid && notes.length < 3) notes.push(`P_T = ${fmt(f.PT[i])} GeV is not physical: ${r.errors.join("; ")}`);
    });
    return { kind: "point", units: data.units, PT: f.PT, sigma, band, physical: data.results.some((r) => r.valid), notes };
  }

  /** The surrogate against the exact engine at points: the bin centre (or the point), each P_T. */
  async function fetchComparison(f) {
    const at = f.mode === "bin"
      ? { x: mid(f.bin.x), z: mid(f.bin.z), Q: mid(f.bin.Q) }
      : { ...f.point };
    const points = f.PT.map((PT) => ({ ...at, PT }));
    const body = { points, sqrt_s: f.sqrtS, channels: ["total_U", "total_L"] };
    const [exact, surrogate] = await Promise.allSettled([api("v1/exact", body), api("v1/predict", body)]);
    if (exact.status === "rejected") throw exact.reason;
    const out = { at, PT: f.PT, exact: exact.value.results.map((r) => (r.valid ? r.sigma.total_U : null)) };
    if (surrogate.status === "rejected") {
      out.surrogate = null;
      out.surrogateError = surrogate.reason;
    } else {
      out.surrogate = surrogate.value.results.map((r) => (r.valid ? r.sigma.total_U : null));
      out.outside = surrogate.value.results.filter((r) => (r.flags || []).includes("outside_training_domain")).length;
      out.model = surrogate.value.model;
    }
    return out;
  }

  const mid = (e) => 0.5 * (e[0] + e[1]);

  function fmt(v) {
    return Number.isFinite(v) ? Number(v.toPrecision(4)).toString() : String(v);
  }

  // ---------------------------------------------------------------- drawing

  const CONFIG = { responsive: true, displaylogo: false, scrollZoom: false };
  const BASE = { margin: { l: 70, r: 20, t: 36, b: 48 }, hovermode: "x unified", font: { size: 12 } };

  /** The common layout; in a narrow plot the legend (n entries) goes under the axes, in a
   * margin made for it. */
  function base(id, n, extra) {
    const el = $(id);
    const narrow = el.clientWidth < 600;
    const rows = narrow ? Math.ceil(n / 2) : 0;
    el.style.height = `${340 + 18 * rows}px`;
    const legend = narrow
      ? { orientation: "h", x: 0, xanchor: "left", yref: "container", y: 0, yanchor: "bottom", font: { size: 11 } }
      : { font: { size: 11 } };
    legend.traceorder = "normal";
    const layout = { ...BASE, legend, margin: { ...BASE.margin, b: 48 + 18 * rows }, ...extra };
    for (const axis of ["xaxis", "yaxis", "yaxis2"]) if (layout[axis]) layout[axis].automargin = true;
    return layout;
  }

  /** Log axes of σ: nine decades under the largest value shown (channels that fall faster
   * leave the plot at the bottom; the downloads keep every value). */
  function logRange(traces) {
    let top = 0;
    for (const t of traces) for (const v of t.y) if (v > top) top = v;
    if (!(top > 0)) return undefined;
    const hi = Math.log10(top) + 0.3;
    return [hi - 9.3, hi];
  }

  function where_text(f) {
    if (f.mode === "bin") {
      const b = f.bin;
      return `x ∈ [${b.x[0]}, ${b.x[1]}), z ∈ [${b.z[0]}, ${b.z[1]}), Q ∈ [${b.Q[0]}, ${b.Q[1]}) GeV`;
    }
    return `x = ${f.point.x}, z = ${f.point.z}, Q = ${f.point.Q} GeV`;
  }

  function drawSpectrum(f, s) {
    const traces = [];
    const unitsText = s.kind === "bin" ? "dσ/dP<sub>T</sub>² (pb/GeV²)" : "dσ/dx dz dQ² dP<sub>T</sub>² (pb/GeV⁴)";
    for (const c of f.channels) {
      const t = {
        name: LABELS[c], meta: c, x: s.PT, y: s.sigma[c], mode: "lines",
        line: { color: color(c), dash: c.endsWith("_L") ? "dash" : "solid", width: 2 },
      };
      if (f.stacked) {
        t.stackgroup = c.endsWith("_U") ? "U" : "L";
        t.fill = "tonexty";
      }
      traces.push(t);
    }
    for (const c of f.totals) {
      if (s.band && s.band.lo[c] && s.band.hi[c]) {
        traces.push({ name: `${LABELS[c]}: band low`, meta: `${c}:band_lo`, x: s.PT, y: s.band.lo[c], mode: "lines", line: { width: 0 }, showlegend: false, hoverinfo: "skip" });
        traces.push({ name: `${LABELS[c]}: theory band`, meta: `${c}:band_hi`, x: s.PT, y: s.band.hi[c], mode: "lines", line: { width: 0 }, fill: "tonexty", fillcolor: c === "total_U" ? "rgba(255,127,14,0.45)" : "rgba(255,127,14,0.25)" });
      }
      traces.push({ name: LABELS[c], meta: c, x: s.PT, y: s.sigma[c], mode: "lines", line: { color: COLORS.total, width: 3, dash: c === "total_L" ? "dash" : "solid" } });
    }
    const yaxis = { title: { text: unitsText }, type: f.logY ? "log" : "linear", exponentformat: "power" };
    if (f.logY && !f.stacked) yaxis.range = logRange(traces);
    const layout = base("spectrum", traces.filter((t) => t.showlegend !== false).length, {
      title: { text: `dσ/dP<sub>T</sub>² per channel at √s = ${f.sqrtS} GeV`, font: { size: 14 } },
      xaxis: { title: { text: "P<sub>T</sub> (GeV)" } },
      yaxis,
    });
    Plotly.react("spectrum", traces, layout, CONFIG);
    $("spectrum_caption").textContent = `${s.kind === "bin" ? "Integrated over the physical part of the bin" : "At the point"} ${where_text(f)}; ` +
      `${f.stacked ? "U channels stacked on each other, L channels likewise (the tops are the totals)" : "channels overlaid"}; ` +
      "U: unpolarised, L: longitudinal photon." + (s.band ? " Shaded: the theory band." : "") +
      (s.notes.length ? ` Note: ${s.notes.join(" ")}` : "");
  }

  function ratio(a, b) {
    return a.map((v, i) => (v !== null && b[i] !== null && b[i] !== 0 ? v / b[i] : null));
  }

  function drawFractions(f, s) {
    const frag = ratio(s.sigma.oct3s1_U, s.sigma.total_U);
    const lu = ratio(s.sigma.total_L, s.sigma.total_U);
    const traces = [
      { name: "³S₁[8] U / total U (fragmentation)", meta: "frag_fraction", x: s.PT, y: frag, mode: "lines+markers", line: { color: COLORS.oct3s1, width: 2 }, marker: { size: 4 } },
      { name: "total L / total U", meta: "L_over_U", x: s.PT, y: lu, mode: "lines+markers", line: { color: COLORS.total, width: 2, dash: "dash" }, marker: { size: 4 } },
      { name: "half", x: [s.PT[0], s.PT[s.PT.length - 1]], y: [0.5, 0.5], mode: "lines", line: { color: "#888", dash: "dot", width: 1 }, hoverinfo: "skip" },
    ];
    Plotly.react("fractions", traces, base("fractions", traces.length, {
      title: { text: "Fragmentation fraction and σ<sub>L</sub>/σ<sub>U</sub>", font: { size: 14 } },
      xaxis: { title: { text: "P<sub>T</sub> (GeV)" } },
      yaxis: { title: { text: "ratio (dimensionless)" }, rangemode: "tozero" },
    }), CONFIG);
    $("fractions_summary").textContent = dominance(s.PT, frag);
    return { frag, lu };
  }

  /** Where fragmentation makes more than half of σ_U, in words. */
  function dominance(PT, frag) {
    const above = PT.filter((_, i) => frag[i] !== null && frag[i] > 0.5);
    if (!above.length) return "Fragmentation is below half of σ_U at every P_T shown.";
    if (above.length === PT.length) return "Fragmentation makes more than half of σ_U at every P_T shown.";
    const runs = [];
    PT.forEach((pt, i) => {
      const on = frag[i] !== null && frag[i] > 0.5;
      if (on && (i === 0 || !(frag[i - 1] > 0.5))) runs.push([pt, pt]);
      else if (on) runs[runs.length - 1][1] = pt;
    });
    const parts = runs.map(([a, b]) => (a === b ? `${fmt(a)}` : `${fmt(a)}–${fmt(b)}`));
    return `Fragmentation makes more than half of σ_U for P_T = ${parts.join(", ")} GeV.`;
  }

  function drawComparison(f, c) {
    const traces = [{ name: "exact engine", meta: "exact_total_U", x: c.PT, y: c.exact, mode: "lines", line: { color: COLORS.total, width: 2 } }];
    let note = `total U at ${f.mode === "bin" ? "the bin centre " : ""}x = ${fmt(c.at.x)}, z = ${fmt(c.at.z)}, Q = ${fmt(c.at.Q)} GeV.`;
    if (c.surrogate) {
      traces.push({ name: "surrogate", meta: "surrogate_total_U", x: c.PT, y: c.surrogate, mode: "markers", marker: { color: "#e377c2", size: 7, symbol: "circle-open" } });
      traces.push({ name: "surrogate / exact", meta: "ratio", x: c.PT, y: ratio(c.surrogate, c.exact), mode: "lines+markers", yaxis: "y2", line: { color: "#e377c2", width: 1 }, marker: { size: 4 } });
      if (c.outside) note += ` ${c.outside} of ${c.PT.length} points are outside the surrogate's training domain.`;
      if (c.model) note += ` Surrogate ${c.model.name} ${c.model.version}.`;
    } else if (c.surrogateError) {
      note += ` The surrogate did not answer: ${c.surrogateError.title}: ${c.surrogateError.message}`;
    }
    Plotly.react("compare", traces, base("compare", traces.length, {
      title: { text: "Surrogate (/v1/predict) against the exact engine (/v1/exact)", font: { size: 14 } },
      xaxis: { title: { text: "P<sub>T</sub> (GeV)" }, anchor: "y2" },
      yaxis: { title: { text: "dσ/dx dz dQ² dP<sub>T</sub>² (pb/GeV⁴)" }, type: f.logY ? "log" : "linear", exponentformat: "power", domain: [0.36, 1] },
      yaxis2: { title: { text: "surrogate/exact" }, domain: [0, 0.28] },
    }), CONFIG);
    $("compare_caption").textContent = note;
  }

  /** The x–Q² plane: lines of constant y, the W threshold, the physical region, the bin. */
  function drawMap(f) {
    const s = f.sqrtS * f.sqrtS;
    const c = W_TH * W_TH - M_P * M_P; // Q² = c x/(1 − x) on the W threshold
    const xmin = 1e-4;
    const xs = [];
    for (let i = 0; i <= 240; i++) xs.push(10 ** (Math.log10(xmin) + (-Math.log10(xmin) * i) / 240 * 0.99999));
    const qmin = 0.5;
    const line = (y) => xs.map((x) => y * x * s);
    const wline = xs.map((x) => (c * x) / (1 - x));
    const traces = [];
    // physical: c x/(1 − x) ≤ Q² ≤ x s, which needs x ≤ 1 − c/s
    const xmax = 1 - c / s;
    if (xmax > xmin) {
      const xp = xs.filter((x) => x <= xmax).concat([xmax]);
      const upper = xp.map((x) => x * s);
      const lower = xp.map((x) => Math.max((c * x) / (1 - x), qmin));
      traces.push({
        name: "physical region", x: xp.concat(xp.slice().reverse()), y: upper.concat(lower.reverse()),
        fill: "toself", fillcolor: "rgba(44,160,44,0.15)", line: { width: 0 }, mode: "lines", hoverinfo: "skip",
      });
    }
    traces.push({ name: "y = 1", x: xs, y: line(1), mode: "lines", line: { color: "#111", width: 2 } });
    traces.push({ name: "y = 0.95", x: xs, y: line(0.95), mode: "lines", line: { color: "#1f77b4", dash: "dash" } });
    traces.push({ name: "y = 0.01", x: xs, y: line(0.01), mode: "lines", line: { color: "#1f77b4", dash: "dot" } });
    traces.push({ name: `W = ${W_TH.toFixed(3)} GeV`, x: xs, y: wline, mode: "lines", line: { color: "#d62728", width: 2 } });
    if (f.mode === "bin") {
      const [x0, x1] = f.bin.x;
      const [q0, q1] = f.bin.Q.map((q) => q * q);
      traces.push({
        name: "chosen bin", x: [x0, x1, x1, x0, x0], y: [q0, q0, q1, q1, q0], mode: "lines", fill: "toself",
        fillcolor: "rgba(255,127,14,0.25)", line: { color: "#ff7f0e", width: 2 },
      });
    } else {
      traces.push({ name: "chosen point", x: [f.point.x], y: [f.point.Q * f.point.Q], mode: "markers", marker: { color: "#ff7f0e", size: 11, symbol: "x" } });
    }
    Plotly.react("map", traces, base("map", traces.length, {
      hovermode: "closest",
      title: { text: `Kinematic map at √s = ${f.sqrtS} GeV`, font: { size: 14 } },
      xaxis: { title: { text: "x (Bjorken, dimensionless)" }, type: "log", range: [Math.log10(xmin), 0], exponentformat: "power" },
      yaxis: { title: { text: "Q² (GeV²)" }, type: "log", range: [Math.log10(qmin), Math.log10(Math.max(s, 10))], exponentformat: "power" },
    }), CONFIG);
  }

  // ---------------------------------------------------------------- messages

  function setState(name, message) {
    document.body.dataset.state = name;
    $("status").textContent = message || "";
  }

  function showError(err) {
    const box = $("error");
    box.replaceChildren();
    const head = document.createElement("p");
    head.style.margin = "0";
    const strong = document.createElement("strong");
    const items = err.items || [];
    if (err.status) {
      strong.textContent = `The service refused the request (${err.status} ${err.title})` + (items.length ? ":" : ": ");
    } else {
      strong.textContent = `${err.title || "Error"}: `;
    }
    head.append(strong);
    // a 422's detail repeats its first item in field-path form: the list says it in words
    if (!items.length || err.status !== 422) head.append(document.createTextNode(` ${err.message}`));
    box.append(head);
    if (items.length) {
      const ul = document.createElement("ul");
      for (const item of items) {
        const li = document.createElement("li");
        li.textContent = item;
        ul.append(li);
      }
      box.append(ul);
    }
    box.hidden = false;
    $("plots").classList.add("stale");
  }

  function clearError() {
    $("error").hidden = true;
    $("error").replaceChildren();
    $("plots").classList.remove("stale");
  }

  // ---------------------------------------------------------------- one update

  async function update() {
    const generation = ++state.generation;
    const f = readForm();
    const local = formProblems(f);
    if (local.length) {
      showError(new ApiError(0, "Check the form", "some fields need a value", local));
      setState("error", "Not computed: see the message.");
      document.body.dataset.generation = String(generation);
      return;
    }
    setState("loading", "Computing…");
    drawMap(f);
    try {
      const [spectrum, comparison] = await Promise.all([fetchSpectrum(f), fetchComparison(f)]);
      if (generation !== state.generation) return; // a newer request is under way
      clearError();
      drawSpectrum(f, spectrum);
      const fractions = drawFractions(f, spectrum);
      drawComparison(f, comparison);
      state.shown = { form: f, spectrum, fractions, comparison };
      setState("ready", `Computed at √s = ${f.sqrtS} GeV, ${where_text(f)}, ${f.PT.length} P_T values.`);
    } catch (err) {
      if (generation !== state.generation) return;
      showError(err instanceof ApiError ? err : new ApiError(0, "Error", String(err), []));
      setState("error", "Not computed: see the message (the plots and downloads show the last result).");
    } finally {
      if (generation === state.generation) document.body.dataset.generation = String(generation);
    }
  }

  // ---------------------------------------------------------------- downloads

  function columns() {
    const sh = state.shown;
    if (!sh) return null;
    const { form: f, spectrum: s, fractions } = sh;
    const sigmaUnits = s.kind === "bin" ? "pb/GeV^2" : "pb/GeV^4";
    const cols = [];
    for (const c of CHANNELS.concat(TOTALS)) cols.push({ name: `sigma_${c}`, units: sigmaUnits, values: s.sigma[c], channel: c });
    if (s.band) {
      for (const c of TOTALS) {
        if (s.band.lo[c]) {
          cols.push({ name: `sigma_${c}_band_lo`, units: sigmaUnits, values: s.band.lo[c] });
          cols.push({ name: `sigma_${c}_band_hi`, units: sigmaUnits, values: s.band.hi[c] });
        }
      }
    }
    cols.push({ name: "frag_fraction", units: "", values: fractions.frag });
    cols.push({ name: "L_over_U", units: "", values: fractions.lu });
    return { f, s, cols, sigmaUnits };
  }

  function describe(f) {
    return f.mode === "bin"
      ? `sqrt(s) = ${f.sqrtS} GeV; bin x [${f.bin.x}], z [${f.bin.z}], Q [${f.bin.Q}] GeV; dsigma/dPT^2 integrated over the physical part of the bin`
      : `sqrt(s) = ${f.sqrtS} GeV; point x = ${f.point.x}, z = ${f.point.z}, Q = ${f.point.Q} GeV; dsigma/dx dz dQ^2 dPT^2`;
  }

  const cell = (v) => (v === null || v === undefined ? "" : String(v));

  function csv() {
    const t = columns();
    if (!t) return "";
    const lines = [`# jpsi-sidis explorer: ${describe(t.f)}`, `# units: PT in GeV, sigma in ${t.sigmaUnits}, ratios dimensionless`];
    lines.push(["PT_GeV"].concat(t.cols.map((c) => c.name)).join(","));
    t.s.PT.forEach((pt, i) => lines.push([String(pt)].concat(t.cols.map((c) => cell(c.values[i]))).join(",")));
    return lines.join("\n") + "\n";
  }

  const q = (s) => `'${String(s).replace(/'/g, "''")}'`;

  /** A number as YAML 1.1 reads it back as a float: 1e-7 would be a string to PyYAML
   * (HEPData's reader), 1.0e-7 is not. Shortest round-trip digits otherwise. */
  function yn(v) {
    const t = String(v);
    return /^-?\d+e/.test(t) ? t.replace("e", ".0e") : t;
  }

  function yaml() {
    const t = columns();
    if (!t) return "";
    const f = t.f;
    const qual = [`  - {name: SQRT(S), units: GeV, value: ${f.sqrtS}}`, "  - {name: RE, value: 'E+ P --> E+ J/PSI X'}"];
    if (f.mode === "bin") {
      qual.push(`  - {name: x, value: '${f.bin.x[0]}-${f.bin.x[1]}'}`, `  - {name: z, value: '${f.bin.z[0]}-${f.bin.z[1]}'}`,
        `  - {name: Q, units: GeV, value: '${f.bin.Q[0]}-${f.bin.Q[1]}'}`);
    } else {
      qual.push(`  - {name: x, value: ${f.point.x}}`, `  - {name: z, value: ${f.point.z}}`, `  - {name: Q, units: GeV, value: ${f.point.Q}}`);
    }
    const out = ["# HEPData table written by the jpsi-sidis explorer", `# ${describe(f)}`, "independent_variables:",
      "- header: {name: PT, units: GeV}", "  values:"];
    for (const pt of t.s.PT) out.push(`  - {value: ${yn(pt)}}`);
    out.push("dependent_variables:");
    const band = t.s.band;
    for (const c of t.cols) {
      if (c.name.includes("_band_")) continue; // written as the errors of the totals
      const name = c.channel ? (t.s.kind === "bin" ? `DSIG/DPT**2 ${c.channel}` : `D4SIG/DX/DZ/DQ**2/DPT**2 ${c.channel}`) : c.name;
      out.push(`- header: {name: ${q(name)}${c.units ? `, units: ${q(c.units)}` : ""}}`, "  qualifiers:", ...qual, "  values:");
      c.values.forEach((v, i) => {
        if (v === null || v === undefined) {
          out.push("  - {value: '-'}");
        } else if (band && c.channel && band.lo[c.channel] && band.lo[c.channel][i] !== null) {
          const minus = band.lo[c.channel][i] - v;
          const plus = band.hi[c.channel][i] - v;
          out.push(`  - value: ${yn(v)}`, "    errors:", `    - {asymerror: {minus: ${yn(minus)}, plus: ${yn(plus)}}, label: theory}`);
        } else {
          out.push(`  - {value: ${yn(v)}}`);
        }
      });
    }
    return out.join("\n") + "\n";
  }

  function download(text, name, type) {
    const a = document.createElement("a");
    a.href = URL.createObjectURL(new Blob([text], { type }));
    a.download = name;
    document.body.append(a);
    a.click();
    a.remove();
    setTimeout(() => URL.revokeObjectURL(a.href), 1000);
  }

  function fileStem() {
    const f = state.shown.form;
    return f.mode === "bin"
      ? `jpsi_${f.sqrtS}GeV_x${f.bin.x.join("-")}_z${f.bin.z.join("-")}_Q${f.bin.Q.join("-")}`
      : `jpsi_${f.sqrtS}GeV_x${f.point.x}_z${f.point.z}_Q${f.point.Q}`;
  }

  // ---------------------------------------------------------------- set-up

  function buildControls() {
    const sel = $("preset");
    for (const x of X_BINS) {
      for (const z of Z_BINS) {
        for (const Q of Q_BINS) {
          const o = document.createElement("option");
          o.value = JSON.stringify({ x, z, Q });
          o.textContent = `x ${x[0]}–${x[1]}, z ${z[0]}–${z[1]}, Q ${Q[0]}–${Q[1]} GeV`;
          sel.append(o);
        }
      }
    }
    const custom = document.createElement("option");
    custom.value = "";
    custom.textContent = "custom (edit the edges)";
    sel.append(custom);
    sel.value = JSON.stringify({ x: X_BINS[0], z: Z_BINS[1], Q: Q_BINS[0] });
    sel.addEventListener("change", () => {
      if (!sel.value) return;
      const b = JSON.parse(sel.value);
      [$("x_lo").value, $("x_hi").value] = b.x;
      [$("z_lo").value, $("z_hi").value] = b.z;
      [$("q_lo").value, $("q_hi").value] = b.Q;
    });
    for (const id of ["x_lo", "x_hi", "z_lo", "z_hi", "q_lo", "q_hi"]) {
      $(id).addEventListener("change", () => {
        const now = JSON.stringify({ x: [num("x_lo"), num("x_hi")], z: [num("z_lo"), num("z_hi")], Q: [num("q_lo"), num("q_hi")] });
        sel.value = [...sel.options].some((o) => o.value === now) ? now : "";
      });
    }
    const boxes = $("channel_boxes");
    for (const c of CHANNELS.concat(TOTALS)) {
      const label = document.createElement("label");
      const input = document.createElement("input");
      input.type = "checkbox";
      input.id = `ch_${c}`;
      input.checked = true;
      label.append(input, document.createTextNode(LABELS[c]));
      boxes.append(label);
    }
    for (const r of document.querySelectorAll("input[name=mode]")) {
      r.addEventListener("change", () => {
        const bin = document.querySelector("input[name=mode]:checked").value === "bin";
        $("bin_inputs").hidden = !bin;
        $("point_inputs").hidden = bin;
      });
    }
    const key = $("api_key");
    key.value = sessionStorage.getItem(KEY_STORE) || "";
    if (key.value) $("key_box").open = true;
    key.addEventListener("change", () => {
      if (key.value) sessionStorage.setItem(KEY_STORE, key.value);
      else sessionStorage.removeItem(KEY_STORE);
    });
    const form = $("controls");
    form.addEventListener("submit", (e) => {
      e.preventDefault();
      update();
    });
    form.addEventListener("change", (e) => {
      if (e.target.id !== "api_key") update();
    });
    $("dl_csv").addEventListener("click", () => state.shown && download(csv(), `${fileStem()}.csv`, "text/csv"));
    $("dl_yaml").addEventListener("click", () => state.shown && download(yaml(), `${fileStem()}.yaml`, "application/yaml"));
  }

  /** The theory band controls appear only when the service has GET /v1/theory. */
  async function detectTheory() {
    let theory;
    try {
      theory = await api("v1/theory");
    } catch (_) {
      return; // 404 (an older service) or refused: no band controls
    }
    state.theory = theory;
    const scales = $("band_scales");
    for (const v of theory.scale_variations || []) {
      const o = document.createElement("option");
      o.value = v;
      o.textContent = v;
      scales.append(o);
    }
    const group = (id, title, names) => {
      const box = $(id);
      if (!names.length) return;
      const p = document.createElement("p");
      p.className = "hint";
      p.textContent = title;
      box.append(p);
      for (const n of names) {
        const label = document.createElement("label");
        const input = document.createElement("input");
        input.type = "checkbox";
        input.value = n;
        label.append(input, document.createTextNode(n));
        box.append(label);
      }
    };
    group("band_ldme", "LDME sets (envelope)", (theory.ldme_sets || []).map((s) => s.name));
    group("band_pdf", "PDF sets (envelope)", (theory.pdf_sets || []).map((p) => (typeof p === "string" ? p : p.name)));
    $("band_controls").hidden = false;
  }

  async function start() {
    buildControls();
    await detectTheory();
    await update();
  }

  window.jpsiExplorer = { state, update, csv, yaml, readForm };
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
})();
