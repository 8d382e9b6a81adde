#!/usr/bin/env node
// Offline check of the Adaptive Cards of the Teams bot route (issue 10):
//
//   1. Microsoft's parser: npm adaptivecards 3.0.6 (its UMD build,
//      dist/adaptivecards.js: lib/ does not load under Node), parse and
//      validateProperties at version 1.5. It is lenient: it misses typos,
//      a TextBlock without text, and any action's fallback.
//   2. The route's rules, which neither the parser nor the schema checks:
//      version 1.5, the Approve and Deny buttons (Action.Execute, verbs
//      approve/deny, data {action, approval_id}, each with an Action.Submit
//      fallback carrying the same data) inside an ActionSet, result cards
//      without buttons and in the decision's colour, valid colours.
//   3. With AC_SCHEMA naming microsoft/AdaptiveCards'
//      schemas/1.5.0/adaptive-card.json (draft-06): ajv 8 against it, the
//      Teams-only "msteams" property set aside. No npm package ships that
//      file, so npm ci cannot install it: without AC_SCHEMA this check is
//      skipped, and the output says so.
//
// Usage:
//
//   node validate.js [--approval | --result[=approved|denied|expired|notice] | --alert] FILE...
//
// Each kind flag applies to the files after it. A file holds a card, a
// message activity carrying one card (what the bot POSTs or PUTs), or an
// AdaptiveCardInvokeResponse (what the messaging endpoint answers an
// Action.Execute click with). Exit status: 0 when every card passes, 1
// when one fails, 2 for a usage or setup error.
//
// Setup: npm ci --prefix tools/cards (package-lock.json pins the three
// packages). Environment: AC_SCHEMA=/path/to/adaptive-card.json to run
// the schema check; AC_SCHEMA_REQUIRED=true to fail when it cannot run.
"use strict";

const fs = require("fs");
const path = require("path");
const crypto = require("crypto");

const SCHEMA_URL = "http://adaptivecards.io/schemas/adaptive-card.json";
const CARD_TYPE = "application/vnd.microsoft.card.adaptive";
const VERSION = "1.5";
// Teams refuses messages over about 28 KB.
const MAX_BYTES = 28 * 1024;
// The schema file the spike and this tool were checked with
// (microsoft/AdaptiveCards at 644d933e, schemas/1.5.0/adaptive-card.json).
const KNOWN_SCHEMA_SHA256 = "32c91fb285180a266a55b3475dd0396e63fe079311714d3a14963b41f5e17920";
// Where the steering session may place it (teamsbot.md §4): looked for
// when AC_SCHEMA is unset.
const SHARED_SCHEMA = path.join(__dirname, "..", "..", "..", "shared", "vendor", "adaptivecards", "schemas", "1.5.0", "adaptive-card.json");

// Enumerations of Adaptive Cards 1.5. The schema's case-insensitive
// patterns for them are unanchored alternations (they accept "goodbye"),
// so they are checked here exactly, as the Go side writes them.
const COLORS = ["default", "dark", "light", "accent", "good", "warning", "attention"];
const CONTAINER_STYLES = ["default", "emphasis", "good", "attention", "warning", "accent"];
const ACTION_STYLES = ["default", "positive", "destructive"];
// The result card's colour per decision: green, red, amber.
const RESULT_STYLES = { approved: "good", denied: "attention", expired: "warning", notice: "warning" };
const KINDS = ["approval", "result", "alert"];

function usage(msg) {
  if (msg) console.error(`validate.js: ${msg}`);
  console.error("usage: node validate.js [--approval | --result[=approved|denied|expired|notice] | --alert] FILE...");
  process.exit(2);
}

function load(name, what) {
  try {
    return require(name);
  } catch (e) {
    console.error(`validate.js: cannot load ${what} (${name}): ${e.message.split("\n")[0]}`);
    console.error("validate.js: install the pinned packages first: npm ci --prefix tools/cards");
    process.exit(2);
  }
}

const AC = load("adaptivecards/dist/adaptivecards.js", "Microsoft's adaptivecards parser");
const AC_VERSION = load("adaptivecards/package.json", "adaptivecards").version;

