#!/usr/bin/env python3
"""Writes small seed corpora for the fuzz targets into corpus/<target>/.

Seeds come from the conformance cases (../conformance/cases) plus a few
hand-written inputs for corners the cases do not reach. Re-running is
harmless: seeds are named by content hash, and libFuzzer adds its own
findings to the same directories.

Usage: python3 make_seeds.py [CORPUS_DIR]   (default: corpus next to this file)
"""

import hashlib
import os
import sys

import yaml  # PyYAML

HERE = os.path.dirname(os.path.abspath(__file__))
CASES = os.path.join(HERE, "..", "conformance", "cases")
CORPUS = sys.argv[1] if len(sys.argv) > 1 else os.path.join(HERE, "corpus")
MAX_SEED = 4096  # bytes; small seeds mutate faster


def put(target, text):
    data = text.encode() if isinstance(text, str) else text
    if len(data) > MAX_SEED:
        return
    d = os.path.join(CORPUS, target)
    os.makedirs(d, exist_ok=True)
    name = hashlib.sha1(data).hexdigest()
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)


def read(path):
    try:
        with open(path, encoding="utf-8") as f:
            return f.read()
    except (OSError, UnicodeDecodeError):
        return None


def load_all(text):
    try:
        return [d for d in yaml.safe_load_all(text) if d is not None]
    except yaml.YAMLError:
        return []


def dump(doc):
    return yaml.safe_dump(doc, sort_keys=False)


def case_dirs():
    for root, _dirs, files in os.walk(CASES):
        if "kustomization.yaml" in files:
            yield root


def resources_of(d, kust):
    docs = []
    for r in (kust.get("resources") or []) + (kust.get("bases") or []):
        if not isinstance(r, str):
            continue
        text = read(os.path.join(d, r))
        if text is not None:
            docs.extend(x for x in load_all(text) if isinstance(x, dict))
    return docs


def matches(doc, sel):
    meta = doc.get("metadata") or {}
    if sel.get("kind") and doc.get("kind") != sel["kind"]:
        return False
    if sel.get("name") and meta.get("name") != sel["name"]:
        return False
    return True


def patch_pairs(d, kust, resources):
    """(target document, patch text, is_json6902) for each patch we can resolve."""
    entries = list(kust.get("patches") or [])
    entries += [{"path": p} if isinstance(p, str) else p for p in kust.get("patchesStrategicMerge") or []]
    entries += list(kust.get("patchesJson6902") or [])
    for e in entries:
        if isinstance(e, str):
            e = {"patch": e}
        if not isinstance(e, dict):
            continue
        text = e.get("patch")
        if text is None and e.get("path"):
            text = read(os.path.join(d, e["path"]))
        if text is None:
            continue
        docs = load_all(text)
        if not docs:
            continue
        sel = e.get("target") or {}
        if isinstance(docs[0], list):
            for r in resources:
                if matches(r, sel):
                    yield r, text, True
                    break
        else:
            for p in docs:
                if not isinstance(p, dict):
                    continue
                s = dict(sel) or {"kind": p.get("kind"), "name": (p.get("metadata") or {}).get("name")}
                for r in resources:
                    if matches(r, s):
                        yield r, dump(p), False
                        break


HAND_YAML = [
    "a: 1\n---\nb: yes\n",
    "---\n...\n---\n",
    "anchors: &a {x: [1, 2, *b]}\n",
    "a: &x [1, 2]\nb: *x\nc: {<<: {k: v}}\n",
    "s: |\n  line one\n  line two\nt: >-\n  folded\n  text\n",
    "? [complex, key]\n: value\n",
    "k: !!binary aGVsbG8=\nn: !!null ''\nf: .inf\ng: -.NaN\nh: 0x1F\ni: 0o17\nj: 1e3\n",
    '{"json": [1, 2.5, -3e-7, "\\u00e9\\ud83d\\ude00", null, true]}\n',
    "%YAML 1.2\n%TAG ! tag:example.com,2000:\n---\n!foo bar\n",
    "key: 'single ''quoted'''\nother: \"esc\\t\\x41\\n\"\n",
    "- - - deep\n    - list\n- {a: {b: {c: {}}}}\n",
    "long: " + "word " * 40 + "\n",
    "\"0\": 1\n\"~\": null\n\"\": empty\n",
]

