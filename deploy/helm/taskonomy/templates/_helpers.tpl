{{/* Names, labels, images and the settings every pod shares. */}}

{{- define "taskonomy.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* <release>-taskonomy, truncated to 63 characters (DNS label limit). */}}
{{- define "taskonomy.fullname" -}}
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

{{/* Name of one component's resources: <fullname>-<component>, room left for suffixes. */}}
{{- define "taskonomy.componentName" -}}
{{- printf "%s-%s" (include "taskonomy.fullname" .root | trunc 50 | trimSuffix "-") .component }}
{{- end }}

{{- define "taskonomy.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "taskonomy.selectorLabels" -}}
app.kubernetes.io/name: {{ include "taskonomy.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "taskonomy.labels" -}}
helm.sh/chart: {{ include "taskonomy.chart" . }}
{{ include "taskonomy.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: taskonomy
{{- with .Values.commonLabels }}
{{ toYaml . }}
{{- end }}
{{- end }}

{{/* Labels of one component: pass (dict "root" $ "component" "gateway"). */}}
{{- define "taskonomy.componentLabels" -}}
{{ include "taskonomy.labels" .root }}
app.kubernetes.io/component: {{ .component }}
{{- end }}

{{- define "taskonomy.componentSelectorLabels" -}}
{{ include "taskonomy.selectorLabels" .root }}
app.kubernetes.io/component: {{ .component }}
{{- end }}

{{/* Image of one component: pass (dict "root" $ "component" "gateway"). */}}
{{- define "taskonomy.image" -}}
{{- $img := .root.Values.image }}
{{- $repo := printf "%s/%s" $img.repositoryPrefix .component }}
{{- if $img.registry }}{{ $repo = printf "%s/%s" $img.registry $repo }}{{ end }}
{{- printf "%s:%s" $repo (default .root.Chart.AppVersion $img.tag) }}
{{- end }}

{{- define "taskonomy.secretName" -}}
{{- printf "%s-secrets" (include "taskonomy.fullname" .) }}
{{- end }}

{{- define "taskonomy.redisHost" -}}
{{- include "taskonomy.componentName" (dict "root" . "component" "redis") }}
{{- end }}

{{/* Secret and key of the Redis password, or nothing when Redis has none. */}}
{{- define "taskonomy.redisPasswordSecret" -}}
{{- if .Values.redis.auth.existingSecret }}
{{- dict "name" .Values.redis.auth.existingSecret "key" .Values.redis.auth.existingSecretKey | toJson }}
{{- else if .Values.redis.auth.password }}
{{- dict "name" (include "taskonomy.secretName" .) "key" "redis-password" | toJson }}
{{- end }}
{{- end }}

{{/* Secret and key of the gateway's API tokens (one per line). */}}
{{- define "taskonomy.tokensSecret" -}}
{{- if .Values.gateway.auth.existingSecret }}
{{- dict "name" .Values.gateway.auth.existingSecret "key" .Values.gateway.auth.existingSecretKey | toJson }}
{{- else }}
{{- dict "name" (include "taskonomy.secretName" .) "key" "api-tokens" | toJson }}
{{- end }}
{{- end }}

{{/* The API tokens the chart stores, one per line: the given ones, else one generated at install (kept on upgrade). */}}
{{- define "taskonomy.apiTokens" -}}
{{- if .Values.gateway.auth.tokens }}
{{- join "\n" .Values.gateway.auth.tokens }}
{{- else }}
{{- $existing := lookup "v1" "Secret" .Release.Namespace (include "taskonomy.secretName" .) }}
{{- if and $existing $existing.data (hasKey $existing.data "api-tokens") }}
{{- index $existing.data "api-tokens" | b64dec }}
{{- else }}
{{- randAlphaNum 40 }}
{{- end }}
{{- end }}
{{- end }}

{{- define "taskonomy.storeUrl" -}}
{{- if eq .Values.storage.type "s3" }}
{{- printf "s3://%s/%s" .Values.storage.s3.bucket (trimAll "/" .Values.storage.s3.prefix) | trimSuffix "/" }}
{{- else }}
{{- printf "file://%s/artifacts" (trimSuffix "/" .Values.storage.pvc.mountPath) }}
{{- end }}
{{- end }}

{{- define "taskonomy.pvcName" -}}
{{- default (include "taskonomy.componentName" (dict "root" . "component" "artifacts")) .Values.storage.pvc.existingClaim }}
{{- end }}

{{- define "taskonomy.s3SecretName" -}}
{{- default (printf "%s-s3" (include "taskonomy.fullname" .)) .Values.storage.s3.existingSecret }}
{{- end }}

{{/* Environment of every Taskonomy container: broker, store, S3 credentials. */}}
{{- define "taskonomy.env" -}}
{{- $pw := include "taskonomy.redisPasswordSecret" . }}
{{- if .Values.redis.enabled }}
{{- if $pw }}
{{- $s := fromJson $pw }}
- name: REDIS_PASSWORD
  valueFrom:
    secretKeyRef:
      name: {{ $s.name }}
      key: {{ $s.key }}
- name: TASKONOMY_BROKER_URL
  value: {{ printf "redis://:$(REDIS_PASSWORD)@%s:6379/0" (include "taskonomy.redisHost" .) | quote }}
{{- else }}
- name: TASKONOMY_BROKER_URL
  value: {{ printf "redis://%s:6379/0" (include "taskonomy.redisHost" .) | quote }}
{{- end }}
{{- else }}
- name: TASKONOMY_BROKER_URL
  valueFrom:
    secretKeyRef:
      name: {{ default (include "taskonomy.secretName" .) .Values.redis.external.existingSecret }}
      key: {{ ternary .Values.redis.external.existingSecretKey "broker-url" (ne .Values.redis.external.existingSecret "") }}
{{- end }}
- name: TASKONOMY_STORE_URL
  value: {{ include "taskonomy.storeUrl" . | quote }}
- name: MPLCONFIGDIR
  value: /tmp/matplotlib
{{- if eq .Values.storage.type "s3" }}
{{- with .Values.storage.s3.endpoint }}
- name: TASKONOMY_S3_ENDPOINT
  value: {{ . | quote }}
{{- end }}
{{- with .Values.storage.s3.region }}
- name: AWS_DEFAULT_REGION
  value: {{ . | quote }}
{{- end }}
{{- if or .Values.storage.s3.existingSecret .Values.storage.s3.accessKeyId }}
- name: AWS_ACCESS_KEY_ID
  valueFrom:
    secretKeyRef:
      name: {{ include "taskonomy.s3SecretName" . }}
      key: AWS_ACCESS_KEY_ID
- name: AWS_SECRET_ACCESS_KEY
  valueFrom:
    secretKeyRef:
      name: {{ include "taskonomy.s3SecretName" . }}
      key: AWS_SECRET_ACCESS_KEY
{{- end }}
{{- end }}
{{- end }}

{{/* Volumes every Taskonomy pod has: /tmp, and the artifact PVC when storage.type=pvc. */}}
{{- define "taskonomy.volumes" -}}
- name: tmp
  emptyDir: {}
{{- if eq .Values.storage.type "pvc" }}
- name: artifacts
  persistentVolumeClaim:
    claimName: {{ include "taskonomy.pvcName" . }}
{{- end }}
{{- end }}

{{- define "taskonomy.volumeMounts" -}}
- name: tmp
  mountPath: /tmp
{{- if eq .Values.storage.type "pvc" }}
- name: artifacts
  mountPath: {{ .Values.storage.pvc.mountPath }}
{{- end }}
{{- end }}

{{/* Render-time checks of value combinations that values.schema.json cannot express. */}}
{{- define "taskonomy.validate" -}}
{{- $v := .Values }}
{{- if not (has $v.storage.type (list "pvc" "s3")) }}
{{- fail (printf "storage.type must be \"pvc\" (a ReadWriteMany volume) or \"s3\" (a bucket), got %q" (toString $v.storage.type)) }}
{{- end }}
{{- if and (eq $v.storage.type "s3") (not $v.storage.s3.bucket) }}
{{- fail "storage.type=s3 needs storage.s3.bucket (and storage.s3.existingSecret or accessKeyId/secretAccessKey, unless the pods have an IAM role)" }}
{{- end }}
{{- if and (eq $v.storage.type "s3") (ne (empty $v.storage.s3.accessKeyId) (empty $v.storage.s3.secretAccessKey)) }}
{{- fail "storage.s3: set both accessKeyId and secretAccessKey, or neither" }}
{{- end }}
{{- if and (not $v.redis.enabled) (not $v.redis.external.url) (not $v.redis.external.existingSecret) }}
{{- fail "redis.enabled=false needs redis.external.url (redis://[:password@]host:port/db) or redis.external.existingSecret" }}
{{- end }}
{{- if and $v.redis.enabled (or $v.redis.external.url $v.redis.external.existingSecret) }}
{{- fail "redis.external.* is set but redis.enabled=true: set redis.enabled=false to use an external Redis" }}
{{- end }}
{{- if and $v.keda.enabled (not $v.redis.enabled) (not $v.keda.redis.address) }}
{{- fail "keda.enabled with an external Redis needs keda.redis.address (host:port KEDA reads the queue lengths from)" }}
{{- end }}
{{- if and $v.gateway.autoscaling.enabled (gt (int $v.gateway.autoscaling.minReplicas) (int $v.gateway.autoscaling.maxReplicas)) }}
{{- fail (printf "gateway.autoscaling.minReplicas (%d) must not exceed maxReplicas (%d)" (int $v.gateway.autoscaling.minReplicas) (int $v.gateway.autoscaling.maxReplicas)) }}
{{- end }}
{{- if ge (int $v.jobs.softTimeLimitSeconds) (int $v.jobs.timeLimitSeconds) }}
{{- fail (printf "jobs.softTimeLimitSeconds (%d) must be below jobs.timeLimitSeconds (%d)" (int $v.jobs.softTimeLimitSeconds) (int $v.jobs.timeLimitSeconds)) }}
{{- end }}
{{- if le (int $v.jobs.visibilityTimeoutSeconds) (int $v.jobs.timeLimitSeconds) }}
{{- fail (printf "jobs.visibilityTimeoutSeconds (%d) must exceed jobs.timeLimitSeconds (%d), or Redis hands a job still running to a second worker" (int $v.jobs.visibilityTimeoutSeconds) (int $v.jobs.timeLimitSeconds)) }}
{{- end }}
{{- range $name := list "trainer" "transfer" }}
{{- $w := index $v.workers $name }}
{{- if gt (int $w.keda.minReplicas) (int $w.keda.maxReplicas) }}
{{- fail (printf "workers.%s.keda.minReplicas (%d) must not exceed maxReplicas (%d)" $name (int $w.keda.minReplicas) (int $w.keda.maxReplicas)) }}
{{- end }}
{{- $grace := ternary (add (int $v.jobs.shutdownGraceSeconds) 40) $w.terminationGracePeriodSeconds (kindIs "invalid" $w.terminationGracePeriodSeconds) }}
{{- if le (int $grace) (add (int $v.jobs.shutdownGraceSeconds) 10) }}
{{- fail (printf "workers.%s.terminationGracePeriodSeconds (%d) must exceed jobs.shutdownGraceSeconds (%d) by more than 10 s, or a stopping worker is killed before it hands its job back" $name (int $grace) (int $v.jobs.shutdownGraceSeconds)) }}
{{- end }}
{{- if and $v.keda.enabled (empty $w.queues) }}
{{- fail (printf "workers.%s.queues must name at least one queue for KEDA to scale on" $name) }}
{{- end }}
{{- end }}
{{- end }}


{{/*
The Redis lists that make up a queue's load, as JSON: its waiting messages (the plain list and
kombu's priority sub-lists "<queue>\x06\x16<step>") and its running jobs ("taskonomy:running:<queue>",
kept by the workers). The one definition is services/queue/queues.py (scaling_lists); a chart
test keeps the two equal. Argument: the queue name.
*/}}
{{- define "taskonomy.queueLists" -}}
{{- $q := . -}}
{{- $lists := list $q -}}
{{- range $step := list 3 6 9 -}}
{{- $lists = append $lists (printf "%s\x06\x16%d" $q $step) -}}
{{- end -}}
{{- toJson (dict "waiting" $lists "running" (printf "taskonomy:running:%s" $q)) -}}
{{- end }}
