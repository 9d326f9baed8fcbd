{{- define "aerostic.labels" -}}
app.kubernetes.io/part-of: aerostic
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{/* Environment every process shares: secrets, namespace, upstream URLs. */}}
{{- define "aerostic.env" -}}
- name: AEROSTIC_NAMESPACE
  value: {{ .Values.namespace | quote }}
- name: AEROSTIC_LOG_FORMAT
  value: {{ .Values.logFormat | quote }}
- name: AEROSTIC_MEDIA_STORE
  value: {{ .Values.mediaStore | quote }}
{{- range $name, $svc := .Values.services }}
- name: AEROSTIC_{{ upper $name }}_URL
  value: "http://{{ $.Release.Name }}-{{ $name }}:{{ $svc.grpcPort }}"
{{- end }}
{{- end }}