// ---- arguments

const jobs = [];
{
  let kind = null;
  let result = null;
  for (const a of process.argv.slice(2)) {
    if (a === "-h" || a === "--help") usage();
    const m = /^--(approval|result|alert)(?:=(.*))?$/.exec(a);
    if (m) {
      kind = m[1];
      result = m[2] ?? null;
      if (kind !== "result" && result !== null) usage(`${a}: only --result takes a value`);
      if (result !== null && !(result in RESULT_STYLES)) usage(`${a}: want one of ${Object.keys(RESULT_STYLES).join(", ")}`);
      continue;
    }
    if (a.startsWith("-")) usage(`unknown flag ${a}`);
    if (!kind) usage(`${a}: say which kind of card it is first (${KINDS.map(k => "--" + k).join(", ")})`);
    jobs.push({ file: a, kind, result });
  }
  if (!jobs.length) usage("no card files given");
}

// ---- schema (optional)

const schemaCheck = setupSchema();

function setupSchema() {
  const required = /^(1|true|yes)$/i.test(process.env.AC_SCHEMA_REQUIRED || "");
  let file = process.env.AC_SCHEMA || "";
  let from = "AC_SCHEMA";
  if (!file && fs.existsSync(SHARED_SCHEMA)) {
    file = SHARED_SCHEMA;
    from = "shared/";
  }
  if (!file) {
    const why = "SKIPPED: AC_SCHEMA is not set. No npm package ships the Adaptive Cards 1.5 JSON schema, so npm ci cannot install it; " +
      "to run this check, supply schemas/1.5.0/adaptive-card.json from the microsoft/AdaptiveCards repository " +
      `(sha256 ${KNOWN_SCHEMA_SHA256.slice(0, 12)}… at commit 644d933e) through AC_SCHEMA=/path/to/adaptive-card.json`;
    if (required) {
      console.error(`validate.js: schema check ${why}; AC_SCHEMA_REQUIRED is set`);
      process.exit(2);
    }
    return { skipped: why };
  }
  let raw;
  try {
    raw = fs.readFileSync(file);
  } catch (e) {
    console.error(`validate.js: ${from} names ${file}, which cannot be read: ${e.message}`);
    process.exit(2);
  }
  const sha = crypto.createHash("sha256").update(raw).digest("hex");
  let schema;
  try {
    schema = JSON.parse(raw.toString("utf8"));
  } catch (e) {
    console.error(`validate.js: ${file} is not JSON: ${e.message}`);
    process.exit(2);
  }
  if (!schema.definitions || !schema.definitions.AdaptiveCard || !schema.definitions["Action.Execute"]) {
    console.error(`validate.js: ${file} is not the Adaptive Cards 1.5 schema (no AdaptiveCard or Action.Execute definition)`);
    process.exit(2);
  }
  const Ajv = load("ajv", "ajv");
  const addFormats = load("ajv-formats", "ajv-formats");
  // Draft-06 names the schema with "id"; ajv 8 keys schemas by "$id".
  const id = schema.$id || schema.id || SCHEMA_URL;
  delete schema.id;
  schema.$id = id;
  const ajv = new Ajv({ strict: false, allErrors: true });
  ajv.addMetaSchema(require("ajv/dist/refs/json-schema-draft-06.json"));
  addFormats(ajv);
  let validate;
  try {
    validate = ajv.compile(schema);
  } catch (e) {
    console.error(`validate.js: ${file} does not compile with ajv: ${e.message}`);
    process.exit(2);
  }
  const note = sha === KNOWN_SCHEMA_SHA256 ? "the known 1.5 schema" : `NOT the known file ${KNOWN_SCHEMA_SHA256.slice(0, 12)}…`;
  return { file, from, sha, note, ajv, id, schema, validate };
}

