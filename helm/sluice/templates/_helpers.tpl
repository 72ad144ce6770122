{{/*
Names, labels and the pieces of the pod spec that several templates share.
*/}}

{{/* sluice.name: the chart name, or nameOverride. */}}
{{- define "sluice.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/*
sluice.fullname: the name of every object: fullnameOverride, else
RELEASE-NAME, or RELEASE alone when it already contains the chart name.
At most 52 characters, so that the StatefulSet's pods (NAME-0) and their
claims (data-NAME-0) keep within Kubernetes' limits.
*/}}
{{- define "sluice.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 52 | trimSuffix "-" -}}
{{- else -}}
{{- $name := default .Chart.Name .Values.nameOverride -}}
{{- if contains $name .Release.Name -}}
{{- .Release.Name | trunc 52 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name $name | trunc 52 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{/* sluice.chart: chart name and version, for the helm.sh/chart label. */}}
{{- define "sluice.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* sluice.selectorLabels: the labels that select the pod (immutable). */}}
{{- define "sluice.selectorLabels" -}}
app.kubernetes.io/name: {{ include "sluice.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{/* sluice.labels: the recommended app.kubernetes.io labels of every object. */}}
{{- define "sluice.labels" -}}
helm.sh/chart: {{ include "sluice.chart" . }}
{{ include "sluice.selectorLabels" . }}
app.kubernetes.io/version: {{ include "sluice.imageTag" . | trunc 63 | trimSuffix "-" | quote }}
app.kubernetes.io/component: server
app.kubernetes.io/part-of: sluice
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end -}}

{{/* sluice.serviceAccountName: the ServiceAccount the pod runs as. */}}
{{- define "sluice.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "sluice.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- default "default" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{/* sluice.imageTag: image.tag, or the chart's appVersion. */}}
{{- define "sluice.imageTag" -}}
{{- default .Chart.AppVersion .Values.image.tag -}}
{{- end -}}

{{/* sluice.image: repository:tag, or repository@digest. */}}
{{- define "sluice.image" -}}
{{- if .Values.image.digest -}}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest -}}
{{- else -}}
{{- printf "%s:%s" .Values.image.repository (include "sluice.imageTag" .) -}}
{{- end -}}
{{- end -}}

{{/*
Paths inside the image built by the repository's Dockerfile, and the mount
points of the pod's volumes. tests/helm reads them from the rendered pod
spec, never from here.
*/}}
{{- define "sluice.binary" -}}/usr/local/bin/sluice{{- end -}}
{{- define "sluice.init" -}}/usr/bin/tini{{- end -}}
{{- define "sluice.examplesDir" -}}/usr/share/sluice/functions{{- end -}}
{{- define "sluice.dataDir" -}}/var/lib/sluice{{- end -}}
{{- define "sluice.configDir" -}}/etc/sluice{{- end -}}

{{/*
sluice.exampleFunctions: the manifest entries of the example functions
shipped in the image (functions/examples/sluice.yaml, with the image's paths).
*/}}
{{- define "sluice.exampleFunctions" -}}
{{- $dir := include "sluice.examplesDir" . -}}
- name: echo
  runtime: native
  artifact: {{ $dir }}/libecho.so
  concurrency: 8
  timeout: 10s
  description: Returns its input.
- name: wordcount
  runtime: native
  artifact: {{ $dir }}/libwordcount.so
  concurrency: 8
  timeout: 10s
  description: 'Counts words, lines and bytes of its input; answers {"words": N, "lines": L, "bytes": B}.'
- name: sleep
  runtime: native
  artifact: {{ $dir }}/libsleep.so
  concurrency: 16
  timeout: 60s
  description: Sleeps for the number of milliseconds in its input (default 100), stopping early when cancelled.
- name: fail
  runtime: native
  artifact: {{ $dir }}/libfail.so
  concurrency: 8
  timeout: 10s
  description: Always fails with error type AlwaysFails.
- name: flaky
  runtime: native
  artifact: {{ $dir }}/libflaky.so
  concurrency: 8
  timeout: 10s
  retry:
    max_attempts: 5
    initial_backoff: 200ms
    max_backoff: 5s
    multiplier: 2
    retry_on: [function-error, crash, timeout, lease-lost]
  max_event_age: 1h
  on_failure: echo
  description: Fails until attempt N+1 for payload N (always fails for "always"); retried up to 5 attempts.
- name: progress
  runtime: native
  artifact: {{ $dir }}/libprogress.so
  concurrency: 4
  timeout: 60s
  description: Reports progress in four steps of the payload's milliseconds, then answers done.
- name: whoami
  runtime: native
  artifact: {{ $dir }}/libwhoami.so
  concurrency: 8
  timeout: 10s
  description: Answers its invocation id, attempt and trace context.
{{- end -}}

{{/*
sluice.manifest: the sluice.yaml of the ConfigMap: the example functions (when
exampleFunctions) and then .Values.functions, and .Values.triggers; empty
when there are none. Function names must be unique across both, trigger
names among the triggers.
*/}}
{{- define "sluice.manifest" -}}
{{- $functions := list -}}
{{- if .Values.exampleFunctions -}}
{{- $functions = include "sluice.exampleFunctions" . | fromYamlArray -}}
{{- end -}}
{{- $functions = concat $functions .Values.functions -}}
{{- $seen := dict -}}
{{- range $functions -}}
{{- if hasKey $seen .name -}}
{{- fail (printf "functions: %q is deployed twice (an example function has that name too? set exampleFunctions: false or rename it)" .name) -}}
{{- end -}}
{{- $_ := set $seen .name true -}}
{{- end -}}
{{- $seen = dict -}}
{{- range .Values.triggers -}}
{{- if hasKey $seen .name -}}
{{- fail (printf "triggers: %q is defined twice" .name) -}}
{{- end -}}
{{- $_ := set $seen .name true -}}
{{- end -}}
{{- $manifest := dict -}}
{{- if $functions -}}
{{- $_ := set $manifest "functions" $functions -}}
{{- end -}}
{{- if .Values.triggers -}}
{{- $_ := set $manifest "triggers" .Values.triggers -}}
{{- end -}}
{{- if $manifest -}}
{{- toYaml $manifest -}}
{{- end -}}
{{- end -}}

{{/*
sluice.terminationGracePeriodSeconds: longer than the drain grace, so that
Kubernetes never kills a server that is still finishing its running attempts.
*/}}
{{- define "sluice.terminationGracePeriodSeconds" -}}
{{- $grace := int .Values.server.shutdownGraceSeconds -}}
{{- if kindIs "invalid" .Values.terminationGracePeriodSeconds -}}
{{- add $grace 15 -}}
{{- else -}}
{{- $period := int .Values.terminationGracePeriodSeconds -}}
{{- if le $period $grace -}}
{{- fail (printf "terminationGracePeriodSeconds (%d) must be longer than server.shutdownGraceSeconds (%d): the pod would be killed while it drains" $period $grace) -}}
{{- end -}}
{{- $period -}}
{{- end -}}
{{- end -}}

{{/*
sluice.resourceAttributes: OTEL_RESOURCE_ATTRIBUTES, k=v,k2=v2 with the values
percent-encoded; $(POD_NAME) and $(POD_NAMESPACE) are expanded by the kubelet.
*/}}
{{- define "sluice.resourceAttributes" -}}
{{- $attributes := list "k8s.pod.name=$(POD_NAME)" "k8s.namespace.name=$(POD_NAMESPACE)" -}}
{{- range $key, $value := .Values.tracing.resourceAttributes -}}
{{- $attributes = append $attributes (printf "%s=%s" $key (toString $value | urlquery | replace "+" "%20")) -}}
{{- end -}}
{{- join "," $attributes -}}
{{- end -}}

{{/*
sluice.checkExtraArgs: server.extraArgs may give any flag of sluice serve,
and it wins over config.yaml's setting of the same name, except those the
pod spec is built around: --config (the chart's file), --listen and
--metrics-listen (the container ports and probes), --data-dir (the data
volume) and --shutdown-grace (terminationGracePeriodSeconds). Those fail.
*/}}
{{- define "sluice.checkExtraArgs" -}}
{{- $podFlags := dict
  "config" "it passes its own config.yaml (give settings as values, or as other flags)"
  "listen" "use server.grpcPort (the container port and the probes follow it)"
  "metrics-listen" "use server.metricsPort (the container port and the probes follow it)"
  "data-dir" "the data directory is the data volume's mount (see persistence)"
  "shutdown-grace" "use server.shutdownGraceSeconds (terminationGracePeriodSeconds follows it)" -}}
{{- range .Values.server.extraArgs -}}
{{- $flag := regexReplaceAll "=.*$" (toString .) "" | trimPrefix "--" -}}
{{- if hasKey $podFlags $flag -}}
{{- fail (printf "server.extraArgs: --%s is set by the chart: %s" $flag (get $podFlags $flag)) -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{/*
sluice.serveConfig: the config.yaml of the ConfigMap, read by
`sluice serve --config`: each key is a serve flag's long name, each value the
flag's value (a list for a repeatable flag). Flags on the command line
(server.extraArgs) win over it.
*/}}
{{- define "sluice.serveConfig" -}}
{{- $server := .Values.server -}}
# Read by `sluice serve --config`: each key is a flag of sluice serve without
# its dashes; a flag given on the command line wins over its key here.
# All IPv4 addresses of the pod (the metrics endpoint has no IPv6).
listen: {{ printf "0.0.0.0:%d" ($server.grpcPort | int64) | quote }}
metrics-listen: {{ printf "0.0.0.0:%d" ($server.metricsPort | int64) | quote }}
data-dir: {{ include "sluice.dataDir" . | quote }}
executor-threads: {{ $server.executorThreads | int64 }}
max-queued: {{ $server.maxQueued | int64 }}
max-payload-bytes: {{ $server.maxPayloadBytes | int64 }}
max-artifact-bytes: {{ $server.maxArtifactBytes | int64 }}
shutdown-grace: {{ printf "%ds" ($server.shutdownGraceSeconds | int64) | quote }}
retention: {{ $server.retention | quote }}
event-dedupe-window: {{ $server.eventDedupeWindow | quote }}
log-format: {{ $server.logFormat | quote }}
log-level: {{ $server.logLevel | quote }}
log-lines: {{ $server.logLines | int64 }}
cgroup-root: {{ $server.cgroupRoot | quote }}
# gRPC callback destinations (grpc://HOST:PORT) functions may name.
callback-allow: {{ $server.callbackAllow | default list | toJson }}
{{- if include "sluice.manifest" . }}
# Functions and triggers deployed at start-up.
manifest: [{{ printf "%s/sluice.yaml" (include "sluice.configDir" .) | quote }}]
{{- end }}
{{- end -}}
