{{/* The chart's name, or nameOverride. */}}
{{- define "otelcol-xdp.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
The objects' name: fullnameOverride, or the release name, followed by the
chart's name unless the release name holds it already. 63 characters at
most, the limit of a DNS label.
*/}}
{{- define "otelcol-xdp.fullname" -}}
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

{{- define "otelcol-xdp.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Labels of every object. */}}
{{- define "otelcol-xdp.labels" -}}
helm.sh/chart: {{ include "otelcol-xdp.chart" . }}
{{ include "otelcol-xdp.selectorLabels" . }}
{{- if .Chart.AppVersion }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
{{- end }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end }}

{{/*
The DaemonSet's selector, which cannot change after it is created: no
version in it.
*/}}
{{- define "otelcol-xdp.selectorLabels" -}}
app.kubernetes.io/name: {{ include "otelcol-xdp.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "otelcol-xdp.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "otelcol-xdp.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{- define "otelcol-xdp.image" -}}
{{- printf "%s:%s" .Values.image.repository (.Values.image.tag | default .Chart.AppVersion | toString) }}
{{- end }}

{{/*
Memory, in MiB (values.yaml explains the formula). The kernel charges the
counters to the container's memory cgroup; what the limit leaves after them
and 56 MiB for what the Go runtime does not manage (the binary's pages) is
the Go runtime's, as GOMEMLIMIT and the memory_limiter's limit.
*/}}
{{- define "otelcol-xdp.limitMiB" -}}
{{- $limit := dig "limits" "memory" "" .Values.resources | toString }}
{{- if regexMatch "^[0-9]+Mi$" $limit }}
{{- trimSuffix "Mi" $limit | atoi }}
{{- else if regexMatch "^[0-9]+Gi$" $limit }}
{{- mul (trimSuffix "Gi" $limit | atoi) 1024 }}
{{- else }}
{{- fail (printf "resources.limits.memory is %q: give it in Mi or Gi, such as 256Mi; the chart computes the collector's share of it (values.yaml, nodeCPUs)" $limit) }}
{{- end }}
{{- end }}

{{- define "otelcol-xdp.countersMiB" -}}
{{- $cpus := int .Values.nodeCPUs }}
{{- if lt $cpus 1 }}
{{- fail (printf "nodeCPUs is %v: give the number of possible CPUs of the largest node" .Values.nodeCPUs) }}
{{- end }}
{{- $bytes := add (mul (add (int .Values.xdp.maxInterfaces) 1) 640 $cpus) 1048576 }}
{{- div (add $bytes 1048575) 1048576 }}
{{- end }}

{{- define "otelcol-xdp.goMiB" -}}
{{- $limit := include "otelcol-xdp.limitMiB" . | atoi }}
{{- $counters := include "otelcol-xdp.countersMiB" . | atoi }}
{{- $go := sub (sub $limit $counters) 56 }}
{{- if lt $go 64 }}
{{- fail (printf "resources.limits.memory %dMi is too small for nodeCPUs %d and xdp.maxInterfaces %d: the counters take %d MiB there, and the collector needs 120 MiB besides; give it at least %dMi (values.yaml)" $limit (int .Values.nodeCPUs) (int .Values.xdp.maxInterfaces) $counters (add $counters 120)) }}
{{- end }}
{{- $go }}
{{- end }}
