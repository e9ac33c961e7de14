//! The OpenAPI 3.1 document of the whole API (`GET /openapi.json`), written here by hand as a
//! JSON value and committed as `docs/openapi.json`; a test fails with a diff when the committed
//! file is stale, and another when a route of [`super::ROUTES`] is missing from it.
//!
//! Regenerate the committed file with
//! `KRES_REGENERATE=1 cargo test -p kres-manager --lib api::openapi`.

use serde_json::{Value, json};

fn schema_ref(name: &str) -> Value {
    json!({"$ref": format!("#/components/schemas/{name}")})
}

fn parameter(name: &str) -> Value {
    json!({"$ref": format!("#/components/parameters/{name}")})
}

fn response(name: &str) -> Value {
    json!({"$ref": format!("#/components/responses/{name}")})
}

/// A JSON response with a schema.
fn json_response(description: &str, schema: Value) -> Value {
    json!({"description": description, "content": {"application/json": {"schema": schema}}})
}

/// The error responses of `codes`.
fn errors(codes: &[&str]) -> Vec<(String, Value)> {
    codes.iter().map(|code| ((*code).to_owned(), response(&format!("Error{code}")))).collect()
}

fn responses(ok: Vec<(&str, Value)>, error_codes: &[&str]) -> Value {
    let mut map = serde_json::Map::new();
    for (code, value) in ok {
        map.insert(code.to_owned(), value);
    }
    for (code, value) in errors(error_codes) {
        map.insert(code, value);
    }
    Value::Object(map)
}

/// The operations that change the config.
fn edit(summary: &str, description: &str, body: Option<Value>, pointer: bool) -> Value {
    let mut parameters = vec![parameter("DryRun"), parameter("IfMatch"), parameter("IfNoneMatch")];
    if pointer {
        parameters.insert(0, parameter("Pointer"));
    }
    let mut operation = json!({
        "summary": summary,
        "description": description,
        "parameters": parameters,
        "responses": responses(
            vec![("200", response("Applied"))],
            &["400", "404", "409", "412", "413", "415", "422", "500", "503"],
        ),
    });
    if let Some(body) = body {
        operation["requestBody"] = body;
    }
    operation
}

fn config_operations(pointer: bool) -> Value {
    let mut get_parameters = vec![parameter("IfMatch"), parameter("IfNoneMatch")];
    if pointer {
        get_parameters.insert(0, parameter("Pointer"));
    }
    let at = if pointer { "at the pointer" } else { "(the whole document)" };
    json!({
        "get": {
            "summary": format!("The configuration {at}"),
            "description": "The value in the configuration document as given: the config files merged, with the changes made through the API on top (defaults are not filled in). Secrets (`/network/tls/sticket-secret`) are answered as `<redacted>`. Every response carries the ETag of the whole configuration.",
            "parameters": get_parameters,
            "responses": responses(
                vec![
                    ("200", json!({
                        "description": "The value",
                        "headers": {"ETag": {"$ref": "#/components/headers/ETag"}},
                        "content": {"application/json": {"schema": schema_ref("ConfigValue")}},
                    })),
                    ("304", json!({
                        "description": "If-None-Match names the current ETag",
                        "headers": {"ETag": {"$ref": "#/components/headers/ETag"}},
                    })),
                ],
                &["400", "404", "412"],
            ),
        },
        "put": edit(
            &format!("Set the value {at}"),
            "Sets a mapping member (added or replaced) or replaces a list item; a final `/-` appends to a list. Missing or null parents are created as mappings (a `/-` or `/0` under a missing parent creates a list). A `<redacted>` at a secret's place keeps the current secret (so a document read with GET can be sent back; use If-Match). The whole resulting configuration is validated and applied; the answer comes when it is applied.",
            Some(json!({"$ref": "#/components/requestBodies/ConfigValue"})),
            pointer,
        ),
        "patch": edit(
            &format!("Apply a JSON Patch {at}"),
            "An RFC 6902 JSON Patch (add, remove, replace, move, copy, test), all or nothing; its paths (and `from`s) are relative to the pointer. Values keep their JSON types; a `<redacted>` value at a secret's place keeps the current secret; a copy or move from a place holding a secret is refused (400).",
            Some(json!({"$ref": "#/components/requestBodies/JsonPatch"})),
            pointer,
        ),
        "delete": edit(&format!("Remove the value {at}"), "Removes the value, validates and applies the result.", None, pointer),
    })
}

