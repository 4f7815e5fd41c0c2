#!/usr/bin/env python3
"""Generates jobs/schema_table.inc: the structural schema (field names, value types, required fields,
enums) of every kind ringmaster loads, taken from the official sources in ../shared/k8s-schemas:

  batch/v1 Job                      Kubernetes 1.32 OpenAPI (swagger)
  kubeflow.org/v1 TFJob/PyTorchJob/MPIJob/JAXJob/XGBoostJob/PaddleJob   training-operator v1.9.0 CRDs
  trainer.kubeflow.org/v1alpha1 TrainJob/(Cluster)TrainingRuntime   Trainer v2.3.0 CRDs
  trainer.kubeflow.org/v1alpha1 OptimizationJob   Trainer main @ 8c0f5059 CRD (after v2.3.0)
  kubeflow.org/v2beta1 MPIJob       mpi-operator v0.8.0 CRD
  kubeflow.org/v1beta1 Experiment   Katib v0.18.0 Go-type swagger
  kubeflow.org/v1alpha2 MPIJob, kubeflow.org/v1alpha3 Experiment
                                    no official schema exists; built here from the newer ones with the
                                    fields those versions had (see the comments below)

Structurally equal subtrees are shared, so the pod template embedded in every CRD is stored once.
Run: python3 tools/gen_schema.py ../shared/k8s-schemas > jobs/schema_table.inc
"""
import copy
import json
import os
import sys

import yaml

SRC = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(__file__), "..", "..", "shared", "k8s-schemas")

KINDS = ["Any", "Object", "Map", "Array", "String", "Integer", "Number", "Boolean", "IntOrString", "Quantity"]


class Table:
    def __init__(self):
        self.types = []      # (kind, elem, fields tuple, enum tuple)
        self.index = {}

    def add(self, kind, elem=-1, fields=(), enum=()):
        key = (kind, elem, fields, enum)
        if key not in self.index:
            self.index[key] = len(self.types)
            self.types.append(key)
        return self.index[key]


T = Table()
ANY = T.add("Any")


class Converter:
    """Converts one OpenAPI document (swagger defs or one CRD schema) into Table entries."""

    def __init__(self, defs, ref_map=None):
        self.defs = defs
        self.ref_map = ref_map or {}
        self.memo = {}

    def ref(self, name):
        name = name.split("/")[-1]
        if name in self.ref_map:
            target = self.ref_map[name]
            return ANY if target is None else target
        if name == "io.k8s.apimachinery.pkg.util.intstr.IntOrString":
            return T.add("IntOrString")
        if name == "io.k8s.apimachinery.pkg.api.resource.Quantity":
            return T.add("Quantity")
        if name in ("io.k8s.apimachinery.pkg.apis.meta.v1.Time", "io.k8s.apimachinery.pkg.apis.meta.v1.MicroTime"):
            return T.add("String")
        if name in self.memo:
            if self.memo[name] is None:
                raise SystemExit(f"cyclic schema at {name}")
            return self.memo[name]
        self.memo[name] = None
        idx = self.conv(self.defs[name])
        self.memo[name] = idx
        return idx

    def conv(self, s):
        if "$ref" in s:
            return self.ref(s["$ref"])
        if s.get("x-kubernetes-int-or-string"):
            return T.add("IntOrString")
        if "allOf" in s and len(s["allOf"]) == 1:
            return self.conv(s["allOf"][0])
        if "anyOf" in s:
            types = sorted({a.get("type") for a in s["anyOf"]})
            if types == ["integer", "string"]:
                return T.add("IntOrString")
            return ANY
        t = s.get("type")
        if t == "object" or (t is None and "properties" in s):
            if s.get("x-kubernetes-preserve-unknown-fields") and "properties" not in s:
                return ANY
            props = s.get("properties")
            if props:
                req = set(s.get("required", []))
                fields = tuple(sorted((n, self.conv(p), n in req) for n, p in props.items()))
                strict = not s.get("x-kubernetes-preserve-unknown-fields")
                return T.add("Object" if strict else "OpenObject", -1, fields)
            ap = s.get("additionalProperties")
            if isinstance(ap, dict):
                return T.add("Map", self.conv(ap))
            return ANY
        if t == "array":
            return T.add("Array", self.conv(s.get("items", {})))
        if t == "string":
            enum = tuple(str(e) for e in s.get("enum", []) if e is not None)
            return T.add("String", -1, (), enum)
        if t == "integer":
            return T.add("Integer")
        if t == "number":
            return T.add("Number")
        if t == "boolean":
            return T.add("Boolean")
        return ANY


