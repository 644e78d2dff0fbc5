// The behaviour of the audit report page (inlined by report.py): search, drill-down, charts.
(() => {
const DATA = JSON.parse(document.getElementById("report-data").textContent);
const SPECS = JSON.parse(document.getElementById("chart-specs").textContent);
const errors = [];
function fail(msg) { errors.push(String(msg)); document.getElementById("errors").textContent = errors.join("\n"); }
window.addEventListener("error", e => fail(e.message));
window.addEventListener("unhandledrejection", e => fail(e.reason));
const P = DATA.policy || {};
const S = DATA.strings;
// reasons are stored as [pathway, criterion, value, acos] indices into DATA.strings
function reasonsOf(coded) {
  if (!coded) return null;
  return coded.map(r => ({pathway: S[r[0]], criterion: S[r[1]], value: S[r[2]], acos: r[3] ? r[3].map(i => S[i]) : null}));
}
function esc(s) { return String(s ?? "").replace(/[&<>"]/g, c => ({"&":"&amp;","<":"&lt;",">":"&gt;",'"':"&quot;"}[c])); }
function cite(id) {
  if (!id) return "";
  const s = (P.sources || {})[id];
  const title = s && s.title ? " — " + s.title : "";
  return ` <span class="cite">[${esc(id)}${esc(title)}]</span>`;
}
function verdict(v) { return {"true": "holds", "false": "does not hold", "unknown": "is unknown (missing data)", "tie": "is tied"}[v] || v; }
function explain(row) {
  const [id, outcome, aco, pathway, coded, state, cause] = row;
  const reasons = reasonsOf(coded);
  const out = [];
  if (outcome === "error") { return `<p>Beneficiary ${esc(id)} could not be decided: ${esc(cause)}</p>`; }
  if (outcome === "aligned") out.push(`<p><b>Beneficiary ${esc(id)} is ALIGNED to ${esc(aco)}</b> through the '${esc(pathway)}' pathway.</p>`);
  else out.push(`<p><b>Beneficiary ${esc(id)} is NOT ALIGNED</b> to any ACO.</p>`);
  if (P.id) out.push(`<p>Policy ${esc(P.id)} version ${esc(P.version)} (content hash ${esc(P.hash.slice(0, 12))}).</p>`);
  if (!reasons) { out.push("<p>(The decisions file has no reasons column.)</p>"); return out.join(""); }
  const byPw = new Map();
  for (const r of reasons) { if (!byPw.has(r.pathway)) byPw.set(r.pathway, []); byPw.get(r.pathway).push(r); }
  const order = (P.hierarchy || []).concat([...byPw.keys()].filter(p => !(P.hierarchy || []).includes(p)));
  out.push("<ol>");
  for (const pw of order) {
    const rs = byPw.get(pw);
    const pinfo = (P.pathways || {})[pw] || {};
    if (!rs) { if (outcome === "aligned" && order.indexOf(pw) > order.indexOf(pathway)) out.push(`<li>${esc(pw)}: not evaluated, because a pathway above it decided.</li>`); continue; }
    const head = outcome === "aligned" && pw === pathway ? `applies, for ${esc(aco)}. Every requirement holds:` : "does not apply, because:";
    out.push(`<li><b>${esc(pw)}</b>${cite(pinfo.source)}: ${head}<ul>`);
    for (const r of rs) {
      const c = (P.criteria || {})[r.criterion] || {};
      const scope = r.acos ? ` for ${esc(r.acos.join(", "))}` : "";
      const text = r.value !== "true" && c.reason ? c.reason : (c.description || "");
      out.push(`<li>'${esc(r.criterion)}' ${verdict(r.value)}${scope}${cite(c.source)}<br><span class="why">${esc(text)}</span></li>`);
    }
    out.push("</ul></li>");
  }
  out.push("</ol>");
  return out.join("");
}
function search() {
  const q = document.getElementById("search").value.trim().toUpperCase();
  const rows = DATA.subjects.filter(r => !q || String(r[0]).toUpperCase().includes(q)).slice(0, 50);
  const tbody = document.getElementById("results");
  tbody.innerHTML = rows.map((r, i) => `<tr data-bene="${esc(r[0])}"><td><a href="#" data-i="${i}">${esc(r[0])}</a></td><td>${esc(r[1])}</td><td>${esc(r[2] || "")}</td><td>${esc(r[3] || "")}</td><td>${esc(r[5])}</td></tr>`).join("");
  tbody.querySelectorAll("a").forEach(a => a.addEventListener("click", ev => {
    ev.preventDefault(); document.getElementById("explanation").innerHTML = explain(rows[Number(a.dataset.i)]);
  }));
  document.getElementById("matches").textContent = String(rows.length);
  if (rows.length) document.getElementById("explanation").innerHTML = explain(rows[0]);
}
document.getElementById("search").addEventListener("input", search);
if (location.hash.startsWith("#q=")) document.getElementById("search").value = decodeURIComponent(location.hash.slice(3));
search();
let drawn = 0;
Promise.all(Object.entries(SPECS).map(([id, spec]) =>
  vegaEmbed("#chart-" + id, spec, {actions: false, renderer: "svg"}).then(() => { drawn += 1; })
)).then(() => { document.body.dataset.charts = String(drawn); }, e => fail(e));
})();