fn reload_operation(summary: &str, description: &str) -> Value {
    json!({
        "post": {
            "summary": summary,
            "description": description,
            "parameters": [parameter("DiscardApiChanges"), parameter("DryRun")],
            "responses": responses(vec![("200", response("Applied"))], &["400", "409", "422", "500", "503"]),
        }
    })
}

fn paths() -> Value {
    let reload = "Re-reads the config files and applies them with the changes made through the API on top (`discard-api-changes=true` drops those). Answers when applied; any failure is an error status, never a 200.";
    let force = "Like the same route without `/force`, but applies even when nothing changed (and gives crash-looping processes a new chance).";
    let mut paths = json!({
        "/": {"get": {
            "summary": "What runs",
            "description": "A browser (its Accept names text/html) is sent to the status page, /ui, instead.",
            "responses": {
                "200": json_response("The manager's version and the running configuration's generation and ETag", schema_ref("Root")),
                "303": {
                    "description": "The request asked for HTML: to the status page",
                    "headers": {"Location": {"schema": {"type": "string", "const": "/ui"}}},
                },
            },
        }},
        "/health": {"get": {
            "summary": "Liveness: the manager answers",
            "responses": {"200": json_response("Alive", schema_ref("Health"))},
        }},
        "/ready": {"get": {
            "summary": "Readiness: every desired worker is READY and answering",
            "responses": {
                "200": json_response("Ready", schema_ref("Ready")),
                "503": json_response("Not ready, with the reason", schema_ref("NotReady")),
            },
        }},
        "/openapi.json": {"get": {
            "summary": "This document",
            "responses": {"200": json_response("The OpenAPI 3.1 document of the API", json!({"type": "object"}))},
        }},
        "/schema": {"get": {
            "summary": "The JSON Schema of the configuration",
            "responses": {"200": json_response("A JSON Schema (draft 2020-12)", json!({"type": "object"}))},
        }},
        "/v1/config": config_operations(false),
        "/v1/config/{pointer}": config_operations(true),
        "/reload": reload_operation("Reload the config files", reload),
        "/reload/force": reload_operation("Reload the config files, even when unchanged", force),
        "/renew": reload_operation("Re-apply the configuration (same as /reload)", reload),
        "/renew/force": reload_operation("Re-apply the configuration, even when unchanged (same as /reload/force)", force),
        "/stop": {"post": {
            "summary": "Stop the whole service",
            "description": "Answers, then every process and the supervisor stop.",
            "responses": responses(vec![("200", json_response("Stopping", schema_ref("Stopping")))], &["503"]),
        }},
        "/metrics": {"get": {
            "summary": "Redirect to /metrics/json",
            "responses": {"308": {
                "description": "Permanent redirect",
                "headers": {"Location": {"schema": {"type": "string", "const": "/metrics/json"}}},
            }},
        }},
        "/metrics/json": {"get": {
            "summary": "Statistics of every worker and their totals",
            "description": "Each running worker is asked over its control socket (concurrently, within 1 s each). Counters never go backwards, also across worker restarts; a worker that did not answer is listed under `errors`.",
            "responses": {"200": json_response("The statistics", schema_ref("Metrics"))},
        }},
        "/metrics/prometheus": {"get": {
            "summary": "Statistics in the Prometheus text format",
            "description": "Per worker (label `instance`): `kresd_up`, the counters of `stats.list()` and `worker.stats()` (`kresd_*_total`, monotonic across restarts), the answer latency as the histogram `kresd_answer_latency_seconds`; and the manager's own: `kres_manager_apply_duration_seconds{phase}`, `kres_manager_config_generation`, `kres_manager_last_apply_success`, `kres_manager_process_restarts_total{process}`, `kres_manager_workers_ready`, ...",
            "responses": {"200": {
                "description": "Text format 0.0.4",
                "content": {"text/plain; version=0.0.4": {"schema": {"type": "string"}}},
            }},
        }},
        "/cache/clear": {"post": {
            "summary": "Clear the shared cache",
            "description": "Runs kresd's `cache.clear(name, exact-name, rr-type, chunk-size)` on one worker (the cache is shared), with Knot Resolver 6's semantics. Without a name the whole cache is cleared (so does an empty body, `{}` or `null`); with a name, its subtree in chunks; with exact-name the name alone, with rr-type one type of it. `chunk-size` applies to a subtree only: elsewhere its default (100, which Knot Resolver 6's kresctl always sends) is accepted and ignored, and another value is refused. The answer is the table kresd returns, as Knot Resolver 6's kresctl prints it.",
            "requestBody": {
                "required": false,
                "content": {
                    "application/json": {"schema": schema_ref("CacheClear")},
                    "application/yaml": {"schema": schema_ref("CacheClear")},
                },
            },
            "responses": responses(
                vec![("200", json_response("What kresd's cache.clear returned", schema_ref("CacheCleared")))],
                &["400", "413", "415", "422", "503"],
            ),
        }},
        "/processes": {"get": {
            "summary": "Every managed process",
            "responses": {"200": json_response("The processes", json!({"type": "array", "items": schema_ref("Process")}))},
        }},
        "/processes/{type}": {"get": {
            "summary": "The managed processes of one type",
            "parameters": [parameter("ProcessType")],
            "responses": responses(
                vec![("200", json_response("The processes", json!({"type": "array", "items": schema_ref("Process")})))],
                &["404"],
            ),
        }},
        "/status": {"get": {
            "summary": "The service at a glance (the status page's header)",
            "description": "Readiness with the reason (as GET /ready judges it), generation and ETag, the versions of the manager and of kresd, how long the service and the manager have run, the shared cache's use against its size, and who is asking. The kresd version and the cache come from one running worker within 1 s, else null.",
            "responses": {"200": json_response("The overview", schema_ref("Status"))},
        }},
        "/audit": {"get": {
            "summary": "The recent entries of the audit log",
            "description": format!("The last {} requests that may change something (since the manager started), newest first, as the audit log tells them: when, who, what (operations and the plan by pointer, never a value) and the outcome.", super::ui::changes::KEPT),
            "responses": {"200": json_response("The entries", schema_ref("Audit"))},
        }},
        "/ui": {"get": {
            "summary": "The status page",
            "description": "One HTML page for a browser, updated live from /status, /processes, /metrics/json, /audit and /v1/config; its files are compiled into the manager (nothing is fetched from elsewhere). Over TCP with tokens, the browser sends the token as the password of HTTP Basic credentials.",
            "responses": {"200": {
                "description": "The page (Content-Security-Policy: this origin only)",
                "content": {"text/html": {"schema": {"type": "string"}}},
            }},
        }},
        "/ui/assets/{version}/{name}": {"get": {
            "summary": "A file of the status page",
            "description": "Kept by browsers for a year when version is the current one (the page names it); the current file, not to be kept, for another version.",
            "parameters": [parameter("AssetVersion"), parameter("AssetName")],
            "responses": responses(
                vec![("200", json!({
                    "description": "The file",
                    "content": {
                        "text/javascript": {"schema": {"type": "string"}},
                        "text/css": {"schema": {"type": "string"}},
                        "image/svg+xml": {"schema": {"type": "string"}},
                    },
                }))],
                &["404"],
            ),
        }},
    });
    // Every route is behind the guard: 401 and 429 over TCP with tokens; 403 for a read-only
    // token on anything but GET.
    if let Value::Object(paths) = &mut paths {
        for item in paths.values_mut() {
            for (method, operation) in item.as_object_mut().into_iter().flatten() {
                let Some(responses) = operation.get_mut("responses").and_then(Value::as_object_mut) else { continue };
                let mut codes = vec!["401", "429"];
                if method != "get" {
                    codes.insert(1, "403");
                }
                for (code, value) in errors(&codes) {
                    responses.insert(code, value);
                }
            }
        }
    }
    // HEAD works wherever GET does.
    if let Value::Object(paths) = &mut paths {
        for item in paths.values_mut() {
            if let Some(get) = item.get("get").cloned() {
                let mut head = json!({
                    "summary": format!("{} (headers only)", get["summary"].as_str().unwrap_or_default()),
                    "responses": {"default": {"description": "As GET, without a body"}},
                });
                if let Some(parameters) = get.get("parameters") {
                    head["parameters"] = parameters.clone();
                }
                item["head"] = head;
            }
        }
    }
    paths
}