HAND_SMP = [
    "apiVersion: apps/v1\nkind: Deployment\nspec:\n  template:\n    spec:\n      containers:\n      - name: a\n        args: [x, y]\n        env: [{name: E, value: '1'}]\n---\nspec:\n  template:\n    spec:\n      $setElementOrder/containers: [{name: b}, {name: a}]\n      containers:\n      - name: b\n      - name: a\n        $patch: replace\n      $retainKeys: [containers]\n",
    "apiVersion: v1\nkind: Pod\nspec:\n  containers:\n  - name: a\n    args: [x, y]\n---\nspec:\n  $deleteFromPrimitiveList/finalizers: [x]\n  containers:\n  - name: a\n    $deleteFromPrimitiveList/args: [x]\n  - {name: c, $patch: delete}\n",
    "apiVersion: v1\nkind: Service\nspec:\n  ports: [{port: 80, protocol: TCP}, {port: 443}]\n---\n$patch: delete\n",
    "apiVersion: v1\nkind: Service\nspec:\n  ports: [{port: 80, protocol: TCP}, {port: 443}]\n---\nspec:\n  ports:\n  - {port: 80, protocol: UDP}\n  - $patch: replace\n",
    "kind: X\nmetadata: {labels: {a: b}}\nlist: [1, 2]\n---\nmetadata: {labels: {a: null}, $patch: replace}\nlist: {$patch: delete}\n",
    "apiVersion: apps/v1\nkind: StatefulSet\nspec:\n  volumeClaimTemplates: [{metadata: {name: d}}]\n---\nspec:\n  volumeClaimTemplates:\n  - metadata: {name: d}\n    spec: {}\n",
]

HAND_6902 = [
    "a: {b: [1, 2, 3]}\n---\n- {op: add, path: /a/b/-, value: 4}\n- {op: move, from: /a/b/0, path: /a/c}\n- {op: copy, from: /a, path: /d}\n- {op: test, path: /d/c, value: 1}\n",
    "a~b: {c/d: 1}\n---\n- {op: replace, path: /a~0b/c~1d, value: 2}\n- {op: remove, path: /a~0b}\n",
    "[1, 2]\n---\n- {op: add, path: /0, value: 0}\n- {op: add, path: '', value: {}}\n- {op: remove, path: /}\n",
    "a: [x]\n---\n- {op: move, from: /a, path: /a/0}\n- {op: copy, from: /a/1, path: /a/01}\n- {op: test, path: /a/-}\n",
    "a: 1\n---\n- {op: add, path: /a/b/c, value: 1}\n- {op: bogus, path: /a}\n- op: replace\n",
]

