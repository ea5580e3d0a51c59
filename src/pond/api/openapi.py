"""`GET /openapi.json` and `GET /docs`: the API description, and a page that reads it.

The page is rendered on the server from the same document, with no script and
nothing fetched from elsewhere, so it works offline and behind any firewall.
"""

from __future__ import annotations

import re
from html import escape
from typing import Any

from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.routing import Route

from pond.api import openapi_spec
from pond.api.state import base_url

_CODE = re.compile(r"`([^`]+)`")
_METHODS = ("get", "post", "put", "patch", "delete")
_STYLE = """
body{font:15px/1.5 system-ui,sans-serif;max-width:60rem;margin:2rem auto;padding:0 1rem;color:#222}
h2{margin-top:2.5rem;font-size:1.1rem;border-bottom:1px solid #ddd;padding-bottom:.3rem}
code,.m{font-family:ui-monospace,monospace}.m{font-weight:bold;text-transform:uppercase}
table{border-collapse:collapse;margin:.5rem 0}td,th{border:1px solid #ddd;padding:.2rem .5rem;
text-align:left;vertical-align:top}th{background:#f6f6f6}
"""


async def openapi_json(request: Request) -> Response:
    """The OpenAPI 3.1 document, its server being the base URL of the request."""
    return JSONResponse(openapi_spec.build(base_url(request)))


async def docs_page(request: Request) -> Response:
    """The OpenAPI document as one self-contained HTML page."""
    return HTMLResponse(
        render(openapi_spec.build(base_url(request))),
        headers={"Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'"},
    )


def _text(value: str) -> str:
    """`value` escaped for HTML, with its `code` spans set as code."""
    return _CODE.sub(r"<code>\1</code>", escape(value))


def _schema_text(schema: dict[str, Any]) -> str:
    if "$ref" in schema:
        return str(schema["$ref"]).rsplit("/", 1)[1]
    kind = schema.get("type", "")
    return " or ".join(kind) if isinstance(kind, list) else str(kind)


def _operation(path: str, method: str, op: dict[str, Any], shared: list[Any]) -> str:
    out = [f'<h2 id="{escape(method + path)}"><span class="m">{method}</span> <code>']
    out.append(f"{escape(path)}</code></h2><p>{_text(op.get('summary', ''))}</p>")
    params = [*shared, *op.get("parameters", [])]
    if params:
        out.append("<table><tr><th>parameter</th><th>in</th><th>meaning</th></tr>")
        for p in params:
            out.append(
                f"<tr><td><code>{escape(p['name'])}</code></td><td>{escape(p['in'])}</td>"
                f"<td>{_text(p.get('description', _schema_text(p.get('schema', {}))))}</td></tr>"
            )
        out.append("</table>")
    body = op.get("requestBody", {}).get("content", {})
    if body:
        kinds = ", ".join(f"<code>{escape(k)}</code>" for k in body)
        schema = _schema_text(next(iter(body.values())).get("schema", {}))
        out.append(f"<p>Body: {kinds} (<a href='#schema-{schema}'>{escape(schema)}</a>)</p>")
    out.append("<table><tr><th>status</th><th>answer</th></tr>")
    for status, answer in op["responses"].items():
        content = answer.get("content", {}).get("application/json", {})
        shape = _schema_text(content["schema"]) if content else ""
        link = f" <a href='#schema-{shape}'>{escape(shape)}</a>" if shape else ""
        out.append(
            f"<tr><td>{escape(status)}</td><td>{_text(answer['description'])}{link}</td></tr>"
        )
    out.append("</table>")
    return "".join(out)


def _schema(name: str, schema: dict[str, Any]) -> str:
    rows = "".join(
        f"<tr><td><code>{escape(prop)}</code></td><td>{escape(_schema_text(spec))}</td>"
        f"<td>{'yes' if prop in schema.get('required', []) else ''}</td>"
        f"<td>{_text(spec.get('description', ''))}</td></tr>"
        for prop, spec in schema.get("properties", {}).items()
    )
    return (
        f'<h3 id="schema-{escape(name)}">{escape(name)}</h3><table><tr><th>key</th>'
        f"<th>type</th><th>required</th><th>meaning</th></tr>{rows}</table>"
    )


def render(spec: dict[str, Any]) -> str:
    """A readable HTML rendering of an OpenAPI document: every operation, every schema."""
    info = spec["info"]
    parts = [
        f"<!doctype html><html lang='en'><head><meta charset='utf-8'><title>{escape(info['title'])}"
        f"</title><style>{_STYLE}</style></head><body><h1>{escape(info['title'])}</h1>"
        f"<p>{_text(info['description'])}</p><p>Server: <code>"
        f"{escape(spec['servers'][0]['url'])}</code>. Machine-readable: "
        "<a href='openapi.json'>openapi.json</a>.</p>"
    ]
    for path, item in spec["paths"].items():
        for method in _METHODS:
            if method in item:
                parts.append(_operation(path, method, item[method], item.get("parameters", [])))
    parts.append("<h2>Schemas</h2>")
    parts += [_schema(name, schema) for name, schema in spec["components"]["schemas"].items()]
    parts.append("</body></html>")
    return "\n".join(parts)


routes = [
    Route("/openapi.json", openapi_json, methods=["GET"]),
    Route("/docs", docs_page, methods=["GET"]),
]
