{{/* The release's full name, at most 63 characters. */}}
{{- define "rudder.fullname" -}}
{{- if contains .Chart.Name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{- define "rudder.selectorLabels" -}}
app.kubernetes.io/name: {{ .Chart.Name }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "rudder.labels" -}}
{{ include "rudder.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
{{- end -}}

{{- define "rudder.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "rudder.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- default "default" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{/* rbac.rules without Namespaces (cluster-scoped: not for a team's Role). */}}
{{- define "rudder.namespacedRules" -}}
{{- range .Values.rbac.rules }}
{{- $resources := without .resources "namespaces" }}
{{- if $resources }}
- apiGroups: {{ toJson .apiGroups }}
  resources: {{ toJson $resources }}
  verbs: {{ toJson .verbs }}
{{- end }}
{{- end }}
{{- end -}}

{{/* The same kinds with read verbs only (the namespaced scope's cluster-wide part). */}}
{{- define "rudder.readRules" -}}
{{- range .Values.rbac.rules }}
{{- $resources := without .resources "namespaces" }}
{{- if $resources }}
- apiGroups: {{ toJson .apiGroups }}
  resources: {{ toJson $resources }}
  verbs: ["get", "list", "watch"]
{{- end }}
{{- end }}
{{- end -}}
