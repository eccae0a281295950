// Validates Kubernetes manifests offline, against the schemas the kubernetes-models packages carry.
//
//   node validate.mjs FILE.yaml...       every document of every file
//   node validate.mjs --check-install    exit 0 when node_modules holds exactly the pinned versions
//
// For each document it prints `ok FILE KIND/NAME`, or one `error FILE KIND/NAME: ...` line per problem.
// Exit code: 0 all valid; 1 a document is invalid (schema error, unknown field, unreadable YAML);
// 2 a document has a kind no model here knows (or bad usage). See README.md beside this file.
//
// Two checks are made on each object:
// 1. The model class's own validate() (kubernetes-models: the Kubernetes OpenAPI schema; for
//    gateway.networking.k8s.io, @kubernetes-models/gateway-api: the Gateway API CRD schema). It checks
//    types, enums, required fields, formats and patterns, but, like the OpenAPI schema itself, lets
//    unknown fields through.
// 2. Unknown fields, as `kubectl apply` (server-side strict field validation) refuses them: the field
//    names each model declares are read from the package's type declarations (.d.ts). A type this
//    reader cannot resolve is not checked (never a false error).
// A Kustomization is not a cluster object and has no model: it is checked structurally (known fields,
// every listed resource exists).

import { existsSync, readFileSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { parseAllDocuments } from "yaml";

const EXIT_OK = 0;
const EXIT_INVALID = 1;
const EXIT_UNKNOWN_KIND = 2;

const here = path.dirname(fileURLToPath(import.meta.url));

function checkInstall() {
  const manifest = JSON.parse(readFileSync(path.join(here, "package.json"), "utf8"));
  let ok = true;
  for (const [name, version] of Object.entries(manifest.dependencies ?? {})) {
    const installed = path.join(here, "node_modules", ...name.split("/"), "package.json");
    const found = existsSync(installed) ? JSON.parse(readFileSync(installed, "utf8")).version : null;
    if (found !== version) {
      console.error(`${name}: want ${version}, ${found ? `found ${found}` : "not installed"}`);
      ok = false;
    }
  }
  return ok ? EXIT_OK : EXIT_INVALID;
}

// ---- models ----------------------------------------------------------------------------------------

const API_VERSION = /^(?:[a-z0-9]([-a-z0-9.]*[a-z0-9])?\/)?v[0-9]+(?:(?:alpha|beta)[0-9]+)?$/;
const KIND = /^[A-Z][A-Za-z0-9]*$/;

/** The module specifier of the model class for apiVersion/kind, or null when the pair is malformed. */
function modelSpecifier(apiVersion, kind) {
  if (!API_VERSION.test(apiVersion) || !KIND.test(kind)) {
    return null;
  }

  const group = apiVersion.includes("/") ? apiVersion.split("/")[0] : "";
  const pkg = group === "gateway.networking.k8s.io" || group === "gateway.networking.x-k8s.io"
    ? "@kubernetes-models/gateway-api"
    : "kubernetes-models";
  return `${pkg}/${apiVersion}/${kind}`;
}

/** The model class, or null when no installed package models that apiVersion and kind. */
async function loadModel(apiVersion, kind) {
  const specifier = modelSpecifier(apiVersion, kind);
  if (specifier === null) {
    return null;
  }

  let module;
  try {
    module = await import(specifier);
  } catch (error) {
    if (error?.code === "ERR_MODULE_NOT_FOUND" || error?.code === "ERR_PACKAGE_PATH_NOT_EXPORTED") {
      return null;
    }

    throw error;
  }

  const model = module[kind];
  if (typeof model !== "function" || model.kind !== kind || model.apiVersion !== apiVersion) {
    return null;
  }

  return { model, declarations: declarationFile(specifier) };
}

// ---- field names from the .d.ts files ----------------------------------------------------------------

function declarationFile(specifier, fromDirectory) {
  try {
    const resolved = specifier.startsWith(".")
      ? path.resolve(fromDirectory, specifier)
      : fileURLToPath(import.meta.resolve(specifier));
    const file = resolved.replace(/\.js$/, "") + ".d.ts";
    return existsSync(file) ? file : null;
  } catch {
    return null;
  }
}

/** Splits a declaration body at top-level semicolons (or newlines ending a member). */
function members(body) {
  const text = body.replace(/\/\*[\s\S]*?\*\//g, "").replace(/^\s*\/\/.*$/gm, "");
  const result = [];
  let depth = 0;
  let start = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (c === "{" || c === "<" || c === "(" || c === "[") depth++;
    else if (c === "}" || c === ">" || c === ")" || c === "]") depth--;
    else if (c === ";" && depth === 0) {
      result.push(text.slice(start, i).trim());
      start = i + 1;
    }
  }

  const rest = text.slice(start).trim();
  if (rest.length > 0) result.push(rest);
  const fields = new Map();
  for (const member of result) {
    const match = /^"([^"]+)"\??\s*:\s*([\s\S]+)$/.exec(member);
    if (match) fields.set(match[1], match[2].trim());
  }

  return fields;
}

