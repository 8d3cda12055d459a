// Recognise: a photo in (file, drop, paste or camera), every face boxed and named.
import { postForm } from "../api.js";
import { t } from "../i18n.js";
import { h, alertBox, percent, onImageChosen } from "../ui.js";
import { Camera } from "../camera.js";

export function recognizePage(main) {
  const input = h("input", {
    type: "file", accept: "image/*", id: "recognize-file", class: "file-input",
    "data-testid": "recognize-file-input",
  });
  const figure = h("div", { class: "preview", hidden: true });
  const result = h("section", { "data-testid": "recognize-result", "aria-live": "polite", class: "result" });
  const camera = new Camera();
  const video = h("video", { class: "camera-view", playsinline: true, muted: true, hidden: true });
  const snap = h("button", { type: "button", hidden: true, onclick: () => takeSnapshot() }, t("recognize.snap"));
  const cameraButton = h("button", { type: "button", class: "secondary", onclick: () => toggleCamera() }, t("recognize.camera"));

  const drop = h("label", { class: "dropzone", for: "recognize-file" },
    h("strong", {}, t("recognize.choose")), h("span", {}, t("recognize.hint")), input);

  async function recognise(blob, name = "photo.jpg") {
    result.replaceChildren(h("p", { class: "muted" }, t("recognize.working")));
    const url = URL.createObjectURL(blob);
    const form = new FormData();
    form.append("file", blob, name);
    try {
      const answer = await postForm("/recognize", form);
      showPreview(url, answer);
      showFaces(answer);
    } catch (err) {
      figure.hidden = true;
      result.replaceChildren(alertBox(err.explain ? err.explain() : String(err)));
    }
  }

  function showPreview(url, answer) {
    const { width, height } = answer.image;
    const svg = document.createElementNS("http://www.w3.org/2000/svg", "svg");
    svg.setAttribute("viewBox", `0 0 ${width} ${height}`);
    svg.setAttribute("aria-hidden", "true");
    const stroke = Math.max(2, Math.round(Math.max(width, height) / 300));
    answer.faces.forEach((face, i) => {
      const [x1, y1, x2, y2] = face.box;
      const known = Boolean(face.match);
      const rect = document.createElementNS(svg.namespaceURI, "rect");
      Object.entries({ x: x1, y: y1, width: x2 - x1, height: y2 - y1, "stroke-width": stroke,
        class: known ? "box known" : "box unknown" }).forEach(([k, v]) => rect.setAttribute(k, v));
      const label = document.createElementNS(svg.namespaceURI, "text");
      label.setAttribute("x", x1);
      label.setAttribute("y", Math.max(stroke * 6, y1 - stroke * 2));
      label.setAttribute("font-size", Math.max(12, stroke * 7));
      label.setAttribute("class", known ? "label known" : "label unknown");
      label.textContent = `${i + 1}. ${known ? face.match.name : t("unknown")}`;
      svg.append(rect, label);
    });
    figure.replaceChildren(h("img", { src: url, alt: "" }), svg);
    figure.hidden = false;
  }

  function showFaces(answer) {
    if (!answer.faces.length) {
      result.replaceChildren(h("p", {}, t("recognize.noFaces")));
      return;
    }
    const items = answer.faces.map((face, i) => {
      const title = face.match
        ? `${face.match.name} · ${t("similarity")} ${percent(face.match.similarity)}`
        : t("unknown");
      const candidates = face.candidates.length
        ? h("details", {}, h("summary", {}, t("recognize.candidates")),
            h("ol", {}, face.candidates.map((c) => h("li", {}, `${c.name} · ${percent(c.similarity)}`))))
        : null;
      return h("li", { "data-testid": "face-result", class: face.match ? "face known" : "face unknown" },
        h("span", { class: "face-title" }, title), candidates);
    });
    result.replaceChildren(
      h("p", { class: "muted" }, `${t("recognize.faces", { n: answer.faces.length })} · ${t("threshold")} ${percent(answer.threshold)}`),
      h("ol", { class: "faces" }, items),
    );
  }

  async function toggleCamera() {
    if (camera.running) {
      camera.stop();
      video.hidden = true;
      snap.hidden = true;
      cameraButton.textContent = t("recognize.camera");
      return;
    }
    try {
      await camera.start(video);
      video.hidden = false;
      snap.hidden = false;
      cameraButton.textContent = t("recognize.stopCamera");
    } catch (err) {
      result.replaceChildren(alertBox(t("kiosk.noCamera", { detail: err.message || err })));
    }
  }

  async function takeSnapshot() {
    const blob = await camera.snapshot(1280);
    if (blob) recognise(blob, "snapshot.jpg");
  }

  onImageChosen(input, drop, recognise);
  const onPaste = (event) => {
    const item = [...(event.clipboardData?.items || [])].find((i) => i.type.startsWith("image/"));
    if (item) recognise(item.getAsFile(), "pasted.png");
  };
  document.addEventListener("paste", onPaste);

  main.append(
    h("h1", {}, t("recognize.title")),
    drop,
    h("div", { class: "row" }, cameraButton, snap),
    video,
    h("div", { class: "split" }, figure, result),
  );
  return () => {
    document.removeEventListener("paste", onPaste);
    camera.stop();
  };
}
