{{/* Names and labels, as `helm create` makes them. */}}
{{- define "rotator.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "rotator.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{- define "rotator.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "rotator.selectorLabels" -}}
app.kubernetes.io/name: {{ include "rotator.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "rotator.labels" -}}
helm.sh/chart: {{ include "rotator.chart" . }}
{{ include "rotator.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end }}

{{/* A component's name and labels: include "rotator.componentName" (list . "worker"). */}}
{{- define "rotator.componentName" -}}
{{- printf "%s-%s" (include "rotator.fullname" (index . 0)) (index . 1) | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "rotator.componentLabels" -}}
{{ include "rotator.labels" (index . 0) }}
app.kubernetes.io/component: {{ index . 1 }}
{{- end }}

{{- define "rotator.componentSelectorLabels" -}}
{{ include "rotator.selectorLabels" (index . 0) }}
app.kubernetes.io/component: {{ index . 1 }}
{{- end }}

{{- define "rotator.image" -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) }}
{{- end }}

{{- define "rotator.configMapName" -}}
{{- default (printf "%s-config" (include "rotator.fullname" .)) .Values.config.existingConfigMap }}
{{- end }}

{{/* The config file the chart renders: the temporal: section from .Values.temporal, the rest from config.rotator. */}}
{{- define "rotator.configFile" -}}
{{- $t := .Values.temporal -}}
{{- $temporal := dict "address" $t.address "namespace" $t.namespace "task_queue" $t.taskQueue -}}
{{- if $t.tls.enabled }}
{{- $tls := dict -}}
{{- if $t.tls.existingSecret }}
{{- $_ := set $tls "ca_file" "/etc/rotator/temporal-tls/ca.crt" -}}
{{- if $t.tls.clientCertificate }}
{{- $_ := set $tls "cert_file" "/etc/rotator/temporal-tls/tls.crt" -}}
{{- $_ := set $tls "key_file" "/etc/rotator/temporal-tls/tls.key" -}}
{{- end }}
{{- end }}
{{- with $t.tls.serverName }}
{{- $_ := set $tls "server_name" . -}}
{{- end }}
{{- $_ := set $temporal "tls" $tls -}}
{{- end }}
{{- if $t.apiKey.existingSecret }}
{{- $_ := set $temporal "api_key_file" (printf "/etc/rotator/temporal-api-key/%s" $t.apiKey.key) -}}
{{- end }}
{{- $rest := deepCopy .Values.config.rotator -}}
{{- if and .Values.listener.enabled $rest.triggers }}
{{- /* The listener binds where its Service, probes and containerPort look, whatever else listen: sets. */}}
{{- $listen := default (dict) $rest.triggers.listen -}}
{{- $_ := set $listen "host" "0.0.0.0" -}}
{{- $_ := set $listen "port" .Values.listener.port -}}
{{- $_ := set $rest.triggers "listen" $listen -}}
{{- end }}
{{- $_ := unset $rest "temporal" -}}
{{- toYaml (merge (dict "temporal" $temporal) $rest) }}
{{- end }}

{{/* Environment shared by the worker and the listener. */}}
{{- define "rotator.env" -}}
- name: ROTATOR_CONFIG
  value: /etc/rotator/config/rotator.yaml
- name: ROTATOR_CODEC_KEY_FILE
  value: /etc/rotator/codec/{{ .Values.codec.key }}
- name: ROTATOR_TRACES_EXPORTER
  value: {{ .Values.traces.exporter | quote }}
{{- with .Values.traces.otlpEndpoint }}
- name: OTEL_EXPORTER_OTLP_ENDPOINT
  value: {{ . | quote }}
{{- end }}
{{- with .Values.env.extra }}
{{ toYaml . }}
{{- end }}
{{- end }}

{{/* Volume mounts shared by the worker and the listener. */}}
{{- define "rotator.mounts" -}}
- name: config
  mountPath: /etc/rotator/config
  readOnly: true
- name: codec-keys
  mountPath: /etc/rotator/codec
  readOnly: true
{{- if and .Values.temporal.tls.enabled .Values.temporal.tls.existingSecret }}
- name: temporal-tls
  mountPath: /etc/rotator/temporal-tls
  readOnly: true
{{- end }}
{{- if .Values.temporal.apiKey.existingSecret }}
- name: temporal-api-key
  mountPath: /etc/rotator/temporal-api-key
  readOnly: true
{{- end }}
- name: tmp
  mountPath: /tmp
{{- end }}

{{- define "rotator.volumes" -}}
- name: config
{{- if .Values.config.existingSecret }}
  secret:
    secretName: {{ .Values.config.existingSecret }}
    defaultMode: 0440
    items:
      - key: {{ .Values.config.key }}
        path: rotator.yaml
{{- else }}
  configMap:
    name: {{ include "rotator.configMapName" . }}
    items:
      - key: {{ .Values.config.key }}
        path: rotator.yaml
{{- end }}
- name: codec-keys
  secret:
    secretName: {{ .Values.codec.existingSecret }}
    defaultMode: 0440
    items:
      - key: {{ .Values.codec.key }}
        path: {{ .Values.codec.key }}
{{- if and .Values.temporal.tls.enabled .Values.temporal.tls.existingSecret }}
- name: temporal-tls
  secret:
    secretName: {{ .Values.temporal.tls.existingSecret }}
    defaultMode: 0440
    items:
      - key: ca.crt
        path: ca.crt
{{- if .Values.temporal.tls.clientCertificate }}
      - key: tls.crt
        path: tls.crt
      - key: tls.key
        path: tls.key
{{- end }}
{{- end }}
{{- if .Values.temporal.apiKey.existingSecret }}
- name: temporal-api-key
  secret:
    secretName: {{ .Values.temporal.apiKey.existingSecret }}
    defaultMode: 0440
    items:
      - key: {{ .Values.temporal.apiKey.key }}
        path: {{ .Values.temporal.apiKey.key }}
{{- end }}
- name: tmp
  emptyDir:
    sizeLimit: 64Mi
{{- end }}

{{/* Pod-level settings every component shares: include "rotator.podCommon" (list . .Values.worker). */}}
{{- define "rotator.podCommon" -}}
{{- $root := index . 0 }}
{{- $c := index . 1 }}
{{- with $root.Values.imagePullSecrets }}
imagePullSecrets:
  {{- toYaml . | nindent 2 }}
{{- end }}
securityContext:
  {{- toYaml $root.Values.podSecurityContext | nindent 2 }}
{{- with $c.nodeSelector }}
nodeSelector:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with $c.tolerations }}
tolerations:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with $c.affinity }}
affinity:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- end }}
