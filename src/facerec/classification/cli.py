"""``facerec classify IMAGE...``: the ImageNet labels of each image, as the API gives them."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape

from facerec.classification.models import DEFAULT_TOP_K, MAX_TOP_K
from facerec.classification.service import top_labels
from facerec.cli_batch import file_table, finish_batch, item_failed, labelled_files
from facerec.config import get_settings
from facerec.errors import FaceRecError
from facerec.inference.classifier import build_classifier_from
from facerec.inference.classifying import Classifier
from facerec.inference.engines import build_engine
from facerec.inference.runtime import FaceRuntime

console = Console()


def classify(
    ctx: typer.Context,
    images: Annotated[
        list[Path],
        typer.Argument(exists=True, metavar="PATH", help="Image files, or folders of images"),
    ],
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON")] = False,
    top_k: Annotated[int, typer.Option(min=1, max=MAX_TOP_K)] = DEFAULT_TOP_K,
) -> None:
    """The most probable ImageNet labels of each image (a folder: every file in it).
    Exits 1 if any image failed, after the summary on standard error."""
    settings = get_settings()
    classifier: Classifier = getattr(ctx.obj, "classifier", None) or build_classifier_from(settings)
    # the face engine is never loaded here: classification needs only the classifier
    runtime = FaceRuntime(build_engine(settings), settings, classifier=classifier)
    results: dict[str, object] = {}
    files, failed = labelled_files(images), 0
    table = file_table("image", "label", "probability")
    try:
        for path, label in files:
            try:
                classified = runtime.classify_image(path.read_bytes())
            except (FaceRecError, OSError) as exc:
                code = exc.code if isinstance(exc, FaceRecError) else "unreadable"
                message = exc.message if isinstance(exc, FaceRecError) else str(exc)
                failed += 1
                item_failed(label, code, message)
                results[str(path)] = {"error": {"code": code, "message": message}}
                continue
            result = top_labels(classified=classified, labels=classifier.labels, top_k=top_k)
            results[str(path)] = result.model_dump()
            for rank, scored in enumerate(result.labels):
                name = escape(label) if rank == 0 else ""
                table.add_row(name, escape(scored.label), f"{scored.probability:.3f}")
    finally:
        runtime.close()
    if as_json:
        print(json.dumps(results, ensure_ascii=False, indent=2))
    else:
        console.print(table)
    finish_batch(len(files) - failed, failed, always=len(files) > 1)
