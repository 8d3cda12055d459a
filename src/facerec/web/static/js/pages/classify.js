// Classify: a photo in (file or drop), the most probable ImageNet labels out.
import { postForm } from "../api.js";
import { t } from "../i18n.js";
import { h, alertBox, percent, onImageChosen } from "../ui.js";

export function classifyPage(main) {
  const input = h("input", {
    type: "file", accept: "image/*", id: "classify-file", class: "file-input",
    "data-testid": "classify-file-input",
  });
  const figure = h("div", { class: "preview", hidden: true });
  const result = h("section", { "data-testid": "classify-result", "aria-live": "polite", class: "result" });
  const drop = h("label", { class: "dropzone", for: "classify-file" },
    h("strong", {}, t("classify.choose")), h("span", {}, t("classify.hint")), input);

  async function classify(blob, name) {
    result.replaceChildren(h("p", { class: "muted" }, t("classify.working")));
    const form = new FormData();
    form.append("file", blob, name);
    form.append("top_k", "5");
    try {
      const answer = await postForm("/classify", form);
      figure.replaceChildren(h("img", { src: URL.createObjectURL(blob), alt: "" }));
      figure.hidden = false;
      const items = answer.labels.map((row) =>
        h("li", { "data-testid": "classify-label" }, `${row.label} · ${percent(row.probability)}`));
      result.replaceChildren(
        h("p", { class: "muted" }, t("classify.model", { model: answer.model })),
        h("ol", { class: "faces" }, items),
      );
    } catch (err) {
      figure.hidden = true;
      result.replaceChildren(alertBox(err.explain ? err.explain() : String(err)));
    }
  }

  onImageChosen(input, drop, classify);

  main.append(
    h("h1", {}, t("classify.title")),
    drop,
    h("div", { class: "split" }, figure, result),
  );
}
