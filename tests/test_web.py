"""The browser UI is served by the app itself: pages, assets, nothing from elsewhere."""

from __future__ import annotations

import re

from fastapi.testclient import TestClient


def test_every_page_path_serves_the_app(client: TestClient) -> None:
    for path in ("/", "/people", "/people/12", "/attendance", "/kiosk", "/status"):
        response = client.get(path)
        assert response.status_code == 200, path
        assert response.headers["content-type"].startswith("text/html")
        assert 'data-testid="lang-switch"' in response.text


def test_assets_are_ours_and_local(client: TestClient) -> None:
    html = client.get("/").text
    for asset in re.findall(r'(?:src|href)="(/static/[^"]+)"', html):
        assert client.get(asset).status_code == 200, asset
    main = client.get("/static/js/main.js").text
    imports = re.findall(r'from "(\./[^"]+)"', main)
    assert imports, "main.js imports its pages"
    for module in imports:
        assert client.get("/static/js/" + module.removeprefix("./")).status_code == 200, module
    assert "http://" not in html
    assert "https://" not in html


def test_unknown_paths_are_still_json_404(client: TestClient) -> None:
    response = client.get("/no/such/page")
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"
