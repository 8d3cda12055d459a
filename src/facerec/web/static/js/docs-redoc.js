// Starts the vendored ReDoc on /redoc (an external script: the page allows no inline one).
/* global Redoc */
const element = document.getElementById("redoc");
Redoc.init(element.dataset.openapiUrl, {}, element);
