/**
 * Starts Swagger UI on the API's /docs page (farmtrace/api/routes/docs.py renders it).
 *
 * A file of its own rather than the inline script FastAPI's page uses, so that /docs runs under
 * the API's Content-Security-Policy (script-src 'self', no 'unsafe-inline'). Loaded with
 * `defer` after swagger-ui-bundle.js, which defines the global `SwaggerUIBundle`.
 * Reads `data-openapi-url` of `#swagger-ui`: the schema to render.
 */

"use strict";

(() => {
  const root = document.getElementById("swagger-ui");
  if (root === null || !root.dataset.openapiUrl) {
    throw new Error("/docs: #swagger-ui with data-openapi-url is missing");
  }
  const SwaggerUIBundle = window.SwaggerUIBundle; // defined by swagger-ui-bundle.js
  // Kept on window as Swagger UI's own page does, for use from the console.
  window.ui = SwaggerUIBundle({
    url: root.dataset.openapiUrl,
    domNode: root,
    layout: "BaseLayout",
    presets: [SwaggerUIBundle.presets.apis],
    deepLinking: true,
    showExtensions: true,
    showCommonExtensions: true,
    // No call to the public validator: the page works offline and talks only to this API.
    validatorUrl: null,
  });
})();