def load_yaml(path):
    with open(path) as f:
        return [d for d in yaml.safe_load_all(f) if d]


swagger = json.load(open(os.path.join(SRC, "k8s", "swagger-v1.32.json")))
k8s = Converter(swagger["definitions"])
OBJECT_META = k8s.ref("io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta")


def with_meta(idx):
    """A CRD's top-level metadata is schemaless; the API server checks it as ObjectMeta."""
    kind, elem, fields, enum = T.types[idx]
    fields = tuple(sorted([f for f in fields if f[0] != "metadata"] + [("metadata", OBJECT_META, False)]))
    # status is written by controllers, never by users: accept anything there
    fields = tuple((n, ANY if n == "status" else t, r) for n, t, r in fields)
    return T.add(kind, elem, fields, enum)


def field(idx, name):
    for n, t, r in T.types[idx][2]:
        if n == name:
            return t
    raise KeyError(name)


def crd_root(path, version):
    for d in load_yaml(path):
        for v in d["spec"]["versions"]:
            if v["name"] == version:
                return with_meta(Converter({}).conv(v["schema"]["openAPIV3Schema"]))
    raise SystemExit(f"{path}: no version {version}")


roots = {}
CRDS = os.path.join(SRC, "crds")
roots[("kubeflow.org/v1", "TFJob")] = crd_root(os.path.join(CRDS, "training-operator-v1.9.0_kubeflow.org_tfjobs.yaml"), "v1")
roots[("kubeflow.org/v1", "PyTorchJob")] = crd_root(os.path.join(CRDS, "training-operator-v1.9.0_kubeflow.org_pytorchjobs.yaml"), "v1")
roots[("kubeflow.org/v1", "JAXJob")] = crd_root(os.path.join(CRDS, "training-operator-v1.9.0_kubeflow.org_jaxjobs.yaml"), "v1")
roots[("kubeflow.org/v1", "XGBoostJob")] = crd_root(os.path.join(CRDS, "training-operator-v1.9.0_kubeflow.org_xgboostjobs.yaml"), "v1")
roots[("kubeflow.org/v1", "PaddleJob")] = crd_root(os.path.join(CRDS, "training-operator-v1.9.0_kubeflow.org_paddlejobs.yaml"), "v1")
roots[("kubeflow.org/v1", "MPIJob")] = crd_root(os.path.join(CRDS, "training-operator-v1.9.0_kubeflow.org_mpijobs.yaml"), "v1")
roots[("trainer.kubeflow.org/v1alpha1", "TrainJob")] = crd_root(os.path.join(CRDS, "trainer-v2.3.0_trainer.kubeflow.org_trainjobs.yaml"), "v1alpha1")
roots[("trainer.kubeflow.org/v1alpha1", "TrainingRuntime")] = crd_root(os.path.join(CRDS, "trainer-v2.3.0_trainer.kubeflow.org_trainingruntimes.yaml"), "v1alpha1")
roots[("trainer.kubeflow.org/v1alpha1", "ClusterTrainingRuntime")] = crd_root(os.path.join(CRDS, "trainer-v2.3.0_trainer.kubeflow.org_clustertrainingruntimes.yaml"), "v1alpha1")
# OptimizationJob (Katib's successor): Trainer main after v2.3.0 (8c0f5059), not yet in a release.
roots[("trainer.kubeflow.org/v1alpha1", "OptimizationJob")] = crd_root(os.path.join(CRDS, "trainer-8c0f5059_trainer.kubeflow.org_optimizationjobs.yaml"), "v1alpha1")
roots[("kubeflow.org/v2beta1", "MPIJob")] = crd_root(os.path.join(CRDS, "mpi-operator-v0.8.0_kubeflow.org_mpijobs.yaml"), "v2beta1")
roots[("batch/v1", "Job")] = k8s.ref("io.k8s.api.batch.v1.Job")

katib_raw = json.load(open(os.path.join(SRC, "katib", "katib-v0.18.0_v1beta1_swagger.json")))["definitions"]
katib_defs = {n.lstrip("."): d for n, d in katib_raw.items()}
katib = Converter(katib_defs, {
    "v1.Container": k8s.ref("io.k8s.api.core.v1.Container"),
    "v1.HTTPGetAction": k8s.ref("io.k8s.api.core.v1.HTTPGetAction"),
    "v1.ObjectMeta": OBJECT_META,
    "v1.ListMeta": k8s.ref("io.k8s.apimachinery.pkg.apis.meta.v1.ListMeta"),
    "v1.Time": T.add("String"),
    "v1.unstructured.Unstructured": None,
})
experiment_v1beta1 = with_meta(katib.ref("v1beta1.Experiment"))
roots[("kubeflow.org/v1beta1", "Experiment")] = experiment_v1beta1

