// Starts the vendored Swagger UI on /docs (an external script: the page allows no inline one).
/* global SwaggerUIBundle */
const element = document.getElementById("swagger-ui");
window.ui = SwaggerUIBundle({
  url: element.dataset.openapiUrl,
  dom_id: "#swagger-ui",
  layout: "BaseLayout",
  deepLinking: true,
  showExtensions: true,
  showCommonExtensions: true,
  presets: [SwaggerUIBundle.presets.apis, SwaggerUIBundle.SwaggerUIStandalonePreset],
  requestInterceptor: (request) => {
    request.credentials = "same-origin"; // "Try it out" uses the session cookie
    return request;
  },
});