// schemaErrors validates card, with msteams set aside, against the
// schema. The schema is an anyOf over every element and action type, so
// one mistake yields an error per candidate type: each failing object is
// explained against the one definition its own "type" names instead.
function schemaErrors(card) {
  const { ajv, id, schema, validate } = schemaCheck;
  const c = structuredClone(card);
  delete c.msteams; // Teams-only; AdaptiveCard has additionalProperties: false
  if (validate(c)) return [];
  const out = [];
  const explain = (inst, at, def) => {
    const v = ajv.getSchema(id + "#/definitions/" + def);
    if (!v || v(inst)) return;
    const get = (ip) => ip.split("/").slice(1).reduce((o, k) => o?.[k.replace(/~1/g, "/").replace(/~0/g, "~")], inst);
    const typed = (x) => x && typeof x === "object" && !Array.isArray(x) && typeof x.type === "string";
    const delegated = [...new Set(v.errors.filter(e => e.keyword === "anyOf" && e.instancePath && typed(get(e.instancePath))).map(e => e.instancePath))];
    const under = (ip) => delegated.some(d => ip === d || ip.startsWith(d + "/"));
    for (const d of delegated) {
      const sub = get(d);
      if (schema.definitions[sub.type]) explain(sub, at + d, sub.type);
      else out.push(`${at + d}: unknown type "${sub.type}"`);
    }
    for (const e of v.errors) {
      if (under(e.instancePath) || ["anyOf", "allOf", "oneOf"].includes(e.keyword)) continue;
      let m = `${at + e.instancePath || "/"}: ${e.message}`;
      if (e.params?.additionalProperty) m += ` (${e.params.additionalProperty})`;
      if (e.params?.allowedValues) m += " " + JSON.stringify(e.params.allowedValues);
      out.push(m);
    }
  };
  explain(c, "", "AdaptiveCard");
  return out.length ? [...new Set(out)] : [`invalid (${validate.errors.length} raw ajv errors: ${ajv.errorsText(validate.errors).slice(0, 300)})`];
}

// ---- Microsoft's parser

function parserCheck(card) {
  const out = [];
  const ctx = new AC.SerializationContext(AC.Versions.v1_5);
  const ac = new AC.AdaptiveCard();
  try {
    ac.parse(structuredClone(card), ctx);
  } catch (e) {
    return { out: [`parse threw: ${e.message}`], actions: [] };
  }
  for (let i = 0; i < ctx.eventCount; i++) {
    const e = ctx.getEventAt(i);
    out.push(`parse: ${AC.ValidationEvent[e.event]}: ${e.message}`);
  }
  for (const e of ac.validateProperties().validationEvents) {
    out.push(`validate: ${AC.ValidationEvent[e.event]}: ${e.message}`);
  }
  // getAllActions lists an ActionSet's actions twice.
  const actions = [...new Set(ac.getAllActions())].map(a => ({ type: a.getJsonTypeName(), verb: a.verb }));
  return { out, actions };
}

// ---- the route's rules

const isObj = (x) => x !== null && typeof x === "object" && !Array.isArray(x);
const same = (a, b) => JSON.stringify(canon(a)) === JSON.stringify(canon(b));
function canon(x) {
  if (Array.isArray(x)) return x.map(canon);
  if (isObj(x)) return Object.fromEntries(Object.keys(x).sort().map(k => [k, canon(x[k])]));
  return x;
}

// unwrap returns the card a file's JSON holds, checking its envelope.
function unwrap(doc, errs) {
  if (!isObj(doc)) {
    errs.push("the file holds no JSON object");
    return { card: null, envelope: "?" };
  }
  if (doc.type === "AdaptiveCard") return { card: doc, envelope: "card" };
  if (doc.type === "message") {
    const as = doc.attachments;
    if (!Array.isArray(as) || as.length !== 1) {
      errs.push(`message activity: want exactly one attachment, got ${Array.isArray(as) ? as.length : "none"}`);
      return { card: null, envelope: "message activity" };
    }
    if (as[0].contentType !== CARD_TYPE) errs.push(`message activity: attachment contentType ${JSON.stringify(as[0].contentType)}, want ${CARD_TYPE}`);
    if (!isObj(as[0].content)) errs.push("message activity: the attachment has no card content");
    return { card: isObj(as[0].content) ? as[0].content : null, envelope: "message activity" };
  }
  if ("statusCode" in doc) {
    if (doc.statusCode !== 200) errs.push(`invoke response: statusCode ${doc.statusCode}, want 200`);
    if (doc.type !== CARD_TYPE) errs.push(`invoke response: type ${JSON.stringify(doc.type)}, want ${CARD_TYPE} (a card that replaces the clicked one)`);
    if (!isObj(doc.value)) errs.push("invoke response: value is not a card");
    return { card: isObj(doc.value) ? doc.value : null, envelope: "invoke response" };
  }
  errs.push(`not a card, message activity or invoke response (type ${JSON.stringify(doc.type)})`);
  return { card: null, envelope: "?" };
}

