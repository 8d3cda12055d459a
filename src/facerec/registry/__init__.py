"""The model registry: ONNX model packs under the data dir (``facerec models``, ``/models``).

``catalogue.py`` (known packs, pinned), ``contract.py`` (input contracts by family),
``probe.py`` (a file checked in ONNX Runtime), ``download.py`` (resumed, sha256-checked),
``store.py`` (installed models and their manifests), ``selection.py`` (``models use``),
``service.py``, ``views.py``, ``cli.py``.
"""
