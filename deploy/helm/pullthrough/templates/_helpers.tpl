{{/*
Names are fixed, not derived from the release: serve finds its Service, Secret and webhook
configuration by these names (its defaults), and the webhook configuration is cluster-wide, so
one release per cluster.
*/}}
{{- define "pullthrough.name" -}}pullthrough{{- end }}

{{/* The labels every object carries, and the pods' selector. */}}
{{- define "pullthrough.labels" -}}
app.kubernetes.io/name: {{ include "pullthrough.name" . }}
{{- end }}

{{- define "pullthrough.image" -}}
{{ .Values.image.repository | default (.Files.Get "image-repository" | trim) }}:{{ .Values.image.tag | default .Chart.AppVersion }}
{{- end }}

{{/*
What serve needs besides its guests, in MiB (BASE_MEMORY_MIB in host/src/k8s/install.rs, measured
in BENCHMARKS.md): the memory request, and the base of the limit.
*/}}
{{- define "pullthrough.baseMemoryMiB" -}}64{{- end }}

{{/* The memory limit in MiB: the base plus every guest slot at its cap. */}}
{{- define "pullthrough.memoryLimitMiB" -}}
{{ add (include "pullthrough.baseMemoryMiB" . | int) (mul (int .Values.guestSlots) (int .Values.policyMemoryMiB)) }}
{{- end }}

{{/* The labels of the namespaces that may scrape metrics; where Prometheus usually runs if unset. */}}
{{- define "pullthrough.metricsNamespaceLabels" -}}
{{- if .Values.metrics.namespaceSelector -}}
{{ toYaml .Values.metrics.namespaceSelector }}
{{- else -}}
kubernetes.io/metadata.name: monitoring
{{- end }}
{{- end }}
