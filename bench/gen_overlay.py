#!/usr/bin/env python3
"""Generates a base/environment/region Kustomize tree for the render benchmark.

    gen_overlay.py APPS OUT_DIR

Layout (render OUT_DIR/clusters/eu-west-1):

    base/                  one file per app: Deployment, Service, ConfigMap, HPA
    environments/prod/     namespace, labels, a configMapGenerator, a strategic
                           merge patch on every Deployment, a JSON 6902 patch on
                           every HPA, an image tag
    clusters/eu-west-1/    name suffix, annotations, a generator merged into
                           the environment's, a patch selected by label

Objects rendered: 4 per app plus 1 generated ConfigMap, so APPS=4 gives
17, APPS=100 gives 401, APPS=750 gives 3,001.
"""

import os
import sys


def write(path, text):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w", encoding="utf-8") as f:
        f.write(text)


APP = """\
apiVersion: apps/v1
kind: Deployment
metadata:
  name: {name}
  labels:
    app: {name}
    tier: {tier}
spec:
  replicas: 1
  selector:
    matchLabels:
      app: {name}
  template:
    metadata:
      labels:
        app: {name}
    spec:
      containers:
      - name: app
        image: ghcr.io/acme/{image}:1.0.0
        ports:
        - containerPort: 8080
          name: http
        envFrom:
        - configMapRef:
            name: {name}-config
        - configMapRef:
            name: shared-settings
        env:
        - name: APP_NAME
          value: {name}
        resources:
          requests:
            cpu: 100m
            memory: 128Mi
---
apiVersion: v1
kind: Service
metadata:
  name: {name}
  labels:
    app: {name}
spec:
  selector:
    app: {name}
  ports:
  - name: http
    port: 80
    targetPort: http
---
apiVersion: v1
kind: ConfigMap
metadata:
  name: {name}-config
  labels:
    app: {name}
data:
  LOG_LEVEL: info
  FEATURE_FLAGS: "checkout,search"
  GREETING: "hello from {name}: welcome"
---
apiVersion: autoscaling/v2
kind: HorizontalPodAutoscaler
metadata:
  name: {name}
  labels:
    app: {name}
spec:
  scaleTargetRef:
    apiVersion: apps/v1
    kind: Deployment
    name: {name}
  minReplicas: 1
  maxReplicas: 5
  metrics:
  - type: Resource
    resource:
      name: cpu
      target:
        type: Utilization
        averageUtilization: 75
"""


def main():
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    apps, out = int(sys.argv[1]), sys.argv[2]
    names = [f"app-{i:04d}" for i in range(apps)]
    for i, name in enumerate(names):
        tier = ("web", "api", "worker")[i % 3]
        write(f"{out}/base/apps/{name}.yaml", APP.format(name=name, tier=tier, image=f"svc{i % 7}"))
    write(
        f"{out}/base/kustomization.yaml",
        "resources:\n" + "".join(f"- apps/{n}.yaml\n" for n in names) + "commonLabels:\n  part-of: fleet\n",
    )
    write(
        f"{out}/environments/prod/kustomization.yaml",
        """\
namespace: shop
resources:
- ../../base
labels:
- pairs:
    environment: prod
configMapGenerator:
- name: shared-settings
  literals:
  - ENVIRONMENT=prod
  - TRACING=on
images:
- name: ghcr.io/acme/svc0
  newTag: 1.4.2
patches:
- path: deployments.yaml
  target:
    kind: Deployment
- target:
    kind: HorizontalPodAutoscaler
  patch: |-
    - op: replace
      path: /spec/maxReplicas
      value: 20
""",
    )
    write(
        f"{out}/environments/prod/deployments.yaml",
        """\
apiVersion: apps/v1
kind: Deployment
metadata:
  name: any
spec:
  replicas: 3
  template:
    spec:
      containers:
      - name: app
        resources:
          limits:
            memory: 512Mi
""",
    )
    write(
        f"{out}/clusters/eu-west-1/kustomization.yaml",
        """\
resources:
- ../../environments/prod
nameSuffix: -euw1
commonAnnotations:
  rudder.example.com/region: eu-west-1
configMapGenerator:
- name: shared-settings
  behavior: merge
  literals:
  - REGION=eu-west-1
patches:
- target:
    kind: Deployment
    labelSelector: tier=web
  patch: |-
    - op: add
      path: /spec/template/spec/nodeSelector
      value:
        topology.kubernetes.io/region: eu-west-1
""",
    )


if __name__ == "__main__":
    main()
