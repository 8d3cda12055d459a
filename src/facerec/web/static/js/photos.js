// Enrolling photos for a person and reporting the outcome of each one.
import { postForm } from "./api.js";
import { t } from "./i18n.js";
import { h } from "./ui.js";

// POST every file at once; returns [{name, ok, text}] in the order given.
export async function enrolPhotos(personId, files) {
  const form = new FormData();
  for (const file of files) form.append("file", file, file.name);
  try {
    const answer = await postForm(`/people/${personId}/faces`, form);
    const rejected = new Map(answer.rejected.map((r) => [r.index, r]));
    let next = 0;
    return [...files].map((file, index) => {
      const problem = rejected.get(index);
      if (problem) return { name: file.name, ok: false, text: t(`error.${problem.code}`) };
      const face = answer.faces[next++];
      return { name: file.name, ok: true, text: t(face && face.duplicate ? "photo.duplicate" : "photo.enrolled") };
    });
  } catch (err) {
    const rejected = err.body && err.body.rejected;
    if (rejected) return rejected.map((r) => ({ name: r.filename || files[r.index].name, ok: false, text: t(`error.${r.code}`) }));
    return [...files].map((file) => ({ name: file.name, ok: false, text: err.explain ? err.explain() : String(err) }));
  }
}

export function outcomeList(outcomes) {
  return h("ul", { class: "outcomes", "data-testid": "photo-results", "aria-live": "polite" },
    outcomes.map((o) => h("li", { class: o.ok ? "ok" : "bad", "data-testid": "photo-result" }, `${o.name}: ${o.text}`)));
}
