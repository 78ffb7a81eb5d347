"""Every operation of a service read from its OpenAPI document, and URLs that put a chosen
value, spelt byte for byte as given, into one of its path or query parameters."""

import json
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import httpx

# The live stream never ends; its parameters are the inbox's.
SKIPPED = {("GET", "/stream")}


@dataclass(frozen=True)
class Parameter:
    location: str  # "path" or "query"
    name: str
    schema: str  # the parameter's JSON schema, as text (to look for a format)
    required: bool

    @property
    def field(self) -> str:
        return f"{self.location}.{self.name}"

    def is_a(self, json_format: str) -> bool:
        return f'"format": "{json_format}"' in self.schema


@dataclass(frozen=True)
class Operation:
    method: str
    path: str
    parameters: tuple[Parameter, ...]

    def __str__(self) -> str:
        return f"{self.method} {self.path}"


async def operations(http: httpx.AsyncClient, base: str) -> list[Operation]:
    document = (await http.get(f"{base}/openapi.json")).json()
    found = []
    for path, items in document["paths"].items():
        for method, operation in items.items():
            if (method.upper(), path) in SKIPPED:
                continue
            parameters = tuple(
                Parameter(p["in"], p["name"], json.dumps(p.get("schema")), p.get("required", False))
                for p in operation.get("parameters", [])
                if p["in"] in ("path", "query")
            )
            found.append(Operation(method.upper(), path, parameters))
    return found


def encoded(value: str) -> str:
    """Percent-encoded UTF-8; a lone surrogate becomes the bytes a careless encoder writes
    (``%ED%A0%80``), which are not UTF-8."""
    return quote(value.encode("utf-8", "surrogatepass"), safe="")


def url_for(
    base: str,
    operation: Operation,
    values: dict[str, str],
    probe: tuple[Parameter, str] | None = None,
) -> str:
    """The operation's URL with ``values`` for its path and required query parameters, and
    ``probe``'s value for its parameter."""
    chosen = dict(values)
    if probe is not None:
        chosen[probe[0].name] = probe[1]
    path = operation.path
    query: list[tuple[str, str]] = []
    for parameter in operation.parameters:
        value = chosen.get(parameter.name)
        probed = probe is not None and probe[0] == parameter
        if parameter.location == "path":
            assert value is not None, f"no value for {parameter.field} of {operation}"
            path = path.replace(f"{{{parameter.name}}}", encoded(value))
        elif value is not None and (parameter.required or probed):
            query.append((parameter.name, encoded(value)))
    return base + path + ("?" + "&".join(f"{k}={v}" for k, v in query) if query else "")


def body_for(operation: Operation) -> Any:
    """An empty JSON object for operations that take a body: the parameter is checked first."""
    return {} if operation.method in ("POST", "PUT", "PATCH") else None
