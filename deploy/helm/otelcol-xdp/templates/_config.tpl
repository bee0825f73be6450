{{/*
The collector configuration: config from the values when set, else the one
rendered from xdp, prometheus, otlp, healthCheck and telemetry. With
hostNetwork the pod IP is the node's primary address: the endpoints listen
there only, not on every address of the node; in brackets, which an IPv6
address needs and an IPv4 address takes.
*/}}
{{- define "otelcol-xdp.config" -}}
{{- if and (kindIs "string" .Values.config) .Values.config }}
{{- .Values.config }}
{{- else if .Values.config }}
{{- toYaml .Values.config }}
{{- else }}
{{- $go := include "otelcol-xdp.goMiB" . | atoi }}
{{- $exporters := list }}
{{- if .Values.prometheus.enabled }}{{ $exporters = append $exporters "prometheus" }}{{ end }}
{{- if .Values.otlp.enabled }}{{ $exporters = append $exporters (printf "otlp_%s" .Values.otlp.protocol) }}{{ end }}
{{- if not $exporters }}
{{- fail "no exporter: set prometheus.enabled or otlp.enabled (with otlp.endpoint), or write the whole configuration in config" }}
{{- end -}}
receivers:
  xdp:
    interfaces: {{ required "xdp.interfaces: list the node interfaces or patterns to count on" .Values.xdp.interfaces | toJson }}
    {{- with .Values.xdp.excludeInterfaces }}
    exclude_interfaces: {{ toJson . }}
    {{- end }}
    directions: {{ toJson .Values.xdp.directions }}
    attach_mode: {{ .Values.xdp.attachMode }}
    max_interfaces: {{ int .Values.xdp.maxInterfaces }}
    collection_interval: {{ .Values.xdp.collectionInterval }}

processors:
  # Below the Go runtime's share of the memory limit (values.yaml): refuse
  # data before the container is killed, when an exporter falls behind.
  memory_limiter:
    check_interval: 1s
    limit_mib: {{ $go }}
    spike_limit_mib: {{ div $go 5 }}
  batch: {}

exporters:
  {{- if .Values.prometheus.enabled }}
  prometheus:
    endpoint: "[${env:POD_IP}]:{{ .Values.prometheus.port }}"
    metric_expiration: {{ .Values.prometheus.metricExpiration }}
  {{- end }}
  {{- if .Values.otlp.enabled }}
  otlp_{{ .Values.otlp.protocol }}:
    endpoint: {{ required "otlp.endpoint: where to send the metrics, such as otel-gateway.observability:4317 (grpc) or http://otel-gateway.observability:4318 (http)" .Values.otlp.endpoint | quote }}
    tls:
      insecure: {{ .Values.otlp.insecure }}
    {{- with .Values.otlp.headers }}
    headers:
      {{- toYaml . | nindent 6 }}
    {{- end }}
  {{- end }}

extensions:
  health_check:
    endpoint: "[${env:POD_IP}]:{{ .Values.healthCheck.port }}"

service:
  telemetry:
    logs:
      level: {{ .Values.telemetry.logLevel }}
    metrics:
      {{- if .Values.telemetry.metricsPort }}
      level: normal
      readers:
        - pull:
            exporter:
              prometheus:
                host: "${env:POD_IP}"
                port: {{ .Values.telemetry.metricsPort }}
      {{- else }}
      level: none
      {{- end }}
  extensions: [health_check]
  pipelines:
    metrics:
      receivers: [xdp]
      processors: [memory_limiter, batch]
      exporters: {{ toJson $exporters }}
{{- end }}
{{- end }}