HAND_KUST = [
    "resources:\n- resources.yaml\n",
    "resources:\n- resources.yaml\n- ../base\nnamePrefix: p-\nnameSuffix: -s\nnamespace: ns\ncommonLabels: {team: a}\ncommonAnnotations: {note: x}\n",
    "resources: [resources.yaml]\npatches:\n- path: patch.yaml\n- path: ops.yaml\n  target: {kind: Deployment, name: web}\n- target: {kind: Service, labelSelector: 'app=web'}\n  patch: |-\n    - op: add\n      path: /metadata/labels/x\n      value: y\n",
    "resources: [resources.yaml]\nimages:\n- {name: nginx, newName: reg/nginx, newTag: '2', digest: 'sha256:abc'}\nreplicas:\n- {name: web, count: 5}\n",
    "resources: [resources.yaml]\nconfigMapGenerator:\n- name: gen\n  envs: [app.env]\n  literals: [K=V]\n  behavior: create\nsecretGenerator:\n- name: s\n  type: kubernetes.io/tls\n  literals: [tls.crt=a, tls.key=b]\ngeneratorOptions:\n  disableNameSuffixHash: false\n  labels: {g: x}\n",
    "resources: [resources.yaml]\nreplacements:\n- source: {kind: ConfigMap, name: settings, fieldPath: data.LEVEL}\n  targets:\n  - select: {kind: Deployment}\n    fieldPaths: [spec.template.spec.containers.[name=web].args.0]\n    options: {delimiter: '=', index: 1}\n",
    "resources: [resources.yaml]\nvars:\n- name: SVC\n  objref: {kind: Service, name: web, apiVersion: v1}\n  fieldref: {fieldpath: metadata.name}\nlabels:\n- pairs: {a: b}\n  includeSelectors: true\n  includeTemplates: true\nsortOptions: {order: fifo}\nbuildMetadata: [originAnnotations, managedByLabel]\n",
    "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nresources: [resources.yaml]\ntransformers:\n- |-\n  apiVersion: builtin\n  kind: PrefixSuffixTransformer\n  metadata: {name: p}\n  prefix: t-\n  fieldSpecs: [{path: metadata/name}]\n",
    "resources: [resources.yaml]\npatchesStrategicMerge: [patch.yaml]\npatchesJson6902:\n- target: {group: apps, version: v1, kind: Deployment, name: web}\n  path: ops.yaml\n",
]

# patch_options corners: whole-object replacement by a scalar or a list,
# metadata made a scalar, name and kind changes, deletion of the object.
HAND_PATCH_OPTIONS = [
    (9, '- op: replace\n  path: ""\n  value: 5\n'),
    (13, '- op: replace\n  path: ""\n  value: [1]\n'),
    (28, "- op: replace\n  path: /metadata\n  value: x\n"),
    (31, "- op: replace\n  path: /kind\n  value: Secret\n- op: replace\n  path: /metadata/name\n  value: other\n"),
    (3, "apiVersion: apps/v1\nkind: StatefulSet\nmetadata:\n  name: renamed\n"),
    (8, "$patch: delete\napiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\n"),
    (27, "apiVersion: v1\nkind: ConfigMap\nmetadata: scalar\n"),
]


def main():
    yaml_files = []
    for d in sorted(case_dirs()):
        kust_text = read(os.path.join(d, "kustomization.yaml")) or ""
        put("render_kustomization", kust_text)
        for name in sorted(os.listdir(d)):
            if name.endswith((".yaml", ".yml", ".json")) and name not in ("expected.yaml",):
                text = read(os.path.join(d, name))
                if text is not None:
                    yaml_files.append(text)
        kust = (load_all(kust_text) or [{}])[0]
        if not isinstance(kust, dict):
            continue
        resources = resources_of(d, kust)
        for target, patch, is_6902 in patch_pairs(d, kust, resources):
            put("json6902" if is_6902 else "strategic_merge", dump(target) + "---\n" + patch)
            # patch_options: one control byte (options, target, generator,
            # inline copy), then the patch text.
            for control in (0, 1, 3, 7, 15, 31, 63):
                put("patch_options", chr(control) + patch)
    # A sample of the case files (every 4th), not all of them: small corpora.
    for text in yaml_files[::4]:
        put("yaml_parse", text)
    for t in HAND_YAML:
        put("yaml_parse", t)
    for t in HAND_SMP:
        put("strategic_merge", t)
    for t in HAND_6902:
        put("json6902", t)
    for t in HAND_KUST:
        put("render_kustomization", t)
    for control, t in HAND_PATCH_OPTIONS:
        put("patch_options", chr(control) + t)
    for target in sorted(os.listdir(CORPUS)):
        print(f"{target}: {len(os.listdir(os.path.join(CORPUS, target)))} files")


if __name__ == "__main__":
    main()
