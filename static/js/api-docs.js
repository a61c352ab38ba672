document.addEventListener("DOMContentLoaded", () => {
  const node = document.getElementById("swagger-ui");
  // eslint-disable-next-line no-undef
  SwaggerUIBundle({ url: node.dataset.schemaUrl, dom_id: "#swagger-ui" });
});
