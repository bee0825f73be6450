{{/*
The collector configuration: config from the values when set, else the one
rendered from xdp, pods, prometheus, otlp, healthCheck and telemetry. With
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
{{- $interfaces := required "xdp.interfaces: list the node interfaces or patterns to count on" .Values.xdp.interfaces }}
{{- $exclude := .Values.xdp.excludeInterfaces }}
{{- $pods := .Values.pods.enabled }}
{{- if $pods }}
{{- /* The pods' veths besides the NICs, each listed once (the receiver
refuses a name twice), and no longer excluded: the receiver refuses an
exclusion that equals a pattern it counts (AWS's eni*). */}}
{{- $interfaces = concat $interfaces .Values.pods.interfaces | uniq }}
{{- $kept := list }}
{{- range $exclude }}{{ if not (has . $.Values.pods.interfaces) }}{{ $kept = append $kept . }}{{ end }}{{ end }}
{{- $exclude = $kept }}
{{- end -}}
receivers:
  xdp:
    interfaces: {{ toJson $interfaces }}
    {{- with $exclude }}
    exclude_interfaces: {{ toJson . }}
    {{- end }}
    directions: {{ toJson .Values.xdp.directions }}
    attach_mode: {{ .Values.xdp.attachMode }}
    max_interfaces: {{ int .Values.xdp.maxInterfaces }}
    collection_interval: {{ .Values.xdp.collectionInterval }}
    {{- if $pods }}
    # Each interface of a pod in a resource of its own, with k8s.pod.ip.
    pods:
      enabled: true
      ip_family: {{ .Values.pods.ipFamily }}
    {{- end }}

processors:
  # Below the Go runtime's share of the memory limit (values.yaml): refuse
  # data before the container is killed, when an exporter falls behind.
  memory_limiter:
    check_interval: 1s
    limit_mib: {{ $go }}
    spike_limit_mib: {{ div $go 5 }}
  {{- if $pods }}
  # Names the pod of each k8s.pod.ip from the API server, watching the pods
  # of this node only (the ClusterRole in templates/rbac.yaml). The
  # deployment's name comes from the pod's ReplicaSet's name, and the other
  # workloads' from the pod's owner, without watching them.
  k8s_attributes:
    auth_type: serviceAccount
    filter:
      node_from_env_var: K8S_NODE_NAME
    pod_association:
      - sources:
          - from: resource_attribute
            name: k8s.pod.ip
    extract:
      metadata:
        - k8s.pod.name
        - k8s.pod.uid
        - k8s.namespace.name
        - k8s.node.name
        - k8s.deployment.name
        - k8s.statefulset.name
        - k8s.daemonset.name
        - k8s.job.name
  {{- end }}
  batch: {}

exporters:
  {{- if .Values.prometheus.enabled }}
  prometheus:
    endpoint: "[${env:POD_IP}]:{{ .Values.prometheus.port }}"
    metric_expiration: {{ .Values.prometheus.metricExpiration }}
    {{- if $pods }}
    # The pod's attributes as labels of every series of its interfaces
    # (k8s_pod_name, k8s_namespace_name, ...), not only on target_info.
    resource_constant_labels:
      included: ["k8s.*"]
    {{- end }}
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
      processors: {{ if $pods }}[memory_limiter, k8s_attributes, batch]{{ else }}[memory_limiter, batch]{{ end }}
      exporters: {{ toJson $exporters }}
{{- end }}
{{- end }}
