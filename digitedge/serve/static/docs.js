"use strict";
// A small reader of /openapi.json: endpoints, what they take, what they answer. Kept here instead of Swagger UI,
// which FastAPI would load from a CDN: this page must work on a box with no internet.

function el(tag, props = {}, ...children) {
  const node = Object.assign(document.createElement(tag), props);
  node.append(...children);
  return node;
}

// Markdown's `code` spans as <code>; the rest as text (never as HTML).
function prose(tag, text) {
  return el(tag, {}, ...text.split("`").map((part, i) => (i % 2 ? el("code", {textContent: part}) : part)));
}

function schemaOf(spec, schema) {
  if (!schema) return null;
  if (schema.$ref) return schemaOf(spec, spec.components.schemas[schema.$ref.split("/").pop()]);
  return schema;
}

function describe(spec, schema, depth = 0) {
  schema = schemaOf(spec, schema);
  if (!schema || depth > 6) return "";
  if (schema.type === "array") return `[${describe(spec, schema.items, depth + 1)}]`;
  if (schema.properties) {
    const pad = "  ".repeat(depth + 1);
    const fields = Object.entries(schema.properties).map(([k, v]) => `${pad}${k}: ${describe(spec, v, depth + 1)}`);
    return `{\n${fields.join(",\n")}\n${"  ".repeat(depth)}}`;
  }
  return schema.format === "binary" ? "bytes" : (schema.type || "any");
}

function operation(spec, path, method, op) {
  const section = el("section");
  section.append(el("h2", {}, el("span", {className: `method ${method}`, textContent: method.toUpperCase()}), " ",
                    el("code", {textContent: path})));
  if (op.summary) section.append(el("p", {}, el("strong", {textContent: op.summary})));
  if (op.description) section.append(prose("p", op.description));
  if (op.security || spec.security) section.append(el("p", {textContent: "Needs Authorization: Bearer <token>."}));
  const body = op.requestBody && op.requestBody.content;
  if (body) {
    section.append(el("h3", {textContent: "Request body"}));
    section.append(el("ul", {}, ...Object.entries(body).map(([type, c]) =>
      el("li", {}, el("code", {textContent: type}), ` ${describe(spec, c.schema).replace(/\s+/g, " ")}`))));
  }
  const rows = Object.entries(op.responses || {}).map(([code, r]) => {
    const json = r.content && r.content["application/json"];
    return el("tr", {}, el("td", {}, el("code", {textContent: code})), el("td", {textContent: r.description || ""}),
              el("td", {}, el("pre", {textContent: json ? describe(spec, json.schema) : ""})));
  });
  section.append(el("h3", {textContent: "Responses"}), el("table", {}, ...rows));
  return section;
}

fetch("/openapi.json").then((r) => r.json()).then((spec) => {
  const api = document.getElementById("api");
  api.replaceChildren(prose("p", `${spec.info.title} ${spec.info.version}. ${spec.info.description || ""}`));
  for (const [path, methods] of Object.entries(spec.paths)) {
    for (const [method, op] of Object.entries(methods)) api.append(operation(spec, path, method, op));
  }
}).catch((e) => { document.getElementById("api").textContent = `Cannot read /openapi.json: ${e}`; });