fn error_response(description: &str) -> Value {
    json_response(description, schema_ref("Errors"))
}

/// The schemas of the status page's routes (`/status`, `/audit`); a separate `json!` since one
/// macro call of everything exceeds the default recursion limit.
fn ui_schemas() -> Value {
    let string = json!({"type": "string"});
    json!({
            "Status": {
                "type": "object",
                "required": ["version", "kresd_version", "generation", "etag", "ready", "reason", "workers", "started", "uptime", "manager", "cache", "you", "now"],
                "properties": {
                    "version": {"type": "string", "description": "kres-manager's version"},
                    "kresd_version": {"type": ["string", "null"], "description": "The version of kresd the workers run (null when no worker answered)"},
                    "generation": {"type": "integer"},
                    "etag": string.clone(),
                    "ready": {"type": "boolean"},
                    "reason": {"type": ["string", "null"], "description": "Why the service is not ready"},
                    "workers": {"type": "integer", "description": "Workers of the running configuration"},
                    "started": {"type": ["integer", "null"], "description": "Unix time at which the service (supervisord) started"},
                    "uptime": {"type": ["integer", "null"], "description": "Seconds since then"},
                    "manager": {
                        "type": "object",
                        "required": ["pid", "started"],
                        "properties": {"pid": {"type": "integer"}, "started": {"type": ["integer", "null"]}},
                    },
                    "cache": {
                        "oneOf": [
                            {"type": "null"},
                            {
                                "type": "object",
                                "required": ["size", "usage_percent", "entries"],
                                "properties": {
                                    "size": {"type": ["number", "null"], "description": "Bytes"},
                                    "usage_percent": {"type": ["number", "null"]},
                                    "entries": {"type": ["number", "null"]},
                                },
                            },
                        ],
                        "description": "The shared cache (null when no worker answered)",
                    },
                    "you": {
                        "type": "object",
                        "required": ["who", "token", "scope"],
                        "properties": {
                            "who": string.clone(),
                            "token": {"type": ["string", "null"], "description": "The token's name"},
                            "scope": {"enum": ["full", "read-only"]},
                        },
                    },
                    "now": {"type": "integer", "description": "Unix time of the answer"},
                },
            },
            "Audit": {
                "type": "object",
                "required": ["entries", "kept"],
                "properties": {
                    "entries": {"type": "array", "items": schema_ref("AuditEntry")},
                    "kept": {"type": "integer", "description": "At most this many entries are kept"},
                },
            },
            "AuditEntry": {
                "type": "object",
                "required": ["at", "who", "token", "method", "target", "operations", "plan", "status", "outcome"],
                "properties": {
                    "at": {"type": "number", "description": "Unix time (milliseconds in the fraction)"},
                    "who": {"type": "string", "examples": ["token `ops` (full) from 192.0.2.7:51234", "uid 0 (pid 4242) on the unix socket"]},
                    "token": {"type": ["string", "null"]},
                    "method": string.clone(),
                    "target": {"type": "string", "description": "Path and query"},
                    "operations": {"type": "array", "items": string.clone(), "description": "JSON Patch operations by path, without values"},
                    "plan": {"type": "array", "items": {
                        "type": "object",
                        "required": ["pointer", "impact"],
                        "properties": {"pointer": string.clone(), "impact": string.clone()},
                    }},
                    "status": {"type": "integer"},
                    "outcome": {"type": "string", "examples": ["applied, generation 3", "dry run, nothing applied"]},
                },
            }
    })
}