// walk visits every element and action of card with its JSON path, and
// where it sits: in a top-level ActionSet, card.actions, or elsewhere.
// An action's fallback is not visited as an action of its own.
function walk(card, visit) {
  const el = (e, at, topSet) => {
    if (!isObj(e)) return;
    if (typeof e.type === "string" && e.type.startsWith("Action.")) {
      visit(e, at, topSet);
      if (isObj(e.card)) walkCard(e.card, at + "/card"); // Action.ShowCard
      return;
    }
    visit(e, at, null);
    if (isObj(e.selectAction)) el(e.selectAction, at + "/selectAction", "selectAction");
    for (const key of ["items", "columns", "facts", "rows", "cells", "inlines", "images"]) {
      if (Array.isArray(e[key])) e[key].forEach((x, i) => el(x, `${at}/${key}/${i}`, null));
    }
    if (Array.isArray(e.actions)) e.actions.forEach((a, i) => el(a, `${at}/actions/${i}`, topSet === "body" && e.type === "ActionSet" ? "ActionSet" : "nested ActionSet"));
  };
  const walkCard = (c, at) => {
    if (Array.isArray(c.body)) c.body.forEach((e, i) => el(e, `${at}/body/${i}`, "body"));
    if (Array.isArray(c.actions)) c.actions.forEach((a, i) => el(a, `${at}/actions/${i}`, "card.actions"));
    if (isObj(c.selectAction)) el(c.selectAction, `${at}/selectAction`, "selectAction");
  };
  walkCard(card, "");
}