const declarationCache = new Map();

/** The fields of the class a .d.ts file declares, with what its type names refer to; null for a plain type. */
function loadDeclarations(file) {
  if (declarationCache.has(file)) {
    return declarationCache.get(file);
  }

  const text = readFileSync(file, "utf8");
  const imports = new Map();
  for (const match of text.matchAll(/import\s*\{([^}]*)\}\s*from\s*"([^"]+)"/g)) {
    for (const part of match[1].split(",")) {
      const names = part.trim().split(/\s+as\s+/);
      const local = names[names.length - 1].trim();
      if (local) imports.set(local, match[2]);
    }
  }

  let result = null;
  const declaration = /export declare class \w+[^{]*\{/.exec(text);
  if (declaration) {
    let depth = 1;
    let i = declaration.index + declaration[0].length;
    const start = i;
    for (; i < text.length && depth > 0; i++) {
      if (text[i] === "{") depth++;
      else if (text[i] === "}") depth--;
    }

    result = { fields: members(text.slice(start, i - 1)), imports, directory: path.dirname(file) };
  }

  declarationCache.set(file, result);
  return result;
}

/** What a TypeScript type expression says about the YAML value: object (with fields), array, map or leaf. */
function describe(type, context) {
  const t = type.trim();
  if (t.startsWith("Array<") && t.endsWith(">")) {
    return { kind: "array", item: t.slice(6, -1), context };
  }

  if (t.startsWith("{") && t.endsWith("}")) {
    const inner = t.slice(1, -1).trim();
    const map = /^\[key: string\]\s*:\s*([\s\S]+?);?$/.exec(inner);
    return map ? { kind: "map", value: map[1], context } : { kind: "object", fields: members(inner), context };
  }

  if (/^[A-Za-z_$][\w$]*$/.test(t) && context.imports.has(t)) {
    const file = declarationFile(context.imports.get(t), context.directory);
    const declarations = file ? loadDeclarations(file) : null;
    if (declarations) {
      return { kind: "object", fields: declarations.fields, context: declarations };
    }
  }

  return { kind: "leaf" };
}

function isPlainObject(value) {
  return value !== null && typeof value === "object" && !Array.isArray(value);
}

/** Reports every field of value that its type does not declare, with its path. */
function unknownFields(value, description, where, errors) {
  if (description.kind === "object" && isPlainObject(value)) {
    for (const [key, child] of Object.entries(value)) {
      const childPath = where ? `${where}.${key}` : key;
      const type = description.fields.get(key);
      if (type === undefined) {
        const known = [...description.fields.keys()].sort();
        errors.push(`${childPath}: unknown field (known here: ${known.join(", ")})`);
      } else {
        unknownFields(child, describe(type, description.context), childPath, errors);
      }
    }
  } else if (description.kind === "array" && Array.isArray(value)) {
    value.forEach((item, index) => unknownFields(item, describe(description.item, description.context), `${where}[${index}]`, errors));
  } else if (description.kind === "map" && isPlainObject(value)) {
    for (const [key, child] of Object.entries(value)) {
      unknownFields(child, describe(description.value, description.context), `${where}[${JSON.stringify(key)}]`, errors);
    }
  }
}

// ---- kustomization ---------------------------------------------------------------------------------

const KUSTOMIZATION_FIELDS = new Set([
  "apiVersion", "kind", "metadata", "resources", "components", "namespace", "namePrefix", "nameSuffix",
  "labels", "commonLabels", "commonAnnotations", "images", "replicas", "patches", "patchesStrategicMerge",
  "patchesJson6902", "configMapGenerator", "secretGenerator", "generatorOptions", "replacements",
  "transformers", "generators", "validators", "crds", "openapi", "buildMetadata", "sortOptions",
  "helmCharts", "helmGlobals", "configurations",
]);

function validateKustomization(object, file) {
  const errors = [];
  if (object.apiVersion !== "kustomize.config.k8s.io/v1beta1") {
    errors.push(`apiVersion: expected kustomize.config.k8s.io/v1beta1, got ${JSON.stringify(object.apiVersion)}`);
  }

  for (const key of Object.keys(object)) {
    if (!KUSTOMIZATION_FIELDS.has(key)) errors.push(`${key}: unknown field`);
  }

  for (const listField of ["resources", "components"]) {
    if (object[listField] === undefined) continue;
    if (!Array.isArray(object[listField])) {
      errors.push(`${listField}: must be a list`);
      continue;
    }

    object[listField].forEach((entry, index) => {
      if (typeof entry !== "string") {
        errors.push(`${listField}[${index}]: must be a string`);
      } else if (!/^[a-z]+:\/\//.test(entry) && !existsSync(path.resolve(path.dirname(file), entry))) {
        errors.push(`${listField}[${index}]: ${entry} does not exist beside ${path.basename(file)}`);
      }
    });
  }

  (object.images ?? []).forEach((image, index) => {
    if (!isPlainObject(image) || typeof image.name !== "string") errors.push(`images[${index}]: needs a name`);
  });
  return errors;
}

// ---- main ------------------------------------------------------------------------------------------

async function validateFile(file, seen) {
  let unknownKind = false;
  let invalid = false;
  const fail = (label, message) => {
    console.log(`error ${file} ${label}: ${message}`);
    invalid = true;
  };

  let text;
  try {
    text = readFileSync(file, "utf8");
  } catch (error) {
    fail("-", `cannot be read: ${error.message}`);
    return { invalid, unknownKind };
  }

  const documents = parseAllDocuments(text, { prettyErrors: true, uniqueKeys: true });
  let objects = 0;
  for (const document of documents) {
    if (document.errors.length > 0) {
      for (const error of document.errors) fail("-", `YAML: ${error.message.split("\n")[0].replace(/:$/, "")}`);
      continue;
    }

    const object = document.toJS();
    if (object === null || object === undefined) continue;
    objects++;
    if (!isPlainObject(object)) {
      fail("-", "a document must be a mapping (a Kubernetes object)");
      continue;
    }

    const kind = typeof object.kind === "string" ? object.kind : "?";
    const name = object.metadata?.name ?? "-";
    const label = `${kind}/${name}`;
    if (typeof object.apiVersion !== "string" || typeof object.kind !== "string") {
      fail(label, "apiVersion and kind are required");
      continue;
    }

    if (kind === "Kustomization") {
      const errors = validateKustomization(object, file);
      errors.forEach((e) => fail(label, e));
      if (errors.length === 0) console.log(`ok ${file} ${label}`);
      continue;
    }

    const loaded = await loadModel(object.apiVersion, kind);
    if (loaded === null) {
      console.log(`error ${file} ${label}: unknown kind ${kind} in ${object.apiVersion} (no model for it in kubernetes-models or @kubernetes-models/gateway-api)`);
      unknownKind = true;
      continue;
    }

    const errors = [];
    if (typeof object.metadata?.name !== "string" || object.metadata.name.length === 0) {
      errors.push("metadata.name: required");
    }

    try {
      new loaded.model(object).validate();
    } catch (error) {
      const details = Array.isArray(error?.errors) && error.errors.length > 0
        ? error.errors.map((e) => `${e.instancePath || "/"}: ${e.message ?? e.keyword} ${JSON.stringify(e.params ?? {})}`)
        : [String(error?.message ?? error)];
      errors.push(...details.map((d) => `schema: ${d}`));
    }

    const declarations = loaded.declarations ? loadDeclarations(loaded.declarations) : null;
    if (declarations) {
      unknownFields(object, { kind: "object", fields: declarations.fields, context: declarations }, "", errors);
    }

    const group = object.apiVersion.includes("/") ? object.apiVersion.split("/")[0] : "";
    const identity = `${group}/${kind}/${object.metadata?.namespace ?? ""}/${name}`;
    if (seen.has(identity)) {
      errors.push(`the same object is also defined in ${seen.get(identity)}`);
    } else {
      seen.set(identity, file);
    }

    errors.forEach((e) => fail(label, e));
    if (errors.length === 0) console.log(`ok ${file} ${label}`);
  }

  if (objects === 0 && !invalid) fail("-", "no Kubernetes object in the file");
  return { invalid, unknownKind };
}

async function main(args) {
  if (args.length === 1 && args[0] === "--check-install") {
    return checkInstall();
  }

  if (args.length === 0 || args.some((a) => a.startsWith("-"))) {
    console.error("usage: node validate.mjs FILE.yaml...   |   node validate.mjs --check-install");
    return EXIT_UNKNOWN_KIND;
  }

  let invalid = false;
  let unknownKind = false;
  const seen = new Map();
  for (const file of args) {
    const result = await validateFile(file, seen);
    invalid ||= result.invalid;
    unknownKind ||= result.unknownKind;
  }

  return unknownKind ? EXIT_UNKNOWN_KIND : invalid ? EXIT_INVALID : EXIT_OK;
}

process.exitCode = await main(process.argv.slice(2));