fn components() -> Value {
    let string = json!({"type": "string"});
    let figures = json!({"type": "object", "additionalProperties": {"type": "number"}});
    let mut components = json!({
        "schemas": {
            "Errors": {
                "type": "object",
                "required": ["errors"],
                "additionalProperties": false,
                "properties": {"errors": {"type": "array", "items": {
                    "type": "object",
                    "required": ["pointer", "message"],
                    "additionalProperties": false,
                    "properties": {
                        "pointer": {"type": "string", "description": "RFC 6901 pointer into the configuration document (or the request body); empty when the problem concerns nothing in particular"},
                        "message": {"type": "string", "description": "What is wrong; positions in a body or file as `name:line:column`"},
                    },
                }}},
            },
            "Root": {
                "type": "object",
                "required": ["version", "generation", "etag", "ready"],
                "properties": {
                    "version": {"type": "string", "description": "kres-manager's version"},
                    "generation": {"type": "integer", "minimum": 1, "description": "Generation of the running configuration (+1 for each accepted change)"},
                    "etag": {"type": "string", "description": "ETag of the running configuration (quoted)"},
                    "ready": {"type": "boolean"},
                },
            },
            "Health": {"type": "object", "required": ["status"], "properties": {"status": {"const": "ok"}}},
            "Ready": {
                "type": "object",
                "required": ["ready"],
                "properties": {"ready": {"const": true}, "generation": {"type": "integer"}, "workers": {"type": "integer"}},
            },
            "NotReady": {
                "type": "object",
                "required": ["ready", "reason"],
                "properties": {"ready": {"const": false}, "reason": string.clone()},
            },
            "Stopping": {"type": "object", "required": ["stopping"], "properties": {"stopping": {"const": true}}},
            "ConfigValue": {"description": "Any JSON value: the part of the configuration at the pointer (see GET /schema for the whole document's schema)"},
            "JsonPatchOperation": {
                "type": "object",
                "required": ["op", "path"],
                "properties": {
                    "op": {"enum": ["add", "remove", "replace", "move", "copy", "test"]},
                    "path": {"type": "string", "description": "RFC 6901 pointer, relative to the request's pointer"},
                    "from": {"type": "string", "description": "For move and copy; relative to the request's pointer"},
                    "value": {"description": "For add, replace and test"},
                },
            },
            "Change": {
                "type": "object",
                "required": ["pointer", "impact", "action"],
                "properties": {
                    "pointer": string.clone(),
                    "impact": {"enum": ["hot", "rolling", "restart-required"]},
                    "action": {"type": "string", "description": "What is done about it"},
                },
            },
            "Plan": {
                "type": "object",
                "required": ["changes", "hot_lua", "workers", "cache_gc"],
                "properties": {
                    "changes": {"type": "array", "items": schema_ref("Change")},
                    "hot_lua": {"type": "array", "items": string.clone(), "description": "Lua chunks run on every worker that keeps running"},
                    "workers": {"type": "array", "prefixItems": [{"type": "integer"}, {"type": "integer"}], "minItems": 2, "maxItems": 2, "description": "Number of workers before and after"},
                    "cache_gc": {"type": "boolean", "description": "The cache garbage collector is restarted"},
                },
            },
            "Applied": {
                "type": "object",
                "required": ["generation", "etag", "applied", "plan", "steps", "notes"],
                "properties": {
                    "generation": {"type": "integer"},
                    "etag": string.clone(),
                    "applied": {"type": "boolean", "description": "false for a dry run or when nothing changed"},
                    "plan": schema_ref("Plan"),
                    "steps": {"type": "array", "items": string.clone(), "description": "What was done, in order"},
                    "notes": {
                        "type": "array",
                        "description": "What validation noted about the config, which is valid all the same (e.g. a view tag that no local-data rule uses, or a setting the installed kresd ignores); each is logged too",
                        "items": {
                            "type": "object",
                            "required": ["pointer", "message"],
                            "properties": {"pointer": string.clone(), "message": string.clone()},
                        },
                    },
                },
            },
            "Process": {
                "type": "object",
                "required": ["name", "type", "pid", "state", "restarts", "failed", "started", "generation"],
                "properties": {
                    "name": {"type": "string", "examples": ["kresd0", "canary", "cache-gc"]},
                    "type": {"enum": ["kresd", "canary", "gc"]},
                    "pid": {"type": ["integer", "null"]},
                    "state": {"type": "string", "examples": ["running", "stopped", "fatal (...)"]},
                    "restarts": {"type": "integer", "description": "Restarts the manager saw"},
                    "failed": {"type": "boolean", "description": "Given up after a crash loop"},
                    "started": {"type": ["integer", "null"], "description": "Unix time of the current process's start, when known"},
                    "generation": {"type": "integer", "description": "Generation of the configuration the process runs"},
                },
            },
            "WorkerFigures": {
                "type": "object",
                "properties": {
                    "list": {"allOf": [figures.clone()], "description": "kresd's stats.list() (answer.total, request.udp, ...)"},
                    "worker": {"allOf": [figures], "description": "kresd's worker.stats() (queries, rss, usertime, ...)"},
                },
            },
            "Metrics": {
                "type": "object",
                "required": ["workers", "total", "errors"],
                "properties": {
                    "workers": {"type": "object", "additionalProperties": schema_ref("WorkerFigures")},
                    "total": schema_ref("WorkerFigures"),
                    "errors": {"type": "object", "additionalProperties": string.clone(), "description": "Workers that did not answer, with the reason"},
                },
            },
            "CacheClear": {
                "type": "object",
                "additionalProperties": false,
                "properties": {
                    "name": {"type": "string", "description": "Domain name whose subtree (or, with exact-name, itself) is cleared; the whole cache without it"},
                    "exact-name": {"type": "boolean", "default": false},
                    "rr-type": {"type": "string", "description": "A record type (A, AAAA, TYPE65, ...); needs exact-name"},
                    "chunk-size": {"type": "integer", "minimum": 1, "maximum": super::cache::MAX_CHUNK_SIZE, "default": super::cache::DEFAULT_CHUNK_SIZE, "description": format!("Records of a subtree cleared at once; the rest is cleared asynchronously. Only for a subtree (a name without exact-name): elsewhere only the default, {}, is accepted, and ignored. At most {}: kresd 5.6 keeps a chunk on its stack, and larger chunks may crash it", super::cache::DEFAULT_CHUNK_SIZE, super::cache::MAX_CHUNK_SIZE)},
                },
            },
            "CacheCleared": {
                "type": "object",
                "required": ["count"],
                "properties": {
                    "count": {"type": "integer", "description": "Records removed (in this first chunk, for a subtree)"},
                    "chunk_limit": {"type": "string", "description": "Present when the chunk was full: the rest is cleared asynchronously"},
                    "not_apex": {"type": "string", "description": "Present when the name is not a zone apex in the cache: how to clear its proofs of non-existence"},
                    "subtree": {"type": "string", "description": "With not_apex: the closest apex"},
                },
                "additionalProperties": true,
            },
        },
        "parameters": {
            "Pointer": {
                "name": "pointer",
                "in": "path",
                "required": true,
                "description": "An RFC 6901 JSON pointer without its leading slash, slashes included (/v1/config/network/listen/0); percent-encoded where needed",
                "schema": {"type": "string"},
                "examples": {
                    "logging-level": {"value": "logging/level"},
                    "workers": {"value": "workers"},
                    "local-data": {"value": "local-data/addresses/b.example"},
                },
            },
            "DryRun": {
                "name": "dry-run",
                "in": "query",
                "description": "Only compute and return the plan; nothing is applied. `true` or `false`; `1`, `0` and a bare `dry-run` (= true) work too, anything else is a 400.",
                "schema": {"type": "boolean", "default": false},
            },
            "DiscardApiChanges": {
                "name": "discard-api-changes",
                "in": "query",
                "description": "Drop the changes made through the API instead of applying them on top of the files. `true` or `false`; `1`, `0` and a bare `discard-api-changes` (= true) work too, anything else is a 400.",
                "schema": {"type": "boolean", "default": false},
            },
            "IfMatch": {
                "name": "If-Match",
                "in": "header",
                "description": "Apply only when the configuration's ETag is one of these (or `*`); 412 otherwise. Checked atomically with the change.",
                "schema": {"type": "string"},
            },
            "IfNoneMatch": {
                "name": "If-None-Match",
                "in": "header",
                "description": "GET: 304 when the ETag is one of these. Changes: 412 when it is.",
                "schema": {"type": "string"},
            },
            "AssetVersion": {
                "name": "version",
                "in": "path",
                "required": true,
                "description": "The version of the page's files that /ui names",
                "schema": {"type": "string"},
            },
            "AssetName": {
                "name": "name",
                "in": "path",
                "required": true,
                "schema": {"enum": super::ui::assets::ASSETS.iter().map(|a| a.name).collect::<Vec<_>>()},
            },
            "ProcessType": {
                "name": "type",
                "in": "path",
                "required": true,
                "schema": {"enum": ["all", "kresd", "gc", "canary"]},
            },
        },
        "headers": {
            "ETag": {"description": "Strong ETag of the whole configuration", "schema": {"type": "string"}},
        },
        "securitySchemes": {
            "bearerToken": {
                "type": "http",
                "scheme": "bearer",
                "description": "Over TCP with `management.tokens`: the contents of a token file. A `read-only` token may use GET (and HEAD) only. Not needed on the unix socket, whose mode and group decide who may connect, nor over TCP without tokens (loopback only).",
            },
            "basicToken": {
                "type": "http",
                "scheme": "basic",
                "description": "The same tokens as bearerToken, as the password of HTTP Basic credentials (any user name): how a browser sends them to the status page. A request for HTML without a token is answered 401 with `WWW-Authenticate: Basic`.",
            },
        },
        "requestBodies": {
            "ConfigValue": {
                "required": true,
                "description": "JSON or YAML by Content-Type (application/json, application/yaml; YAML without one)",
                "content": {
                    "application/json": {
                        "schema": schema_ref("ConfigValue"),
                        "examples": {
                            "logging-level": {"summary": "for /v1/config/logging/level", "value": "debug"},
                            "workers": {"summary": "for /v1/config/workers", "value": 2},
                            "local-data": {"summary": "for /v1/config/local-data/addresses/b.example", "value": "192.0.2.2"},
                        },
                    },
                    "application/yaml": {"schema": schema_ref("ConfigValue")},
                },
            },
            "JsonPatch": {
                "required": true,
                "description": "An RFC 6902 JSON Patch, as JSON or YAML",
                "content": {
                    "application/json-patch+json": {
                        "schema": {"type": "array", "items": schema_ref("JsonPatchOperation")},
                        "examples": {
                            "logging-level": {
                                "summary": "for /v1/config",
                                "value": [{"op": "test", "path": "/workers", "value": 1}, {"op": "replace", "path": "/logging/level", "value": "info"}],
                            },
                        },
                    },
                    "application/json": {"schema": {"type": "array", "items": schema_ref("JsonPatchOperation")}},
                    "application/yaml": {"schema": {"type": "array", "items": schema_ref("JsonPatchOperation")}},
                },
            },
        },
        "responses": {
            "Applied": {
                "description": "Applied (or, for a dry run or no change, only planned)",
                "headers": {"ETag": {"$ref": "#/components/headers/ETag"}},
                "content": {"application/json": {"schema": schema_ref("Applied")}},
            },
            "Error401": {
                "description": "Over TCP with tokens: no token, neither a bearer token nor Basic credentials, or a wrong one (the message says which). Every unknown route is 401 too. WWW-Authenticate is Basic when the request asked for HTML (a browser), else Bearer.",
                "headers": {"WWW-Authenticate": {"schema": {"type": "string", "examples": ["Bearer realm=\"kres-manager\", error=\"invalid_token\""]}}},
                "content": {"application/json": {"schema": schema_ref("Errors")}},
            },
            "Error403": error_response("The token is read-only and the request is not a GET, or a browser sent the change from a page of another origin (its Origin header is not this listener's)"),
            "Error429": {
                "description": "Too many refused tokens from this client's address (IPv6: its /64) within a minute: every request from it is refused, without looking at its token, until Retry-After seconds have passed",
                "headers": {"Retry-After": {"schema": {"type": "integer", "minimum": 1}}},
                "content": {"application/json": {"schema": schema_ref("Errors")}},
            },
            "Error400": error_response("Malformed request: a body that is not JSON or YAML (with line:column), a bad JSON Patch, an unknown query parameter"),
            "Error404": error_response("The pointer names nothing in the configuration (or no such process type)"),
            "Error409": error_response("The change needs a restart of the whole service (one entry per such change)"),
            "Error412": error_response("An If-Match / If-None-Match precondition failed"),
            "Error413": error_response("The body is too large"),
            "Error415": error_response("The Content-Type is neither JSON nor YAML"),
            "Error422": error_response("The resulting configuration is invalid (one entry per problem, with its pointer), kresd refused it (the message has kresd's output), or the request's content is invalid"),
            "Error500": error_response("Applying failed half-way and was rolled back (the message says where), or an internal error of the manager (opaque; see its log)"),
            "Error503": error_response("The service is stopping, or no worker can serve the request"),
        },
    });
    if let (Some(schemas), Value::Object(ui)) = (components["schemas"].as_object_mut(), ui_schemas()) {
        schemas.extend(ui);
    }
    components
}