# MPIJob kubeflow.org/v1alpha2 (mpi-operator v0.2): MPIJobSpec had slotsPerWorker, cleanPodPolicy,
# ttlSecondsAfterFinished, activeDeadlineSeconds, backoffLimit, mpiReplicaSpecs and mainContainer,
# with replica specs of the common v1 form (replicas, template, restartPolicy).
v2 = roots[("kubeflow.org/v2beta1", "MPIJob")]
v2spec = field(v2, "spec")
v2run = field(v2spec, "runPolicy")
alpha2_spec = T.add("Object", -1, tuple(sorted([
    ("slotsPerWorker", T.add("Integer"), False),
    ("cleanPodPolicy", T.add("String"), False),
    ("ttlSecondsAfterFinished", field(v2run, "ttlSecondsAfterFinished"), False),
    ("activeDeadlineSeconds", field(v2run, "activeDeadlineSeconds"), False),
    ("backoffLimit", field(v2run, "backoffLimit"), False),
    ("mpiReplicaSpecs", field(v2spec, "mpiReplicaSpecs"), True),
    ("mainContainer", T.add("String"), False),
])))
roots[("kubeflow.org/v1alpha2", "MPIJob")] = T.add("Object", -1, tuple(
    (n, alpha2_spec if n == "spec" else t, r) for n, t, r in T.types[v2][2]))

# Experiment kubeflow.org/v1alpha3 (Katib v0.7-v0.10): the v1beta1 spec, except that trialTemplate was
# {retain, goTemplate: {rawTemplate | templateSpec: {configMapName, configMapNamespace, templatePath}}}.
# resumePolicy is kept: Katib 0.9 and 0.10 had it in v1alpha3 (Never, LongRunning; FromVolume came
# with v1beta1), and jobs/katib.cc checks the values per version.
S = T.add("String")
go_template = T.add("Object", -1, tuple(sorted([
    ("rawTemplate", S, False),
    ("templateSpec", T.add("Object", -1, tuple(sorted([
        ("configMapName", S, False), ("configMapNamespace", S, False), ("templatePath", S, False)]))), False),
])))
alpha3_trial_template = T.add("Object", -1, tuple(sorted([
    ("retain", T.add("Boolean"), False), ("goTemplate", go_template, False)])))
b1spec = field(experiment_v1beta1, "spec")
alpha3_spec = T.add("Object", -1, tuple(sorted(
    (n, alpha3_trial_template if n == "trialTemplate" else t, r)
    for n, t, r in T.types[b1spec][2])))
roots[("kubeflow.org/v1alpha3", "Experiment")] = T.add("Object", -1, tuple(
    (n, alpha3_spec if n == "spec" else t, r) for n, t, r in T.types[experiment_v1beta1][2]))

# ---------------------------------------------------------------------------------------- emit
out = sys.stdout
out.write("// Generated by tools/gen_schema.py from the official schemas in shared/k8s-schemas. Do not edit.\n")
out.write("// clang-format off\n")
fields, enums = [], []
rows = []
for kind, elem, flds, enum in T.types:
    kind_name = "Object" if kind == "OpenObject" else kind
    rows.append((kind_name, kind == "OpenObject", elem, len(fields), len(flds), len(enums), len(enum)))
    fields.extend(flds)
    enums.extend(enum)
out.write(f"inline constexpr FieldRow kFieldRows[] = {{\n")
for n, t, r in fields:
    out.write(f'  {{"{n}", {t}, {"true" if r else "false"}}},\n')
out.write("};\n")
out.write(f"inline constexpr std::string_view kEnumRows[] = {{\n")
for e in enums or [""]:
    out.write(f"  {json.dumps(e)},\n")
out.write("};\n")
out.write(f"inline constexpr TypeRow kTypeRows[] = {{\n")
for kind_name, open_, elem, f0, nf, e0, ne in rows:
    out.write(f"  {{TypeKind::k{kind_name}, {'true' if open_ else 'false'}, {elem}, {f0}, {nf}, {e0}, {ne}}},\n")
out.write("};\n")
out.write(f"inline constexpr RootRow kRootRows[] = {{\n")
for (av, k), idx in sorted(roots.items()):
    out.write(f'  {{"{av}", "{k}", {idx}}},\n')
out.write("};\n")
print(f"gen_schema: {len(T.types)} types, {len(fields)} fields, {len(enums)} enum values, {len(roots)} roots",
      file=sys.stderr)
