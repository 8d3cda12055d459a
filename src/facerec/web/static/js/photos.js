// Enrolling photos for a person and reporting the outcome of each one.
import { postForm } from "./api.js";
import { t } from "./i18n.js";
import { h } from "./ui.js";

function problemText(problem) {
  const reasons = problem.reasons || [];
  const base = t(`error.${problem.code}`);
  return reasons.length ? `${base} (${reasons.map((r) => t(`reason.${r}`)).join(", ")})` : base;
}

function warningText(warning) {
  const key = warning.same_image ? "warning.same_image" : "warning.looks_like";
  return t(key, { name: warning.name, similarity: warning.similarity.toFixed(3) });
}

// POST every file at once; returns [{name, ok, text, warn}] in the order given.
export async function enrolPhotos(personId, files, force = false) {
  const form = new FormData();
  for (const file of files) form.append("file", file, file.name);
  try {
    const answer = await postForm(`/people/${personId}/faces`, form, force ? { force: "true" } : {});
    const rejected = new Map(answer.rejected.map((r) => [r.index, r]));
    const warned = new Map((answer.warnings || []).map((w) => [w.index, w]));
    let next = 0;
    return [...files].map((file, index) => {
      const problem = rejected.get(index);
      if (problem) return { name: file.name, ok: false, text: problemText(problem) };
      const face = answer.faces[next++];
      const warning = warned.get(index);
      if (warning) return { name: file.name, ok: true, warn: true, text: warningText(warning) };
      return { name: file.name, ok: true, text: t(face && face.duplicate ? "photo.duplicate" : "photo.enrolled") };
    });
  } catch (err) {
    const rejected = err.body && err.body.rejected;
    if (rejected) return rejected.map((r) => ({ name: r.filename || files[r.index].name, ok: false, text: problemText(r) }));
    const text = err.body && err.body.code ? problemText(err.body) : String(err);
    return [...files].map((file) => ({ name: file.name, ok: false, text }));
  }
}

export function outcomeList(outcomes) {
  return h("ul", { class: "outcomes", "data-testid": "photo-results", "aria-live": "polite" },
    outcomes.map((o) => h("li", { class: o.warn ? "warn" : o.ok ? "ok" : "bad", "data-testid": "photo-result" }, `${o.name}: ${o.text}`)));
}