function routeErrors(card, job, parsed, bytes) {
  const out = [];
  if (bytes > MAX_BYTES) out.push(`${bytes} bytes, over Teams' message limit of about 28 KB`);
  if (card.type !== "AdaptiveCard") out.push(`type ${JSON.stringify(card.type)}, want AdaptiveCard`);
  if (card.version !== VERSION) out.push(`version ${JSON.stringify(card.version)}, want "${VERSION}" (Action.Execute needs 1.5, and Teams renders at most 1.5 in bot cards)`);
  if (card.$schema !== undefined && card.$schema !== SCHEMA_URL) out.push(`$schema ${JSON.stringify(card.$schema)}, want ${SCHEMA_URL}`);
  if (card.msteams !== undefined) {
    if (!isObj(card.msteams)) out.push("msteams is not an object");
    else {
      for (const k of Object.keys(card.msteams)) if (!["width", "entities"].includes(k)) out.push(`msteams.${k}: not a Teams card property`);
      if (card.msteams.width !== undefined && card.msteams.width !== "Full") out.push(`msteams.width ${JSON.stringify(card.msteams.width)}, want "Full"`);
    }
  }
  if (!Array.isArray(card.body) || card.body.length === 0) out.push("the card has no body");

  const actions = [];
  walk(card, (e, at, where) => {
    switch (e.type) {
      case "TextBlock":
        if (typeof e.text !== "string" || e.text.trim() === "") out.push(`${at}: TextBlock without text`);
        if (e.color !== undefined && !COLORS.includes(e.color)) out.push(`${at}: color ${JSON.stringify(e.color)}, want one of ${COLORS.join(", ")}`);
        break;
      case "Container":
        if (e.style !== undefined && !CONTAINER_STYLES.includes(e.style)) out.push(`${at}: style ${JSON.stringify(e.style)}, want one of ${CONTAINER_STYLES.join(", ")}`);
        if (!Array.isArray(e.items) || e.items.length === 0) out.push(`${at}: Container without items`);
        break;
      case "FactSet":
        if (!Array.isArray(e.facts) || e.facts.length === 0) out.push(`${at}: FactSet without facts`);
        else e.facts.forEach((f, i) => {
          if (!isObj(f) || typeof f.title !== "string" || typeof f.value !== "string") out.push(`${at}/facts/${i}: a fact needs a title and a value`);
        });
        break;
      case "ActionSet":
        if (!Array.isArray(e.actions) || e.actions.length === 0) out.push(`${at}: ActionSet without actions`);
        break;
    }
    if (where !== null && typeof e.type === "string" && e.type.startsWith("Action.")) {
      actions.push({ a: e, at, where });
      if (typeof e.title !== "string" || e.title.trim() === "") out.push(`${at}: ${e.type} without a title`);
      if (e.style !== undefined && !ACTION_STYLES.includes(e.style)) out.push(`${at}: style ${JSON.stringify(e.style)}, want one of ${ACTION_STYLES.join(", ")}`);
      if (e.type === "Action.OpenUrl") {
        let u = null;
        try { u = new URL(e.url); } catch { /* reported below */ }
        if (!u || u.protocol !== "https:") out.push(`${at}: Action.OpenUrl url ${JSON.stringify(e.url)} is not an https URL`);
      } else if (e.type === "Action.Submit") {
        out.push(`${at}: Action.Submit outside an Action.Execute's fallback (this route's buttons are Action.Execute)`);
      } else if (e.type !== "Action.Execute") {
        out.push(`${at}: ${e.type}: not an action of this route (Action.Execute, Action.OpenUrl)`);
      }
    }
  });

  const executes = actions.filter(x => x.a.type === "Action.Execute");
  if (job.kind === "result") {
    if (actions.length) out.push(`a result card has no buttons, found ${actions.map(x => `${x.a.type} at ${x.at}`).join(", ")}`);
    walk(card, (e, at) => { if (e.type === "ActionSet") out.push(`${at}: a result card has no ActionSet`); });
    const top = Array.isArray(card.body) ? card.body[0] : undefined;
    if (!isObj(top) || top.type !== "Container" || card.body.length !== 1) out.push("a result card's body is one Container (the colour of the result)");
    else if (job.result) {
      const a = /^[aeiou]/.test(job.result) ? "an" : "a";
      const want = RESULT_STYLES[job.result];
      if (top.style !== want) out.push(`${a} ${job.result} result card is style ${JSON.stringify(want)}, got ${JSON.stringify(top.style)}`);
      if (job.result === "approved" || job.result === "denied") {
        const facts = (top.items || []).filter(isObj).filter(i => i.type === "FactSet").flatMap(i => i.facts || []).map(f => f.title);
        for (const t of ["Reviewer", "Time"]) if (!facts.includes(t)) out.push(`${a} ${job.result} result card shows the ${t.toLowerCase()} (fact "${t}")`);
        const word = job.result.toUpperCase();
        if (!JSON.stringify(top.items).includes(word)) out.push(`${a} ${job.result} result card says ${word}`);
      }
    }
    return out;
  }
  if (job.kind === "alert") {
    for (const x of executes) out.push(`${x.at}: an alert card has no Action.Execute (it decides nothing)`);
    return out;
  }

  // approval
  if (Array.isArray(card.actions) && card.actions.length) {
    out.push("buttons belong in an ActionSet in the body, not in card.actions (older Teams clients ignore a fallback there)");
  }
  for (const x of executes) {
    if (x.where !== "ActionSet") out.push(`${x.at}: ${x.a.title ?? "Action.Execute"} is not in an ActionSet at the top of the body (${x.where}); older Teams clients honour its fallback only there`);
  }
  const verbs = executes.map(x => x.a.verb);
  if (!same(verbs, ["approve", "deny"])) out.push(`the Action.Execute verbs are ${JSON.stringify(verbs)}, want ["approve","deny"]`);
  const ids = new Set();
  for (const { a, at } of executes) {
    const d = a.data;
    if (!isObj(d) || !same(Object.keys(d).sort(), ["action", "approval_id"]) || d.action !== a.verb || typeof d.approval_id !== "string" || d.approval_id === "") {
      out.push(`${at}: data ${JSON.stringify(d)}, want {"action": ${JSON.stringify(a.verb)}, "approval_id": "<request ID>"}`);
    } else ids.add(d.approval_id);
    const f = a.fallback;
    if (!isObj(f) || f.type !== "Action.Submit") {
      out.push(`${at}: fallback ${f === undefined ? "missing" : JSON.stringify(f)}, want an Action.Submit with the same data (the click of a Teams client without Universal Actions)`);
    } else {
      if (!same(f.data, d)) out.push(`${at}: the fallback Action.Submit's data ${JSON.stringify(f.data)} differs from the Action.Execute's ${JSON.stringify(d)}`);
      if (f.title !== a.title) out.push(`${at}: the fallback's title ${JSON.stringify(f.title)} differs from ${JSON.stringify(a.title)}`);
      if (f.fallback !== undefined || f.verb !== undefined) out.push(`${at}: the fallback Action.Submit carries ${f.fallback !== undefined ? "a fallback" : "a verb"} of its own`);
    }
  }
  if (ids.size > 1) out.push(`the buttons name different requests: ${JSON.stringify([...ids])}`);
  // The parser must have read both buttons as Action.Execute (a card of a
  // lower version, or a typo'd type, loses them).
  const pv = parsed.filter(p => p.type === "Action.Execute").map(p => p.verb);
  if (!same(pv, ["approve", "deny"])) out.push(`the parser read Action.Execute verbs ${JSON.stringify(pv)}, want ["approve","deny"]`);
  return out;
}

