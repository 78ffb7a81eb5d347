{{/* Names and labels shared by every object of the release. */}}

{{- define "accord.fullname" -}}
{{- printf "%s-accord" .Release.Name | trunc 40 | trimSuffix "-" -}}
{{- end -}}

{{- define "accord.labels" -}}
app.kubernetes.io/name: accord
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
{{- end -}}

{{/* What selects the pods of one service and role: (dict "root" $ "service" "plans" "role" "api") */}}
{{- define "accord.selector" -}}
app.kubernetes.io/name: accord
app.kubernetes.io/instance: {{ .root.Release.Name }}
app.kubernetes.io/component: {{ .service }}
accord.org/role: {{ .role }}
{{- end -}}

{{- define "accord.secretName" -}}
{{- .Values.secrets.existingSecret | default (printf "%s-secrets" (include "accord.fullname" .)) -}}
{{- end -}}

{{- define "accord.image" -}}
{{ .Values.image.repository }}:{{ .Values.image.tag }}
{{- end -}}

{{/* Where the mounted files are (the JWKS document, the CAs). */}}
{{- define "accord.jwksPath" -}}/run/accord/jwks/jwks.json{{- end -}}
{{- define "accord.kafkaCaPath" -}}/run/accord/kafka-ca/ca.crt{{- end -}}
{{- define "accord.postgresCaPath" -}}/run/accord/postgres-ca/ca.crt{{- end -}}

{{/*
The environment of any Accord container for one service (dict "root" $ "service" "plans"):
the common settings (shared/config.py, ACCORD_), the service's (services/<name>/config.py)
and its Kafka user. Secrets come from the release's Secret, never from the values in clear.
*/}}
{{- define "accord.env" -}}
{{- $root := .root -}}
{{- $service := .service -}}
{{- $prefix := upper $service -}}
- name: ACCORD_ENVIRONMENT
  value: {{ $root.Values.environment | quote }}
- name: ACCORD_LOG_LEVEL
  value: {{ $root.Values.logLevel | quote }}
- name: ACCORD_TRUSTED_PROXIES
  value: {{ $root.Values.trustedProxies | quote }}
- name: ACCORD_KAFKA_BOOTSTRAP_SERVERS
  value: {{ required "kafka.bootstrapServers is required" $root.Values.kafka.bootstrapServers | quote }}
- name: ACCORD_KAFKA_SECURITY_PROTOCOL
  value: {{ $root.Values.kafka.securityProtocol | quote }}
- name: ACCORD_KAFKA_SASL_MECHANISM
  value: {{ $root.Values.kafka.saslMechanism | quote }}
- name: ACCORD_KAFKA_USERNAME
  value: {{ .kafkaUser | default $service | quote }}
- name: ACCORD_KAFKA_PASSWORD
  valueFrom:
    secretKeyRef:
      name: {{ include "accord.secretName" $root }}
      key: {{ printf "kafka-%s-password" (.kafkaUser | default $service) }}
{{- if $root.Values.kafka.caSecret }}
- name: ACCORD_KAFKA_SSL_CAFILE
  value: {{ include "accord.kafkaCaPath" $root | quote }}
{{- end }}
- name: ACCORD_JWKS_URL
  value: {{ $root.Values.auth.jwksUrl | default (include "accord.jwksPath" $root) | quote }}
- name: ACCORD_JWT_ISSUER
  value: {{ $root.Values.auth.issuer | quote }}
- name: ACCORD_JWT_MAX_LIFETIME_SECONDS
  value: {{ $root.Values.auth.maxLifetimeSeconds | int64 | quote }}
- name: ACCORD_MAX_BODY_BYTES
  value: {{ $root.Values.ingress.maxBodyBytes | int64 | quote }}
{{- if $service }}
- name: {{ $prefix }}_DATABASE_URL
  valueFrom:
    secretKeyRef:
      name: {{ include "accord.secretName" $root }}
      key: {{ printf "%s-database-url" $service }}
{{- if $root.Values.postgresql.sslMode }}
- name: {{ $prefix }}_DATABASE_SSL_MODE
  value: {{ $root.Values.postgresql.sslMode | quote }}
{{- end }}
{{- if $root.Values.postgresql.caSecret }}
- name: {{ $prefix }}_DATABASE_SSL_ROOT_CERT
  value: {{ include "accord.postgresCaPath" $root | quote }}
{{- end }}
- name: {{ $prefix }}_DB_POOL_SIZE
  value: {{ $root.Values.postgresql.poolSize | int64 | quote }}
{{- if eq $service "notifications" }}
- name: NOTIFICATIONS_SECRET_KEYS
  valueFrom:
    secretKeyRef:
      name: {{ include "accord.secretName" $root }}
      key: notifications-secret-keys
{{- end }}
{{- end }}
{{- end -}}

{{/* Volumes with the files the environment names: the JWKS document and the CAs. */}}
{{- define "accord.volumes" -}}
- name: tmp
  emptyDir: {}
{{- if not .Values.auth.jwksUrl }}
- name: jwks
  secret:
    secretName: {{ include "accord.secretName" . }}
    items:
      - key: jwks.json
        path: jwks.json
{{- end }}
{{- if .Values.kafka.caSecret }}
- name: kafka-ca
  secret:
    secretName: {{ .Values.kafka.caSecret }}
{{- end }}
{{- if .Values.postgresql.caSecret }}
- name: postgres-ca
  secret:
    secretName: {{ .Values.postgresql.caSecret }}
{{- end }}
{{- end -}}

{{- define "accord.volumeMounts" -}}
- name: tmp
  mountPath: /tmp
{{- if not .Values.auth.jwksUrl }}
- name: jwks
  mountPath: {{ include "accord.jwksPath" . | dir }}
  readOnly: true
{{- end }}
{{- if .Values.kafka.caSecret }}
- name: kafka-ca
  mountPath: {{ include "accord.kafkaCaPath" . | dir }}
  readOnly: true
{{- end }}
{{- if .Values.postgresql.caSecret }}
- name: postgres-ca
  mountPath: {{ include "accord.postgresCaPath" . | dir }}
  readOnly: true
{{- end }}
{{- end -}}

{{- define "accord.containerSecurityContext" -}}
allowPrivilegeEscalation: false
readOnlyRootFilesystem: true
capabilities:
  drop: ["ALL"]
{{- end -}}
