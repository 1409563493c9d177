{{/* Names */}}
{{- define "cs.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "cs.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 40 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 40 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 40 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{/*
The four services: values key -> Kubernetes name, Python module, port values key, port variable.
*/}}
{{- define "cs.components" -}}
gateway: {name: gateway, module: gateway, portEnv: GATEWAY_PORT}
customerService: {name: customer-service, module: customer_service, portEnv: CUSTOMER_SERVICE_PORT}
authService: {name: auth-service, module: auth_service, portEnv: AUTH_SERVICE_PORT}
impexWorker: {name: impex-worker, module: impex_worker, portEnv: IMPEX_WORKER_PORT}
{{- end }}

{{- define "cs.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
app.kubernetes.io/name: {{ include "cs.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: customer-suite
{{- end }}

{{/* Selector labels of one component: (dict "root" $ "component" "gateway") */}}
{{- define "cs.selectorLabels" -}}
app.kubernetes.io/name: {{ include "cs.name" .root }}
app.kubernetes.io/instance: {{ .root.Release.Name }}
app.kubernetes.io/component: {{ .component }}
{{- end }}

{{- define "cs.image" -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) }}
{{- end }}

{{- define "cs.secretName" -}}
{{- default (include "cs.fullname" .) .Values.existingSecret }}
{{- end }}

{{- define "cs.publicBaseUrl" -}}
{{- if .Values.publicBaseUrl }}
{{- .Values.publicBaseUrl | trimSuffix "/" }}
{{- else if and .Values.ingress.enabled .Values.ingress.hosts }}
{{- printf "https://%s" (first .Values.ingress.hosts).host }}
{{- else }}
{{- printf "http://%s-gateway:%v" (include "cs.fullname" .) .Values.ports.gateway }}
{{- end }}
{{- end }}

{{/* The pseudonym key: the value given, else the one already in the release's Secret, else new. */}}
{{- define "cs.pseudonymKey" -}}
{{- if .Values.pseudonymKey }}
{{- .Values.pseudonymKey }}
{{- else }}
{{- $existing := lookup "v1" "Secret" .Release.Namespace (include "cs.fullname" .) }}
{{- if and $existing $existing.data (hasKey $existing.data "PSEUDONYM_KEY") }}
{{- index $existing.data "PSEUDONYM_KEY" | b64dec }}
{{- else }}
{{- randAlphaNum 48 }}
{{- end }}
{{- end }}
{{- end }}

{{/* NetworkPolicy egress rules to the data stores named: (dict "root" $ "stores" (list ...)) */}}
{{- define "cs.dataStoreEgress" -}}
{{- range $store := .stores }}
{{- $rule := index $.root.Values.networkPolicy.dataStores $store }}
- ports:
  {{- range $rule.ports }}
    - protocol: TCP
      port: {{ . }}
  {{- end }}
  {{- with $rule.to }}
  to:
    {{- toYaml . | nindent 4 }}
  {{- end }}
{{- end }}
- ports:
  {{- range .root.Values.networkPolicy.dns.ports }}
    - protocol: UDP
      port: {{ . }}
    - protocol: TCP
      port: {{ . }}
  {{- end }}
  {{- with .root.Values.networkPolicy.dns.to }}
  to:
    {{- toYaml . | nindent 4 }}
  {{- end }}
{{- end }}

{{/* Ingress from the metrics scrapers to a port: (dict "root" $ "port" 8080) */}}
{{- define "cs.metricsIngress" -}}
{{- with .root.Values.networkPolicy.metricsFrom }}
- from:
    {{- toYaml . | nindent 4 }}
  ports:
    - protocol: TCP
      port: {{ $.port }}
{{- end }}
{{- end }}

{{/* The pod security settings every pod shares. */}}
{{- define "cs.podSecurity" -}}
automountServiceAccountToken: false
securityContext:
  {{- toYaml .Values.podSecurityContext | nindent 2 }}
{{- with .Values.imagePullSecrets }}
imagePullSecrets:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- end }}