// ---- run

const schemaLine = schemaCheck.skipped
  ? `schema ${schemaCheck.skipped}`
  : `schema: ${schemaCheck.file} (from ${schemaCheck.from}, sha256 ${schemaCheck.sha}, ${schemaCheck.note}), msteams set aside`;
console.log(`validate.js: parser adaptivecards ${AC_VERSION} (dist/adaptivecards.js) at version 1.5; route rules; ${schemaLine}`);

let failed = 0;
for (const job of jobs) {
  const label = job.kind + (job.result ? `=${job.result}` : "");
  let raw;
  try {
    raw = fs.readFileSync(job.file);
  } catch (e) {
    console.error(`validate.js: ${e.message}`);
    process.exit(2);
  }
  const env = [];
  let doc;
  try {
    doc = JSON.parse(raw.toString("utf8"));
  } catch (e) {
    env.push(`not JSON: ${e.message}`);
  }
  const { card, envelope } = doc === undefined ? { card: null, envelope: "?" } : unwrap(doc, env);
  console.log(`\n## ${path.basename(job.file)} (${label}, ${envelope}, ${raw.length} bytes)`);
  let bad = env.length > 0;
  if (env.length) console.log(`  envelope: FAIL\n    - ${env.join("\n    - ")}`);
  if (card) {
    const p = parserCheck(card);
    const acts = p.actions.map(a => a.type + (a.verb ? `(${a.verb})` : "")).join(", ");
    console.log(`  parser  : ${p.out.length ? "FAIL\n    - " + p.out.join("\n    - ") : "ok"}`);
    if (acts) console.log(`  actions : ${acts} (as the parser read them)`);
    const r = routeErrors(card, job, p.actions, raw.length);
    console.log(`  rules   : ${r.length ? "FAIL\n    - " + r.join("\n    - ") : "ok"}`);
    let s = [];
    if (schemaCheck.skipped) console.log("  schema  : skipped (AC_SCHEMA not set)");
    else {
      s = schemaErrors(card);
      console.log(`  schema  : ${s.length ? "FAIL\n    - " + s.join("\n    - ") : "ok"}`);
    }
    bad = bad || p.out.length > 0 || r.length > 0 || s.length > 0;
  } else bad = true;
  if (bad) failed++;
}
const checks = schemaCheck.skipped ? "parser and route rules (schema check SKIPPED: AC_SCHEMA not set)" : "parser, route rules and the 1.5 schema";
console.log(`\nvalidate.js: ${jobs.length - failed} of ${jobs.length} card(s) valid; ${failed} failed; checked: ${checks}`);
process.exit(failed ? 1 : 0);