/// The document.
pub fn document() -> Value {
    json!({
        "openapi": "3.1.0",
        "info": {
            "title": "kres-manager management API",
            "version": crate::VERSION,
            "description": "Manages Knot Resolver (kresd 5.6) workers; compatible with Knot Resolver 6's management API. Every error is JSON `{\"errors\": [{\"pointer\", \"message\"}]}`, at most 100 problems and then one entry saying how many more. Bodies are JSON or YAML by Content-Type. Requests that change the configuration answer once it is applied. On the unix socket no token is needed; over TCP with `management.tokens` every request needs a bearer token (see bearerToken). Every request that may change something is written to the audit log.",
            "license": {"name": "MIT OR Apache-2.0", "identifier": "MIT OR Apache-2.0"},
        },
        "security": [{}, {"bearerToken": []}, {"basicToken": []}],
        "paths": paths(),
        "components": components(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const COMMITTED: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/openapi.json");

    /// A line diff of `old` and `new` (longest common subsequence; fine for files this size).
    fn diff(old: &str, new: &str) -> String {
        let (a, b): (Vec<&str>, Vec<&str>) = (old.lines().collect(), new.lines().collect());
        let mut lcs = vec![vec![0u32; b.len() + 1]; a.len() + 1];
        for i in (0..a.len()).rev() {
            for j in (0..b.len()).rev() {
                lcs[i][j] = if a[i] == b[j] { lcs[i + 1][j + 1] + 1 } else { lcs[i + 1][j].max(lcs[i][j + 1]) };
            }
        }
        let (mut i, mut j, mut out) = (0, 0, String::new());
        while i < a.len() || j < b.len() {
            if i < a.len() && j < b.len() && a[i] == b[j] {
                i += 1;
                j += 1;
            } else if i < a.len() && (j == b.len() || lcs[i + 1][j] >= lcs[i][j + 1]) {
                out.push_str(&format!("-{:5} {}\n", i + 1, a[i]));
                i += 1;
            } else {
                out.push_str(&format!("+{:5} {}\n", j + 1, b[j]));
                j += 1;
            }
        }
        out
    }

    #[test]
    fn the_committed_document_is_current() {
        let generated = serde_json::to_string_pretty(&document()).expect("serializes") + "\n";
        if std::env::var_os("KRES_REGENERATE").is_some() {
            std::fs::write(COMMITTED, &generated).expect("write docs/openapi.json");
        }
        let committed = std::fs::read_to_string(COMMITTED).unwrap_or_default();
        if committed != generated {
            panic!(
                "docs/openapi.json is stale; regenerate it with\n    KRES_REGENERATE=1 cargo test -p kres-manager --lib api::openapi\n--- committed\n+++ generated\n{}",
                diff(&committed, &generated)
            );
        }
    }

    #[test]
    fn every_route_is_documented_and_nothing_else() {
        let document = document();
        let paths = document["paths"].as_object().expect("paths");
        for (method, path) in super::super::ROUTES {
            let operation =
                &paths.get(*path).unwrap_or_else(|| panic!("{path} is not documented"))[method.to_lowercase()];
            assert!(operation.is_object(), "{method} {path} is not documented");
            assert!(operation["responses"].is_object(), "{method} {path} has no responses");
        }
        for (path, item) in paths {
            for method in item.as_object().expect("path item").keys().filter(|m| *m != "head") {
                let route = (method.to_uppercase(), path.clone());
                assert!(
                    super::super::ROUTES.iter().any(|(m, p)| *m == route.0 && *p == route.1),
                    "{route:?} is documented but not routed"
                );
            }
        }
    }

    #[test]
    fn every_reference_resolves() {
        fn walk(value: &Value, document: &Value) {
            match value {
                Value::Object(map) => {
                    if let Some(Value::String(reference)) = map.get("$ref") {
                        let pointer = reference.strip_prefix('#').expect("local reference");
                        assert!(document.pointer(pointer).is_some(), "{reference} does not resolve");
                    }
                    map.values().for_each(|v| walk(v, document));
                }
                Value::Array(items) => items.iter().for_each(|v| walk(v, document)),
                _ => {}
            }
        }
        let document = document();
        walk(&document, &document);
    }

    #[test]
    fn the_diff_shows_changed_lines() {
        assert_eq!(diff("a\nb\nc\n", "a\nx\nc\n"), "-    2 b\n+    2 x\n");
    }
}
