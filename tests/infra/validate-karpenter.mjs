// Validates provisioner.yaml against the Karpenter v1 schemas of npm
// @kubernetes-models/karpenter (pinned by scripts/test), then checks what
// the schemas cannot express. Prints a JSON summary on stdout for
// tests/tests/infra.rs (which compares it with terraform/ and the Rust
// side); exits 1 with the reasons on stderr when anything is wrong.
//
// usage: NODE_PATH=<node_modules> node validate-karpenter.mjs provisioner.yaml
import { readFileSync } from "node:fs";
import { pathToFileURL } from "node:url";
import path from "node:path";

// ESM ignores NODE_PATH: load the packages from it by file path.
const modules = process.env.NODE_PATH;
if (!modules) {
  console.error("NODE_PATH must name the node_modules folder that holds @kubernetes-models/karpenter");
  process.exit(2);
}
const load = (file) => import(pathToFileURL(path.join(modules, file)).href);

const { parseAllDocuments } = await load("yaml/dist/index.js");
const { NodePool } = await load("@kubernetes-models/karpenter/karpenter.sh/v1/index.js");
const { EC2NodeClass } = await load("@kubernetes-models/karpenter/karpenter.k8s.aws/v1/index.js");

const file = process.argv[2];
const errors = [];
const fail = (m) => errors.push(m);

const docs = parseAllDocuments(readFileSync(file, "utf8"));
for (const d of docs) {
  if (d.errors.length) fail(`YAML: ${d.errors.map((e) => e.message).join("; ")}`);
}
const objects = docs.map((d) => d.toJS()).filter(Boolean);
const pools = objects.filter((o) => o.kind === "NodePool");
const classes = objects.filter((o) => o.kind === "EC2NodeClass");
if (pools.length !== 1) fail(`expected one NodePool, found ${pools.length}`);
if (classes.length !== 1) fail(`expected one EC2NodeClass, found ${classes.length}`);
for (const o of objects) {
  if (!["NodePool", "EC2NodeClass"].includes(o.kind)) fail(`unexpected kind ${o.kind}`);
}

// 1. The schemas (apiVersion, kind, every field's type, enums, patterns).
// No false rejection was seen with 2.0.0 for this file; if one appears,
// say which field and why here and in the README.
const schema = (Model, o) => {
  try {
    new Model(o).validate();
  } catch (e) {
    fail(`${o.kind}/${o.metadata?.name}: schema: ${e.message}`);
  }
};
pools.forEach((o) => schema(NodePool, o));
classes.forEach((o) => schema(EC2NodeClass, o));

const pool = pools[0] ?? {};
const nodeClass = classes[0] ?? {};
const template = pool.spec?.template ?? {};
const spec = nodeClass.spec ?? {};

// 2. What the schemas cannot say.
// role xor instanceProfile (Karpenter's webhook rule, absent from the CRD schema).
if (("role" in spec) === ("instanceProfile" in spec)) {
  fail("EC2NodeClass: set exactly one of spec.role and spec.instanceProfile");
}
// A pinned AMI: every alias is al2023@vYYYYMMDD (never @latest).
const aliases = (spec.amiSelectorTerms ?? []).map((t) => t.alias);
if (aliases.length === 0 || aliases.some((a) => !/^al2023@v\d{8}$/.test(a ?? ""))) {
  fail(`EC2NodeClass: amiSelectorTerms must be al2023@vYYYYMMDD aliases, found ${JSON.stringify(aliases)}`);
}
// The NodePool uses this EC2NodeClass.
const ref = template.spec?.nodeClassRef ?? {};
if (ref.group !== "karpenter.k8s.aws" || ref.kind !== "EC2NodeClass" || ref.name !== nodeClass.metadata?.name) {
  fail(`NodePool: nodeClassRef ${JSON.stringify(ref)} does not name EC2NodeClass ${nodeClass.metadata?.name}`);
}
// amd64 only (the worker image).
const arch = (template.spec?.requirements ?? []).find((r) => r.key === "kubernetes.io/arch");
if (!arch || arch.operator !== "In" || JSON.stringify(arch.values) !== '["amd64"]') {
  fail("NodePool: requirements must pin kubernetes.io/arch In [amd64]");
}
// IMDSv2 only, one hop.
const md = spec.metadataOptions ?? {};
if (md.httpTokens !== "required" || md.httpPutResponseHopLimit !== 1) {
  fail("EC2NodeClass: metadataOptions must require IMDSv2 tokens with hop limit 1");
}
if (spec.associatePublicIPAddress !== true) fail("EC2NodeClass: associatePublicIPAddress must be true");

// The claim script inside the userData's shell part.
const userData = spec.userData ?? "";
const m = /Content-Type: text\/x-shellscript[^\n]*\n\n([\s\S]*?)^--TRAWL--$/m.exec(userData);
if (!m) fail("EC2NodeClass: userData has no text/x-shellscript part ending at --TRAWL--");

const summary = {
  labels: template.metadata?.labels ?? {},
  taints: template.spec?.taints ?? [],
  limitsNodes: String(pool.spec?.limits?.nodes ?? ""),
  disruption: pool.spec?.disruption ?? {},
  role: spec.role ?? null,
  discovery: [
    ...(spec.subnetSelectorTerms ?? []),
    ...(spec.securityGroupSelectorTerms ?? []),
  ].map((t) => t.tags?.["karpenter.sh/discovery"] ?? null),
  claimScript: m ? m[1] : null,
};
if (errors.length) {
  console.error(errors.join("\n"));
  process.exit(1);
}
console.log(JSON.stringify(summary));
